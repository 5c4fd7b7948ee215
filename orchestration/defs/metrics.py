"""Utilization metrics: the documented metrics files (docs/demo-data.md "Metrics") into metrics.utilization_daily.

A run rebuilds the table from every file in `settings.metrics_dirs` (`AUTOSTACK_METRICS_DIRS`) in one
transaction, so a rerun gives the same table and a removed file's rows go away. When the files are the
ones the last rebuild read (same paths, sizes and modification times, recorded in
metrics.utilization_state) and no CloudWatch source is configured, the table is kept as it is (at the
10M-row demo estate a rebuild costs ~20 s per run). A file that does
not follow the format is left out and named, with what was wrong, in metrics.utilization_files and
in the asset check; the good files still load. Optionally, CloudWatch GetMetricData adds AWS
machines' daily CPU (orchestration/defs/cloudwatch.py) when `AUTOSTACK_CLOUDWATCH_REGIONS` is set.
"""


from pathlib import Path

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    MaterializeResult,
    MetadataValue,
    asset,
)
from dagster_duckdb import DuckDBResource

from orchestration.ingest import sql
from orchestration.resources import AutoStackSettings

UTILIZATION_DAILY = AssetKey(["metrics", "utilization_daily"])

# The documented columns and the DuckDB types they must cast to.
METRIC_COLUMNS = {
    "date": "DATE", "provider": "VARCHAR", "account_id": "VARCHAR", "resource_id": "VARCHAR",
    "resource_name": "VARCHAR", "instance_type": "VARCHAR", "region": "VARCHAR", "vcpu": "DOUBLE",
    "memory_gb": "DOUBLE", "hours_running": "DOUBLE", "cpu_p50_pct": "DOUBLE", "cpu_p95_pct": "DOUBLE",
    "cpu_max_pct": "DOUBLE", "memory_p95_pct": "DOUBLE",
}
KEY_COLUMNS = ("date", "provider", "resource_id")
# The documented columns of a source (a file, or an API's frame) as their types.
CASTS = ", ".join(f"CAST({name} AS {kind}) AS {name}" for name, kind in METRIC_COLUMNS.items())
SUFFIXES = (".parquet", ".csv")

TABLE_SQL = "CREATE TABLE IF NOT EXISTS metrics.utilization_daily (" + ", ".join(
    f"{name} {kind}" for name, kind in METRIC_COLUMNS.items()) + ", source_file VARCHAR)"
FILES_SQL = ("CREATE TABLE IF NOT EXISTS metrics.utilization_files (source_file VARCHAR, row_count BIGINT, "
             "error VARCHAR, loaded_at TIMESTAMP)")

# Rules every row must meet; the first rule a file breaks is reported with a row and its values.
ROW_RULES = [
    ("hours_running between 0 and 24", "hours_running < 0 OR hours_running > 24"),
    ("cpu_p50_pct <= cpu_p95_pct <= cpu_max_pct <= 100 and >= 0",
     "cpu_p50_pct < 0 OR cpu_p50_pct > cpu_p95_pct + 1e-9 OR cpu_p95_pct > cpu_max_pct + 1e-9 OR cpu_max_pct > 100"),
    ("memory_p95_pct between 0 and 100", "memory_p95_pct < 0 OR memory_p95_pct > 100"),
    ("vcpu > 0 and memory_gb > 0", "vcpu <= 0 OR memory_gb <= 0"),
]


class MetricsFileError(ValueError):
    """A metrics file that does not follow the documented format; the message names the file and the fault."""


def metrics_files(dirs: tuple[Path, ...]) -> list[Path]:
    files: list[Path] = []
    for folder in dirs:
        if folder.is_file() and folder.suffix in SUFFIXES:
            files.append(folder)
        elif folder.is_dir():
            files.extend(p for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix in SUFFIXES)
    return files


def _reader(path: Path) -> str:
    quoted = sql.literal(str(path))
    return f"read_parquet({quoted})" if path.suffix == ".parquet" else f"read_csv({quoted}, header=true, all_varchar=true)"


def validated_select(con, path: Path) -> str:
    """The SELECT giving the file's rows cast to the documented types; raises MetricsFileError naming the fault."""
    try:
        columns = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {_reader(path)}").fetchall()]
    except Exception as exc:  # noqa: BLE001 - the reader's own message says what is wrong with the file
        raise MetricsFileError(f"{path}: not a readable {path.suffix[1:]} metrics file: {exc}") from exc
    missing = [c for c in METRIC_COLUMNS if c not in columns]
    if missing:
        raise MetricsFileError(f"{path}: missing column(s) {missing}; expected {list(METRIC_COLUMNS)}")
    for name, kind in METRIC_COLUMNS.items():
        bad = con.execute(
            f"SELECT row_number, {name} FROM (SELECT row_number() OVER () AS row_number, {name} FROM {_reader(path)}) "
            f"WHERE {name} IS NOT NULL AND TRY_CAST({name} AS {kind}) IS NULL LIMIT 1").fetchall()
        if bad:
            raise MetricsFileError(f"{path}, row {bad[0][0]}, column {name}: expected {kind}, got {bad[0][1]!r}")
    select = f"SELECT row_number() OVER () AS row_number, {CASTS} FROM {_reader(path)}"
    nulls = " OR ".join(f"{c} IS NULL" for c in (*KEY_COLUMNS, "hours_running", "cpu_p95_pct"))
    checks = [("date, provider, resource_id, hours_running and cpu_p95_pct present", nulls), *ROW_RULES]
    for expected, broken in checks:
        bad = con.execute(f"SELECT * FROM ({select}) WHERE {broken} LIMIT 1").fetchall()
        if bad:
            values = dict(zip(["row", *METRIC_COLUMNS], bad[0]))
            raise MetricsFileError(f"{path}, row {values['row']}: expected {expected}; got {values}")
    dup = con.execute(f"SELECT date, provider, resource_id, count(*) FROM ({select}) GROUP BY ALL HAVING count(*) > 1 "
                      "LIMIT 1").fetchall()
    if dup:
        raise MetricsFileError(f"{path}: more than one row for date {dup[0][0]}, {dup[0][1]} resource {dup[0][2]}; "
                               "expected one row per machine per day")
    # The rows to load, without the row numbers the checks name rows by: a row_number() window keeps
    # DuckDB to one thread.
    return f"SELECT {CASTS} FROM {_reader(path)}"


STATE_SQL = "CREATE TABLE IF NOT EXISTS metrics.utilization_state (files_signature VARCHAR)"


def files_signature(files: list[Path]) -> str:
    """Changes when a file is added, removed, rewritten or touched."""
    import hashlib

    digest = hashlib.sha256()
    for path in files:
        stat = path.stat()
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _recorded_signature(con) -> str | None:
    tables = {name for (name,) in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'metrics'").fetchall()}
    if not {"utilization_daily", "utilization_files", "utilization_state"} <= tables:
        return None
    rows = con.execute("SELECT files_signature FROM metrics.utilization_state").fetchall()
    return rows[0][0] if len(rows) == 1 else None


def _summary(con, files: list[Path], loaded: int, errors: dict[str, str], unchanged: bool) -> dict:
    rows = con.execute("SELECT count(*), count(DISTINCT resource_id), min(date), max(date) FROM metrics.utilization_daily").fetchall()[0]
    return {"files": len(files), "loaded_files": loaded, "errors": errors, "rows": rows[0], "machines": rows[1],
            "first_date": rows[2], "last_date": rows[3], "unchanged": unchanged}


def load_metrics(con, dirs: tuple[Path, ...], extra: dict | None = None) -> dict:
    """Rebuild metrics.utilization_daily from every metrics file in dirs (and `extra`: source name -> DataFrame in
    the same format, e.g. CloudWatch's), atomically; keep it when the files are unchanged since the last
    rebuild and there is no `extra`. Returns counts, errors and whether it was kept (`unchanged`)."""
    files = metrics_files(dirs)
    signature = files_signature(files)
    if not extra and _recorded_signature(con) == signature:
        recorded = con.execute("SELECT source_file, error FROM metrics.utilization_files").fetchall()
        errors = {source: error for source, error in recorded if error is not None}
        return _summary(con, files, len(recorded) - len(errors), errors, unchanged=True)
    good: list[tuple[Path, str]] = []
    errors: dict[str, str] = {}
    for path in files:
        try:
            good.append((path, validated_select(con, path)))
        except MetricsFileError as exc:
            errors[str(path)] = str(exc)
    con.execute("CREATE SCHEMA IF NOT EXISTS metrics")
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(TABLE_SQL)
        con.execute(FILES_SQL)
        con.execute(STATE_SQL)
        con.execute("DELETE FROM metrics.utilization_daily")
        con.execute("DELETE FROM metrics.utilization_files")
        sources = [f"SELECT *, {sql.literal(str(path))} AS source_file FROM ({select})" for path, select in good]
        for path, select in good:
            count = con.execute(f"SELECT count(*) FROM ({select})").fetchall()[0][0]
            con.execute("INSERT INTO metrics.utilization_files VALUES (?, ?, NULL, now()::TIMESTAMP)", [str(path), count])
        for path, error in errors.items():
            con.execute("INSERT INTO metrics.utilization_files VALUES (?, 0, ?, now()::TIMESTAMP)", [path, error])
        for number, (source, frame) in enumerate((extra or {}).items()):
            # One row per machine and day within a source, as the files are checked to have.
            con.register(f"_extra_metrics_{number}", frame[list(METRIC_COLUMNS)].drop_duplicates(list(KEY_COLUMNS), keep="last"))
            sources.append(f"SELECT {CASTS}, {sql.literal(source)} AS source_file FROM _extra_metrics_{number}")
            con.execute("INSERT INTO metrics.utilization_files VALUES (?, ?, NULL, now()::TIMESTAMP)", [source, len(frame)])
        # Files may overlap (a month re-delivered): one row per machine and day, the latest file's (each
        # source has one row per machine and day). One statement over every source, so the rows are
        # written once. max() over the key needs no sort: a row_number() ordered by file, in this one
        # statement, ran out of the 2 GB memory limit on the 10M estate's 2.45M machine days.
        if sources:
            con.execute(f"""
                INSERT INTO metrics.utilization_daily
                SELECT * FROM ({" UNION ALL ".join(sources)})
                QUALIFY source_file = max(source_file) OVER (PARTITION BY date, provider, resource_id)""")
        # A rebuild with CloudWatch rows is never reused: they come from the API, not from the files.
        con.execute("DELETE FROM metrics.utilization_state")
        con.execute("INSERT INTO metrics.utilization_state VALUES (?)", [None if extra else signature])
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        for number in range(len(extra or {})):
            con.unregister(f"_extra_metrics_{number}")
    return _summary(con, files, len(good), errors, unchanged=False)


def ensure_metrics_tables(con) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS metrics")
    con.execute(TABLE_SQL)
    con.execute(FILES_SQL)


@asset(
    key=UTILIZATION_DAILY,
    group_name="metrics",
    kinds={"duckdb"},
    pool="warehouse",
    description=("Daily machine utilization (CPU p50/p95/max, memory p95, hours running) from the metrics files in "
                 "AUTOSTACK_METRICS_DIRS (docs/demo-data.md), rebuilt atomically when they changed; bad files are named."),
    check_specs=[AssetCheckSpec("metrics_files_load_without_errors", asset=UTILIZATION_DAILY,
                                description="Every metrics file follows the documented format (the failing ones are named).")],
)
def utilization_daily(context: AssetExecutionContext, autostack: AutoStackSettings, warehouse: DuckDBResource):
    settings = autostack.get()
    with warehouse.get_connection() as con:
        extra = {}
        if settings.cloudwatch_regions:
            from orchestration.defs.cloudwatch import fetch_utilization

            extra = {f"cloudwatch:{','.join(settings.cloudwatch_regions)}":
                     fetch_utilization(settings.cloudwatch_regions, settings.cloudwatch_endpoint_url)}
        summary = load_metrics(con, settings.metrics_dirs, extra)
    errors = summary["errors"]
    for path, error in errors.items():
        context.log.error(error)
    if summary["unchanged"]:
        context.log.info(f"{summary['files']} metrics file(s) unchanged since the last rebuild: table kept")
    yield MaterializeResult(metadata={
        "unchanged": summary["unchanged"],
        "folders": ", ".join(str(d) for d in settings.metrics_dirs), "files": summary["files"],
        "loaded_files": summary["loaded_files"], "rows": summary["rows"], "machines": summary["machines"],
        "first_date": str(summary["first_date"]), "last_date": str(summary["last_date"]),
    })
    yield AssetCheckResult(
        check_name="metrics_files_load_without_errors", passed=not errors, severity=AssetCheckSeverity.WARN,
        description=f"{len(errors)} of {summary['files']} metrics file(s) rejected",
        metadata={"errors": MetadataValue.md("\n".join(f"- {e}" for e in errors.values()) or "none")},
    )
