"""What a budget is: a scope of the published costs, a calendar period, an amount, thresholds, channels, actions."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

PERIODS = ("monthly", "quarterly", "annual")
COST_VIEWS = ("billed", "effective")
BASES = ("actual", "forecasted")
ACTION_KINDS = ("freeze_deployments", "call_webhook")
# Scope dimensions → the focus.costs column each one filters on (tags are separate: key=value pairs).
DIMENSIONS = {
    "provider": "ProviderName",
    "billing_account": "BillingAccountId",
    "sub_account": "SubAccountId",
    "service": "ServiceName",
    "region": "RegionId",
}


class ValidationError(ValueError):
    """Every problem found in a budget or channel, one clear message each."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class Scope:
    """The costs a budget covers: every given dimension must match (AND); nothing given is everything."""

    provider: str | None = None
    billing_account: str | None = None
    sub_account: str | None = None
    service: str | None = None
    region: str | None = None
    tags: tuple[tuple[str, str], ...] = ()  # sorted (key, value) pairs

    @classmethod
    def from_dict(cls, data: dict | None) -> Scope:
        data = dict(data or {})
        tags = data.pop("tags", None) or {}
        unknown = set(data) - set(DIMENSIONS)
        if unknown:
            raise ValidationError([f"scope: unknown dimension(s) {', '.join(sorted(unknown))} "
                                   f"(expected {', '.join(DIMENSIONS)} or tags)"])
        return cls(**{k: (str(v) if v not in (None, "") else None) for k, v in data.items()},
                   tags=tuple(sorted((str(k), str(v)) for k, v in dict(tags).items())))

    def to_dict(self) -> dict:
        out: dict = {k: getattr(self, k) for k in DIMENSIONS if getattr(self, k) is not None}
        if self.tags:
            out["tags"] = dict(self.tags)
        return out

    @property
    def is_everything(self) -> bool:
        return not self.to_dict()

    def describe(self) -> str:
        parts = [f"{k.replace('_', ' ')}={getattr(self, k)}" for k in DIMENSIONS if getattr(self, k) is not None]
        parts += [f"tag {k}={v}" for k, v in self.tags]
        return ", ".join(parts) or "all costs"

    def forecast_scope(self) -> tuple[str, str] | None:
        """The (scope_type, scope_value) of `ml.forecasts` that is exactly this scope, if there is one."""
        given = self.to_dict()
        if not given:
            return ("total", "total")  # as marts.daily_scope_costs names it
        if len(given) != 1:
            return None
        (key, value), = given.items()
        if key == "tags":
            if len(value) != 1:
                return None
            (tag_key, tag_value), = value.items()
            return (f"tag:{tag_key.lower()}", tag_value)  # forecasts lower-case tag keys
        if key == "region":  # ml.forecasts has no region scope
            return None
        return (key, value)


@dataclass(frozen=True)
class Threshold:
    percent: Decimal
    basis: str = "actual"  # actual | forecasted

    @classmethod
    def parse(cls, text: str) -> Threshold:
        """'80' or '80%' (actual), '100:forecasted' / '100%forecast' / '100% forecasted'."""
        match = re.fullmatch(r"(-?\d+(?:\.\d+)?)%?:?([a-z]*)", str(text).strip().lower().replace(" ", ""))
        if not match:
            raise ValidationError([f"threshold {text!r}: expected a percentage like 80, 80% or 100:forecasted"])
        value = Decimal(match.group(1))
        basis = {"forecast": "forecasted", "": "actual"}.get(match.group(2), match.group(2))
        return cls(value, basis)

    @classmethod
    def from_dict(cls, data: dict) -> Threshold:
        return cls(Decimal(str(data["percent"])), str(data.get("basis", "actual")))

    def to_dict(self) -> dict:
        return {"percent": str(self.percent), "basis": self.basis}

    def describe(self) -> str:
        return f"{self.percent.normalize():f}% {self.basis}"

    @property
    def key(self) -> str:
        return f"{self.percent.normalize():f}:{self.basis}"


@dataclass(frozen=True)
class Action:
    """What to do when a threshold fires: freeze deployments in the scope, or call a signed webhook channel.

    `threshold` limits the action to one threshold (e.g. 100% actual); None means every threshold."""

    kind: str
    channel: str | None = None
    threshold: Threshold | None = None

    @classmethod
    def parse(cls, text: str) -> Action:
        """'freeze_deployments', 'freeze_deployments@100', 'call_webhook=CHANNEL@100:forecasted'."""
        spec, _, threshold = str(text).partition("@")
        kind, _, channel = spec.partition("=")
        kind = {"freeze": "freeze_deployments", "webhook": "call_webhook"}.get(kind.strip(), kind.strip())
        return cls(kind, channel.strip() or None, Threshold.parse(threshold) if threshold else None)

    @classmethod
    def from_dict(cls, data: dict) -> Action:
        threshold = data.get("threshold")
        return cls(data["kind"], data.get("channel"), Threshold.from_dict(threshold) if threshold else None)

    def to_dict(self) -> dict:
        out: dict = {"kind": self.kind}
        if self.channel:
            out["channel"] = self.channel
        if self.threshold:
            out["threshold"] = self.threshold.to_dict()
        return out

    def applies_to(self, threshold: Threshold) -> bool:
        return self.threshold is None or self.threshold.key == threshold.key

    def describe(self) -> str:
        text = self.kind + (f"={self.channel}" if self.channel else "")
        return text + (f" at {self.threshold.describe()}" if self.threshold else "")


@dataclass(frozen=True)
class BudgetSpec:
    name: str
    amount: Decimal
    currency: str
    period: str = "monthly"
    cost_view: str = "billed"
    scope: Scope = field(default_factory=Scope)
    thresholds: tuple[Threshold, ...] = (Threshold(Decimal(100), "actual"),)
    channels: tuple[str, ...] = ()
    actions: tuple[Action, ...] = ()
    owner: str | None = None
    id: int | None = None

    def with_id(self, budget_id: int) -> BudgetSpec:
        return replace(self, id=budget_id)


@dataclass(frozen=True)
class ChannelSpec:
    """A notification channel. `secret_refs` maps a role (url, signing_key, password) to a secret *name*."""

    name: str
    kind: str  # slack | webhook | email
    options: dict = field(default_factory=dict)
    secret_refs: dict = field(default_factory=dict)
    id: int | None = None


def period_bounds(period: str, day: date) -> tuple[date, date]:
    """The calendar period (first and last day, inclusive) of `period` that contains `day`."""
    if period == "monthly":
        return day.replace(day=1), day.replace(day=calendar.monthrange(day.year, day.month)[1])
    if period == "quarterly":
        first_month = 3 * ((day.month - 1) // 3) + 1
        last_month = first_month + 2
        return date(day.year, first_month, 1), date(day.year, last_month, calendar.monthrange(day.year, last_month)[1])
    if period == "annual":
        return date(day.year, 1, 1), date(day.year, 12, 31)
    raise ValidationError([f"period must be one of {', '.join(PERIODS)} (got {period!r})"])
