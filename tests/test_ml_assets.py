"""The ML assets on the demo estate: contract columns, the data's as-of date, checks, feedback kept."""

from __future__ import annotations

import json
import shutil
from datetime import date

import duckdb
import pytest
from dagster import materialize
from dagster_duckdb import DuckDBResource

from orchestration.defs import ml
from orchestration.resources import AutoStackSettings

CONTRACT = {
    "forecasts": ["scope_type", "scope_value", "cost_view", "as_of_date", "forecast_date", "predicted_cost", "lower_80",
                  "upper_80", "lower_95", "upper_95", "model"],
    "month_end_projections": ["scope_type", "scope_value", "cost_view", "month", "as_of_date", "actual_to_date",
                              "projected_total", "lower_80", "upper_80", "model", "backtest_mape"],
    "anomalies": ["scope_type", "scope_value", "cost_view", "anomaly_date", "actual_cost", "expected_cost",
                  "lower_bound", "upper_bound", "impact", "status", "feedback", "root_causes"],
}
DEMO_LAST_DAY = date(2026, 11, 20)


def _resources(settings):
    return {"autostack": AutoStackSettings(home=str(settings.home)),
            "warehouse": DuckDBResource(database=str(settings.warehouse_path))}


@pytest.fixture
def demo_warehouse(demo_home, autostack_home, monkeypatch):
    """A private copy of the demo estate's warehouse; Prophet limited to two series to keep it quick."""
    shutil.copyfile(demo_home.warehouse_path, autostack_home.warehouse_path)
    monkeypatch.setattr(ml, "PROPHET_MAX_SERIES", 2)
    return autostack_home


@pytest.mark.slow
def test_ml_assets_on_the_demo_estate(demo_warehouse):
    from autostack.store.anomalies import set_feedback

    settings = demo_warehouse
    result = materialize([ml.ml_forecasts, ml.ml_anomalies, *ml.ML_CHECKS], resources=_resources(settings))
    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"forecast_intervals_are_ordered": True, "every_scope_has_a_forecast": True,
                      "anomalies_exceed_their_range": True}

    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        for table, columns in CONTRACT.items():
            described = [row[0] for row in con.execute(f"DESCRIBE ml.{table}").fetchall()]
            assert described[:len(columns)] == columns, table
        as_of = {row[0] for row in con.execute(
            "SELECT DISTINCT as_of_date FROM ml.forecasts UNION SELECT DISTINCT as_of_date FROM ml.month_end_projections"
        ).fetchall()}
        assert as_of == {DEMO_LAST_DAY}  # the data's last complete day, not today
        scope_types = {row[0] for row in con.execute("SELECT DISTINCT scope_type FROM ml.month_end_projections").fetchall()}
        assert {"total", "provider", "billing_account", "sub_account", "service", "tag:team"} <= scope_types
        views = con.execute("SELECT DISTINCT cost_view FROM ml.forecasts ORDER BY 1").fetchall()
        assert views == [("billed",), ("effective",)]
        horizon = con.execute("SELECT min(forecast_date), max(forecast_date) FROM ml.forecasts").fetchall()[0]
        assert horizon == (date(2026, 11, 21), date(2027, 2, 28))
        # The month-end projection adds the rest of the month's forecast to the month's actuals.
        total = con.execute("SELECT actual_to_date, projected_total FROM ml.month_end_projections "
                            "WHERE scope_type = 'total' AND cost_view = 'billed'").fetchall()[0]
        rest = con.execute("SELECT sum(predicted_cost) FROM ml.forecasts WHERE scope_type = 'total' AND cost_view = "
                           "'billed' AND forecast_date <= DATE '2026-11-30'").fetchall()[0][0]
        assert float(total[1]) == pytest.approx(float(total[0]) + float(rest), rel=1e-9)
        mtd = con.execute("SELECT sum(billed_cost) FROM marts.daily_costs WHERE charge_date BETWEEN "
                          "DATE '2026-11-01' AND DATE '2026-11-20'").fetchall()[0][0]
        assert float(total[0]) == pytest.approx(float(mtd), rel=1e-9)
        winners = con.execute("SELECT count(*) FROM ml.forecast_backtests WHERE selected AND origin = 'all' "
                              "AND scope_type = 'total'").fetchall()[0][0]
        assert winners == 2  # one winning model per cost view
        anomaly = con.execute("SELECT scope_type, scope_value, cost_view, anomaly_date, root_causes FROM ml.anomalies "
                              "WHERE scope_type = 'sub_account' ORDER BY impact DESC LIMIT 1").fetchall()
    finally:
        con.close()

    # The planted egress spike and friends are found, each with root causes; feedback survives a recompute.
    assert anomaly, "no anomaly found on any sub account of the demo estate"
    scope_type, scope_value, cost_view, anomaly_date, causes = anomaly[0]
    assert json.loads(causes) and {"dimension", "value", "delta"} <= set(json.loads(causes)[0])
    set_feedback(settings, scope_type, scope_value, cost_view, anomaly_date, feedback="planned", status="acknowledged",
                 note="load test", user="tester")
    again = materialize([ml.ml_anomalies], resources=_resources(settings))
    assert again.success
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        kept = con.execute("SELECT status, feedback FROM ml.anomalies WHERE scope_type = ? AND scope_value = ? AND "
                           "cost_view = ? AND anomaly_date = ?", [scope_type, scope_value, cost_view, anomaly_date]).fetchall()
    finally:
        con.close()
    assert kept == [("acknowledged", "planned")]
