"""People's decisions on recommendations (done / dismissed), kept across every recompute of ml.recommendations.

Keyed by the recommendation's stable id (a hash of its type, resource and proposal), so the same
advice computed again keeps its status. The recommendations asset joins `get_states` in; the app
and the CLI call `set_status`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from autostack.settings import Settings
from autostack.store.db import session_scope
from autostack.store.models import RecommendationState

STATUSES = ("open", "done", "dismissed")


@dataclass(frozen=True)
class State:
    recommendation_id: str
    status: str
    note: str | None
    updated_by: str | None
    updated_at: datetime | None


def set_status(settings: Settings, recommendation_id: str, status: str, note: str | None = None,
               user: str | None = None) -> State:
    """Record a decision (open | done | dismissed); a later call replaces it."""
    if status not in STATUSES:
        raise ValueError(f"status {status!r}: expected one of {', '.join(STATUSES)}")
    if not recommendation_id or len(recommendation_id) > 64:
        raise ValueError(f"recommendation id {recommendation_id!r}: expected 1 to 64 characters")
    with session_scope(settings) as session:
        row = session.get(RecommendationState, recommendation_id)
        if row is None:
            row = RecommendationState(recommendation_id=recommendation_id)
            session.add(row)
        row.status, row.note, row.updated_by = status, note, user
        session.flush()
        return State(row.recommendation_id, row.status, row.note, row.updated_by, row.updated_at)


def get_states(settings: Settings) -> dict[str, State]:
    """Every recorded decision, by recommendation id."""
    with session_scope(settings) as session:
        rows = session.execute(select(RecommendationState)).scalars().all()
        return {r.recommendation_id: State(r.recommendation_id, r.status, r.note, r.updated_by, r.updated_at) for r in rows}


def get_statuses(settings: Settings) -> dict[str, str]:
    return {rid: state.status for rid, state in get_states(settings).items()}
