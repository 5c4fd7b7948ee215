"""Every path and URL AutoStack uses, decided in one place.

`AUTOSTACK_HOME` relocates all state (warehouse, serving snapshot, app store, Dagster home,
landing folder, quarantine). Nothing else in the project builds a state path by hand.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
SAMPLES_DIR = PROJECT_ROOT / "data" / "samples"
REFERENCE_DIR = PROJECT_ROOT / "data" / "reference"


# Allocation tags forecast per value: the usual keys and their common short forms (the demo uses env, product).
DEFAULT_FORECAST_TAG_KEYS = ("team", "project", "product", "environment", "env")


def _split_list(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(item.strip() for item in value.replace("\n", ",").split(",") if item.strip())


@dataclass(frozen=True)
class Settings:
    home: Path
    landing_dirs: tuple[Path, ...]
    s3_sources: tuple[str, ...] = ()
    s3_endpoint_url: str | None = None
    validator_python: Path = field(default=PROJECT_ROOT / ".venv-validator" / "bin" / "python")
    sensor_interval_seconds: int = 30
    app_store_url_override: str | None = None
    forecast_tag_keys: tuple[str, ...] = DEFAULT_FORECAST_TAG_KEYS
    anomaly_min_impact: float = 5.0  # dollars a day above expected
    anomaly_min_relative: float = 0.2  # of expected
    anomaly_min_total_impact: float = 50.0  # dollars over one anomaly's days
    anomaly_min_total_relative: float = 0.4  # of its expected cost over its days
    metrics_dirs_override: tuple[Path, ...] = ()
    cloudwatch_regions: tuple[str, ...] = ()  # optional: AWS regions whose EC2 utilization CloudWatch provides
    cloudwatch_endpoint_url: str | None = None

    @property
    def metrics_dirs(self) -> tuple[Path, ...]:
        """Folders of utilization metrics files (docs/demo-data.md "Metrics"): `AUTOSTACK_METRICS_DIRS`, else
        where the quick start writes the demo estate's metrics (outside the landing folder)."""
        return self.metrics_dirs_override or (self.home / "demo-truth" / "metrics",)
    secrets_file: Path | None = None  # NAME=value lines (or a JSON object) holding alert-channel secrets
    budget_schedule: str = "0 * * * *"  # cron (UTC) of the budget evaluation schedule
    notify_attempts: int = 3  # delivery attempts per channel within one evaluation run
    notify_backoff_seconds: float = 2.0  # first retry delay; doubles per attempt
    ingest_workers: int | None = None  # files of different raw tables loaded at once; None: DuckDB's threads

    @property
    def warehouse_path(self) -> Path:
        """The DuckDB file Dagster runs write. Never opened by readers."""
        return self.home / "warehouse" / "autostack.duckdb"

    @property
    def serving_path(self) -> Path:
        """The read-only snapshot that the app, the CLI and SQL users read."""
        return self.home / "serving" / "autostack.duckdb"

    @property
    def app_store_url(self) -> str:
        """SQLAlchemy URL of the app store: `AUTOSTACK_APP_STORE_URL`, else a SQLite file in home."""
        return self.app_store_url_override or f"sqlite:///{self.home / 'app.sqlite'}"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def default_landing_dir(self) -> Path:
        return self.home / "exports"

    @property
    def quarantine_dir(self) -> Path:
        return self.home / "quarantine"

    @property
    def s3_cache_dir(self) -> Path:
        """Where objects fetched from S3 are staged before loading."""
        return self.home / "s3-cache"

    @property
    def dbt_target_dir(self) -> Path:
        return self.home / "dbt-target"

    def ensure_dirs(self) -> None:
        for path in (
            self.warehouse_path.parent,
            self.serving_path.parent,
            self.dagster_home,
            self.default_landing_dir,
            self.quarantine_dir,
            self.s3_cache_dir,
        ):
            path.mkdir(parents=True, exist_ok=True)


def get_settings(environ: dict[str, str] | None = None) -> Settings:
    """Settings from the environment (`AUTOSTACK_*`); defaults keep all state in `.state/`."""
    env = os.environ if environ is None else environ
    home = Path(env.get("AUTOSTACK_HOME") or PROJECT_ROOT / ".state").expanduser().resolve()
    landing = _split_list(env.get("AUTOSTACK_LANDING_DIRS"))
    landing_dirs = tuple(Path(p).expanduser().resolve() for p in landing) or (home / "exports",)
    validator = env.get("AUTOSTACK_VALIDATOR_PYTHON")
    return Settings(
        home=home,
        landing_dirs=landing_dirs,
        s3_sources=_split_list(env.get("AUTOSTACK_S3_SOURCES")),
        s3_endpoint_url=env.get("AUTOSTACK_S3_ENDPOINT_URL") or None,
        validator_python=Path(validator) if validator else PROJECT_ROOT / ".venv-validator" / "bin" / "python",
        sensor_interval_seconds=int(env.get("AUTOSTACK_SENSOR_INTERVAL_SECONDS", "30")),
        app_store_url_override=env.get("AUTOSTACK_APP_STORE_URL") or None,
        forecast_tag_keys=_split_list(env.get("AUTOSTACK_FORECAST_TAG_KEYS")) or DEFAULT_FORECAST_TAG_KEYS,
        anomaly_min_impact=float(env.get("AUTOSTACK_ANOMALY_MIN_IMPACT", "5")),
        anomaly_min_relative=float(env.get("AUTOSTACK_ANOMALY_MIN_RELATIVE", "0.2")),
        anomaly_min_total_impact=float(env.get("AUTOSTACK_ANOMALY_MIN_TOTAL_IMPACT", "50")),
        anomaly_min_total_relative=float(env.get("AUTOSTACK_ANOMALY_MIN_TOTAL_RELATIVE", "0.4")),
        cloudwatch_regions=_split_list(env.get("AUTOSTACK_CLOUDWATCH_REGIONS")),
        cloudwatch_endpoint_url=env.get("AUTOSTACK_CLOUDWATCH_ENDPOINT_URL") or None,
        metrics_dirs_override=tuple(Path(p).expanduser().resolve() for p in _split_list(env.get("AUTOSTACK_METRICS_DIRS"))),
        secrets_file=Path(env["AUTOSTACK_SECRETS_FILE"]).expanduser() if env.get("AUTOSTACK_SECRETS_FILE") else None,
        budget_schedule=env.get("AUTOSTACK_BUDGET_SCHEDULE") or "0 * * * *",
        notify_attempts=int(env.get("AUTOSTACK_NOTIFY_ATTEMPTS", "3")),
        notify_backoff_seconds=float(env.get("AUTOSTACK_NOTIFY_BACKOFF_SECONDS", "2")),
        ingest_workers=_positive_int(env, "AUTOSTACK_INGEST_WORKERS"),
    )


def _positive_int(env, name: str) -> int | None:
    value = (env.get(name) or "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{name}={value!r}: expected a whole number of at least 1")
    return int(value)
