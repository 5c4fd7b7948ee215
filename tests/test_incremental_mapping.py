"""focus.costs_v1_2 maps only the loads of slices that changed (dbt_project/macros/incremental_mapping.sql),
and the result is exactly what a full build gives: real dbt builds on a real (small) demo estate,
delivered in three steps the way exports arrive: past months, then a month-to-date delivery, then
its restatement."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import duckdb
import pytest

from autostack.settings import get_settings
from orchestration import sources
from orchestration.defs.transform import stale_lookups
from orchestration.ingest.loader import ensure_raw_tables, load_file
from tests.conftest import DEMO_END, run_dbt

CURRENT_MONTH = ("2026-11", "20261101")


@pytest.fixture(scope="module")
def estate(tmp_path_factory) -> Path:
    from autostack.demo.generate import DemoConfig, generate

    out = tmp_path_factory.mktemp("estate")
    generate(DemoConfig(out=out, months=3, end=date.fromisoformat(DEMO_END), seed=5, scale=0.04))
    return out / "exports"


def _home(tmp_path):
    settings = get_settings({"AUTOSTACK_HOME": str(tmp_path / "home")})
    settings.ensure_dirs()
    return settings


def _load(settings, objects) -> list[str]:
    with duckdb.connect(str(settings.warehouse_path)) as con:
        ensure_raw_tables(con)
        results = [load_file(con, sources.fetch(obj, settings)) for obj in objects]
    assert all(r.outcome == "loaded" for r in results), [r.error for r in results if r.outcome != "loaded"]
    return [r.load_id for r in results]


def _deliveries(settings, exports: Path):
    """Past months; the first month-to-date delivery of each export; the rest (its restatements)."""
    objects = sources.expand([str(exports)], settings)
    current = [o for o in objects if any(m in o.uri for m in CURRENT_MONTH)]
    past = [o for o in objects if o not in current]
    first, later, seen = [], [], set()
    for obj in current:  # in delivery order
        export = str(Path(obj.uri).parent.parent)  # <export>/<period>/<delivery>/<file>
        (later if export in seen else first).append(obj)
        seen.add(export)
    assert past and first and later, "the estate must have past months and a restated current month"
    return past, first, later


def _build(settings) -> bool:
    """dbt build as the orchestrator runs it (orchestration/defs/transform.py): incremental, then in full
    when new loads moved a conformance lookup under kept rows. Whether it had to rebuild in full."""
    run_dbt(settings, "build", "--exclude-resource-type", "unit_test")
    if not stale_lookups(settings.warehouse_path):
        return False
    run_dbt(settings, "build", "--full-refresh", "--select", "+costs_v1_2+", "--exclude-resource-type", "unit_test")
    assert stale_lookups(settings.warehouse_path) == []
    return True


def _rows(con, relation: str) -> int:
    return con.execute(f"SELECT count(*) FROM {relation}").fetchall()[0][0]


def _same_rows(con, a: str, b: str) -> tuple[int, int]:
    only_a = _rows(con, f"(SELECT * FROM {a} EXCEPT ALL SELECT * FROM {b})")
    only_b = _rows(con, f"(SELECT * FROM {b} EXCEPT ALL SELECT * FROM {a})")
    return only_a, only_b


def _mapped_load_ids(settings, model_path: str) -> set[str]:
    compiled = (settings.dbt_target_dir / "run" / "autostack" / "models" / model_path).read_text()
    where = compiled.rsplit("from", 1)[1]
    return set(re.findall(r"'([0-9a-f]{32})'", where))


def test_an_incremental_build_maps_only_changed_slices_and_equals_a_full_build(estate, tmp_path):
    settings = _home(tmp_path)
    past, first, later = _deliveries(settings, estate)

    _load(settings, past)
    _build(settings)
    first_ids = _load(settings, first)
    _build(settings)  # a new month may name a region the past months left unnamed: then in full
    # The restatements supersede the month-to-date loads mapped a moment ago; they move no lookup.
    later_ids = _load(settings, later)
    assert not _build(settings)

    with duckdb.connect(str(settings.warehouse_path)) as con:
        restated = {r[0] for r in con.execute(
            "SELECT load_id FROM ingest.partitions WHERE x_billing_period = DATE '2026-11-01' "
            "AND raw_table IN ('raw.aws_cur', 'raw.azure_costs')").fetchall()}
        loads = {r[0] for r in con.execute("SELECT DISTINCT x_LoadId FROM focus.costs_v1_2").fetchall()}
        superseded = {r[0] for r in con.execute(
            "SELECT load_id FROM ingest.file_loads WHERE outcome = 'superseded'").fetchall()}
        assert superseded and superseded <= set(first_ids), "the restatements supersede month-to-date loads"
        assert set(later_ids) <= loads and not loads & superseded, "superseded loads' rows are gone"
        con.execute("CREATE TABLE incremental AS SELECT * FROM focus.costs_v1_2")
        incremental_facts = con.execute("SELECT * FROM intermediate.int_costs__lookup_facts_by_load "
                                        "ORDER BY ALL").fetchall()
    # The last build read only the loads of the slices the restatements changed: this month's AWS and
    # Azure loads (this month's GCP and FOCUS loads were mapped by the build before and kept).
    assert _mapped_load_ids(settings, "staging/aws/stg_aws__cur_line_items.sql") == restated
    assert len(restated) < len(loads) / 3
    assert stale_lookups(settings.warehouse_path) == []

    run_dbt(settings, "build", "--full-refresh", "--exclude-resource-type", "unit_test")
    with duckdb.connect(str(settings.warehouse_path)) as con:
        assert _rows(con, "focus.costs_v1_2") > 1000
        assert _same_rows(con, "focus.costs_v1_2", "incremental") == (0, 0)
        assert con.execute("SELECT * FROM intermediate.int_costs__lookup_facts_by_load "
                           "ORDER BY ALL").fetchall() == incremental_facts
    # A full build reads every load: no filter in the staging view.
    compiled = (settings.dbt_target_dir / "run" / "autostack" / "models" / "staging" / "aws"
                / "stg_aws__cur_line_items.sql").read_text()
    assert "x_load_id in" not in compiled


def test_a_build_with_nothing_new_maps_nothing_and_keeps_every_row(estate, tmp_path):
    settings = _home(tmp_path)
    past, first, _ = _deliveries(settings, estate)
    _load(settings, past + first)
    run_dbt(settings, "build", "--exclude-resource-type", "unit_test")
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("CREATE TABLE before AS SELECT * FROM focus.costs_v1_2")
    run_dbt(settings, "build", "--exclude-resource-type", "unit_test")
    compiled = (settings.dbt_target_dir / "run" / "autostack" / "models" / "staging" / "gcp"
                / "stg_gcp__billing_line_items.sql").read_text()
    assert "\nwhere false\n" in compiled
    with duckdb.connect(str(settings.warehouse_path)) as con:
        assert _same_rows(con, "focus.costs_v1_2", "before") == (0, 0)


FOCUS_SAMPLE = Path(__file__).resolve().parents[1] / "data" / "samples" / "focus-1.0-sample-aws" / "focus_sample_aws.csv"


def _focus_file(path: Path, account: str, period: str, category: str, cost: float) -> Path:
    """The FOCUS sample's rows moved to one (account, period) slice, every service in one category."""
    with duckdb.connect() as con:
        con.execute(f"""COPY (
            SELECT * REPLACE ('{account}' AS BillingAccountId, TIMESTAMP '{period}' AS BillingPeriodStart,
                              TIMESTAMP '{period}' + INTERVAL 1 MONTH AS BillingPeriodEnd,
                              '{category}' AS ServiceCategory, {cost} AS BilledCost, {cost} AS EffectiveCost)
            FROM read_csv('{FOCUS_SAMPLE}', all_varchar = true) LIMIT 20
        ) TO '{path}' (HEADER, DELIMITER ',')""")
    return path


def test_new_loads_that_move_a_lookup_are_reported_as_stale(tmp_path, monkeypatch):
    """A later slice where every service costs more as Storage moves each service's one category: the
    rows kept from the first slice are stale (the orchestrator then rebuilds in full)."""
    settings = _home(tmp_path)
    first = _focus_file(tmp_path / "a.csv", "acct-a", "2024-09-01", "Compute", 1.0)
    second = _focus_file(tmp_path / "b.csv", "acct-b", "2024-10-01", "Storage", 100.0)
    from orchestration.defs.transform import _rebuild_if_stale, dbt_environment, dbt_project, dbt_resource
    from orchestration.ingest.loader import SourceFile

    for key, value in dbt_environment(settings).items():  # dbt_project() sets them; restored after the test
        monkeypatch.setenv(key, value)

    # dbt as the asset runs it: the CLI in a subprocess (an in-process dbt would keep the file locked).
    project, dbt = dbt_project(settings), dbt_resource(settings)

    def build() -> None:
        dbt.cli(["build", "--exclude-resource-type", "unit_test"], manifest=project.manifest_path,
                target_path=tmp_path / "target").wait()

    for path in (first, second):
        with duckdb.connect(str(settings.warehouse_path)) as con:
            ensure_raw_tables(con)
            assert load_file(con, SourceFile.local(path)).outcome == "loaded"
        build()
    stale = stale_lookups(settings.warehouse_path)
    assert stale and {(s[0], s[3], s[4]) for s in stale} == {("ServiceCategory", "Compute", "Storage")}

    # What the dbt asset does then (orchestration/defs/transform.py).
    class Log:
        warnings: list[str] = []

        def warning(self, message):
            self.warnings.append(message)

    class Context:
        log = Log()

    _rebuild_if_stale(Context(), dbt, project, settings.warehouse_path, ["unit_test"], tmp_path / "target-full")
    assert "'Compute' should be 'Storage'" in Context.log.warnings[0]
    assert stale_lookups(settings.warehouse_path) == []
    with duckdb.connect(str(settings.warehouse_path)) as con:
        assert con.execute("SELECT DISTINCT ServiceCategory FROM focus.costs_v1_2").fetchall() == [("Storage",)]
