"""Every definition loads, and the asset graph is a reviewed snapshot: a change to it shows as a diff.

Refresh after an intended change: UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/test_definitions.py
"""

from __future__ import annotations

import os
from pathlib import Path

from orchestration.definitions import INGEST_JOB, build_definitions

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.txt"


def render_graph(defs) -> str:
    graph = defs.resolve_asset_graph()
    lines = []
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        parents = ", ".join(sorted(p.to_user_string() for p in node.parent_keys)) or "-"
        checks = ", ".join(sorted(c.name for c in node.check_keys)) or "-"
        lines.append(f"{key.to_user_string()} [{node.group_name}] <- {parents} | checks: {checks}")
    return "\n".join(lines) + "\n"


def test_asset_graph_matches_snapshot(autostack_home):
    defs = build_definitions(autostack_home)
    rendered = render_graph(defs)
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(rendered)
    assert rendered == SNAPSHOT.read_text(), "asset graph changed: review and refresh the snapshot"


def test_jobs_sensor_and_pools(autostack_home):
    defs = build_definitions(autostack_home)
    job = defs.resolve_job_def(INGEST_JOB)
    assert job is not None
    assert defs.resolve_sensor_def("new_export_files").job_name == INGEST_JOB
    graph = defs.resolve_asset_graph()
    writers = [graph.get(k) for k in graph.get_all_asset_keys() if graph.get(k).is_materializable]
    # Every asset that writes the warehouse shares the `warehouse` pool (limit 1 in dagster.yaml).
    for node in writers:
        assert node.pools == {"warehouse"}, node.key


def test_the_dbt_resource_knows_its_executables_version_without_asking_it():
    """dagster-dbt would run `dbt --version` once per run; ours reads the same version in-process."""
    import re
    import subprocess

    from packaging import version

    from orchestration.defs.transform import DBT_EXECUTABLE, AutoStackDbtCliResource

    resource = AutoStackDbtCliResource(project_dir=str(Path(__file__).parents[1] / "dbt_project"),
                                       dbt_executable=DBT_EXECUTABLE)
    printed = subprocess.run([DBT_EXECUTABLE, "--version"], capture_output=True, text=True, check=True).stdout
    assert resource._cli_version == version.parse(re.search(r"(\d+\.\d+\.\d+)", printed).group(1))


def test_the_dbt_resource_makes_no_in_process_adapter(tmp_path, monkeypatch):
    """dagster-dbt registers a dbt adapter in-process on every cli() call (~2 s), only for row counts
    and column metadata, which AutoStack does not fetch; ours runs dbt without one."""
    from orchestration.defs.transform import DBT_EXECUTABLE, AutoStackDbtCliResource

    monkeypatch.setenv("AUTOSTACK_WAREHOUSE_PATH", str(tmp_path / "warehouse.duckdb"))
    project_dir = Path(__file__).parents[1] / "dbt_project"
    resource = AutoStackDbtCliResource(project_dir=str(project_dir), profiles_dir=str(project_dir),
                                       dbt_executable=DBT_EXECUTABLE)
    invocation = resource.cli(["list", "--resource-type", "seed", "--quiet"], target_path=tmp_path / "target")
    assert invocation.adapter is None
    assert invocation.wait().is_successful()
