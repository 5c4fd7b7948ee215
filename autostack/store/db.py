"""Engine, sessions and migrations for the app store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from autostack.settings import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


@lru_cache(maxsize=8)
def _engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # readers never wait for a writer
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def engine_for(settings: Settings) -> Engine:
    """The app store's engine for these settings (one per URL per process)."""
    return _engine(settings.app_store_url)


def _alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", settings.app_store_url.replace("%", "%%"))
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Bring the app store's schema to `revision` (idempotent; safe on every start)."""
    with engine_for(settings).begin() as connection:
        config = _alembic_config(settings)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


@contextmanager
def session_scope(settings: Settings, *, migrate: bool = True) -> Iterator[Session]:
    """A transaction on the app store: committed when the block ends, rolled back on error."""
    if migrate:
        _upgrade_once(settings.app_store_url, settings)
    factory = sessionmaker(engine_for(settings), expire_on_commit=False)
    with factory.begin() as session:
        yield session


_UPGRADED: set[str] = set()


def _upgrade_once(url: str, settings: Settings) -> None:
    if url not in _UPGRADED:
        upgrade(settings)
        _UPGRADED.add(url)
