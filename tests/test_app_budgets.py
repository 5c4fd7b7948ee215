"""The Budgets page and the budget parts of Overview, run by Streamlit's AppTest on a copy of the demo
estate's snapshot that the real budget_status asset evaluated: progress equals SQL on
marts.budget_status, create/edit/delete go through the CLI's validation and persist in the app
store, a freeze is acknowledged, failed deliveries show, and no secret is ever shown in full."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from autostack.budgets import (
    Action,
    BudgetSpec,
    ChannelSpec,
    Scope,
    Threshold,
    add_budget,
    add_channel,
    alert_history,
    get_budget,
    list_budgets,
    list_freezes,
)
from autostack.settings import PROJECT_ROOT, get_settings
from autostack.store import engine_for

MAIN = str(PROJECT_ROOT / "app" / "main.py")
TODAY = "2026-11-20"  # the demo history's last day (tests/conftest.py DEMO_END)
TOKEN = "T0PSECRET-budgets-ui-9d8c7b6a5f4e3d2c"
pytestmark = pytest.mark.slow  # needs the demo estate and one real budget_status run


def _sql(path: Path, query: str, params=()) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(query, list(params)).fetchall()
    finally:
        con.close()


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed: deliveries fail


@pytest.fixture(scope="module")
def evaluated(demo_home, tmp_path_factory) -> dict:
    """A home with three budgets, evaluated by the real budget_status asset (then published by
    serving_snapshot) for the demo's last day; its app store holds the alerts, failed deliveries and a freeze."""
    from dagster import DagsterInstance, materialize
    from dagster_duckdb import DuckDBResource

    from orchestration.defs.budgets import budget_status
    from orchestration.defs.publish import serving_snapshot
    from orchestration.resources import AutoStackSettings

    home = tmp_path_factory.mktemp("budgets-ui") / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUTOSTACK_HOME", str(home))
        mp.setenv("AUTOSTACK_NOTIFY_ATTEMPTS", "1")
        mp.setenv("AUTOSTACK_NOTIFY_BACKOFF_SECONDS", "0.01")
        mp.setenv("OPS_SLACK_URL", f"http://127.0.0.1:{_closed_port()}/services/T0/B0/{TOKEN}")
        settings = get_settings()
        settings.ensure_dirs()
        shutil.copyfile(demo_home.serving_path, settings.serving_path)
        shutil.copyfile(demo_home.serving_path, settings.warehouse_path)
        month_to_date = _sql(settings.serving_path, "SELECT sum(BilledCost) FROM focus.costs WHERE ChargePeriodStart "
                                                    ">= DATE '2026-11-01' AND ChargePeriodStart < DATE '2026-11-21'")[0][0]
        team, team_spend = _sql(settings.serving_path, """SELECT tag_value, sum(billed_cost) FROM marts.daily_costs_by_tag
            WHERE tag_key = 'team' AND charge_date > DATE '2026-11-20' - 30 GROUP BY 1 ORDER BY 2 DESC LIMIT 1""")[0]
        add_channel(settings, ChannelSpec("ops-slack", "slack", secret_refs={"url": "OPS_SLACK_URL"}))
        over = (Decimal(month_to_date) * Decimal("0.9")).quantize(Decimal("0.01"))  # 10% under this month's spend
        add_budget(settings, BudgetSpec(
            name="all-costs", amount=over, currency="USD", owner="finops",
            thresholds=(Threshold(Decimal(50)), Threshold(Decimal(100)), Threshold(Decimal(100), "forecasted")),
            channels=("ops-slack",), actions=(Action("freeze_deployments", threshold=Threshold(Decimal(100))),)))
        add_budget(settings, BudgetSpec(name=f"team-{team}", amount=(Decimal(team_spend) * 10).quantize(Decimal(1)),
                                        currency="USD", scope=Scope(tags=(("team", team),)),
                                        thresholds=(Threshold(Decimal(80)), Threshold(Decimal(100), "forecasted"))))
        add_budget(settings, BudgetSpec(name="aws-effective", amount=Decimal(100000), currency="USD",
                                        cost_view="effective", scope=Scope(provider="AWS"), period="quarterly"))
        result = materialize(
            [budget_status, serving_snapshot],
            resources={"autostack": AutoStackSettings(home=str(settings.home)),
                       "warehouse": DuckDBResource(database=str(settings.warehouse_path))},
            run_config={"ops": {"marts__budget_status": {"config": {"today": TODAY}}}},
            instance=DagsterInstance.ephemeral(),
        )
        assert result.success
        assert list_freezes(settings) and alert_history(settings)
        engine_for(settings).dispose()  # checkpoints SQLite's WAL: app.sqlite alone is the whole store
    return {"settings": settings, "team": team}


@pytest.fixture
def home(autostack_home, evaluated):
    """This test's own copy of the evaluated home (snapshot and app store)."""
    source = evaluated["settings"]
    shutil.copyfile(source.serving_path, autostack_home.serving_path)
    shutil.copyfile(source.home / "app.sqlite", autostack_home.home / "app.sqlite")
    return autostack_home


def overview_section(at: AppTest, section: str) -> AppTest:
    """Open one of the overview's lazy tabs (only the open tab's section runs)."""
    at.session_state["overview_section"] = section
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def open_page(page: str | None = "budgets") -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=60).run()
    if page:
        at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def metric(at: AppTest, label: str):
    found = [m for m in at.metric if m.label == label]
    assert found, f"no metric {label!r} among {[m.label for m in at.metric]}"
    return found[0]


def money(value) -> str:
    return f"${float(value):,.2f}"


def all_text(at: AppTest) -> str:
    parts = [str(e.value) for kind in (at.markdown, at.caption, at.info, at.warning, at.error, at.metric) for e in kind]
    parts += [d.value.to_csv() for d in at.dataframe]
    parts += [p.text for p in at.get("progress")]
    return "\n".join(parts)


def fill(at: AppTest, **fields) -> AppTest:
    for name, value in fields.items():
        if name in ("period", "cost_view"):
            at.selectbox(key=f"budget_{name}").set_value(value)
        else:
            at.text_input(key=f"budget_{name}").input(value)
    return at.button(key="budget_save").click().run()


def problems(at: AppTest) -> str:
    return "\n".join(e.value for e in at.error)


# --------------------------------------------------------------------------- progress
def test_progress_equals_sql_on_budget_status(home):
    at = open_page()
    rows = _sql(home.serving_path, """SELECT budget_name, spent, forecast_at_period_end, amount, pct_spent, pct_forecast,
                                             breached_thresholds FROM marts.budget_status ORDER BY budget_name""")
    assert len(rows) == 3
    expected = []
    for _name, spent, forecast, amount, pct_spent, pct_forecast, _ in rows:
        expected.append(f"Actual: {money(spent)} of {money(amount)} ({float(pct_spent):.1f}%)")
        expected.append(f"Forecast at period end: {money(forecast)} of {money(amount)} ({float(pct_forecast):.1f}%)")
    bars = at.get("progress")
    assert sorted(p.text for p in bars) == sorted(expected)
    by_text = {p.text: p.value for p in bars}
    for _name, spent, _f, amount, pct_spent, _pf, _ in rows:
        assert by_text[f"Actual: {money(spent)} of {money(amount)} ({float(pct_spent):.1f}%)"] == min(int(pct_spent), 100)

    at_risk = sum(1 for r in rows if r[5] >= 100 or r[6])
    assert at_risk >= 1 and any(not (r[5] >= 100 or r[6]) for r in rows)  # the estate has both kinds
    assert metric(at, "Budgets").value == "3"
    assert metric(at, "At risk").value == str(at_risk)
    # Each threshold's state is the evaluation's breached list.
    over = next(r for r in rows if r[0] == "all-costs")
    table = next(d.value for d in at.dataframe if "threshold" in d.value.columns
                 and set(d.value["threshold"]) == {"50% actual", "100% actual", "100% forecasted"})
    assert set(table.loc[table["state"] == "breached", "threshold"]) == set(over[6]) == {"50% actual", "100% actual",
                                                                                        "100% forecasted"}
    assert table.loc[table["threshold"] == "50% actual", "current %"].item() == round(float(over[4]), 1)


def test_alerts_failed_deliveries_freezes_and_masked_channels(home, monkeypatch):
    at = open_page()
    assert metric(at, "Frozen scopes").value == "1"
    assert metric(at, "Undelivered alerts").value == str(len(alert_history(home)))  # each alert's only channel is down
    failed = next(d.value for d in at.dataframe if "last_error" in d.value.columns)
    assert set(failed["channel"]) == {"ops-slack"} and set(failed["status"]) == {"failed"}
    assert all("cannot reach the receiver" in e for e in failed["last_error"])
    history = next(d.value for d in at.dataframe if "deliveries" in d.value.columns)
    assert len(history) == len(alert_history(home)) and set(history["budget"]) == {"all-costs"}
    assert "notify → ops-slack: failed (1 attempt(s))" in set(history["deliveries"])
    channels = next(d.value for d in at.dataframe if "secrets" in d.value.columns)
    assert channels["secrets"].tolist() == ["url: OPS_SLACK_URL (NOT SET in the environment or the secrets file)"]
    assert TOKEN not in all_text(at)

    monkeypatch.setenv("OPS_SLACK_URL", f"https://hooks.slack.com/services/T0/B0/{TOKEN}")
    at.run()  # the secret is set now: shown masked, never in full
    channels = next(d.value for d in at.dataframe if "secrets" in d.value.columns)
    assert channels["secrets"].tolist() == [f"url: OPS_SLACK_URL (****{TOKEN[-4:]})"]
    assert TOKEN not in all_text(at) and "hooks.slack.com" not in all_text(at)


# --------------------------------------------------------------------------- create / edit / delete
def test_create_persists_and_is_not_evaluated_yet(home):
    at = open_page()
    at = fill(at, name="gcp-monthly", amount="2500", currency="usd", provider="Google Cloud",
              thresholds="80, 100:forecasted", actions="freeze_deployments@100:forecasted", owner="data-team")
    assert not at.exception and not at.error, problems(at)
    saved = get_budget(home, "gcp-monthly")
    assert (saved.amount, saved.currency, saved.scope, saved.owner) == (Decimal(2500), "USD",
                                                                       Scope(provider="Google Cloud"), "data-team")
    assert [t.describe() for t in saved.thresholds] == ["80% actual", "100% forecasted"]
    assert saved.actions == (Action("freeze_deployments", threshold=Threshold(Decimal(100), "forecasted")),)
    assert metric(at, "Budgets").value == "4"
    assert any(c.value == "gcp-monthly: not evaluated yet — runs after the next load or on the hourly schedule."
               for c in at.caption)
    assert at.selectbox(key="budget_edit").value == "gcp-monthly"  # the form now edits what was saved


INVALID = [  # (form fields, the validation message shown)
    ({"amount": "-500"}, "amount: must be positive (got -500)"),
    ({"amount": "lots"}, "amount: expected a number (got 'lots')"),
    ({"provider": "Amazon Web Servicez"}, "scope: unknown provider 'Amazon Web Servicez'"),
    ({"tags": "team=no-such-team"}, "scope: unknown value of tag team 'no-such-team'"),
    ({"currency": "EUR"}, "currency: EUR does not match the data"),
    ({"name": "all-costs"}, "name: a budget named 'all-costs' already exists"),
]


def test_invalid_budget_shows_the_message_and_persists_nothing(home):
    before = list_budgets(home)
    at = open_page()
    for fields, message in INVALID:
        at = fill(at, **{"name": "bad-one", "amount": "1000", "currency": "USD", "provider": "", "tags": "", **fields})
        assert not at.exception
        assert message in problems(at), (fields, problems(at))
        assert list_budgets(home) == before
        assert metric(at, "Budgets").value == "3"


def test_edit_and_delete_persist(home, evaluated):
    name = f"team-{evaluated['team']}"
    at = open_page()
    at.selectbox(key="budget_edit").set_value(name).run()
    assert at.text_input(key="budget_amount").value == f"{get_budget(home, name).amount.normalize():f}"
    assert at.text_input(key="budget_tags").value == f"team={evaluated['team']}"
    at = fill(at, amount="777.5", thresholds="90", period="quarterly")
    assert not at.error, problems(at)
    edited = get_budget(home, name)
    assert (edited.amount, edited.period, [t.describe() for t in edited.thresholds]) == (
        Decimal("777.5"), "quarterly", ["90% actual"])
    assert edited.scope == Scope(tags=(("team", evaluated["team"]),))

    at = fill(at, amount="-1")  # an invalid edit keeps the stored budget as it was
    assert "amount: must be positive (got -1)" in problems(at)
    assert get_budget(home, name) == edited

    at = open_page()
    at.selectbox(key="budget_edit").set_value("aws-effective").run()
    assert at.button(key="budget_delete").disabled  # confirm first
    at.checkbox(key="budget_delete_confirm").check().run()
    at.button(key="budget_delete").click().run()
    assert not at.exception
    assert sorted(b.name for b in list_budgets(home)) == ["all-costs", name]
    assert metric(at, "Budgets").value == "2"
    assert at.selectbox(key="budget_edit").value == "(new budget)"


def test_acknowledge_freeze_persists(home):
    (freeze,) = list_freezes(home)
    at = open_page()
    at.button(key=f"freeze_ack_{freeze['id']}").click().run()  # nobody named: refused, still frozen
    assert "say who acknowledges" in problems(at)
    assert [f["id"] for f in list_freezes(home)] == [freeze["id"]]
    at.text_input(key=f"freeze_by_{freeze['id']}").input("alice")
    at.button(key=f"freeze_ack_{freeze['id']}").click().run()
    assert not at.exception and not at.error
    assert list_freezes(home) == []
    (lifted,) = list_freezes(home, include_acknowledged=True)
    assert lifted["acknowledged_by"] == "alice" and lifted["acknowledged_at"] is not None
    assert metric(at, "Frozen scopes").value == "0"


# --------------------------------------------------------------------------- overview
def test_overview_budgets_at_risk_and_team_card(home, evaluated):
    rows = _sql(home.serving_path, "SELECT budget_name, pct_spent, pct_forecast, breached_thresholds "
                                   "FROM marts.budget_status ORDER BY budget_name")
    at_risk = sorted(r[0] for r in rows if r[2] >= 100 or r[3])
    at = open_page(None)
    team = evaluated["team"]
    _, pct_spent, pct_forecast, breached = next(r for r in rows if r[0] == f"team-{team}")
    risk = " — at risk" if pct_forecast >= 100 or breached else ""
    expected = f"Budget team-{team}: {float(pct_spent):.0f}% spent, forecast {float(pct_forecast):.0f}%{risk}"
    assert metric(at, team)  # the team cards: the tab open by default
    assert expected in [c.value for c in at.caption]
    at = overview_section(at, "Budgets at risk")
    assert metric(at, "Budgets at risk").value == str(len(at_risk))
    table = next(d.value for d in at.dataframe if "budget_name" in d.value.columns)
    assert sorted(table["budget_name"]) == at_risk


def test_budgets_never_evaluated(autostack_home, demo_home):
    """A snapshot without marts.budget_status: the page says when evaluation happens; nothing breaks."""
    shutil.copyfile(demo_home.serving_path, autostack_home.serving_path)
    add_budget(autostack_home, BudgetSpec(name="total", amount=Decimal(1000), currency="USD"))
    at = open_page()
    assert any("total: not evaluated yet — runs after the next load or on the hourly schedule." == c.value
               for c in at.caption)
    assert not at.get("progress")
    assert metric(at, "Budgets").value == "1"
    at = overview_section(open_page(None), "Budgets at risk")
    assert any("not evaluated yet — runs after the next load or on the hourly schedule" in c.value for c in at.caption)
