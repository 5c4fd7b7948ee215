"""The dbt project's unit tests (dbt_project/models/**/_*__models.yml: fixed input rows, the model's
expected rows), each run once by a real `dbt build` on a warehouse holding the loader's empty raw tables.
The other tests' dbt builds leave them out (conftest.run_dbt)."""

from __future__ import annotations

import json

import duckdb
import pytest

from orchestration.ingest.loader import ensure_manifest, ensure_raw_tables
from conftest import run_dbt


@pytest.mark.slow
def test_every_dbt_unit_test_passes(autostack_home):
    with duckdb.connect(str(autostack_home.warehouse_path)) as con:
        ensure_manifest(con)
        ensure_raw_tables(con)
    result = run_dbt(autostack_home, "build", unit_tests=True)
    ran = {r.node.unique_id: str(r.status) for r in result.result.results if r.node.resource_type == "unit_test"}
    manifest = json.loads((autostack_home.dbt_target_dir / "manifest.json").read_text())
    assert set(ran) == set(manifest["unit_tests"]) and len(ran) >= 20, sorted(ran)
    assert set(ran.values()) == {"pass"}, ran
