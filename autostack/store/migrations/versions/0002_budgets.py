"""Budgets and alerts: budgets, alert channels, alert events, deliveries, deployment freezes.

Revision ID: 0002_budgets
Revises: 0001_initial
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_budgets"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "budgets",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("scope", sa.JSON, nullable=False),
        sa.Column("period", sa.String(20), nullable=False),
        sa.Column("amount", sa.String(50), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("cost_view", sa.String(20), nullable=False, server_default="billed"),
        sa.Column("thresholds", sa.JSON, nullable=False),
        sa.Column("channels", sa.JSON, nullable=False),
        sa.Column("actions", sa.JSON, nullable=False),
        sa.Column("owner", sa.String(200)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "alert_channels",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("options", sa.JSON, nullable=False),
        sa.Column("secret_refs", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "alert_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("idempotency_key", sa.String(300), nullable=False, unique=True),
        sa.Column("budget_id", sa.Integer, sa.ForeignKey("budgets.id", ondelete="SET NULL")),
        sa.Column("budget_name", sa.String(200), nullable=False),
        sa.Column("period_start", sa.Date, nullable=False),
        sa.Column("period_end", sa.Date, nullable=False),
        sa.Column("threshold_percent", sa.String(20), nullable=False),
        sa.Column("threshold_basis", sa.String(20), nullable=False),
        sa.Column("amount", sa.String(50), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("spent", sa.String(50), nullable=False),
        sa.Column("forecast", sa.String(50)),
        sa.Column("forecast_method", sa.String(200)),
        sa.Column("percent", sa.String(50), nullable=False),
        sa.Column("data_through", sa.Date),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_alert_events_budget_id", "alert_events", ["budget_id"])
    op.create_table(
        "alert_deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("alert_event_id", sa.Integer, sa.ForeignKey("alert_events.id", ondelete="CASCADE"), nullable=False),
        sa.Column("channel_name", sa.String(200), nullable=False),
        sa.Column("purpose", sa.String(20), nullable=False, server_default="notify"),
        sa.Column("status", sa.String(20), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("alert_event_id", "channel_name", "purpose"),
    )
    op.create_index("ix_alert_deliveries_status", "alert_deliveries", ["status"])
    op.create_table(
        "deployment_freezes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("scope", sa.JSON, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("budget_id", sa.Integer, sa.ForeignKey("budgets.id", ondelete="SET NULL")),
        sa.Column("budget_name", sa.String(200)),
        sa.Column("alert_event_id", sa.Integer, sa.ForeignKey("alert_events.id", ondelete="SET NULL")),
        sa.Column("frozen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_by", sa.String(200)),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_deployment_freezes_acknowledged_at", "deployment_freezes", ["acknowledged_at"])


def downgrade() -> None:
    op.drop_index("ix_deployment_freezes_acknowledged_at", "deployment_freezes")
    op.drop_table("deployment_freezes")
    op.drop_index("ix_alert_deliveries_status", "alert_deliveries")
    op.drop_table("alert_deliveries")
    op.drop_index("ix_alert_events_budget_id", "alert_events")
    op.drop_table("alert_events")
    op.drop_table("alert_channels")
    op.drop_table("budgets")
