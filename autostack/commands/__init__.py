"""CLI command groups beyond the core ones in `autostack.cli`, one module per area.

Each module has `register(subparsers)`, which adds its sub-commands and sets
`handler=fn(settings, args) -> int` on each parser with `set_defaults`. Modules may use the
helpers of `autostack.cli` (connect_snapshot, format_rows, CliError); they are imported here
lazily, after `autostack.cli` has loaded.
"""

from __future__ import annotations

import importlib

COMMAND_MODULES: list[str] = [
    "autostack.commands.forecasts",
    "autostack.commands.recommendations",
    "autostack.commands.budgets",
]


def register_all(subparsers) -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
