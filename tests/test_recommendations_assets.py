"""The pricing, metrics and recommendations assets on the demo estate (demo_home), the CLI and the benchmark."""

from __future__ import annotations

import json
import shutil

import duckdb
import pytest

from autostack.cli import main
from autostack.settings import get_settings
from models_ml.recommendations import CONTRACT_COLUMNS, achievable_savings

from conftest import write_focus_table

pytestmark = pytest.mark.slow


def _materialize(settings):
    from dagster import materialize

    from orchestration.defs.metrics import utilization_daily
    from orchestration.defs.pricing import price_catalog
    from orchestration.defs.publish import serving_snapshot
    from orchestration.defs.recommendations import recommendations
    from orchestration.resources import build_resources

    result = materialize([price_catalog, utilization_daily, recommendations, serving_snapshot],
                         resources=build_resources(settings), raise_on_error=True)
    assert result.success
    return result


@pytest.fixture(scope="module")
def recs_home(demo_home, tmp_path_factory):
    """A home holding a copy of demo_home's warehouse, with the demo's metrics folder configured."""
    home = tmp_path_factory.mktemp("recs") / "home"
    mp = pytest.MonkeyPatch()
    mp.setenv("AUTOSTACK_HOME", str(home))
    mp.setenv("AUTOSTACK_METRICS_DIRS", str(demo_home.home / "demo" / "metrics"))
    settings = get_settings()
    settings.ensure_dirs()
    shutil.copyfile(demo_home.warehouse_path, settings.warehouse_path)
    result = _materialize(settings)
    yield settings, result
    mp.undo()


def _read(settings, sql):
    con = duckdb.connect(str(settings.serving_path), read_only=True)
    try:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]
    finally:
        con.close()


def test_demo_recommendations_find_the_planted_waste(recs_home, demo_home):
    settings, result = recs_home
    columns = [r["column_name"] for r in _read(settings, "SELECT column_name FROM information_schema.columns "
                                                     "WHERE table_schema = 'ml' AND table_name = 'recommendations' ORDER BY ordinal_position")]
    assert columns == CONTRACT_COLUMNS
    rows = _read(settings, "SELECT *, CAST(evidence AS VARCHAR) AS evidence_text FROM ml.recommendations")
    waste = json.loads((demo_home.home / "demo" / "ground-truth" / "waste.json").read_text())
    found = {r["resource_id"] for r in rows}
    idle = [w for w in waste if w["type"] == "idle_instance"]
    assert idle, "the demo estate plants an idle machine"
    for w in idle:
        assert w["resource_id"] in found
    missing = [w for w in waste if w["resource_id"] not in found]
    assert len(missing) <= 0.1 * len(waste), missing
    for r in rows:
        assert json.loads(r["evidence_text"])["monthly_cost"] >= float(r["monthly_savings"]) - 0.01
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"metrics_files_load_without_errors": True, "no_resource_savings_counted_twice": True,
                      "savings_within_cost": True}
    metrics = _read(settings, "SELECT count(*) AS n, count(DISTINCT resource_id) AS machines FROM metrics.utilization_daily")[0]
    assert metrics["n"] > 1000


def test_benchmark_measures_against_the_ground_truth(recs_home, demo_home):
    from benchmarks.recommendation_accuracy import measure

    settings, _ = recs_home
    numbers, markdown = measure(settings.serving_path, demo_home.home / "demo")
    assert numbers["waste_found_share"] >= 0.9
    assert numbers["false_positive_share"] <= 0.1
    assert numbers["savings_share_of_waste_spend"] >= 0.3
    assert "| planted waste found |" in markdown
    estate = numbers["estate"]  # the reproduce line rebuilds this very estate, not the quick start's
    assert (f"benchmarks/accuracy.py --seed {estate['seed']} --scale {estate['scale']:g} --end {estate['end']}`"
            in markdown), markdown


def test_cli_lists_and_decisions_survive_a_recompute(recs_home, capsys):
    settings, _ = recs_home
    assert main(["recommendations"]) == 0
    out = capsys.readouterr().out
    assert "Achievable savings" in out and "idle_resource" in out
    rows = _read(settings, "SELECT recommendation_id, type, monthly_savings, resource_id FROM ml.recommendations "
                           "ORDER BY monthly_savings DESC, recommendation_id")
    target = next(r for r in rows if r["type"] == "idle_resource")
    assert main(["recommendations", "done", target["recommendation_id"][:10], "--note", "stopped", "--user", "ops"]) == 0
    assert "marked done" in capsys.readouterr().out
    assert main(["recommendations", "--status", "done", "--format", "json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert [d["recommendation_id"] for d in done] == [target["recommendation_id"]]
    assert main(["recommendations", "--type", "idle_resource", "--min-savings", "1"]) == 0
    assert target["recommendation_id"][:12] not in capsys.readouterr().out
    assert main(["recommendations", "dismiss", "zzzz"]) == 1
    assert "no recommendation with id 'zzzz'" in capsys.readouterr().err
    # Recompute: the same ids come back, and the decision is joined in from the app store.
    rerun = _materialize(settings)
    again = {r["recommendation_id"]: r["status"] for r in _read(settings, "SELECT recommendation_id, status FROM ml.recommendations")}
    assert set(again) == {r["recommendation_id"] for r in rows}
    assert again[target["recommendation_id"]] == "done"
    # Nothing they read changed: kept rather than recomputed, the decision joined in, the checks still run.
    recomputed = [e.materialization.metadata["recomputed"].value for e in rerun.get_asset_materialization_events()
                  if e.asset_key.path == ["ml", "recommendations"]]
    assert recomputed == [False]
    assert all(e.passed for e in rerun.get_asset_check_evaluations())
    import pandas as pd

    frame = pd.DataFrame(_read(settings, "SELECT resource_id, recommendation_id, CAST(monthly_savings AS DOUBLE) AS "
                                         "monthly_savings, status FROM ml.recommendations"))
    assert achievable_savings(frame) <= frame[frame["status"] == "open"]["monthly_savings"].sum()


def test_the_recommendations_fingerprint_follows_the_columns_they_read(tmp_path):
    """Only the focus.costs columns the rules' queries name are hashed: a change there recomputes, a
    change in a column no rule reads (x_Extras, the costliest to hash) does not."""
    from orchestration.defs import inputs_state
    from orchestration.defs.recommendations import RECOMMENDATION_INPUTS

    row = {"ProviderName": "AWS", "ResourceId": "i-1", "ResourceName": "web", "ChargeCategory": "Usage",
           "EffectiveCost": 3.5, "BilledCost": 3.5, "Tags": '{"team": "web"}'}
    con = duckdb.connect(str(write_focus_table(tmp_path / "w.duckdb", [row])))
    tables = {"focus.costs": RECOMMENDATION_INPUTS["focus.costs"]}

    def fingerprint() -> str:
        return inputs_state.fingerprint(con, "recommendations", {}, tables, [])

    first = fingerprint()
    con.execute("""UPDATE focus.costs SET x_Extras = '{"a": 2}', ChargeDescription = 'another text'""")
    assert fingerprint() == first
    for change in ("ResourceName = 'api'", """Tags = '{"team": "api"}'""", "EffectiveCost = 4"):
        con.execute(f"UPDATE focus.costs SET {change}")
        assert fingerprint() != first, change
        first = fingerprint()
