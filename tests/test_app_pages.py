"""Every page of the app, run by Streamlit's AppTest against a copy of the demo estate's snapshot:
no exception, headline numbers equal direct SQL on the same file, widgets change the result,
feedback and decisions persist in the app store."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from app_fixtures import ANOMALIES, RECOMMENDATIONS, add_ml_tables, copy_published
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from autostack.settings import PROJECT_ROOT
from autostack.store import session_scope
from autostack.store.models import AnomalyFeedback, RecommendationState, RefreshRequest

MAIN = str(PROJECT_ROOT / "app" / "main.py")
pytestmark = pytest.mark.slow  # needs the demo estate (built once per session)


@pytest.fixture(scope="module")
def ml_snapshot(demo_home, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ml-snapshot") / "autostack.duckdb"
    shutil.copyfile(demo_home.serving_path, path)
    add_ml_tables(path)
    return path


@pytest.fixture
def app_home(autostack_home, demo_home, ml_snapshot):
    """This test's own home: the demo snapshot with contract-shaped ml.* tables, and the demo's Dagster instance."""
    copy_published(demo_home, autostack_home, with_ml=False, dagster=True)
    shutil.copyfile(ml_snapshot, autostack_home.serving_path)
    return autostack_home


def open_page(page: str | None = None) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=60).run()
    if page:
        at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def overview_section(at: AppTest, section: str) -> AppTest:
    """Open one of the overview's lazy tabs (only the open tab's section runs)."""
    at.session_state["overview_section"] = section
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def sql(settings, query: str, params=()) -> list[tuple]:
    con = duckdb.connect(str(settings.serving_path), read_only=True)
    try:
        return con.execute(query, list(params)).fetchall()
    finally:
        con.close()


def money(value: float) -> str:
    return f"${value:,.2f}"


def metric(at: AppTest, label: str):
    found = [m for m in at.metric if m.label == label]
    assert found, f"no metric {label!r} among {[m.label for m in at.metric]}"
    return found[0]


# --------------------------------------------------------------------------- overview
def test_overview_numbers_equal_sql(app_home):
    at = open_page()
    as_of = sql(app_home, "SELECT max(charge_date) FROM marts.daily_costs")[0][0]
    month_start = as_of.replace(day=1)
    mtd = sql(app_home, "SELECT sum(billed_cost) FROM marts.daily_costs WHERE charge_date BETWEEN ? AND ?",
              (month_start, as_of))[0][0]
    latest = sql(app_home, "SELECT sum(billed_cost) FROM marts.daily_costs WHERE charge_date = ?", (as_of,))[0][0]
    last_start = (month_start - timedelta(days=1)).replace(day=1)
    last_month = sql(app_home, "SELECT sum(billed_cost) FROM marts.daily_costs WHERE charge_date BETWEEN ? AND ?",
                     (last_start, month_start - timedelta(days=1)))[0][0]
    projected = sql(app_home, "SELECT projected_total FROM ml.month_end_projections WHERE scope_type = 'total' "
                              "AND cost_view = 'billed'")[0][0]
    assert metric(at, "Month to date").value == money(mtd)
    assert metric(at, "Latest day").value == money(latest)
    assert metric(at, "Last month").value == money(last_month)
    assert metric(at, "Projected month end").value == money(projected)
    assert any("backtested accuracy 96.6%" in c.value for c in at.caption)
    # Team cards (the tab open by default): the 30-day spend of the biggest team, from the tag mart.
    team, spend = sql(app_home, """SELECT tag_value, sum(billed_cost) FROM marts.daily_costs_by_tag WHERE tag_key = 'team'
                                   AND charge_date > CAST(? AS DATE) - 30 GROUP BY 1 ORDER BY 2 DESC LIMIT 1""", (as_of,))[0]
    assert metric(at, team).value == f"${spend:,.0f}"
    assert not [m for m in at.metric if m.label == "Open anomalies"]  # the other tabs do not run until opened
    overview_section(at, "Anomalies and recommendations")
    open_anomalies = [a for a in ANOMALIES if a[3] == "billed" and a[5] == "open"]
    assert metric(at, "Open anomalies").value == str(len(open_anomalies))
    assert metric(at, "Monthly savings available").value == money(sum(r[6] for r in RECOMMENDATIONS))
    assert metric(at, "Month to date").value == money(mtd)  # the headline stays
    overview_section(at, "Activity and freshness")
    loads = sql(app_home, "SELECT count(*) FROM ingest.file_loads")[0][0]
    assert len(at.dataframe[-1].value) == min(8, loads)


def test_overview_effective_view_changes_the_numbers(app_home):
    at = open_page()
    billed = metric(at, "Month to date").value
    at.sidebar.segmented_control(key="cost_view").set_value("effective").run()
    assert not at.exception
    as_of = sql(app_home, "SELECT max(charge_date) FROM marts.daily_costs")[0][0]
    effective = sql(app_home, "SELECT sum(effective_cost) FROM marts.daily_costs WHERE charge_date BETWEEN ? AND ?",
                    (as_of.replace(day=1), as_of))[0][0]
    assert metric(at, "Month to date").value == money(effective) != billed


def test_pages_without_ml_tables_say_not_computed_yet(autostack_home, demo_home):
    copy_published(demo_home, autostack_home, with_ml=False)
    at = open_page()
    assert metric(at, "Projected month end").value == "—"
    overview_section(at, "Anomalies and recommendations")
    assert any("not computed yet" in i.value for i in at.info)
    for page in ("forecasts", "anomalies", "recommendations"):
        at = open_page(page)
        assert any("not computed yet — runs after the next load" in i.value for i in at.info), page
        assert not at.error


def test_no_snapshot_yet_is_a_clear_state(autostack_home):
    for page in (None, "cost_explorer", "data_sources"):
        at = open_page(page)
        assert any("Nothing is published yet" in w.value for w in at.warning), page


# --------------------------------------------------------------------------- cost explorer
def _explorer_total(at: AppTest) -> float:
    return float(metric(at, "Total billed cost").value.replace("$", "").replace(",", ""))


def test_cost_explorer_totals_filters_and_group_bys(app_home):
    at = open_page("cost_explorer")
    start, end = at.date_input(key="dates").value
    expected = sql(app_home, "SELECT sum(billed_cost) FROM marts.daily_costs WHERE charge_date BETWEEN ? AND ?",
                   (start, end))[0][0]
    assert _explorer_total(at) == pytest.approx(float(expected), abs=0.05)
    by_service = at.dataframe[0].value
    assert "Service" in by_service.columns

    at.selectbox(key="group_by").set_value("Provider").run()
    by_provider = at.dataframe[0].value
    providers = {r[0] for r in sql(app_home, "SELECT DISTINCT provider_name FROM marts.daily_costs WHERE charge_date "
                                             "BETWEEN ? AND ?", (start, end))}
    assert set(by_provider["Provider"]) == providers

    at.selectbox(key="filter_dim_0").set_value("Provider").run()
    at.multiselect(key="filter_values_0").set_value(["AWS"]).run()
    aws = sql(app_home, "SELECT sum(billed_cost) FROM marts.daily_costs WHERE charge_date BETWEEN ? AND ? "
                        "AND provider_name = 'AWS'", (start, end))[0][0]
    assert _explorer_total(at) == pytest.approx(float(aws), abs=0.05)
    assert set(at.dataframe[0].value["Provider"]) == {"AWS"}

    at.segmented_control(key="granularity").set_value("month").run()
    months = at.dataframe[0].value["period"].nunique()
    assert months == len({(start + timedelta(days=d)).replace(day=1) for d in range((end - start).days + 1)})


def test_cost_explorer_tag_and_focus_dimensions(app_home):
    at = open_page("cost_explorer")
    start, end = at.date_input(key="dates").value
    at.selectbox(key="group_by").set_value("Tag: team").run()
    assert not at.exception
    assert any("marts.daily_costs_by_tag" in c.value for c in at.caption)
    teams = sql(app_home, "SELECT count(DISTINCT coalesce(tag_value, '(untagged)')) FROM marts.daily_costs_by_tag "
                          "WHERE tag_key = 'team' AND charge_date BETWEEN ? AND ?", (start, end))[0][0]
    assert at.dataframe[0].value["Tag: team"].nunique() == min(teams, 12) + (teams > 12)

    # A FOCUS column the marts do not hold: a filtered aggregation on focus.costs, same total.
    at.selectbox(key="group_by").set_value("Pricing category").run()
    assert any("focus.costs" in c.value for c in at.caption)
    expected = sql(app_home, "SELECT sum(BilledCost) FROM focus.costs WHERE CAST(ChargePeriodStart AS DATE) BETWEEN ? AND ?",
                   (start, end))[0][0]
    assert _explorer_total(at) == pytest.approx(float(expected), abs=0.05)
    shown = at.dataframe[0].value
    pricing = {r[0] or "(none)" for r in sql(app_home, "SELECT DISTINCT PricingCategory FROM focus.costs WHERE "
                                                       "CAST(ChargePeriodStart AS DATE) BETWEEN ? AND ?", (start, end))}
    assert set(shown["Pricing category"]) == pricing
    assert [b.label for b in at.get("download_button")] == ["Download CSV", "Download Parquet"]


def test_download_payloads_are_the_shown_table(app_home):
    import io

    import pandas as pd

    from app import data

    at = open_page("cost_explorer")
    shown = at.dataframe[0].value
    assert pd.read_csv(io.BytesIO(data.csv_bytes(shown)))["cost"].round(2).tolist() == shown["cost"].round(2).tolist()
    parquet = pd.read_parquet(io.BytesIO(data.parquet_bytes(shown)))
    pd.testing.assert_frame_equal(parquet.reset_index(drop=True), shown.reset_index(drop=True), check_dtype=False)


# --------------------------------------------------------------------------- forecasts
def test_forecasts_scope_projection_and_backtests(app_home):
    at = open_page("forecasts")
    projected = sql(app_home, "SELECT projected_total FROM ml.month_end_projections WHERE scope_type = 'total' AND "
                              "cost_view = 'billed'")[0][0]
    assert metric(at, "Projected month end").value == money(projected)
    assert metric(at, "Backtested accuracy").value == "96.6%"
    assert not at.dataframe  # the backtest rows are a lazy expander: nothing runs until it is opened
    at.session_state["backtest_rows"] = True
    at.run()
    assert len(at.dataframe) == 1 and set(at.dataframe[0].value["model"]) == {"prophet", "seasonal_naive", "linear_trend"}

    at.selectbox(key="scope_type").set_value("provider").run()
    at.selectbox(key="scope_value").set_value("AWS").run()
    aws = sql(app_home, "SELECT projected_total FROM ml.month_end_projections WHERE scope_type = 'provider' AND "
                        "scope_value = 'AWS' AND cost_view = 'billed'")[0][0]
    assert metric(at, "Projected month end").value == money(aws)
    assert metric(at, "Backtested accuracy").value == "93.9%"
    assert any("seasonal_naive" in c.value for c in at.caption)


# --------------------------------------------------------------------------- anomalies
def test_anomaly_feedback_persists(app_home):
    at = open_page("anomalies")
    billed_shown = [a for a in ANOMALIES if a[3] == "billed" and a[5] in ("open", "acknowledged")]
    assert metric(at, "Anomalies shown").value == str(len(billed_shown))
    assert metric(at, "Total impact").value == money(sum(a[4] for a in billed_shown))
    causes = at.dataframe[1].value
    assert list(causes["value"]) == ["Amazon Elastic Compute Cloud", "us-east-1"]
    assert not at.get("plotly_chart")  # the root-cause chart is a lazy expander
    at.session_state["root_causes_chart"] = True
    at.run()
    assert not at.exception and len(at.get("plotly_chart")) == 1

    at.button(key="anomaly_Planned activity").click().run()
    at.button(key="anomaly_Resolve").click().run()
    assert not at.exception
    with session_scope(app_home) as session:
        rows = session.scalars(select(AnomalyFeedback)).all()
        assert [(r.scope_type, r.feedback, r.status) for r in rows] == [("total", "planned", "resolved")]

    at = open_page("anomalies")  # a new session: the resolved one is gone from the default view
    assert metric(at, "Anomalies shown").value == str(len(billed_shown) - 1)
    at.pills(key="statuses").set_value(["resolved"]).run()
    table = at.dataframe[0].value
    assert "planned" in set(table["feedback"])


# --------------------------------------------------------------------------- recommendations
def test_recommendations_totals_and_decisions_persist(app_home):
    at = open_page("recommendations")
    total = sum(r[6] for r in RECOMMENDATIONS)
    assert metric(at, "Achievable monthly savings").value == money(total)
    assert metric(at, "Open recommendations").value == str(len(RECOMMENDATIONS))
    by_type = at.dataframe[0].value
    assert by_type["monthly_savings"].tolist() == sorted(by_type["monthly_savings"], reverse=True)
    # One table per type, only the open expanders' (the first type's, until another is opened): lazy.
    assert len(at.expander) == len(by_type) and len(at.dataframe) == 2
    first = at.dataframe[1].value
    assert set(first["type"]) == {max(RECOMMENDATIONS, key=lambda r: r[6])[1]}
    other = sorted(set(by_type["type"]) - set(first["type"]))[0]
    at.session_state[f"recommendations_{other}"] = True
    at.run()
    assert len(at.dataframe) == 3 and set(at.dataframe[2].value["type"]) | set(at.dataframe[1].value["type"]) \
        == {first["type"].iloc[0], other}

    top = max(RECOMMENDATIONS, key=lambda r: r[6])
    assert at.selectbox(key="recommendation_pick").value == top[0]
    assert any("cpu_p95_pct" in str(j.value) for j in at.json)
    at.button(key="recommendation_done").click().run()
    assert not at.exception
    with session_scope(app_home) as session:
        assert session.get(RecommendationState, top[0]).status == "done"

    at = open_page("recommendations")
    assert metric(at, "Achievable monthly savings").value == money(total - top[6])
    assert metric(at, "Savings done").value == money(top[6])


def test_recommendation_picker_lists_the_largest_and_the_one_picked_in_a_table(app_home, monkeypatch):
    from app import data

    monkeypatch.setattr(data, "RECOMMENDATION_PICKER_LIMIT", 2)  # the fixture has more than two
    at = open_page("recommendations")
    ranked = [r[0] for r in sorted(RECOMMENDATIONS, key=lambda r: (-r[6], r[0]))]
    picker = at.selectbox(key="recommendation_pick")
    assert picker.options == [picker.format_func(i) for i in ranked[:2]] and picker.value == ranked[0]
    assert any("The 2 largest of" in c.value for c in at.caption)
    # selecting a row in a type's table (its callback sets the pick): that one is shown, also beyond the largest.
    # (AppTest cannot select a table row, nor change a selectbox to a value its last options lack: a new session
    # starts with the pick the callback would have set.)
    smallest = ranked[-1]
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.session_state["recommendation_pick"] = smallest
    at.switch_page("app_pages/recommendations.py").run()
    assert not at.exception, [e.message for e in at.exception]
    picker = at.selectbox(key="recommendation_pick")
    assert picker.value == smallest and len(picker.options) == 3
    action = next(r[8] for r in RECOMMENDATIONS if r[0] == smallest)
    assert any(action in m.value for m in at.markdown if "**Action:**" in m.value)


# --------------------------------------------------------------------------- data sources
def test_data_sources_files_checks_and_refresh_request(app_home):
    at = open_page("data_sources")
    files = sql(app_home, "SELECT count(DISTINCT source_uri) FROM ingest.file_loads")[0][0]
    assert metric(at, "Files").value == str(files)
    quarantined = sql(app_home, """SELECT count(*) FROM (SELECT *, row_number() OVER (PARTITION BY source_uri
                                   ORDER BY loaded_at DESC) n FROM ingest.file_loads) WHERE n = 1 AND outcome = 'quarantined'""")[0][0]
    assert metric(at, "Quarantined").value == str(quarantined)
    checks = next(d.value for d in at.dataframe if "check" in d.value.columns)
    results = dict(zip(checks["check"], checks["result"]))
    assert results["Reconciliation to source totals"] == "succeeded"
    assert results["FOCUS 1.2 conformance"] == "succeeded"
    runs = next(d.value for d in at.dataframe if "job" in d.value.columns)
    assert "ingest_job" in set(runs["job"]) and "success" in set(runs["status"])

    at.button(key="refresh").click().run()
    assert not at.exception
    with session_scope(app_home) as session:
        requests = session.scalars(select(RefreshRequest)).all()
        assert [(r.kind, r.status) for r in requests] == [("ingest", "pending")]
    assert any("pending" in set(d.value.get("status", [])) for d in at.dataframe)


def test_password_gate(app_home, monkeypatch):
    monkeypatch.setenv("AUTOSTACK_APP_PASSWORD", "s3cret-planted")
    at = AppTest.from_file(MAIN, default_timeout=60).run()
    assert not at.metric and at.text_input
    at.text_input[0].input("wrong")
    at.button[0].click().run()
    assert any("Wrong password" in e.value for e in at.error) and not at.metric
    at = AppTest.from_file(MAIN, default_timeout=60).run()  # a new visitor
    at.text_input[0].input("s3cret-planted")
    at.button[0].click().run()
    assert metric(at, "Month to date")
    assert not any("s3cret-planted" in str(m.value) for m in at.markdown)
