"""Create, read, update and delete budgets and channels; alert history. Used by the CLI and the app.

Every write validates first (`validation.py`): scope values and currency against the published
snapshot (never the working warehouse), channel names against the app store.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import sqlalchemy as sa

from autostack.budgets.data import PublishedCatalog
from autostack.budgets.model import Action, BudgetSpec, ChannelSpec, Scope, Threshold, ValidationError
from autostack.budgets.validation import budget_problems, channel_problems
from autostack.notify.secrets import SecretError, SecretStore, mask
from autostack.settings import Settings
from autostack.store import session_scope
from autostack.store.models import AlertChannel, AlertDelivery, AlertEvent, Budget


class NotFound(LookupError):
    pass


@contextmanager
def published_catalog(settings: Settings) -> Iterator[PublishedCatalog | None]:
    """The published data to validate against; None when nothing is published yet."""
    if not settings.serving_path.exists():
        yield None
        return
    import duckdb

    con = duckdb.connect(str(settings.serving_path), read_only=True)
    try:
        yield PublishedCatalog(con)
    finally:
        con.close()


# --------------------------------------------------------------------------- budgets
def budget_from_row(row: Budget) -> BudgetSpec:
    return BudgetSpec(
        id=row.id, name=row.name, amount=Decimal(row.amount), currency=row.currency, period=row.period,
        cost_view=row.cost_view, scope=Scope.from_dict(row.scope),
        thresholds=tuple(Threshold.from_dict(t) for t in row.thresholds), channels=tuple(row.channels),
        actions=tuple(Action.from_dict(a) for a in row.actions), owner=row.owner,
    )


def _apply(row: Budget, spec: BudgetSpec) -> None:
    row.name, row.amount, row.currency, row.period = spec.name, str(spec.amount), spec.currency, spec.period
    row.cost_view, row.scope, row.owner = spec.cost_view, spec.scope.to_dict(), spec.owner
    row.thresholds = [t.to_dict() for t in spec.thresholds]
    row.channels = list(spec.channels)
    row.actions = [a.to_dict() for a in spec.actions]


def _check(settings: Settings, session, spec: BudgetSpec, *, check_data: bool, except_id: int | None = None) -> None:
    channels = {c.name: c.kind for c in session.scalars(sa.select(AlertChannel))}
    names = {n for i, n in session.execute(sa.select(Budget.id, Budget.name)) if i != except_id}
    with published_catalog(settings) as catalog:
        problems = budget_problems(spec, channels=channels, catalog=catalog if check_data else None,
                                   existing_names=names)
    if problems:
        raise ValidationError(problems)


def add_budget(settings: Settings, spec: BudgetSpec, *, check_data: bool = True) -> BudgetSpec:
    """Validate and store a new budget; ValidationError lists every problem."""
    with session_scope(settings) as session:
        _check(settings, session, spec, check_data=check_data)
        row = Budget()
        _apply(row, spec)
        session.add(row)
        session.flush()
        return budget_from_row(row)


def update_budget(settings: Settings, name: str, spec: BudgetSpec, *, check_data: bool = True) -> BudgetSpec:
    with session_scope(settings) as session:
        row = _budget_row(session, name)
        _check(settings, session, spec, check_data=check_data, except_id=row.id)
        _apply(row, spec)
        session.flush()
        return budget_from_row(row)


def _budget_row(session, name: str) -> Budget:
    row = session.scalars(sa.select(Budget).where(Budget.name == name)).one_or_none()
    if row is None and name.isdigit():
        row = session.get(Budget, int(name))
    if row is None:
        known = session.scalars(sa.select(Budget.name).order_by(Budget.name)).all()
        raise NotFound(f"no budget named {name!r}" + (f" (budgets: {', '.join(known)})" if known else " (there are no budgets)"))
    return row


def get_budget(settings: Settings, name: str) -> BudgetSpec:
    with session_scope(settings) as session:
        return budget_from_row(_budget_row(session, name))


def list_budgets(settings: Settings) -> list[BudgetSpec]:
    with session_scope(settings) as session:
        return [budget_from_row(r) for r in session.scalars(sa.select(Budget).order_by(Budget.name))]


def remove_budget(settings: Settings, name: str) -> None:
    """Delete a budget; its alert history and freezes stay (they keep the budget's name)."""
    with session_scope(settings) as session:
        session.delete(_budget_row(session, name))


# --------------------------------------------------------------------------- channels
def channel_from_row(row: AlertChannel) -> ChannelSpec:
    return ChannelSpec(id=row.id, name=row.name, kind=row.kind, options=dict(row.options or {}),
                       secret_refs=dict(row.secret_refs or {}))


def add_channel(settings: Settings, spec: ChannelSpec) -> ChannelSpec:
    with session_scope(settings) as session:
        names = set(session.scalars(sa.select(AlertChannel.name)))
        problems = channel_problems(spec, names)
        if problems:
            raise ValidationError(problems)
        row = AlertChannel(name=spec.name, kind=spec.kind, options=dict(spec.options), secret_refs=dict(spec.secret_refs))
        session.add(row)
        session.flush()
        return channel_from_row(row)


def list_channels(settings: Settings) -> list[ChannelSpec]:
    with session_scope(settings) as session:
        return [channel_from_row(r) for r in session.scalars(sa.select(AlertChannel).order_by(AlertChannel.name))]


def get_channel(settings: Settings, name: str) -> ChannelSpec:
    with session_scope(settings) as session:
        row = session.scalars(sa.select(AlertChannel).where(AlertChannel.name == name)).one_or_none()
        if row is None:
            raise NotFound(f"no channel named {name!r}")
        return channel_from_row(row)


def remove_channel(settings: Settings, name: str) -> None:
    with session_scope(settings) as session:
        row = session.scalars(sa.select(AlertChannel).where(AlertChannel.name == name)).one_or_none()
        if row is None:
            raise NotFound(f"no channel named {name!r}")
        users = [b.name for b in session.scalars(sa.select(Budget))
                 if name in b.channels or any(a.get("channel") == name for a in b.actions)]
        if users:
            raise ValidationError([f"channel {name!r} is used by budget(s) {', '.join(sorted(users))}; "
                                   "remove it from them first"])
        session.delete(row)


def describe_channel(spec: ChannelSpec, secrets: SecretStore) -> dict:
    """A channel as it may be shown: options, and each secret's name with a masked value or 'not set'."""
    shown = {}
    for role, name in spec.secret_refs.items():
        try:
            shown[role] = f"{name} ({mask(secrets.get(name))})"
        except SecretError:
            shown[role] = f"{name} (NOT SET in the environment or the secrets file)"
    return {"name": spec.name, "kind": spec.kind, "options": spec.options, "secrets": shown}


# --------------------------------------------------------------------------- history
def alert_history(settings: Settings, budget_name: str | None = None, limit: int = 50) -> list[dict]:
    """The latest alert events, newest first, each with its deliveries."""
    with session_scope(settings) as session:
        query = sa.select(AlertEvent).order_by(AlertEvent.fired_at.desc(), AlertEvent.id.desc()).limit(limit)
        if budget_name:
            query = query.where(AlertEvent.budget_name == budget_name)
        events = session.scalars(query).all()
        out = []
        for event in events:
            deliveries = session.scalars(sa.select(AlertDelivery).where(AlertDelivery.alert_event_id == event.id)
                                         .order_by(AlertDelivery.channel_name)).all()
            out.append({
                "id": event.id, "budget": event.budget_name, "period_start": event.period_start,
                "threshold": f"{event.threshold_percent}% {event.threshold_basis}", "percent": event.percent,
                "spent": event.spent, "forecast": event.forecast, "amount": event.amount, "currency": event.currency,
                "fired_at": event.fired_at, "message": event.message,
                "deliveries": [{"channel": d.channel_name, "purpose": d.purpose, "status": d.status,
                                "attempts": d.attempts, "last_error": d.last_error} for d in deliveries],
            })
        return out


def failed_deliveries(settings: Settings) -> list[dict]:
    with session_scope(settings) as session:
        rows = session.execute(
            sa.select(AlertDelivery, AlertEvent.budget_name, AlertEvent.threshold_percent, AlertEvent.threshold_basis)
            .join(AlertEvent, AlertEvent.id == AlertDelivery.alert_event_id)
            .where(AlertDelivery.status != "delivered").order_by(AlertDelivery.id)
        ).all()
        return [{"id": d.id, "budget": name, "threshold": f"{pct}% {basis}", "channel": d.channel_name,
                 "purpose": d.purpose, "status": d.status, "attempts": d.attempts, "last_error": d.last_error,
                 "last_attempt_at": d.last_attempt_at} for d, name, pct, basis in rows]


def latest_status(settings: Settings, name: str | None = None) -> tuple[list[str], list[tuple]] | None:
    """`marts.budget_status` from the published snapshot (columns, rows); None when not evaluated yet."""
    if not settings.serving_path.exists():
        return None
    import duckdb

    from autostack.budgets.data import has_table

    con = duckdb.connect(str(settings.serving_path), read_only=True)
    try:
        if not has_table(con, "marts", "budget_status"):
            return None
        cursor = con.execute(
            """SELECT budget_name AS budget, period_start AS period, currency, round(amount, 2) AS amount,
                      round(spent, 2) AS spent, round(pct_spent, 1) AS pct, round(forecast_at_period_end, 2) AS forecast,
                      round(pct_forecast, 1) AS pct_forecast, days_left, data_through,
                      array_to_string(breached_thresholds, ', ') AS breached, forecast_method,
                      strftime(evaluated_at, '%Y-%m-%d %H:%M') AS evaluated_at
               FROM marts.budget_status WHERE ? IS NULL OR budget_name = ? ORDER BY budget_name""", [name, name])
        return [d[0] for d in cursor.description], cursor.fetchall()
    finally:
        con.close()
