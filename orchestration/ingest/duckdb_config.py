"""DuckDB settings for every process that writes the warehouse (the loader, dbt, checks).

An explicit memory limit makes DuckDB spill to disk (next to the database file) instead of growing
until the machine runs out: measured on 1M CUR rows, focus.costs_v1_2's CREATE TABLE AS peaked at
2.4 GB RSS with DuckDB's default limit (80 % of RAM) and at 1.0 GB with a 1 GB limit, no slower.
The limit is per process; 10M rows must fit in 3 GB (issue 3), so the default leaves room for
Python and dbt around DuckDB's buffers. AUTOSTACK_DUCKDB_MEMORY_LIMIT and AUTOSTACK_DUCKDB_THREADS
override it (dbt's profiles.yml reads the same variables).
"""

from __future__ import annotations

import os

import duckdb

DEFAULT_MEMORY_LIMIT = "2GB"


def memory_limit() -> str:
    return os.environ.get("AUTOSTACK_DUCKDB_MEMORY_LIMIT") or DEFAULT_MEMORY_LIMIT


def threads() -> int:
    value = os.environ.get("AUTOSTACK_DUCKDB_THREADS")
    return int(value) if value else (os.cpu_count() or 1)


def configure(con: duckdb.DuckDBPyConnection) -> None:
    """Apply the warehouse settings to a connection (they hold for its whole database instance)."""
    con.execute(f"SET memory_limit = '{memory_limit()}'")
    con.execute(f"SET threads = {threads()}")
