"""dbt (through dagster-dbt): staging → intermediate → focus → marts, as Dagster assets.

dbt sources are keyed [schema, table] like the tables the `raw_billing_files` assets write, so the
graph reads: export files → raw.* / ingest.* → stg_* → int_* → focus/costs_v1_2 → marts.
"""


import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, AssetKey
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets
from packaging import version

from autostack.settings import DBT_PROJECT_DIR, Settings
from orchestration.ingest import duckdb_config

# The dbt next to this interpreter, so that running .venv/bin/autostack needs no activated venv.
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")


def dbt_environment(settings: Settings) -> dict[str, str]:
    """What dbt's profiles.yml reads from the environment, and where the project's parse is kept.

    dagster-dbt copies the `partial_parse.msgpack` of DBT_TARGET_PATH into each run's own target
    folder, so a run's `dbt build` parses only what changed instead of the whole project (measured:
    a full parse 11.9 s, a partial one 6.0 s, of which 3.6 s is dbt starting)."""
    return {
        "AUTOSTACK_WAREHOUSE_PATH": str(settings.warehouse_path),
        "DBT_LOG_PATH": str(settings.home / "dbt-logs"),
        "DBT_TARGET_PATH": str(settings.dbt_target_dir),
    }


def dbt_project(settings: Settings) -> DbtProject:
    """The dbt project, with its manifest under AUTOSTACK_HOME; parsed again when the project changed."""
    os.environ.update(dbt_environment(settings))
    project = DbtProject(project_dir=DBT_PROJECT_DIR, target_path=settings.dbt_target_dir)
    if _manifest_is_stale(project):
        _dbt_cli(project).cli(["parse", "--quiet"], target_path=project.target_path).wait()
    return project


class AutoStackDbtCliResource(DbtCliResource):
    """The dbt CLI next to this interpreter, without two fixed costs dagster-dbt pays per run:
    - it asks the executable its version (`dbt --version`, a subprocess of ~3.5 s) once per resource,
      i.e. once per run; this one is the installed dbt-core's, read in-process;
    - every `cli()` call loads the profile and project and registers a dbt adapter in-process
      (~2 s in a new process, 0.7 s after), used only by `fetch_row_counts()` and
      `fetch_column_metadata()`, which AutoStack does not call: none is made."""

    @cached_property
    def _cli_version(self) -> version.Version:
        from dbt.version import __version__

        return version.parse(__version__)

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:
        return None


def _dbt_cli(project: DbtProject) -> DbtCliResource:
    return AutoStackDbtCliResource(project_dir=project, profiles_dir=str(DBT_PROJECT_DIR), dbt_executable=DBT_EXECUTABLE)


def _manifest_is_stale(project: DbtProject) -> bool:
    manifest = Path(project.manifest_path)
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    for folder in ("models", "macros", "tests"):
        for path in (DBT_PROJECT_DIR / folder).rglob("*"):
            if path.is_file() and path.stat().st_mtime > built:
                return True
    for path in (DBT_PROJECT_DIR / "dbt_project.yml", DBT_PROJECT_DIR / "profiles.yml"):
        if path.stat().st_mtime > built:
            return True
    return False


def dbt_resource(settings: Settings) -> DbtCliResource:
    return _dbt_cli(dbt_project(settings))


KEPT_DBT_RUNS = 20
SEED_STATE_TABLE = "ingest.dbt_seed_state"


def _seeds(manifest_path: Path) -> dict[str, Path]:
    """The enabled seeds: relation (schema.name) → their CSV file."""
    import json

    nodes = json.loads(Path(manifest_path).read_text())["nodes"].values()
    return {f"{n['schema']}.{n['alias'] or n['name']}": DBT_PROJECT_DIR / n["original_file_path"]
            for n in nodes if n["resource_type"] == "seed"}


def seed_fingerprint(seeds: dict[str, Path]) -> str:
    """Changes when a seed's file, the seed list or the seeds' configuration (dbt_project.yml) changes."""
    import hashlib

    digest = hashlib.sha256((DBT_PROJECT_DIR / "dbt_project.yml").read_bytes())
    for relation, path in sorted(seeds.items()):
        digest.update(relation.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def seeds_are_current(warehouse: Path, seeds: dict[str, Path], fingerprint: str) -> bool:
    """Whether every seed table exists and was built from exactly these files (recorded by the last build)."""
    if _recorded(warehouse, SEED_STATE_TABLE) != fingerprint:
        return False
    con = duckdb_config.connect(warehouse)
    try:
        tables = {f"{schema}.{name}" for schema, name in con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables()").fetchall()}
        return set(seeds) <= tables
    finally:
        con.close()


def record_seeds(warehouse: Path, fingerprint: str) -> None:
    _record(warehouse, SEED_STATE_TABLE, fingerprint)


MAPPING_STATE_TABLE = "ingest.dbt_mapping_state"


def mapping_fingerprint(seeds: dict[str, Path]) -> str:
    """Changes when anything that decides how a row is mapped changes: a model, a macro, a seed or the
    project configuration. focus.costs_v1_2 keeps the rows of loads a build does not map again
    (macros/incremental_mapping.sql), so a new mapping must rebuild it in full."""
    import hashlib

    digest = hashlib.sha256(seed_fingerprint(seeds).encode())
    for folder in ("models", "macros"):
        for path in sorted((DBT_PROJECT_DIR / folder).rglob("*")):
            if path.is_file():
                digest.update(str(path.relative_to(DBT_PROJECT_DIR)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def mapping_is_current(warehouse: Path, fingerprint: str) -> bool:
    """Whether the last successful build used exactly this mapping (recorded by record_mapping)."""
    return _recorded(warehouse, MAPPING_STATE_TABLE) == fingerprint


def record_mapping(warehouse: Path, fingerprint: str) -> None:
    _record(warehouse, MAPPING_STATE_TABLE, fingerprint)


def stale_lookups(warehouse: Path) -> list[tuple]:
    """Rows of focus.costs_v1_2 an incremental build left disagreeing with the conformance lookups
    (intermediate.int_costs__stale_lookups): (column, provider, key, found, expected, rows)."""
    con = duckdb_config.connect(warehouse)
    try:
        return con.execute(
            "SELECT column_name, provider_name, key, found, expected, row_count "
            "FROM intermediate.int_costs__stale_lookups ORDER BY ALL").fetchall()
    finally:
        con.close()


def _recorded(warehouse: Path, table: str) -> str | None:
    if not warehouse.exists():
        return None
    con = duckdb_config.connect(warehouse)
    try:
        schema, name = table.split(".")
        if not con.execute("SELECT 1 FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?", [schema, name]).fetchall():
            return None
        rows = con.execute(f"SELECT fingerprint FROM {table}").fetchall()
        return rows[0][0] if len(rows) == 1 else None
    finally:
        con.close()


def _record(warehouse: Path, table: str, fingerprint: str) -> None:
    con = duckdb_config.connect(warehouse)
    try:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {table.split('.')[0]}")
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT ? AS fingerprint, now() AS built_at", [fingerprint])
    finally:
        con.close()


def _keep_newest(folder: Path, count: int) -> None:
    """dbt writes a few MB of artifacts per run; keep the newest runs' for debugging."""
    runs = sorted((p for p in folder.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in runs[count:]:
        shutil.rmtree(old, ignore_errors=True)


class AutoStackDbtTranslator(DagsterDbtTranslator):
    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return AssetKey([dbt_resource_props["schema"], dbt_resource_props.get("identifier") or dbt_resource_props["name"]])
        schema = dbt_resource_props.get("config", {}).get("schema") or dbt_resource_props.get("schema")
        return AssetKey([schema, dbt_resource_props["name"]]) if schema else AssetKey(dbt_resource_props["name"])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        schema = dbt_resource_props.get("config", {}).get("schema") or dbt_resource_props.get("schema")
        return {"staging": "transform", "intermediate": "transform", "reference": "reference"}.get(schema, schema)


def _rebuild_if_stale(context, dbt: DbtCliResource, project: DbtProject, warehouse: Path, excluded: list[str],
                      target_path: Path) -> None:
    """New loads can change a service's one category or a region's name under rows the incremental
    build kept; then focus.costs_v1_2 and what reads it are rebuilt in full (rare: a lookup moves)."""
    stale = stale_lookups(warehouse)
    if not stale:
        return
    shown = "; ".join(f"{c} of {p} {k}: {f!r} should be {e!r} ({n} rows)" for c, p, k, f, e, n in stale[:5])
    context.log.warning(f"new loads changed {len(stale)} conformance lookup(s) under kept rows ({shown}): "
                        "rebuilding focus.costs_v1_2 and its dependents in full")
    dbt.cli(["build", "--full-refresh", "--select", "+costs_v1_2+", "--exclude-resource-type", *excluded],
            manifest=project.manifest_path, target_path=target_path).wait()


def build_dbt_assets(settings: Settings):
    project = dbt_project(settings)

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        dagster_dbt_translator=AutoStackDbtTranslator(
            settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)
        ),
        pool="warehouse",
        name="autostack_dbt",
    )
    def autostack_dbt(context: AssetExecutionContext, dbt: DbtCliResource):
        # Each run's dbt artifacts under AUTOSTACK_HOME, not in the project folder.
        runs = settings.dbt_target_dir / "runs"
        # Unit tests check the SQL against fixed rows, not the data: they run in the test suite and
        # `dbt build` by hand, not on every load (measured: ~20 unit tests, ~1-4 s each, per run).
        excluded = ["unit_test"]
        # Reference seeds are rebuilt only when their files changed (a few hundred rows, but a
        # seed step costs ~6 CPU s per run); their tables are otherwise what the last build left.
        seeds = _seeds(project.manifest_path)
        fingerprint = seed_fingerprint(seeds)
        if seeds_are_current(settings.warehouse_path, seeds, fingerprint):
            excluded.append("seed")
            context.log.info(f"reference seeds unchanged since they were built ({len(seeds)} tables): not rebuilt")
        # focus.costs_v1_2 maps only the loads of slices that changed (macros/incremental_mapping.sql);
        # a changed mapping (model, macro, seed) rebuilds it in full.
        mapping = mapping_fingerprint(seeds)
        full = [] if mapping_is_current(settings.warehouse_path, mapping) else ["--full-refresh"]
        if full:
            context.log.info("the mapping changed since the last build (or none is recorded): full refresh")
        invocation = dbt.cli(["build", *full, "--exclude-resource-type", *excluded], context=context,
                             target_path=runs / context.run.run_id)
        yield from invocation.stream()
        if invocation.is_successful():
            if not full:
                _rebuild_if_stale(context, dbt, project, settings.warehouse_path, excluded,
                                  runs / f"{context.run.run_id}-full")
            if "seed" not in excluded:
                record_seeds(settings.warehouse_path, fingerprint)
            record_mapping(settings.warehouse_path, mapping)
        _keep_newest(runs, KEPT_DBT_RUNS)

    return autostack_dbt
