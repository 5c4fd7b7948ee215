"""The app store: migrations run on a real SQLite file, rows persist across sessions."""

from datetime import date

import sqlalchemy as sa

from autostack.settings import get_settings
from autostack.store import engine_for, session_scope, upgrade
from autostack.store.models import AnomalyFeedback, RefreshRequest


def test_upgrade_creates_schema_and_is_idempotent(tmp_path):
    settings = get_settings({"AUTOSTACK_HOME": str(tmp_path)})
    upgrade(settings)
    upgrade(settings)
    inspector = sa.inspect(engine_for(settings))
    tables = set(inspector.get_table_names())
    assert {"anomaly_feedback", "recommendation_states", "refresh_requests", "alembic_version"} <= tables
    with engine_for(settings).connect() as conn:
        head = conn.execute(sa.text("select version_num from alembic_version")).scalar_one()
    from alembic.script import ScriptDirectory
    from autostack.store.db import _alembic_config

    assert head == ScriptDirectory.from_config(_alembic_config(settings)).get_current_head()


def test_rows_persist_and_roll_back_on_error(tmp_path):
    settings = get_settings({"AUTOSTACK_HOME": str(tmp_path)})
    with session_scope(settings) as session:
        session.add(AnomalyFeedback(scope_type="total", scope_value="all", cost_view="billed",
                                    anomaly_date=date(2026, 3, 4), feedback="planned"))
    try:
        with session_scope(settings) as session:
            session.add(RefreshRequest(kind="ingest"))
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    with session_scope(settings) as session:
        row = session.get(AnomalyFeedback, ("total", "all", "billed", date(2026, 3, 4)))
        assert row.feedback == "planned" and row.status == "open"
        assert session.scalars(sa.select(RefreshRequest)).all() == []


def test_app_store_url_comes_from_the_given_environment(tmp_path):
    settings = get_settings({"AUTOSTACK_HOME": str(tmp_path), "AUTOSTACK_APP_STORE_URL": "sqlite:///" + str(tmp_path / "x.db")})
    assert settings.app_store_url.endswith("x.db")
