"""The app store's tables. Each change to them is a migration in `migrations/versions/`."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import JSON, Date, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class AnomalyFeedback(Base):
    """What a person said about one detected anomaly; survives every recompute of `ml.anomalies`."""

    __tablename__ = "anomaly_feedback"

    scope_type: Mapped[str] = mapped_column(String(200), primary_key=True)
    scope_value: Mapped[str] = mapped_column(String(500), primary_key=True)
    cost_view: Mapped[str] = mapped_column(String(20), primary_key=True)
    anomaly_date: Mapped[date] = mapped_column(Date, primary_key=True)
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | acknowledged | resolved
    feedback: Mapped[str | None] = mapped_column(String(20))  # yes | no | planned
    note: Mapped[str | None] = mapped_column(Text)
    updated_by: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class RecommendationState(Base):
    """A person's decision on a recommendation (keyed by its stable id): done or dismissed."""

    __tablename__ = "recommendation_states"

    recommendation_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | done | dismissed
    note: Mapped[str | None] = mapped_column(Text)
    updated_by: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class RefreshRequest(Base):
    """A request (from the app) to run a pipeline; a Dagster sensor picks it up and reports back."""

    __tablename__ = "refresh_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(50), default="ingest")
    requested_by: Mapped[str | None] = mapped_column(String(200))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | running | succeeded | failed
    run_id: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


# --------------------------------------------------------------------------- budgets and alerts
# Budget specs are validated by `autostack.budgets` before they get here; these tables only hold them.
# Secrets never live here: a channel names the environment variables / secrets-file entries that hold them.


class Budget(Base):
    """A spending limit on a scope of the published costs, for one calendar period at a time."""

    __tablename__ = "budgets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    scope: Mapped[dict] = mapped_column(JSON, default=dict)  # {"provider": ..., "tags": {k: v}}; {} is everything
    period: Mapped[str] = mapped_column(String(20))  # monthly | quarterly | annual (calendar-aligned)
    amount: Mapped[str] = mapped_column(String(50))  # a decimal as text: exact on every backend
    currency: Mapped[str] = mapped_column(String(3))
    cost_view: Mapped[str] = mapped_column(String(20), default="billed")  # billed | effective
    thresholds: Mapped[list] = mapped_column(JSON, default=list)  # [{"percent": "80", "basis": "actual"}]
    channels: Mapped[list] = mapped_column(JSON, default=list)  # channel names
    actions: Mapped[list] = mapped_column(JSON, default=list)  # [{"kind": "freeze_deployments", ...}]
    owner: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class AlertChannel(Base):
    """Where alerts go: a Slack incoming webhook, a signed JSON webhook or e-mail over SMTP."""

    __tablename__ = "alert_channels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))  # slack | webhook | email
    options: Mapped[dict] = mapped_column(JSON, default=dict)  # non-secret settings (SMTP host, recipients)
    secret_refs: Mapped[dict] = mapped_column(JSON, default=dict)  # role -> secret *name*, never the value
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AlertEvent(Base):
    """One threshold of one budget breached in one period; the idempotency key makes it fire once."""

    __tablename__ = "alert_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(300), unique=True)
    budget_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("budgets.id", ondelete="SET NULL"))
    budget_name: Mapped[str] = mapped_column(String(200))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    threshold_percent: Mapped[str] = mapped_column(String(20))
    threshold_basis: Mapped[str] = mapped_column(String(20))  # actual | forecasted
    amount: Mapped[str] = mapped_column(String(50))
    currency: Mapped[str] = mapped_column(String(3))
    spent: Mapped[str] = mapped_column(String(50))
    forecast: Mapped[str | None] = mapped_column(String(50))
    forecast_method: Mapped[str | None] = mapped_column(String(200))
    percent: Mapped[str] = mapped_column(String(50))  # of the threshold's basis
    data_through: Mapped[date | None] = mapped_column(Date)
    message: Mapped[str] = mapped_column(Text)  # the alert's title, as sent
    payload: Mapped[dict] = mapped_column(JSON, default=dict)  # every field the channels render (no secrets)
    fired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AlertDelivery(Base):
    """One alert event sent to one channel (a notification, or a webhook action): attempts and last error."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (UniqueConstraint("alert_event_id", "channel_name", "purpose"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_event_id: Mapped[int] = mapped_column(Integer, ForeignKey("alert_events.id", ondelete="CASCADE"))
    channel_name: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(20), default="notify")  # notify | action
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)  # secrets redacted
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DeploymentFreeze(Base):
    """A scope frozen by a budget action: deploy jobs must refuse it until a person acknowledges."""

    __tablename__ = "deployment_freezes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[dict] = mapped_column(JSON, default=dict)
    reason: Mapped[str] = mapped_column(Text)
    budget_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("budgets.id", ondelete="SET NULL"))
    budget_name: Mapped[str | None] = mapped_column(String(200))
    alert_event_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("alert_events.id", ondelete="SET NULL"))
    frozen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
