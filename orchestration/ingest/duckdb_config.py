"""DuckDB settings for every process that writes the warehouse (the loader, dbt, checks, the assets).

An explicit memory limit makes DuckDB spill to disk (next to the database file) instead of growing
until the machine runs out: measured on 1M CUR rows, focus.costs_v1_2's CREATE TABLE AS peaked at
2.4 GB RSS with DuckDB's default limit (80 % of RAM) and at 1.0 GB with a 1 GB limit, no slower.
The limit is per process; 10M rows must fit in 3 GB (issue 3), so the default leaves room for
Python and dbt around DuckDB's buffers. AUTOSTACK_DUCKDB_MEMORY_LIMIT and AUTOSTACK_DUCKDB_THREADS
override it (dbt's profiles.yml reads the same variables).

Checkpoints do not merge row groups (`max_vacuum_tasks = 0`). Each loaded file is appended in row
groups of its own, the last of them partial; DuckDB's checkpoint vacuum merges such neighbours,
which rewrites every row after the first partial group. On the 10M demo estate the checkpoints
rewrote the raw tables over and over, 40-46 s of a 135 s ingest with both loading workers blocked
behind them, and a writer that comes later (dbt, an asset) pays whatever merges are left at its
first checkpoint, so every warehouse connection carries the setting: connect(), configure(), the
Dagster resource and dbt's profile. A row group all of whose rows are deleted is still dropped and
its space reused (a replaced file's own row groups, a dbt table rebuilt in full, a restated load's
rows in an incremental model once every load they share row groups with is replaced). What stays,
and adds up over restatements, is the deleted rows of row groups only partly deleted (a load
replaced while loads written into the same row groups stay current): after the 10M first load,
53,273 of raw.azure_costs' 3.58M stored rows (its within-run restatements), none elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

DEFAULT_MEMORY_LIMIT = "2GB"


def memory_limit() -> str:
    return os.environ.get("AUTOSTACK_DUCKDB_MEMORY_LIMIT") or DEFAULT_MEMORY_LIMIT


def threads() -> int:
    value = os.environ.get("AUTOSTACK_DUCKDB_THREADS")
    return int(value) if value else (os.cpu_count() or 1)


def settings() -> dict[str, str]:
    """The warehouse's DuckDB settings, by name (DuckDBResource's connection_config takes them as they are)."""
    return {"memory_limit": memory_limit(), "threads": str(threads()), "max_vacuum_tasks": "0"}


def configure(con: duckdb.DuckDBPyConnection) -> None:
    """Apply the warehouse settings to a connection (they hold for its whole database instance)."""
    for name, value in settings().items():
        con.execute(f"SET {name} = '{value}'")


def connect(path: Path | str, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection to the warehouse with its settings. They are SET, not given to connect(): DuckDB
    refuses a second connection to a file whose configuration differs from the open ones', and the
    Dagster resource's connections carry a configuration of their own."""
    con = duckdb.connect(str(path), read_only=read_only)
    configure(con)
    return con
