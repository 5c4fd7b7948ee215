"""Budgets without the demo estate: periods, parsing, the pure evaluation, validation messages, freezes."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import duckdb
import pytest

from autostack.budgets import (
    Action,
    BudgetSpec,
    ChannelSpec,
    Scope,
    Threshold,
    ValidationError,
    acknowledge_freeze,
    add_budget,
    add_channel,
    evaluate_budget,
    is_frozen,
    period_bounds,
)
from autostack.budgets.data import ForecastSeries, PublishedCatalog
from autostack.budgets.freeze import freeze_matches
from autostack.budgets.validation import budget_problems
from autostack.store import session_scope
from autostack.store.models import DeploymentFreeze


def test_periods_are_calendar_aligned():
    assert period_bounds("monthly", date(2028, 2, 10)) == (date(2028, 2, 1), date(2028, 2, 29))
    assert period_bounds("quarterly", date(2026, 11, 20)) == (date(2026, 10, 1), date(2026, 12, 31))
    assert period_bounds("quarterly", date(2026, 3, 31)) == (date(2026, 1, 1), date(2026, 3, 31))
    assert period_bounds("annual", date(2026, 11, 20)) == (date(2026, 1, 1), date(2026, 12, 31))
    with pytest.raises(ValidationError, match="period must be one of monthly, quarterly, annual"):
        period_bounds("weekly", date(2026, 1, 1))


def test_threshold_and_action_parsing():
    assert Threshold.parse("80") == Threshold(Decimal(80), "actual")
    assert Threshold.parse("100%") == Threshold(Decimal(100), "actual")
    assert Threshold.parse("100:forecasted") == Threshold(Decimal(100), "forecasted")
    assert Threshold.parse("90% forecast") == Threshold(Decimal(90), "forecasted")
    with pytest.raises(ValidationError, match="expected a percentage"):
        Threshold.parse("lots")
    action = Action.parse("call_webhook=ops@100:forecasted")
    assert (action.kind, action.channel, action.threshold) == ("call_webhook", "ops", Threshold(Decimal(100), "forecasted"))
    assert Action.parse("freeze").kind == "freeze_deployments"


def test_forecast_scope_matches_ml_forecasts_contract():
    assert Scope().forecast_scope() == ("total", "total")
    assert Scope(provider="AWS").forecast_scope() == ("provider", "AWS")
    assert Scope(sub_account="123").forecast_scope() == ("sub_account", "123")
    assert Scope(tags=(("team", "data"),)).forecast_scope() == ("tag:team", "data")
    assert Scope(provider="AWS", service="EC2").forecast_scope() is None
    assert Scope(region="eu-west-1").forecast_scope() is None


def _series(start: date, end: date, weekday_cost: Decimal, weekend_cost: Decimal) -> dict[date, Decimal]:
    days = {}
    day = start
    while day <= end:
        days[day] = weekend_cost if day.weekday() >= 5 else weekday_cost
        day += timedelta(days=1)
    return days


def test_fallback_projects_weekday_medians_and_ignores_a_spike():
    daily = _series(date(2026, 10, 1), date(2026, 11, 20), Decimal(100), Decimal(40))
    daily[date(2026, 11, 1)] += Decimal(500)  # a monthly fee on a Sunday: in the spend, not in the run rate
    budget = BudgetSpec(name="b", amount=Decimal(2900), currency="USD",
                        thresholds=(Threshold(Decimal(50)), Threshold(Decimal(100)), Threshold(Decimal(100), "forecasted")))
    ev = evaluate_budget(budget, today=date(2026, 11, 20), data_through=date(2026, 11, 20), daily=daily)
    # Nov 1..20 2026 (Nov 1 is a Sunday): 15 weekdays, 5 weekend days; Nov 21..30: 6 weekdays, 4 weekend days.
    assert ev.spent == Decimal(15 * 100 + 5 * 40 + 500)
    assert ev.forecast == ev.spent + Decimal(6 * 100 + 4 * 40)
    assert ev.forecast_method.startswith("fallback: no ml.forecasts for this scope and cost view")
    assert "median of the same weekday" in ev.forecast_method
    assert ev.days_left == 10
    assert ev.pct_spent == Decimal(2200) / Decimal(2900) * 100
    assert [t.describe() for t in ev.breached] == ["50% actual", "100% forecasted"]


def test_data_lag_is_projected_and_days_left_counts_from_today():
    daily = _series(date(2026, 10, 1), date(2026, 11, 18), Decimal(10), Decimal(10))
    budget = BudgetSpec(name="b", amount=Decimal(1000), currency="USD")
    ev = evaluate_budget(budget, today=date(2026, 11, 20), data_through=date(2026, 11, 18), daily=daily)
    assert ev.spent == Decimal(180) and ev.forecast == Decimal(300) and ev.days_left == 10


def test_ml_forecasts_are_used_when_they_cover_the_rest_of_the_period():
    daily = _series(date(2026, 10, 1), date(2026, 11, 20), Decimal(100), Decimal(40))
    budget = BudgetSpec(name="b", amount=Decimal(3000), currency="USD", scope=Scope(provider="AWS"))
    covering = ForecastSeries(date(2026, 11, 20), "prophet", _series(date(2026, 11, 21), date(2027, 2, 28), Decimal(7), Decimal(7)))
    ev = evaluate_budget(budget, today=date(2026, 11, 20), data_through=date(2026, 11, 20), daily=daily, forecast=covering)
    assert ev.forecast == ev.spent + Decimal(70)
    assert ev.forecast_method == "ml.forecasts (model prophet, as of 2026-11-20)"
    short = ForecastSeries(date(2026, 11, 20), "prophet", _series(date(2026, 11, 21), date(2026, 11, 25), Decimal(7), Decimal(7)))
    ev = evaluate_budget(budget, today=date(2026, 11, 20), data_through=date(2026, 11, 20), daily=daily, forecast=short)
    assert ev.forecast_method.startswith("fallback: ml.forecasts as of 2026-11-20 does not cover 2026-11-26..2026-11-30")
    assert ev.forecast == ev.spent + Decimal(6 * 100 + 4 * 40)


def test_no_history_forecasts_the_spend_so_far():
    budget = BudgetSpec(name="b", amount=Decimal(10), currency="USD")
    ev = evaluate_budget(budget, today=date(2026, 11, 20), data_through=None, daily={})
    assert ev.spent == 0 and ev.forecast == 0 and ev.breached == ()
    assert ev.forecast_method.endswith("no cost history to project")


@pytest.fixture
def catalog(tmp_path):
    con = duckdb.connect(str(tmp_path / "c.duckdb"))
    con.execute("CREATE SCHEMA focus")
    con.execute("""CREATE TABLE focus.costs AS SELECT * FROM (VALUES
        ('AWS', '111', '111-a', 'Amazon EC2', 'us-east-1', '{"team":"data"}'::JSON, 'USD', TIMESTAMP '2026-11-01', 10.0, 9.0),
        ('Microsoft', 'mca', 'sub-1', 'Virtual Machines', 'westeurope', '{"team":"web"}'::JSON, 'EUR', TIMESTAMP '2026-11-01', 5.0, 5.0)
        ) t(ProviderName, BillingAccountId, SubAccountId, ServiceName, RegionId, Tags, BillingCurrency, ChargePeriodStart,
            BilledCost, EffectiveCost)""")
    yield PublishedCatalog(con)
    con.close()


def test_validation_messages_name_the_problem(catalog):
    spec = BudgetSpec(name="b", amount=Decimal(-1), currency="usd", period="weekly", cost_view="list",
                      scope=Scope(provider="AWZ", tags=(("team", "dta"),)), thresholds=(Threshold(Decimal(0), "soon"),),
                      channels=("nope",), actions=(Action("explode"),))
    problems = budget_problems(spec, channels={"ops": "slack"}, catalog=catalog)
    assert "amount: must be positive (got -1)" in problems
    assert "currency: expected a three-letter ISO 4217 code like USD (got 'usd')" in problems
    assert "period: must be one of monthly, quarterly, annual (got 'weekly')" in problems
    assert "cost view: must be one of billed, effective (got 'list')" in problems
    assert any(p.startswith("threshold 0: basis must be actual or forecasted") for p in problems)
    assert "channel: unknown channel 'nope' (known: ops)" in problems
    assert any("action: unknown kind 'explode'" in p for p in problems)
    assert "scope: unknown provider 'AWZ': no published costs have it; did you mean AWS?" in problems
    assert "scope: unknown value of tag team 'dta': no published costs have it; did you mean data?" in problems


def test_currency_must_match_the_data_in_scope(catalog):
    eur = BudgetSpec(name="b", amount=Decimal(5), currency="EUR", scope=Scope(provider="AWS"))
    assert budget_problems(eur, channels={}, catalog=catalog) == [
        "currency: EUR does not match the data: costs in provider=AWS are billed in USD"]
    everything = BudgetSpec(name="b", amount=Decimal(5), currency="USD")
    assert "several currencies (EUR, USD)" in budget_problems(everything, channels={}, catalog=catalog)[0]
    empty = BudgetSpec(name="b", amount=Decimal(5), currency="USD", scope=Scope(provider="AWS", region="westeurope"))
    assert "no published costs match" in budget_problems(empty, channels={}, catalog=catalog)[0]
    ok = BudgetSpec(name="b", amount=Decimal(5), currency="USD", scope=Scope(provider="AWS", tags=(("team", "data"),)))
    assert budget_problems(ok, channels={}, catalog=catalog) == []


def test_store_round_trip_and_channel_rules(autostack_home):
    with pytest.raises(ValidationError, match="not the secret itself"):
        add_channel(autostack_home, ChannelSpec("s", "slack", secret_refs={"url": "https://hooks.slack.com/services/x"}))
    with pytest.raises(ValidationError, match="email: host"):
        add_channel(autostack_home, ChannelSpec("m", "email", options={"sender": "a@b.c", "recipients": ["x@y.z"]}))
    add_channel(autostack_home, ChannelSpec("ops", "webhook", secret_refs={"url": "OPS_URL", "signing_key": "OPS_KEY"}))
    spec = BudgetSpec(name="b", amount=Decimal("12.50"), currency="USD", scope=Scope(provider="AWS", tags=(("t", "v"),)),
                      thresholds=(Threshold(Decimal(80)), Threshold(Decimal(100), "forecasted")), channels=("ops",),
                      actions=(Action("call_webhook", "ops", Threshold(Decimal(100), "forecasted")),), owner="me")
    stored = add_budget(autostack_home, spec)  # nothing published: data checks are skipped
    assert stored.id and stored == spec.with_id(stored.id)
    with pytest.raises(ValidationError, match="a budget named 'b' already exists"):
        add_budget(autostack_home, spec)


def test_freeze_matching_and_acknowledgement(autostack_home):
    assert freeze_matches({"provider": "AWS"}, {"provider": "AWS", "region": "x"})
    assert not freeze_matches({"provider": "AWS"}, {"provider": "Microsoft"})
    assert freeze_matches({"provider": "AWS", "tags": {"team": "a"}}, {})  # an unknown target is refused
    assert not freeze_matches({"tags": {"team": "a"}}, {"tags": {"team": "b"}})
    with session_scope(autostack_home) as session:
        session.add(DeploymentFreeze(scope={"sub_account": "123"}, reason="over budget"))
        session.flush()
        freeze_id = session.query(DeploymentFreeze).one().id
    assert is_frozen(autostack_home, sub_account="123") and not is_frozen(autostack_home, sub_account="456")
    acknowledge_freeze(autostack_home, freeze_id, "alice")
    assert not is_frozen(autostack_home, sub_account="123")
    with pytest.raises(ValueError, match="already acknowledged by alice"):
        acknowledge_freeze(autostack_home, freeze_id, "bob")


def test_migration_0002_upgrades_and_downgrades(tmp_path):
    import sqlalchemy as sa
    from alembic import command

    from autostack.settings import get_settings
    from autostack.store import engine_for, upgrade
    from autostack.store.db import _alembic_config

    settings = get_settings({"AUTOSTACK_HOME": str(tmp_path)})
    budget_tables = {"budgets", "alert_channels", "alert_events", "alert_deliveries", "deployment_freezes"}
    upgrade(settings)
    assert budget_tables <= set(sa.inspect(engine_for(settings)).get_table_names())
    with engine_for(settings).begin() as connection:
        config = _alembic_config(settings)
        config.attributes["connection"] = connection
        command.downgrade(config, "0001_initial")
    tables = set(sa.inspect(engine_for(settings)).get_table_names())
    assert not budget_tables & tables and "refresh_requests" in tables
    upgrade(settings)
    assert budget_tables <= set(sa.inspect(engine_for(settings)).get_table_names())


def test_cli_add_list_show_remove(autostack_home, capsys, monkeypatch):
    from autostack.cli import main

    monkeypatch.setenv("OPS_URL", "https://automation.example.com/hooks/abcdefghijklmnop")
    assert main(["budgets", "channel", "add", "ops", "--kind", "webhook", "--url-secret", "OPS_URL"]) == 0
    assert main(["budgets", "add", "team-a", "--amount", "1250.50", "--currency", "usd", "--period", "quarterly",
                 "--tag", "team=a", "--threshold", "80", "--threshold", "100:forecasted", "--channel", "ops",
                 "--action", "freeze_deployments@100:forecasted", "--owner", "alice"]) == 0
    out = capsys.readouterr().out
    assert "added budget 'team-a'" in out and "scope values and currency were not checked" in out
    assert main(["budgets", "list"]) == 0 and main(["budgets", "show", "team-a"]) == 0
    out = capsys.readouterr().out
    assert "tag team=a" in out and "80% actual, 100% forecasted" in out
    assert "freeze_deployments at 100% forecasted" in out and "not evaluated yet" in out
    assert main(["budgets", "channel", "list"]) == 0
    out = capsys.readouterr().out
    assert "OPS_URL (****mnop)" in out and "abcdefghijklmnop" not in out
    assert main(["budgets", "channel", "remove", "ops"]) == 1
    assert "used by budget(s) team-a" in capsys.readouterr().err
    assert main(["budgets", "remove", "team-a"]) == 0 and main(["budgets", "show", "team-a"]) == 1
    assert "no budget named 'team-a'" in capsys.readouterr().err
