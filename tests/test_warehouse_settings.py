"""Every connection that writes the warehouse carries the same DuckDB settings
(orchestration/ingest/duckdb_config.py), above all: checkpoints do not merge row groups."""

from __future__ import annotations

import duckdb
import yaml

from autostack.settings import DBT_PROJECT_DIR, get_settings
from orchestration.ingest import duckdb_config
from orchestration.resources import build_resources

ROWS_PER_LOAD = 130_000  # above DuckDB's row group size (122,880): each load ends in a partial row group


def _row_groups(con, table: str) -> int:
    return con.execute(
        "SELECT count(DISTINCT row_group_id) FROM pragma_storage_info(?)", [table]
    ).fetchall()[0][0]


def _three_loads_then_an_unrelated_checkpoint(path, connect) -> tuple[int, int]:
    """Row groups of a table of three loads after they are checkpointed, and after a later writer's checkpoint."""
    con = connect(path)
    con.execute("CREATE TABLE raw_rows (load INTEGER, amount DOUBLE, note VARCHAR)")
    for load in range(3):
        con.execute("BEGIN TRANSACTION")
        con.execute(
            f"INSERT INTO raw_rows SELECT {load}, i * 0.01, 'line ' || i FROM range({ROWS_PER_LOAD}) t(i)"
        )
        con.execute("COMMIT")
    con.execute("CHECKPOINT")
    loaded = _row_groups(con, "raw_rows")
    con.close()
    con = connect(path)  # a later writer, as dbt or an asset after the ingest
    con.execute("CREATE TABLE unrelated AS SELECT 1 AS x")
    con.execute("CHECKPOINT")
    later = _row_groups(con, "raw_rows")
    assert con.execute("SELECT count(*) FROM raw_rows").fetchall()[0][0] == 3 * ROWS_PER_LOAD
    con.close()
    return loaded, later


def test_a_checkpoint_leaves_loaded_row_groups_as_they_were(tmp_path):
    loaded, later = _three_loads_then_an_unrelated_checkpoint(tmp_path / "w.duckdb", duckdb_config.connect)
    assert loaded >= 6  # each load's full and partial row groups, none merged
    assert later == loaded


def test_without_the_settings_a_later_checkpoint_rewrites_them(tmp_path):
    """Why every writer needs the setting: DuckDB's default vacuum merges the partial row groups, rewriting the
    rows after them, at whichever checkpoint comes first."""
    loaded, later = _three_loads_then_an_unrelated_checkpoint(tmp_path / "w.duckdb", lambda p: duckdb.connect(str(p)))
    assert later < loaded


def _setting(con, name: str) -> str:
    return str(con.execute("SELECT current_setting(?)", [name]).fetchall()[0][0])


def test_the_dagster_resource_and_the_loader_apply_the_settings(tmp_path):
    settings = get_settings({"AUTOSTACK_HOME": str(tmp_path / "home")})
    settings.ensure_dirs()
    with build_resources(settings)["warehouse"].get_connection() as con:
        assert _setting(con, "max_vacuum_tasks") == "0"
        assert _setting(con, "threads") == str(duckdb_config.threads())
    con = duckdb.connect(str(tmp_path / "other.duckdb"))
    duckdb_config.configure(con)
    assert _setting(con, "max_vacuum_tasks") == "0"
    con.close()


def test_dbt_profile_carries_the_same_settings():
    profile = yaml.safe_load((DBT_PROJECT_DIR / "profiles.yml").read_text())
    dbt_settings = profile["autostack"]["outputs"]["local"]["settings"]
    assert str(dbt_settings["max_vacuum_tasks"]) == duckdb_config.settings()["max_vacuum_tasks"]
    assert "AUTOSTACK_DUCKDB_MEMORY_LIMIT" in dbt_settings["memory_limit"]
