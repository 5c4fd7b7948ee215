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
    # Nothing those steps read changed (no new cost data, same code and options): the anomalies were
    # kept, only the feedback applied; the forecasts are kept too. A change in the marts recomputes.
    assert _recomputed(again) == {"ml/anomalies": False}
    assert _recomputed(materialize([ml.ml_forecasts], resources=_resources(settings))) == {
        "ml/forecasts": False, "ml/month_end_projections": None, "ml/forecast_backtests": None}
    con = duckdb.connect(str(settings.warehouse_path))
    try:
        con.execute("UPDATE marts.daily_scope_costs SET billed_cost = billed_cost + 1 WHERE charge_date = "
                    "(SELECT max(charge_date) FROM marts.daily_scope_costs) AND scope_type = 'total'")
    finally:
        con.close()
    assert _recomputed(materialize([ml.ml_anomalies], resources=_resources(settings))) == {"ml/anomalies": True}


def _recomputed(result) -> dict[str, bool | None]:
    """Per materialized asset: its "recomputed" metadata (None when it has none)."""
    found = {}
    for event in result.get_asset_materialization_events():
        value = event.materialization.metadata.get("recomputed")
        found["/".join(event.asset_key.path)] = None if value is None else value.value
    return found


def _synthetic_warehouse(path, days: int, spike_day: int | None = None) -> None:
    """marts.daily_costs, marts.daily_scope_costs and focus.costs of one AWS account: two services, a team tag."""
    from datetime import timedelta

    con = duckdb.connect(str(path))
    try:
        con.execute("CREATE SCHEMA marts; CREATE SCHEMA focus")
        con.execute("CREATE TABLE focus.costs (ChargePeriodStart TIMESTAMP, ProviderName VARCHAR, BillingAccountId VARCHAR, "
                    "SubAccountId VARCHAR, ServiceName VARCHAR, RegionId VARCHAR, ResourceId VARCHAR, x_UsageType VARCHAR, "
                    "Tags JSON, BilledCost DECIMAL(38,12), EffectiveCost DECIMAL(38,12), ListCost DECIMAL(38,12))")
        start = date(2026, 1, 1)
        for i in range(days):
            day = start + timedelta(days=i)
            ec2 = 100.0 if day.weekday() < 5 else 60.0
            extra = 150.0 if i == spike_day else 0.0
            con.execute("INSERT INTO focus.costs VALUES (?, 'AWS', '111', '222', 'EC2', 'us-east-1', 'i-1', 'BoxUsage', "
                        "'{\"team\": \"web\"}', ?, ?, ?), (?, 'AWS', '111', '222', 'S3', 'us-east-1', 'b-1', 'Storage', NULL, 20, 20, 20), "
                        "(?, 'AWS', '111', '222', 'EC2', 'us-west-2', 'i-9', 'BoxUsage', '{\"team\": \"data\"}', ?, ?, ?)",
                        [day, ec2, ec2, ec2, day, day, extra, extra, extra])
        con.execute("""CREATE TABLE marts.daily_costs AS
            SELECT CAST(ChargePeriodStart AS DATE) AS charge_date, ProviderName AS provider_name,
                   sum(BilledCost) AS billed_cost, sum(EffectiveCost) AS effective_cost FROM focus.costs GROUP BY ALL""")
        con.execute("""CREATE TABLE marts.daily_scope_costs AS
            SELECT charge_date, 'total' AS scope_type, 'total' AS scope_value, billed_cost, effective_cost FROM marts.daily_costs
            UNION ALL SELECT charge_date, 'provider', provider_name, billed_cost, effective_cost FROM marts.daily_costs
            UNION ALL SELECT CAST(ChargePeriodStart AS DATE), 'service', ServiceName, sum(BilledCost), sum(EffectiveCost)
                      FROM focus.costs GROUP BY ALL
            UNION ALL SELECT CAST(ChargePeriodStart AS DATE), 'tag:team', json_extract_string(Tags, '$.team'), sum(BilledCost),
                      sum(EffectiveCost) FROM focus.costs WHERE Tags IS NOT NULL GROUP BY ALL""")
    finally:
        con.close()


@pytest.mark.slow
def test_ml_assets_on_a_small_warehouse_find_the_spike_and_its_cause(autostack_home, monkeypatch):
    monkeypatch.setattr(ml, "PROPHET_MAX_SERIES", 0)
    _synthetic_warehouse(autostack_home.warehouse_path, days=100, spike_day=90)
    result = materialize([ml.ml_forecasts, ml.ml_anomalies, *ml.ML_CHECKS], resources=_resources(autostack_home))
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    con = duckdb.connect(str(autostack_home.warehouse_path), read_only=True)
    try:
        as_of = con.execute("SELECT DISTINCT as_of_date FROM ml.month_end_projections").fetchall()
        assert as_of == [(date(2026, 4, 10),)]  # day 99 of the data
        flagged = con.execute("SELECT scope_type, scope_value, anomaly_date, root_causes FROM ml.anomalies "
                              "WHERE cost_view = 'billed' ORDER BY 1, 2").fetchall()
    finally:
        con.close()
    spike = date(2026, 4, 1)
    # tag:team=data has no cost before the spike: a series starts at its first cost, so it has no baseline.
    assert {(t, v) for t, v, d, _ in flagged} == {("total", "total"), ("provider", "AWS"), ("service", "EC2")}
    assert {d for _, _, d, _ in flagged} == {spike}
    causes = json.loads(next(c for t, _, _, c in flagged if t == "total"))
    top = {(c["dimension"], c["value"]) for c in causes if c["delta"] == pytest.approx(150.0)}
    assert {("region", "us-west-2"), ("resource", "i-9"), ("tag", "team=data"), ("service", "EC2")} <= top
    assert not any(c["value"] == "S3" for c in causes)


@pytest.mark.slow
def test_ml_assets_without_cost_data_write_empty_tables(autostack_home):
    _synthetic_warehouse(autostack_home.warehouse_path, days=0)
    result = materialize([ml.ml_forecasts, ml.ml_anomalies], resources=_resources(autostack_home))
    assert result.success
    con = duckdb.connect(str(autostack_home.warehouse_path), read_only=True)
    try:
        for table in ("forecasts", "month_end_projections", "forecast_backtests", "anomalies"):
            assert con.execute(f"SELECT count(*) FROM ml.{table}").fetchall() == [(0,)]
    finally:
        con.close()
