"""Billing export ingestion: detect a file's format, load it atomically into `raw.*`, record it."""
