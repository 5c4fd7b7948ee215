"""What every export format module provides, and how a file is looked at before loading."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from orchestration.ingest import sql

# Columns every format's SELECT must produce besides its raw columns: they say which
# (billing account, billing period, dataset) slice of the raw table a row belongs to.
# A new delivery of a slice replaces the old one; see loader.py.
PARTITION_COLUMNS: dict[str, str] = {
    "x_billing_account_id": "VARCHAR",
    "x_billing_period": "DATE",
    "x_dataset": "VARCHAR",
}


class UnrecognizedFileError(ValueError):
    """The file is not in any format AutoStack reads."""


@dataclass(frozen=True)
class FileProbe:
    """A first look at a file: its container, column names and first record."""

    path: Path
    container: str  # "csv" | "parquet" | "jsonl"
    compression: str | None  # "gzip" or None
    columns: tuple[str, ...]
    first_record: dict | None = None
    # DuckDB's type of each column for typed containers (Parquet); empty for text (CSV, JSON Lines).
    types: tuple[str, ...] = ()

    def type_of(self, column: str) -> str | None:
        """The file's own type of `column` (Parquet), or None when the file is text."""
        if not self.types:
            return None
        return dict(zip(self.columns, self.types)).get(column)

    @property
    def column_set(self) -> frozenset[str]:
        return frozenset(self.columns)

    def sql_path(self) -> str:
        return sql.literal(str(self.path))

    def read_sql(self, **options: object) -> str:
        """A DuckDB table function reading the whole file; CSV is read as text, cast later."""
        if self.container == "parquet":
            return f"read_parquet({self.sql_path()})"
        if self.container == "jsonl":
            opts = {"format": "'newline_delimited'", "maximum_object_size": 64 * 1024 * 1024}
            opts.update({k: v for k, v in options.items()})
            rendered = ", ".join(f"{k}={v}" for k, v in opts.items())
            return f"read_json({self.sql_path()}, {rendered})"
        # The header was read already: give DuckDB the columns instead of letting it sniff, so a
        # malformed row fails with its line number rather than a dialect-detection error.
        columns = ", ".join(f"{sql.literal(c)}: 'VARCHAR'" for c in self.columns)
        opts = {
            "header": "true",
            "auto_detect": "false",
            "columns": "{" + columns + "}",
            "delim": "','",
            "quote": "'\"'",
            "escape": "'\"'",
            "strict_mode": "true",
            "null_padding": "false",
        }
        if self.compression == "gzip":
            opts["compression"] = "'gzip'"
        opts.update({k: v for k, v in options.items()})
        rendered = ", ".join(f"{k}={v}" for k, v in opts.items())
        return f"read_csv({self.sql_path()}, {rendered})"


@dataclass(frozen=True)
class ExportFormat:
    """One billing export format.

    `select_sql(probe)` returns a SELECT over the file producing exactly `raw_columns` plus the
    PARTITION_COLUMNS; the loader adds provenance columns and writes it to `raw_table`.
    `billed_total_sql` aggregates the raw rows into what the source itself says was billed,
    in the billing currency: the number reconciliation holds focus.costs to.
    """

    name: str
    description: str
    raw_table: str
    raw_columns: dict[str, str]
    matches: Callable[[FileProbe], bool]
    select_sql: Callable[[FileProbe], str]
    billed_total_sql: str
    currency_sql: str
    provider: str
    # Azure's actual export, when the amortized export of the same slice is loaded too, contributes
    # only its commitment purchases and refunds: the billed total of just those rows.
    paired_billed_total_sql: str | None = None
    # A slower SELECT with the same rows whose errors name the line and field, for a format whose
    # `select_sql` is a fast reader that fails without saying where (or refuses what this one reads):
    # the loader runs it when `select_sql` fails, and reports its outcome. None: no such fallback.
    checked_select_sql: Callable[[FileProbe], str | None] = lambda probe: None
    extra: dict = field(default_factory=dict)


def _open_text(path: Path, compression: str | None):
    if compression == "gzip":
        return gzip.open(path, "rt", encoding="utf-8-sig", errors="replace", newline="")
    return open(path, encoding="utf-8-sig", errors="replace", newline="")


def _compression(path: Path) -> str | None:
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return "gzip" if magic == b"\x1f\x8b" else None


def probe_file(path: Path) -> FileProbe:
    """Detect the container from the bytes (not only the name) and read the header."""
    path = Path(path)
    if not path.is_file():
        raise UnrecognizedFileError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise UnrecognizedFileError(f"{path}: the file is empty (0 bytes, not even a header)")
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head == b"PAR1":
        con = duckdb.connect()
        try:
            described = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
        except duckdb.Error as exc:
            raise UnrecognizedFileError(f"{path}: unreadable Parquet file: {exc}") from exc
        finally:
            con.close()
        return FileProbe(path, "parquet", None, tuple(r[0] for r in described), types=tuple(r[1] for r in described))
    compression = _compression(path)
    try:
        with _open_text(path, compression) as fh:
            first_line = fh.readline()
    except (OSError, EOFError) as exc:
        raise UnrecognizedFileError(f"{path}: cannot be read ({exc})") from exc
    stripped = first_line.strip()
    if not stripped:
        raise UnrecognizedFileError(f"{path}: the first line is empty; expected a CSV header or a JSON record")
    if stripped.startswith("{"):
        try:
            record = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise UnrecognizedFileError(f"{path}: line 1 looks like JSON but does not parse: {exc}") from exc
        return FileProbe(path, "jsonl", compression, tuple(record), record)
    import csv

    columns = tuple(next(csv.reader([first_line])))
    return FileProbe(path, "csv", compression, tuple(c.strip() for c in columns))
