"""One budget evaluation run: evaluate every budget, write `marts.budget_status`, fire alerts, deliver.

1. `evaluate_all` reads the costs (and `ml.forecasts`) from a DuckDB connection; `write_status`
   replaces `marts.budget_status` in one transaction. Nothing secret goes to the warehouse.
2. `emit_alerts` records one `alert_events` row per breached threshold per budget period. Its
   idempotency key `budget:<id>:<period start>:<percent>:<basis>` is unique in the app store, so a
   threshold fires once per period and re-arms when the next period starts (new key). Each event
   gets one `alert_deliveries` row per channel (and per call_webhook action); a freeze action
   adds a `deployment_freezes` row unless the budget already has an unacknowledged one.
3. `deliver_pending` sends every delivery not yet delivered (this run's and earlier failures), up
   to `notify_attempts` tries per run with exponential backoff, and gives up on a delivery after
   3 runs' worth of attempts. A delivery is claimed (status `sending`) before it is sent, so two
   overlapping runs never send it twice. Failures are recorded with secrets redacted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from autostack.budgets.data import daily_series, data_through, forecast_series
from autostack.budgets.evaluate import RUN_RATE_DAYS, Evaluation, evaluate_budget
from autostack.budgets.model import BudgetSpec, Threshold, period_bounds
from autostack.notify.delivery import DeliveryResult, deliver_with_retries, send_to_channel
from autostack.notify.message import AlertMessage, money, percent
from autostack.notify.secrets import SecretStore
from autostack.settings import Settings
from autostack.store import session_scope
from autostack.store.models import AlertChannel, AlertDelivery, AlertEvent, DeploymentFreeze, utcnow

log = logging.getLogger("autostack.budgets")

STATUS_TABLE = "marts.budget_status"
STATUS_DDL = f"""CREATE OR REPLACE TABLE {STATUS_TABLE} (
    budget_id INTEGER, budget_name VARCHAR, owner VARCHAR, scope VARCHAR, period VARCHAR,
    period_start DATE, period_end DATE, cost_view VARCHAR, currency VARCHAR,
    amount DECIMAL(38, 12), spent DECIMAL(38, 12), forecast_at_period_end DECIMAL(38, 12),
    forecast_method VARCHAR, pct_spent DECIMAL(38, 4), pct_forecast DECIMAL(38, 4),
    days_left INTEGER, data_through DATE, breached_thresholds VARCHAR[], evaluated_at TIMESTAMP)"""
STALE_CLAIM = timedelta(minutes=15)  # a `sending` claim older than this belonged to a run that died


def idempotency_key(budget: BudgetSpec, period_start: date, threshold: Threshold) -> str:
    return f"budget:{budget.id}:{period_start.isoformat()}:{threshold.key}"


# --------------------------------------------------------------------------- evaluate
def evaluate_all(con, budgets: list[BudgetSpec], today: date) -> list[Evaluation]:
    through = data_through(con)
    first = con.execute("SELECT min(ChargePeriodStart) FROM focus.costs").fetchall()[0][0]
    first_day = first.date() if first is not None else None
    evaluations = []
    for budget in budgets:
        start, end = period_bounds(budget.period, today)
        history_from = min(start, (through or today) - timedelta(days=RUN_RATE_DAYS))
        daily = daily_series(con, budget.scope, budget.cost_view, history_from, end)
        forecast = forecast_series(con, budget.scope, budget.cost_view)
        evaluations.append(evaluate_budget(budget, today=today, data_through=through, daily=daily,
                                           forecast=forecast, history_start=first_day))
    return evaluations


def write_status(con, evaluations: list[Evaluation], evaluated_at: datetime) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS marts")
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(STATUS_DDL)
        for ev in evaluations:
            b = ev.budget
            con.execute(
                f"INSERT INTO {STATUS_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [b.id, b.name, b.owner, b.scope.describe(), b.period, ev.period_start, ev.period_end, b.cost_view,
                 b.currency, b.amount, ev.spent, ev.forecast, ev.forecast_method,
                 ev.pct_spent.quantize(Decimal("0.0001")), ev.pct_forecast.quantize(Decimal("0.0001")),
                 ev.days_left, ev.data_through, [t.describe() for t in ev.breached],
                 evaluated_at.replace(tzinfo=None)],
            )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


# --------------------------------------------------------------------------- alerts
def alert_message(ev: Evaluation, threshold: Threshold, key: str, actions: tuple[str, ...] = ()) -> AlertMessage:
    b = ev.budget
    return AlertMessage(
        event_key=key, budget_name=b.name, scope=b.scope.describe(), period=b.period,
        period_start=ev.period_start, period_end=ev.period_end, threshold_percent=threshold.percent,
        threshold_basis=threshold.basis, amount=b.amount, currency=b.currency, cost_view=b.cost_view,
        spent=ev.spent, forecast=ev.forecast, forecast_method=ev.forecast_method,
        percent=ev.percent_for(threshold), days_left=ev.days_left, data_through=ev.data_through,
        owner=b.owner, actions=actions,
    )


def message_from_payload(payload: dict) -> AlertMessage:
    def dec(v):
        return None if v is None else Decimal(v)

    return AlertMessage(
        event_key=payload["event_key"], budget_name=payload["budget"], scope=payload["scope"],
        period=payload["period"], period_start=date.fromisoformat(payload["period_start"]),
        period_end=date.fromisoformat(payload["period_end"]), threshold_percent=Decimal(payload["threshold_percent"]),
        threshold_basis=payload["threshold_basis"], amount=Decimal(payload["amount"]), currency=payload["currency"],
        cost_view=payload["cost_view"], spent=Decimal(payload["spent"]), forecast=dec(payload.get("forecast")),
        forecast_method=payload.get("forecast_method"), percent=Decimal(payload["percent"]),
        days_left=int(payload["days_left"]),
        data_through=date.fromisoformat(payload["data_through"]) if payload.get("data_through") else None,
        owner=payload.get("owner"), actions=tuple(payload.get("actions") or ()),
    )


@dataclass
class FiredAlert:
    event_id: int
    budget: str
    threshold: str
    title: str
    froze: bool = False


def emit_alerts(settings: Settings, evaluations: list[Evaluation], logger=None) -> list[FiredAlert]:
    """Record an alert event for each newly breached threshold; already-fired ones are skipped."""
    logger = logger or log
    fired: list[FiredAlert] = []
    with session_scope(settings) as session:
        known = set(session.scalars(sa.select(AlertEvent.idempotency_key)))
        for ev in evaluations:
            budget = ev.budget
            for threshold in ev.breached:
                key = idempotency_key(budget, ev.period_start, threshold)
                if key in known:
                    continue
                actions = [a for a in budget.actions if a.applies_to(threshold)]
                freeze = any(a.kind == "freeze_deployments" for a in actions) and not session.scalars(
                    sa.select(DeploymentFreeze.id).where(DeploymentFreeze.budget_id == budget.id,
                                                         DeploymentFreeze.acknowledged_at.is_(None))).first()
                taken = tuple(["froze deployments in the scope until acknowledged"] if freeze else []) + tuple(
                    f"called webhook {a.channel}" for a in actions if a.kind == "call_webhook")
                message = alert_message(ev, threshold, key, taken)
                try:
                    with session.begin_nested():  # a concurrent run may have fired it a moment ago
                        event = AlertEvent(
                            idempotency_key=key, budget_id=budget.id, budget_name=budget.name,
                            period_start=ev.period_start, period_end=ev.period_end,
                            threshold_percent=str(threshold.percent), threshold_basis=threshold.basis,
                            amount=str(budget.amount), currency=budget.currency, spent=str(ev.spent),
                            forecast=str(ev.forecast), forecast_method=ev.forecast_method,
                            percent=str(ev.percent_for(threshold)), data_through=ev.data_through,
                            message=message.title, payload=message.payload(),
                        )
                        session.add(event)
                        session.flush()
                except IntegrityError:
                    continue
                for channel in budget.channels:
                    session.add(AlertDelivery(alert_event_id=event.id, channel_name=channel, purpose="notify"))
                for action in actions:
                    if action.kind == "call_webhook":
                        session.add(AlertDelivery(alert_event_id=event.id, channel_name=action.channel, purpose="action"))
                if freeze:
                    session.add(DeploymentFreeze(
                        scope=budget.scope.to_dict(), budget_id=budget.id, budget_name=budget.name,
                        alert_event_id=event.id,
                        reason=f"{message.title} ({budget.scope.describe()}, {ev.period_start}..{ev.period_end})"))
                session.flush()
                known.add(key)
                logger.info(f"alert fired: {message.title} [{key}]")
                fired.append(FiredAlert(event.id, budget.name, threshold.describe(), message.title, freeze))
    return fired


# --------------------------------------------------------------------------- deliver
@dataclass
class DeliveryOutcome:
    delivery_id: int
    budget: str
    threshold: str
    channel: str
    purpose: str
    ok: bool
    attempts: int
    total_attempts: int
    error: str | None = None


def _claim(settings: Settings, max_total: int) -> list[tuple[int, dict, dict | None, str, str]]:
    """Mark deliverable rows `sending` and return (delivery id, payload, channel config, channel, purpose)."""
    now = utcnow()
    claimed = []
    with session_scope(settings) as session:
        rows = session.execute(
            sa.select(AlertDelivery, AlertEvent.payload)
            .join(AlertEvent, AlertEvent.id == AlertDelivery.alert_event_id)
            .where(AlertDelivery.attempts < max_total,
                   sa.or_(AlertDelivery.status.in_(("pending", "failed")),
                          sa.and_(AlertDelivery.status == "sending", AlertDelivery.last_attempt_at < now - STALE_CLAIM)))
            .order_by(AlertDelivery.id)
        ).all()
        channels = {c.name: c for c in session.scalars(sa.select(AlertChannel))}
        for delivery, payload in rows:
            updated = session.execute(
                sa.update(AlertDelivery).where(AlertDelivery.id == delivery.id, AlertDelivery.status == delivery.status)
                .values(status="sending", last_attempt_at=now)
            ).rowcount
            if not updated:
                continue
            channel = channels.get(delivery.channel_name)
            config = None if channel is None else {"kind": channel.kind, "options": dict(channel.options or {}),
                                                   "secret_refs": dict(channel.secret_refs or {})}
            claimed.append((delivery.id, payload, config, delivery.channel_name, delivery.purpose))
    return claimed


def deliver_pending(settings: Settings, *, secrets: SecretStore | None = None, logger=None,
                    sleep: Callable[[float], None] = time.sleep) -> list[DeliveryOutcome]:
    logger = logger or log
    secrets = secrets or SecretStore.from_settings(settings)
    attempts = max(settings.notify_attempts, 1)
    outcomes = []
    for delivery_id, payload, config, channel_name, purpose in _claim(settings, attempts * 3):
        alert = message_from_payload(payload)
        label = f"budget {alert.budget_name!r} {alert.threshold_percent}% {alert.threshold_basis} → {channel_name}"
        if config is None:
            result = DeliveryResult(False, 1, f"channel {channel_name!r} no longer exists")
            logger.warning(f"{label}: {result.error}")
        else:
            result = deliver_with_retries(
                lambda: send_to_channel(config["kind"], config["options"], config["secret_refs"], secrets, alert,
                                        purpose=purpose),
                attempts=attempts, backoff_seconds=settings.notify_backoff_seconds, secrets=secrets, label=label,
                sleep=sleep, logger=logger)
        with session_scope(settings) as session:
            row = session.get(AlertDelivery, delivery_id)
            row.attempts += result.attempts
            row.status = "delivered" if result.ok else "failed"
            row.last_error = None if result.ok else result.error
            row.last_attempt_at = utcnow()
            if result.ok:
                row.delivered_at = row.last_attempt_at
            total = row.attempts
        outcomes.append(DeliveryOutcome(delivery_id, alert.budget_name,
                                        f"{alert.threshold_percent}% {alert.threshold_basis}", channel_name, purpose,
                                        result.ok, result.attempts, total, result.error))
    return outcomes


# --------------------------------------------------------------------------- the whole run
@dataclass
class RunSummary:
    evaluations: list[Evaluation]
    fired: list[FiredAlert]
    deliveries: list[DeliveryOutcome] = field(default_factory=list)

    @property
    def failed_deliveries(self) -> list[DeliveryOutcome]:
        return [d for d in self.deliveries if not d.ok]

    def status_lines(self) -> list[str]:
        return [f"{ev.budget.name}: spent {money(ev.spent, ev.budget.currency)} ({percent(ev.pct_spent)}), "
                f"forecast {money(ev.forecast, ev.budget.currency)} ({percent(ev.pct_forecast)}) of "
                f"{money(ev.budget.amount, ev.budget.currency)}; {ev.forecast_method}" for ev in self.evaluations]


def evaluate_and_write(con, settings: Settings, today: date, evaluated_at: datetime | None = None) -> list[Evaluation]:
    from autostack.budgets.crud import list_budgets

    evaluations = evaluate_all(con, list_budgets(settings), today)
    write_status(con, evaluations, evaluated_at or utcnow())
    return evaluations


def run_budgets(settings: Settings, con, today: date, *, secrets: SecretStore | None = None, logger=None,
                sleep: Callable[[float], None] = time.sleep, close=None) -> RunSummary:
    """Evaluate, write the status table, then (after `close()` releases the warehouse) fire and deliver."""
    evaluations = evaluate_and_write(con, settings, today)
    if close is not None:
        close()
    fired = emit_alerts(settings, evaluations, logger)
    deliveries = deliver_pending(settings, secrets=secrets, logger=logger, sleep=sleep)
    return RunSummary(evaluations, fired, deliveries)
