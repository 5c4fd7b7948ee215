"""Atomic, idempotent loading of one billing export file into its `raw.*` table.

Delivery semantics, as the clouds deliver:
- Each row belongs to a slice (billing account, billing period, dataset) of its raw table.
- A file replaces the rows it loaded before (same source URI), and every slice it carries
  replaces the rows of that slice loaded from *other deliveries* (another folder): AWS
  rewrites a month in a new assembly folder, Azure re-exports month-to-date. Files of the
  same delivery folder (CUR parts, Azure partitions) add up instead of replacing each other.
- All of a file or nothing: one transaction. A bad file is recorded as quarantined with the
  reason; nothing already loaded changes.
- The same content at the same URI is skipped (checksum), so loading twice changes nothing.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from orchestration.ingest import duckdb_config
from orchestration.ingest.formats import FORMATS
from orchestration.ingest.formats.base import (
    PARTITION_COLUMNS,
    ExportFormat,
    FileProbe,
    UnrecognizedFileError,
    probe_file,
)

PROVENANCE_COLUMNS: dict[str, str] = {
    "x_source_uri": "VARCHAR",
    "x_source_format": "VARCHAR",
    "x_delivery": "VARCHAR",
    "x_load_id": "VARCHAR",
    "x_ingested_at": "TIMESTAMP",
}

MANIFEST_DDL = """
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS ingest;
CREATE TABLE IF NOT EXISTS ingest.file_loads (
    load_id VARCHAR PRIMARY KEY,
    source_uri VARCHAR NOT NULL,
    delivery VARCHAR,
    local_path VARCHAR,
    checksum_sha256 VARCHAR,
    size_bytes BIGINT,
    source_modified_at TIMESTAMP,
    format VARCHAR,
    provider VARCHAR,
    raw_table VARCHAR,
    billing_account_ids VARCHAR[],
    billing_periods DATE[],
    row_count BIGINT,
    billed_total DECIMAL(38, 12),
    currency VARCHAR,
    outcome VARCHAR NOT NULL,   -- loaded | quarantined | replaced | superseded
    error VARCHAR,
    run_id VARCHAR,
    loaded_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS ingest.partitions (
    raw_table VARCHAR NOT NULL,
    format VARCHAR NOT NULL,
    provider VARCHAR,
    x_billing_account_id VARCHAR,
    x_billing_period DATE,
    x_dataset VARCHAR,
    source_uri VARCHAR NOT NULL,
    delivery VARCHAR,
    load_id VARCHAR NOT NULL,
    row_count BIGINT,
    billed_total DECIMAL(38, 12),
    paired_billed_total DECIMAL(38, 12),
    currency VARCHAR
);
"""


# Loads of different raw tables may run at once (orchestration/ingest/parallel.py). They change
# disjoint rows, which DuckDB's optimistic concurrency control lets commit side by side; should a
# load still meet a conflict, its transaction is retried whole, never the file quarantined for it.
CONFLICT_ATTEMPTS = 3


class TransactionConflictError(RuntimeError):
    """A load kept conflicting with concurrent loads; nothing of it was written. Load it again."""


@dataclass(frozen=True)
class SourceFile:
    """A file to load: where it sits locally and where it came from (a path or an s3:// URI)."""

    local_path: Path
    uri: str
    delivery: str
    modified_at: datetime | None = None

    @classmethod
    def local(cls, path: Path) -> SourceFile:
        path = Path(path).resolve()
        mtime = datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(tzinfo=None) if path.exists() else None
        return cls(local_path=path, uri=str(path), delivery=str(path.parent), modified_at=mtime)


@dataclass(frozen=True)
class LoadResult:
    uri: str
    outcome: str  # loaded | unchanged | quarantined
    format: str | None = None
    provider: str | None = None
    row_count: int = 0
    billed_total: float | None = None
    billing_periods: tuple[str, ...] = ()
    billing_accounts: tuple[str, ...] = ()
    error: str | None = None
    load_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome in ("loaded", "unchanged")


def file_checksum(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ensure_manifest(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(MANIFEST_DDL)


def detect_format(probe: FileProbe) -> ExportFormat:
    for fmt in FORMATS:
        if fmt.matches(probe):
            return fmt
    tried = "; ".join(f"{f.name} ({f.description})" for f in FORMATS)
    shown = ", ".join(probe.columns[:8]) + (" …" if len(probe.columns) > 8 else "")
    raise UnrecognizedFileError(
        f"{probe.path}: not a recognized billing export ({probe.container}, columns: {shown}). Tried: {tried}"
    )


def _raw_table_ddl(fmt: ExportFormat) -> str:
    columns = {**fmt.raw_columns, **PARTITION_COLUMNS, **PROVENANCE_COLUMNS}
    body = ",\n    ".join(f'"{name}" {type_}' for name, type_ in columns.items())
    schema = fmt.raw_table.split(".")[0]
    return f"CREATE SCHEMA IF NOT EXISTS {schema};\nCREATE TABLE IF NOT EXISTS {fmt.raw_table} (\n    {body}\n)"


def _previous_load(con, uri: str):
    rows = con.execute(
        "SELECT checksum_sha256, outcome, format FROM ingest.file_loads WHERE source_uri = ? "
        "AND outcome IN ('loaded', 'quarantined', 'superseded') ORDER BY loaded_at DESC LIMIT 1",
        [uri],
    ).fetchall()
    return rows[0] if rows else None


def load_file(
    con: duckdb.DuckDBPyConnection,
    source: SourceFile,
    *,
    quarantine_dir: Path | None = None,
    run_id: str | None = None,
    force: bool = False,
) -> LoadResult:
    """Load one file. Never raises for bad input: the result says what happened and why."""
    ensure_manifest(con)
    con.execute("SET TimeZone = 'UTC'")
    duckdb_config.configure(con)
    now = datetime.now(UTC).replace(tzinfo=None)
    load_id = uuid.uuid4().hex
    try:
        checksum = file_checksum(source.local_path)
        size = source.local_path.stat().st_size
    except OSError as exc:
        return _quarantine(con, source, None, None, None, f"{source.uri}: cannot be read: {exc}", load_id, run_id, now, quarantine_dir)

    previous = _previous_load(con, source.uri)
    if previous and previous[0] == checksum and not force:
        if previous[1] == "quarantined":
            return LoadResult(source.uri, "quarantined", error="unchanged since it was quarantined; fix the file and deliver it again")
        return LoadResult(source.uri, "unchanged", format=previous[2])

    fmt: ExportFormat | None = None
    try:
        probe = probe_file(source.local_path)
        fmt = detect_format(probe)
        selects = [fmt.select_sql(probe)]
        checked = fmt.checked_select_sql(probe)
    except UnrecognizedFileError as exc:
        return _quarantine(con, source, checksum, size, fmt, _with_uri(str(exc), source), load_id, run_id, now, quarantine_dir)
    if checked is not None:
        selects.append(checked)

    conflicts = 0
    while True:
        try:
            rows, billed, accounts, periods, currency = _write_load(
                con, source, fmt, selects[0], load_id, now, checksum, size, run_id
            )
            break
        except (duckdb.Error, ValueError) as exc:
            _rollback(con)
            if is_transaction_conflict(exc):
                conflicts += 1
                if conflicts < CONFLICT_ATTEMPTS:
                    continue  # another worker's transaction changed a row this one needs: load again
                raise TransactionConflictError(
                    f"{source.uri}: could not be loaded in {CONFLICT_ATTEMPTS} attempts, each in conflict with "
                    f"a concurrent load: {_first_line(exc)}"
                ) from exc
            if len(selects) > 1 and isinstance(exc, duckdb.Error):
                selects.pop(0)  # the format's checked reading names the line and field, or reads it
                continue
            message = f"{source.uri}: read as {fmt.name} but could not be loaded: {_first_line(exc)}{_locate_bad_value(con, probe, exc)}"
            return _quarantine(con, source, checksum, size, fmt, message, load_id, run_id, now, quarantine_dir)
    return LoadResult(
        source.uri, "loaded", fmt.name, fmt.provider, int(rows), float(billed) if billed is not None else None,
        tuple(str(p) for p in periods or []), tuple(accounts or []), None, load_id,
    )


def _write_load(con, source: SourceFile, fmt: ExportFormat, select: str, load_id: str, now: datetime,
                checksum: str, size: int, run_id: str | None):
    """The file's one transaction: its rows in, the rows and slices it replaces out, the manifest updated.

    Returns (rows, billed total, accounts, periods, currency); raises with the transaction still
    open (the caller rolls back)."""
    keys = list(PARTITION_COLUMNS)
    key_match = " AND ".join(f"t.{k} IS NOT DISTINCT FROM p.{k}" for k in keys)
    con.execute("BEGIN TRANSACTION")
    con.execute(_raw_table_ddl(fmt))
    # Straight into the raw table (one pass over the file, no staging copy); the rows are told
    # apart by their load id until the transaction commits.
    raw_cols = ", ".join(f'"{c}"' for c in (*fmt.raw_columns, *PARTITION_COLUMNS))
    con.execute(
        f"""INSERT INTO {fmt.raw_table} ({raw_cols}, {", ".join(PROVENANCE_COLUMNS)})
        SELECT {raw_cols}, ?, ?, ?, ?, ? FROM ({select})""",
        [source.uri, fmt.name, source.delivery, load_id, now],
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _parts AS
        SELECT {", ".join(keys)}, count(*) AS row_count,
               CAST({fmt.billed_total_sql} AS DECIMAL(38, 12)) AS billed_total,
               CAST({fmt.paired_billed_total_sql or 'NULL'} AS DECIMAL(38, 12)) AS paired_billed_total,
               {fmt.currency_sql} AS currency
        FROM {fmt.raw_table} WHERE x_load_id = ? GROUP BY ALL""",
        [load_id],
    )
    _check_partition_keys(con)
    # Loads whose slices this file replaces: its own earlier version, and other deliveries' slices.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _touched AS
        SELECT DISTINCT t.load_id FROM ingest.partitions t WHERE t.raw_table = ? AND (t.source_uri = ?
            OR (t.delivery <> ? AND EXISTS (SELECT 1 FROM _parts p WHERE {key_match})))""",
        [fmt.raw_table, source.uri, source.delivery],
    )
    con.execute(f"DELETE FROM {fmt.raw_table} WHERE x_source_uri = ? AND x_load_id <> ?", [source.uri, load_id])
    con.execute(
        f"DELETE FROM {fmt.raw_table} t USING _parts p WHERE {key_match} AND t.x_delivery <> ?",
        [source.delivery],
    )
    con.execute(
        f"""DELETE FROM ingest.partitions t WHERE t.raw_table = ? AND (t.source_uri = ? OR (t.delivery <> ?
            AND EXISTS (SELECT 1 FROM _parts p WHERE {key_match})))""",
        [fmt.raw_table, source.uri, source.delivery],
    )
    # A load none of whose slices is current any more is replaced (same file) or superseded.
    con.execute(
        """UPDATE ingest.file_loads SET outcome = CASE WHEN source_uri = ? THEN 'replaced' ELSE 'superseded' END
        WHERE outcome = 'loaded' AND (source_uri = ? OR load_id IN (SELECT load_id FROM _touched))
          AND load_id NOT IN (SELECT load_id FROM ingest.partitions)""",
        [source.uri, source.uri],
    )
    con.execute(
        f"""INSERT INTO ingest.partitions
        SELECT ?, ?, ?, {", ".join(keys)}, ?, ?, ?, row_count, billed_total, paired_billed_total, currency
        FROM _parts""",
        [fmt.raw_table, fmt.name, fmt.provider, source.uri, source.delivery, load_id],
    )
    summary = con.execute(
        """SELECT coalesce(sum(row_count), 0), sum(billed_total), list(DISTINCT x_billing_account_id ORDER BY x_billing_account_id),
                  list(DISTINCT x_billing_period ORDER BY x_billing_period), string_agg(DISTINCT currency, ',')
        FROM _parts"""
    ).fetchall()[0]
    rows, billed, accounts, periods, currency = summary
    con.execute(
        """INSERT INTO ingest.file_loads VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'loaded', NULL, ?, ?)""",
        [load_id, source.uri, source.delivery, str(source.local_path), checksum, size, source.modified_at,
         fmt.name, fmt.provider, fmt.raw_table, accounts or [], periods or [], rows, billed, currency, run_id, now],
    )
    con.execute("DROP TABLE _parts")
    con.execute("DROP TABLE _touched")
    con.execute("COMMIT")
    return rows, billed, accounts, periods, currency


def is_transaction_conflict(exc: BaseException) -> bool:
    """DuckDB's optimistic concurrency control refused a change another open transaction made too
    ("Conflict on update!", "Conflict on tuple deletion!", "write-write conflict on key ...")."""
    return isinstance(exc, duckdb.TransactionException) and "conflict" in str(exc).lower()


def _rollback(con) -> None:
    try:
        con.execute("ROLLBACK")
    except duckdb.TransactionException:
        pass  # a failed COMMIT has already rolled the transaction back


def _check_partition_keys(con) -> None:
    bad = con.execute(
        "SELECT coalesce(sum(row_count), 0) FROM _parts WHERE x_billing_account_id IS NULL OR x_billing_period IS NULL"
    ).fetchall()[0][0]
    if bad:
        raise ValueError(
            f"{bad} row(s) have no billing account or billing period; every row needs both to be placed"
        )


def _first_line(exc: Exception) -> str:
    """DuckDB's message without the SQL echo and fix suggestions: what went wrong, where."""
    lines = [line.strip() for line in str(exc).strip().splitlines()]
    kept = []
    for line in lines:
        if line.startswith(("LINE ", "Possible fixes", "* ", "^")) or not line:
            if kept:
                break
            continue
        kept.append(line)
    return " ".join(kept)[:1500] or type(exc).__name__


def _locate_bad_value(con, probe: FileProbe, exc: Exception) -> str:
    """For a value that does not convert, say in which record and column of the file it sits."""
    match = re.search(r'Could not convert string "(.*?)" to ([A-Z0-9(), ]+)', str(exc))
    if not match:
        return ""
    value = match.group(1)
    try:
        rows = con.execute(
            f"""SELECT record, "column" FROM (
                    SELECT * FROM (SELECT row_number() OVER () AS record, COLUMNS(*)::VARCHAR FROM {probe.read_sql()})
                    UNPIVOT (value FOR "column" IN (COLUMNS(* EXCLUDE record))))
                WHERE value = ? ORDER BY record LIMIT 1""",
            [value],
        ).fetchall()
    except duckdb.Error:
        return ""
    if not rows:
        return ""
    record, column = rows[0]
    where = f"line {record + 1}" if probe.container == "csv" else f"record {record}"
    return f" (at {where}, column {column!r})"


def _with_uri(message: str, source: SourceFile) -> str:
    local = str(source.local_path)
    return message.replace(local, source.uri) if source.uri != local else message


def _quarantine(con, source, checksum, size, fmt, message, load_id, run_id, now, quarantine_dir) -> LoadResult:
    if quarantine_dir is not None and source.local_path.exists():
        target = Path(quarantine_dir) / f"{load_id[:12]}-{source.local_path.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source.local_path, target)
    con.execute(
        """INSERT INTO ingest.file_loads VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, [], [], 0, NULL, NULL, 'quarantined', ?, ?, ?)""",
        [load_id, source.uri, source.delivery, str(source.local_path), checksum, size, source.modified_at,
         fmt.name if fmt else None, fmt.provider if fmt else None, fmt.raw_table if fmt else None, message, run_id, now],
    )
    return LoadResult(source.uri, "quarantined", fmt.name if fmt else None, fmt.provider if fmt else None,
                      error=message, load_id=load_id)


def ensure_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create every format's raw table (empty) so dbt sources exist before any file of that kind."""
    ensure_manifest(con)
    seen: set[str] = set()
    for fmt in FORMATS:
        if fmt.raw_table not in seen:
            seen.add(fmt.raw_table)
            con.execute(_raw_table_ddl(fmt))
