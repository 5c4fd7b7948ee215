"""Validation of budgets and channels, with one clear message per problem.

Scope values and the currency are checked against the published data (`PublishedCatalog` over the
serving snapshot) when there is any; channels against the app store.
"""

from __future__ import annotations

import difflib
import re
from decimal import Decimal

from autostack.budgets.data import PublishedCatalog
from autostack.budgets.model import (
    ACTION_KINDS,
    BASES,
    COST_VIEWS,
    DIMENSIONS,
    PERIODS,
    BudgetSpec,
    ChannelSpec,
    ValidationError,
)
from autostack.notify.delivery import CHANNEL_KINDS, SECRET_ROLES
from autostack.notify.secrets import check_secret_name

CURRENCY = re.compile(r"^[A-Z]{3}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
MAX_PERCENT = Decimal(1000)


def _known(values: list[str], shown: int = 8) -> str:
    return ", ".join(values[:shown]) + (f" and {len(values) - shown} more" if len(values) > shown else "")


def _unknown_value(what: str, value: str, known: list[str]) -> str:
    close = difflib.get_close_matches(value, known, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else f" (known: {_known(known)})" if known else ""
    return f"scope: unknown {what} {value!r}: no published costs have it{hint}"


def budget_problems(spec: BudgetSpec, *, channels: dict[str, str], catalog: PublishedCatalog | None,
                    existing_names: set[str] = frozenset()) -> list[str]:
    """Every problem with `spec`; `channels` maps known channel names to their kind."""
    problems = []
    if not spec.name or not spec.name.strip():
        problems.append("name: must not be empty")
    elif spec.name in existing_names:
        problems.append(f"name: a budget named {spec.name!r} already exists")
    if not isinstance(spec.amount, Decimal) or not spec.amount.is_finite():
        problems.append(f"amount: expected a number (got {spec.amount!r})")
    elif spec.amount <= 0:
        problems.append(f"amount: must be positive (got {spec.amount})")
    if not CURRENCY.match(spec.currency or ""):
        problems.append(f"currency: expected a three-letter ISO 4217 code like USD (got {spec.currency!r})")
    if spec.period not in PERIODS:
        problems.append(f"period: must be one of {', '.join(PERIODS)} (got {spec.period!r})")
    if spec.cost_view not in COST_VIEWS:
        problems.append(f"cost view: must be one of {', '.join(COST_VIEWS)} (got {spec.cost_view!r})")
    if not spec.thresholds:
        problems.append("thresholds: give at least one, e.g. 80 (actual) or 100:forecasted")
    seen = set()
    for threshold in spec.thresholds:
        if threshold.basis not in BASES:
            problems.append(f"threshold {threshold.percent}: basis must be actual or forecasted (got {threshold.basis!r})")
        if not threshold.percent.is_finite() or threshold.percent <= 0 or threshold.percent > MAX_PERCENT:
            problems.append(f"threshold {threshold.percent}: percent must be above 0 and at most {MAX_PERCENT}")
        if threshold.key in seen:
            problems.append(f"threshold {threshold.describe()}: given twice")
        seen.add(threshold.key)
    for name in spec.channels:
        if name not in channels:
            problems.append(f"channel: unknown channel {name!r}"
                            + (f" (known: {_known(sorted(channels))})" if channels else " (no channels exist yet: "
                               "add one with `autostack budgets channel add`)"))
    for action in spec.actions:
        if action.kind not in ACTION_KINDS:
            problems.append(f"action: unknown kind {action.kind!r} (expected {', '.join(ACTION_KINDS)})")
        elif action.kind == "call_webhook":
            if not action.channel:
                problems.append("action call_webhook: name the webhook channel, e.g. call_webhook=ops-automation")
            elif channels.get(action.channel) != "webhook":
                problems.append(f"action call_webhook: {action.channel!r} is not a webhook channel"
                                + ("" if action.channel in channels else " (unknown channel)"))
        if action.threshold and action.threshold.key not in seen:
            problems.append(f"action {action.kind}: threshold {action.threshold.describe()} is not one of the budget's")
    if catalog is not None:
        problems += _data_problems(spec, catalog)
    return problems


def _data_problems(spec: BudgetSpec, catalog: PublishedCatalog) -> list[str]:
    problems = []
    for dimension in DIMENSIONS:
        value = getattr(spec.scope, dimension)
        if value is not None and value not in catalog.values(dimension):
            problems.append(_unknown_value(dimension.replace("_", " "), value, catalog.values(dimension)))
    for key, value in spec.scope.tags:
        keys = catalog.tag_keys()
        if key not in keys:
            problems.append(_unknown_value("tag key", key, keys))
        elif value not in (values := catalog.tag_values(key)):
            problems.append(_unknown_value(f"value of tag {key}", value, values))
    if problems:
        return problems
    currencies = catalog.currencies(spec.scope)
    if not currencies:
        problems.append(f"scope: no published costs match {spec.scope.describe()} (each value exists, "
                        "but not together)")
    elif len(currencies) > 1:
        problems.append(f"currency: costs in {spec.scope.describe()} are billed in several currencies "
                        f"({', '.join(currencies)}); narrow the scope to one currency")
    elif currencies[0] != spec.currency and CURRENCY.match(spec.currency or ""):
        problems.append(f"currency: {spec.currency} does not match the data: costs in {spec.scope.describe()} "
                        f"are billed in {currencies[0]}")
    return problems


def validate_budget(spec: BudgetSpec, **kwargs) -> None:
    problems = budget_problems(spec, **kwargs)
    if problems:
        raise ValidationError(problems)


def channel_problems(spec: ChannelSpec, existing_names: set[str] = frozenset()) -> list[str]:
    problems = []
    if not spec.name or not spec.name.strip():
        problems.append("name: must not be empty")
    elif spec.name in existing_names:
        problems.append(f"name: a channel named {spec.name!r} already exists")
    if spec.kind not in CHANNEL_KINDS:
        return problems + [f"kind: must be one of {', '.join(CHANNEL_KINDS)} (got {spec.kind!r})"]
    roles = SECRET_ROLES[spec.kind]
    for role in spec.secret_refs:
        if role not in roles:
            problems.append(f"secret {role}: a {spec.kind} channel takes {', '.join(roles)}")
    for role, required in roles.items():
        name = spec.secret_refs.get(role)
        if name is None:
            if required:
                problems.append(f"secret {role}: required for a {spec.kind} channel (the name of the environment "
                                "variable or secrets-file entry holding it)")
            continue
        if (message := check_secret_name(name, f"secret {role}")):
            problems.append(message)
    if spec.kind == "email":
        options = spec.options
        if not options.get("host"):
            problems.append("email: host (the SMTP server) is required")
        try:
            port = int(options.get("port", 587))
            if not 0 < port < 65536:
                raise ValueError
        except (TypeError, ValueError):
            problems.append(f"email: port must be 1..65535 (got {options.get('port')!r})")
        if options.get("security", "starttls") not in ("starttls", "none"):
            problems.append(f"email: security must be starttls or none (got {options.get('security')!r})")
        if not EMAIL.match(str(options.get("sender") or "")):
            problems.append(f"email: sender must be an e-mail address (got {options.get('sender')!r})")
        recipients = options.get("recipients") or []
        if not recipients:
            problems.append("email: at least one recipient is required")
        problems += [f"email: recipient {r!r} is not an e-mail address" for r in recipients if not EMAIL.match(str(r))]
        if spec.secret_refs.get("password") and not options.get("username"):
            problems.append("email: a password needs a username")
    return problems
