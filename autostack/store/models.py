"""The app store's tables. Each change to them is a migration in `migrations/versions/`."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Date, DateTime, Integer, String, Text
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
