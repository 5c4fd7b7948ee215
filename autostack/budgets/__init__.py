"""Budgets and alerts: model, validation, CRUD, evaluation, alert emission and deployment freezes.

Importable by the app, the CLI and orchestration; imports only `autostack.*` (and DuckDB,
SQLAlchemy). Evaluation itself (`evaluate.evaluate_budget`) is a pure function.
"""

from autostack.budgets.crud import (
    NotFound,
    add_budget,
    add_channel,
    alert_history,
    describe_channel,
    failed_deliveries,
    get_budget,
    get_channel,
    latest_status,
    list_budgets,
    list_channels,
    remove_budget,
    remove_channel,
    update_budget,
)
from autostack.budgets.evaluate import Evaluation, evaluate_budget
from autostack.budgets.freeze import acknowledge_freeze, active_freezes, is_frozen, list_freezes
from autostack.budgets.model import Action, BudgetSpec, ChannelSpec, Scope, Threshold, ValidationError, period_bounds
from autostack.budgets.runner import run_budgets

__all__ = [
    "Action", "BudgetSpec", "ChannelSpec", "Evaluation", "NotFound", "Scope", "Threshold", "ValidationError",
    "acknowledge_freeze", "active_freezes", "add_budget", "add_channel", "alert_history", "describe_channel",
    "evaluate_budget", "failed_deliveries", "get_budget", "get_channel", "is_frozen", "latest_status", "list_budgets",
    "list_channels", "list_freezes", "period_bounds", "remove_budget", "remove_channel", "run_budgets",
    "update_budget",
]
