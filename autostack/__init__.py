"""AutoStack: multi-cloud billing exports → FOCUS 1.2 in DuckDB, orchestrated by Dagster."""

__version__ = "0.1.0"
