"""Initial app store: anomaly feedback, recommendation states, refresh requests.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "anomaly_feedback",
        sa.Column("scope_type", sa.String(200), primary_key=True),
        sa.Column("scope_value", sa.String(500), primary_key=True),
        sa.Column("cost_view", sa.String(20), primary_key=True),
        sa.Column("anomaly_date", sa.Date, primary_key=True),
        sa.Column("status", sa.String(20), nullable=False, server_default="open"),
        sa.Column("feedback", sa.String(20)),
        sa.Column("note", sa.Text),
        sa.Column("updated_by", sa.String(200)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "recommendation_states",
        sa.Column("recommendation_id", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(20), nullable=False, server_default="open"),
        sa.Column("note", sa.Text),
        sa.Column("updated_by", sa.String(200)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "refresh_requests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(50), nullable=False, server_default="ingest"),
        sa.Column("requested_by", sa.String(200)),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, server_default="pending"),
        sa.Column("run_id", sa.String(64)),
        sa.Column("message", sa.Text),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_refresh_requests_status", "refresh_requests", ["status"])


def downgrade() -> None:
    op.drop_index("ix_refresh_requests_status", "refresh_requests")
    op.drop_table("refresh_requests")
    op.drop_table("recommendation_states")
    op.drop_table("anomaly_feedback")
