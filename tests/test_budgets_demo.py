"""Budgets on the demo history (13 months to 2026-11-20), end to end through real receivers on 127.0.0.1.

Each test copies the demo home's published snapshot into its own home, as the warehouse and the
snapshot, and evaluates with `today` = the demo's last day, so every number is fixed.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import statistics
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import duckdb
import pytest
import sqlalchemy as sa

from autostack.budgets import (
    Action,
    BudgetSpec,
    ChannelSpec,
    Scope,
    Threshold,
    ValidationError,
    add_budget,
    add_channel,
    is_frozen,
    list_freezes,
    run_budgets,
)
from autostack.notify import verify_signature
from autostack.notify.message import money
from autostack.settings import get_settings
from autostack.store import engine_for
from autostack.store.models import AlertDelivery, AlertEvent
from tests.test_notify_receivers import http_receivers, smtp_server  # noqa: F401

pytestmark = pytest.mark.slow

TODAY = date(2026, 11, 20)  # the demo history's last day (tests/conftest.py DEMO_END)
TOKEN = "T0PSECRET-planted-7c1d9e2f4a6b8c0d"
SIGNING_KEY = "whsec_planted_signing_key_5a4b3c2d1e"


@pytest.fixture
def home(demo_home, tmp_path, monkeypatch):
    settings = get_settings({"AUTOSTACK_HOME": str(tmp_path / "home")})
    settings = dataclasses.replace(settings, notify_backoff_seconds=0.01, notify_attempts=3)
    settings.ensure_dirs()
    shutil.copyfile(demo_home.serving_path, settings.serving_path)
    shutil.copyfile(demo_home.serving_path, settings.warehouse_path)
    monkeypatch.setenv("AUTOSTACK_HOME", str(settings.home))
    return settings


def evaluate(settings, today=TODAY):
    con = duckdb.connect(str(settings.warehouse_path))
    try:
        return run_budgets(settings, con, today, close=con.close)
    finally:
        con.close()


def expected_total(settings, view="BilledCost"):
    """Spent Nov 1..20 and the forecast at month end, computed here independently of the code: the
    pipeline's own ml.forecasts for the whole estate when it has them, else the documented fallback
    from daily totals."""
    con = duckdb.connect(str(settings.serving_path), read_only=True)
    rows = dict(con.execute(f"SELECT CAST(ChargePeriodStart AS DATE), sum({view}) FROM focus.costs "
                            "WHERE ChargePeriodStart >= DATE '2026-10-01' GROUP BY 1").fetchall())
    predicted = con.execute(
        "SELECT list(predicted_cost) FROM ml.forecasts WHERE scope_type = 'total' AND scope_value = 'total' "
        "AND cost_view = ? AND forecast_date BETWEEN DATE '2026-11-21' AND DATE '2026-11-30' "
        "AND as_of_date = (SELECT max(as_of_date) FROM ml.forecasts)",
        ["billed" if view == "BilledCost" else "effective"]).fetchall()[0][0]
    con.close()
    if predicted is not None:
        spent = sum(v for d, v in rows.items() if d >= date(2026, 11, 1))
        return spent, spent + sum(Decimal(str(p)) for p in predicted)
    spent = sum(v for d, v in rows.items() if d >= date(2026, 11, 1))
    window = [TODAY - timedelta(days=n) for n in range(28)]
    rest = [TODAY + timedelta(days=n) for n in range(1, 11)]  # Nov 21..30
    median = {w: statistics.median([rows.get(d, Decimal(0)) for d in window if d.weekday() == w]) for w in range(7)}
    return spent, spent + sum(median[d.weekday()] for d in rest)


def channels(settings, monkeypatch, slack, smtp, hook):
    monkeypatch.setenv("SLACK_URL", f"{slack.base_url}/services/T0/B0/{TOKEN}")
    monkeypatch.setenv("HOOK_URL", f"{hook.base_url}/autostack")
    monkeypatch.setenv("HOOK_KEY", SIGNING_KEY)
    add_channel(settings, ChannelSpec("team-slack", "slack", secret_refs={"url": "SLACK_URL"}))
    add_channel(settings, ChannelSpec("finops-mail", "email", options={
        "host": smtp.host, "port": smtp.port, "security": "none", "sender": "autostack@example.com",
        "recipients": ["finops@example.com"]}))
    add_channel(settings, ChannelSpec("automation", "webhook", secret_refs={"url": "HOOK_URL", "signing_key": "HOOK_KEY"}))


def test_forecast_alert_fires_once_with_correct_amounts(home, monkeypatch, http_receivers, smtp_server, caplog):  # noqa: F811
    slack, hook = http_receivers(), http_receivers()
    channels(home, monkeypatch, slack, smtp_server, hook)
    spent, forecast = expected_total(home)
    amount = (forecast * Decimal("0.9")).quantize(Decimal("0.01"))  # 10% under the month's run rate
    add_budget(home, BudgetSpec(
        name="kestrel-total", amount=amount, currency="USD",
        thresholds=(Threshold(Decimal(100)), Threshold(Decimal(100), "forecasted")),
        channels=("team-slack", "finops-mail"), actions=(Action("call_webhook", "automation"),), owner="finops"))

    with caplog.at_level(logging.DEBUG):
        first = evaluate(home)
    (ev,) = first.evaluations
    assert ev.spent == spent and abs(ev.forecast - forecast) < Decimal("1e-9")
    assert ev.forecast_method.startswith("ml.forecasts (model ")  # the pipeline forecast the whole estate
    assert [t.describe() for t in ev.breached] == ["100% forecasted"]  # spent is still under the amount
    assert [f.threshold for f in first.fired] == ["100% forecasted"]
    assert all(d.ok for d in first.deliveries) and len(first.deliveries) == 3

    (slack_message,) = slack.json_bodies()
    fields = {f["text"].split("\n")[0]: f["text"].split("\n")[1] for f in slack_message["blocks"][1]["fields"]}
    assert fields["*Budget*"] == money(amount, "USD")
    assert fields["*Spent so far*"] == money(spent, "USD")
    assert fields["*Forecast at period end*"] == money(forecast, "USD")
    pct = (forecast / amount * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    assert slack_message["text"].startswith(f"Budget 'kestrel-total' forecast to reach {pct}% of {money(amount, 'USD')}")
    assert pct == Decimal("111.1")
    (mail,) = smtp_server.messages
    body = mail.get_content()
    assert f"Spent so far: {money(spent, 'USD')}" in body and f"Forecast at period end: {money(forecast, 'USD')}" in body
    (call,) = hook.accepted
    verify_signature(call["headers"]["X-AutoStack-Signature"], call["body"], SIGNING_KEY)
    assert Decimal(hook.json_bodies()[0]["data"]["forecast"]) == ev.forecast

    second = evaluate(home)  # nothing new: each threshold fires once per period
    assert second.fired == [] and second.deliveries == []
    assert len(slack.requests) == 1 and len(smtp_server.messages) == 1 and len(hook.requests) == 1

    # The status table is in the warehouse, without secrets; the planted ones appear nowhere.
    con = duckdb.connect(str(home.warehouse_path), read_only=True)
    ((stored_amount, stored_spent, stored_forecast, days_left, breached),) = con.execute(
        "SELECT amount, spent, forecast_at_period_end, days_left, breached_thresholds FROM marts.budget_status").fetchall()
    assert stored_amount == amount and days_left == 10 and breached == ["100% forecasted"]
    assert abs(stored_spent - spent) <= Decimal("1e-12") and abs(stored_forecast - forecast) <= Decimal("1e-11")
    assert_secrets_absent(home, con, caplog.text)
    con.close()


def assert_secrets_absent(settings, con, log_text):
    fragments = (TOKEN, SIGNING_KEY)
    for fragment in fragments:
        assert fragment not in log_text
    text_columns: dict[tuple[str, str], list[str]] = {}
    for schema, table, column in con.execute(
            """SELECT c.table_schema, c.table_name, c.column_name FROM information_schema.columns c
               JOIN information_schema.tables t USING (table_schema, table_name)
               WHERE t.table_type = 'BASE TABLE' AND c.data_type IN ('VARCHAR', 'JSON', 'VARCHAR[]')""").fetchall():
        text_columns.setdefault((schema, table), []).append(column)
    assert ("marts", "budget_status") in text_columns
    for (schema, table), columns in text_columns.items():  # one scan per table: all its text, concatenated
        text = "concat_ws('|', " + ", ".join(f'CAST("{c}" AS VARCHAR)' for c in columns) + ")"
        hits = con.execute(f'SELECT count(*) FROM "{schema}"."{table}" WHERE '
                           + " OR ".join(f"contains({text}, ?)" for _ in fragments), list(fragments)).fetchall()[0][0]
        assert hits == 0, f"a planted secret is in the warehouse table {schema}.{table}"
    with engine_for(settings).connect() as conn:
        for table in sa.inspect(conn).get_table_names():
            for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')).fetchall():
                assert not any(f in str(v) for v in row for f in fragments), f"secret in app store table {table}"


def test_failing_receiver_gets_the_alert_exactly_once_and_others_are_not_blocked(home, monkeypatch, http_receivers,  # noqa: F811
                                                                                smtp_server, caplog, capsys):  # noqa: F811
    flaky, down, hook = http_receivers(fail_first=2), http_receivers(fail_first=10_000), http_receivers()
    channels(home, monkeypatch, flaky, smtp_server, hook)
    monkeypatch.setenv("DOWN_URL", f"{down.base_url}/services/T9/B9/{TOKEN}")
    add_channel(home, ChannelSpec("down-slack", "slack", secret_refs={"url": "DOWN_URL"}))
    add_budget(home, BudgetSpec(name="small", amount=Decimal(1000), currency="USD",
                                channels=("down-slack", "team-slack", "finops-mail")))
    with caplog.at_level(logging.DEBUG):
        summary = evaluate(home)
        again = evaluate(home)  # retries the failed delivery only; the others are done
    assert len(flaky.requests) == 3 and len(flaky.accepted) == 1
    assert len(smtp_server.messages) == 1
    assert len(down.requests) == 6 and not down.accepted  # 3 attempts in each of 2 runs
    assert {d.channel: d.ok for d in summary.deliveries} == {"down-slack": False, "team-slack": True, "finops-mail": True}
    assert [(d.channel, d.total_attempts) for d in again.deliveries] == [("down-slack", 6)]
    with engine_for(home).connect() as conn:
        rows = conn.execute(sa.select(AlertDelivery.channel_name, AlertDelivery.status, AlertDelivery.attempts)
                            .order_by(AlertDelivery.channel_name)).all()
    assert rows == [("down-slack", "failed", 6), ("finops-mail", "delivered", 1), ("team-slack", "delivered", 3)]

    from autostack.cli import main

    capsys.readouterr()
    for argv in (["budgets", "status"], ["budgets", "show", "small"], ["budgets", "channel", "list"], ["budgets", "list"]):
        assert main(argv) == 0
    out = capsys.readouterr()
    assert "FAILED    small 100% actual → down-slack (notify), 6 attempt(s): HTTP 500" in out.out
    assert "team-slack (slack)  options: -  secrets: url: SLACK_URL (****" in out.out
    con = duckdb.connect(str(home.warehouse_path), read_only=True)
    assert_secrets_absent(home, con, caplog.text + out.out + out.err)
    con.close()


def test_thresholds_re_arm_next_period(home):
    add_budget(home, BudgetSpec(name="aws", amount=Decimal(500), currency="USD", scope=Scope(provider="AWS"),
                                thresholds=(Threshold(Decimal(100), "forecasted"),)))
    assert len(evaluate(home).fired) == 1
    assert evaluate(home, TODAY + timedelta(days=3)).fired == []  # same month
    december = evaluate(home, date(2026, 12, 2))  # no December costs yet: the run rate alone exceeds 500
    assert [f.threshold for f in december.fired] == ["100% forecasted"]
    assert december.evaluations[0].spent == 0 and december.evaluations[0].days_left == 29
    with engine_for(home).connect() as conn:
        keys = conn.execute(sa.select(AlertEvent.idempotency_key).order_by(AlertEvent.id)).scalars().all()
    assert [k.split(":")[2] for k in keys] == ["2026-11-01", "2026-12-01"]


def test_freeze_until_acknowledged(home, capsys):
    add_budget(home, BudgetSpec(name="azure", amount=Decimal(100), currency="USD", scope=Scope(provider="Microsoft"),
                                actions=(Action("freeze_deployments"),)))
    evaluate(home)
    (freeze,) = list_freezes(home)
    assert freeze["scope"] == {"provider": "Microsoft"} and freeze["budget"] == "azure"
    assert is_frozen(home, provider="Microsoft", sub_account="anything")
    assert not is_frozen(home, provider="AWS")
    from autostack.cli import main

    assert main(["budgets", "ack", str(freeze["id"]), "--by", "alice"]) == 0
    assert "acknowledged by alice" in capsys.readouterr().out
    assert not is_frozen(home, provider="Microsoft")
    evaluate(home)  # the threshold already fired this period: no new freeze
    assert list_freezes(home) == []
    assert main(["budgets", "ack", str(freeze["id"]), "--by", "bob"]) == 1
    assert "already acknowledged by alice" in capsys.readouterr().err


def test_ml_forecasts_are_used_for_an_exact_scope(home):
    con = duckdb.connect(str(home.warehouse_path))
    con.execute("DROP SCHEMA IF EXISTS ml CASCADE")  # replace the pipeline's forecasts with known ones
    con.execute("CREATE SCHEMA ml")
    con.execute("""CREATE TABLE ml.forecasts (scope_type VARCHAR, scope_value VARCHAR, cost_view VARCHAR,
        as_of_date DATE, forecast_date DATE, predicted_cost DOUBLE, lower_80 DOUBLE, upper_80 DOUBLE,
        lower_95 DOUBLE, upper_95 DOUBLE, model VARCHAR)""")
    for as_of, cost in ((date(2026, 11, 13), 999.0), (TODAY, 125.5)):  # only the latest run counts
        con.execute("""INSERT INTO ml.forecasts SELECT 'provider', 'AWS', 'effective', ?, d::DATE, ?, 0, 0, 0, 0, 'prophet'
                       FROM range(?::TIMESTAMP + INTERVAL 1 DAY, DATE '2027-02-28' + INTERVAL 1 DAY, INTERVAL 1 DAY) r(d)""",
                    [as_of, cost, as_of])
    spent = con.execute("SELECT sum(EffectiveCost) FROM focus.costs WHERE ProviderName = 'AWS' "
                        "AND ChargePeriodStart >= DATE '2026-11-01'").fetchall()[0][0]
    con.close()
    add_budget(home, BudgetSpec(name="aws-effective", amount=Decimal(5000), currency="USD", cost_view="effective",
                                scope=Scope(provider="AWS")))
    add_budget(home, BudgetSpec(name="aws-billed", amount=Decimal(5000), currency="USD", scope=Scope(provider="AWS")))
    by_name = {ev.budget.name: ev for ev in evaluate(home).evaluations}
    assert by_name["aws-effective"].forecast == spent + Decimal("125.5") * 10
    assert by_name["aws-effective"].forecast_method == "ml.forecasts (model prophet, as of 2026-11-20)"
    assert by_name["aws-billed"].forecast_method.startswith("fallback: no ml.forecasts for this scope and cost view")


def test_validation_against_the_demo_data(home, capsys):
    with pytest.raises(ValidationError) as err:
        add_budget(home, BudgetSpec(name="x", amount=Decimal(10), currency="EUR", scope=Scope(provider="Google Cloud")))
    assert err.value.problems == ["currency: EUR does not match the data: costs in provider=Google Cloud are billed in USD"]
    from autostack.cli import main

    code = main(["budgets", "add", "y", "--amount", "-5", "--currency", "USD", "--provider", "Gogle Cloud",
                 "--channel", "pager"])
    err_text = capsys.readouterr().err
    assert code == 1
    assert "amount: must be positive (got -5)" in err_text
    assert "unknown provider 'Gogle Cloud': no published costs have it; did you mean Google Cloud?" in err_text
    assert "channel: unknown channel 'pager'" in err_text
