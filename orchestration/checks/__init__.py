"""Data checks as plain functions: FOCUS conformance (focus-validator) and raw-table data quality
(great-expectations). Dagster asset checks wrap them; they know nothing of Dagster."""
