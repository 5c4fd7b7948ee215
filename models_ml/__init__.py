"""Forecasting, anomaly detection and recommendations: pure functions over DataFrames and arrays.

No Dagster, no DuckDB, no file I/O (an import-linter contract enforces it); the assets in
`orchestration/defs/ml.py` read the warehouse and write `ml.*`.

- `asof`: the as-of date, the last complete day in the cost data.
- `scopes`: daily cost per scope (long table) → one dense series per scope and cost view.
- `forecasting`: the candidate models and their daily intervals.
- `backtest`: rolling-origin backtests of the month-end projection, conformal 80% intervals,
  choice of model.
- `forecast_run`: one series or many (in worker processes) → the three forecast tables.
- `anomalies`: days above their expected range, and ranked root causes.
"""
