"""Status and feedback on detected anomalies, kept in the app store across every recompute.

`ml.anomalies` is recomputed after each load; what people said about an anomaly lives here,
keyed by (scope_type, scope_value, cost_view, anomaly_date), and the anomalies asset joins it in.
Feedback follows AWS Cost Anomaly Detection: yes (a real anomaly), no (not one), planned (an
expected, planned activity).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from autostack.settings import Settings
from autostack.store.db import session_scope
from autostack.store.models import AnomalyFeedback

FEEDBACK_VALUES = ("yes", "no", "planned")
STATUS_VALUES = ("open", "acknowledged", "resolved")


def set_feedback(settings: Settings, scope_type: str, scope_value: str, cost_view: str, anomaly_date: date, *,
                 feedback: str | None = None, status: str | None = None, note: str | None = None,
                 user: str | None = None) -> dict:
    """Record feedback and/or status on one anomaly (created on first use); returns the stored row."""
    if feedback is not None and feedback not in FEEDBACK_VALUES:
        raise ValueError(f"feedback {feedback!r} is not one of {', '.join(FEEDBACK_VALUES)}")
    if status is not None and status not in STATUS_VALUES:
        raise ValueError(f"status {status!r} is not one of {', '.join(STATUS_VALUES)}")
    if cost_view not in ("billed", "effective"):
        raise ValueError(f"cost_view {cost_view!r} is not one of billed, effective")
    if isinstance(anomaly_date, str):
        anomaly_date = date.fromisoformat(anomaly_date)
    with session_scope(settings) as session:
        row = session.get(AnomalyFeedback, (scope_type, scope_value, cost_view, anomaly_date))
        if row is None:
            row = AnomalyFeedback(scope_type=scope_type, scope_value=scope_value, cost_view=cost_view,
                                  anomaly_date=anomaly_date, status="open")
            session.add(row)
        if feedback is not None:
            row.feedback = feedback
        if status is not None:
            row.status = status
        if note is not None:
            row.note = note
        if user is not None:
            row.updated_by = user
        session.flush()
        return _as_dict(row)


def get_all(settings: Settings) -> list[dict]:
    """Every stored status and feedback, as dicts keyed like ml.anomalies."""
    with session_scope(settings) as session:
        return [_as_dict(r) for r in session.scalars(select(AnomalyFeedback))]


def _as_dict(row: AnomalyFeedback) -> dict:
    return {"scope_type": row.scope_type, "scope_value": row.scope_value, "cost_view": row.cost_view,
            "anomaly_date": row.anomaly_date, "status": row.status, "feedback": row.feedback, "note": row.note,
            "updated_by": row.updated_by, "updated_at": row.updated_at}
