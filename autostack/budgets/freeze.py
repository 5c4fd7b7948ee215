"""Deployment freezes: a budget action marks a scope frozen until a person acknowledges it.

Deploy jobs call `is_frozen(settings, provider=..., sub_account=..., ...)` with what they are about
to change (or read the `deployment_freezes` table). A freeze matches a deployment unless the
deployment names a different value for a dimension the freeze is scoped on: what a deployment
does not say is assumed to be inside the frozen scope, so an unknown target is refused, not let
through. A freeze on everything matches every deployment.
"""

from __future__ import annotations

import sqlalchemy as sa

from autostack.budgets.model import DIMENSIONS
from autostack.settings import Settings
from autostack.store import session_scope
from autostack.store.models import DeploymentFreeze, utcnow


def freeze_matches(freeze_scope: dict, target: dict) -> bool:
    for dimension in DIMENSIONS:
        frozen = freeze_scope.get(dimension)
        if frozen is not None and target.get(dimension) is not None and target[dimension] != frozen:
            return False
    target_tags = target.get("tags") or {}
    for key, value in (freeze_scope.get("tags") or {}).items():
        if key in target_tags and target_tags[key] != value:
            return False
    return True


def _as_dict(row: DeploymentFreeze) -> dict:
    return {"id": row.id, "scope": dict(row.scope or {}), "reason": row.reason, "budget": row.budget_name,
            "frozen_at": row.frozen_at, "acknowledged_by": row.acknowledged_by, "acknowledged_at": row.acknowledged_at}


def active_freezes(settings: Settings, *, provider: str | None = None, billing_account: str | None = None,
                   sub_account: str | None = None, service: str | None = None, region: str | None = None,
                   tags: dict[str, str] | None = None) -> list[dict]:
    """Unacknowledged freezes that cover the described deployment target (all of them when none is given)."""
    target = {"provider": provider, "billing_account": billing_account, "sub_account": sub_account,
              "service": service, "region": region, "tags": tags or {}}
    with session_scope(settings) as session:
        rows = session.scalars(sa.select(DeploymentFreeze).where(DeploymentFreeze.acknowledged_at.is_(None))
                               .order_by(DeploymentFreeze.id)).all()
        return [_as_dict(r) for r in rows if freeze_matches(r.scope or {}, target)]


def is_frozen(settings: Settings, **target) -> bool:
    """True when deployments to this target must wait: an unacknowledged budget freeze covers it."""
    return bool(active_freezes(settings, **target))


def list_freezes(settings: Settings, *, include_acknowledged: bool = False) -> list[dict]:
    with session_scope(settings) as session:
        query = sa.select(DeploymentFreeze).order_by(DeploymentFreeze.id)
        if not include_acknowledged:
            query = query.where(DeploymentFreeze.acknowledged_at.is_(None))
        return [_as_dict(r) for r in session.scalars(query)]


def acknowledge_freeze(settings: Settings, freeze_id: int, by: str) -> dict:
    """Lift a freeze: record who acknowledged it and when. Acknowledging twice is an error."""
    if not by or not by.strip():
        raise ValueError("acknowledge: say who acknowledges (--by NAME)")
    with session_scope(settings) as session:
        row = session.get(DeploymentFreeze, freeze_id)
        if row is None:
            raise LookupError(f"no deployment freeze with id {freeze_id}")
        if row.acknowledged_at is not None:
            raise ValueError(f"freeze {freeze_id} was already acknowledged by {row.acknowledged_by} "
                             f"at {row.acknowledged_at:%Y-%m-%d %H:%M}")
        row.acknowledged_by, row.acknowledged_at = by.strip(), utcnow()
        session.flush()
        return _as_dict(row)
