"""An alert as every channel renders it: one budget threshold breached in one period."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal


def money(value: Decimal | None, currency: str) -> str:
    """12,345.68 USD (two decimals, half up); the same text in Slack, e-mail and the CLI."""
    if value is None:
        return "n/a"
    return f"{value.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,.2f} {currency}"


def percent(value: Decimal | None) -> str:
    return "n/a" if value is None else f"{value.quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}%"


@dataclass(frozen=True)
class AlertMessage:
    event_key: str  # the idempotency key: receivers can de-duplicate on it
    budget_name: str
    scope: str  # human-readable, e.g. "provider=AWS, tag team=payments"
    period: str  # monthly | quarterly | annual
    period_start: date
    period_end: date
    threshold_percent: Decimal
    threshold_basis: str  # actual | forecasted
    amount: Decimal
    currency: str
    cost_view: str
    spent: Decimal
    forecast: Decimal | None
    forecast_method: str | None
    percent: Decimal  # of the threshold's basis (spent or forecast) against the amount
    days_left: int
    data_through: date | None
    owner: str | None = None
    actions: tuple[str, ...] = field(default_factory=tuple)

    @property
    def title(self) -> str:
        what = "forecast to reach" if self.threshold_basis == "forecasted" else "has reached"
        return (f"Budget '{self.budget_name}' {what} {percent(self.percent)} of "
                f"{money(self.amount, self.currency)}")

    def lines(self) -> list[str]:
        lines = [
            f"Scope: {self.scope}",
            f"Period: {self.period} {self.period_start.isoformat()} .. {self.period_end.isoformat()} "
            f"({self.days_left} day(s) left)",
            f"Threshold: {self.threshold_percent}% of {self.threshold_basis} {self.cost_view} cost",
            f"Budget: {money(self.amount, self.currency)}",
            f"Spent so far: {money(self.spent, self.currency)}"
            + (f" (costs through {self.data_through.isoformat()})" if self.data_through else ""),
            f"Forecast at period end: {money(self.forecast, self.currency)}"
            + (f" ({self.forecast_method})" if self.forecast_method else ""),
        ]
        if self.owner:
            lines.append(f"Owner: {self.owner}")
        if self.actions:
            lines.append(f"Actions taken: {', '.join(self.actions)}")
        return lines

    def text(self) -> str:
        """The plain-text form: Slack's notification fallback and the e-mail body."""
        return "\n".join([self.title, *self.lines()])

    def payload(self) -> dict:
        """JSON-ready fields; money as decimal strings so that no receiver gets a rounded float."""
        return {
            "event_key": self.event_key,
            "budget": self.budget_name,
            "scope": self.scope,
            "period": self.period,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "threshold_percent": str(self.threshold_percent),
            "threshold_basis": self.threshold_basis,
            "cost_view": self.cost_view,
            "amount": str(self.amount),
            "currency": self.currency,
            "spent": str(self.spent),
            "forecast": None if self.forecast is None else str(self.forecast),
            "forecast_method": self.forecast_method,
            "percent": str(self.percent),
            "days_left": self.days_left,
            "data_through": self.data_through.isoformat() if self.data_through else None,
            "owner": self.owner,
            "actions": list(self.actions),
        }
