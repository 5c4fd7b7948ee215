"""Files written a chunk at a time, so memory holds one chunk whatever the file's size.

Each sink writes to `<name>.partial` and renames on close: a half-written export is never mistaken
for a delivered one (the landing-folder scan skips `.partial`). `max_rows_in_memory` records the
largest chunk the sink was handed, which the streaming test bounds.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

CHUNK_ROWS = 50_000  # the most rows a writer converts at once; Parquet row groups are this size at most


class Sink(ABC):
    """A file written in chunks to `<name>.partial` and renamed into place when closed."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.rows = 0
        self.max_rows_in_memory = 0

    def write(self, table: pa.Table) -> None:
        for start in range(0, table.num_rows, CHUNK_ROWS):
            chunk = table.slice(start, CHUNK_ROWS)
            self.max_rows_in_memory = max(self.max_rows_in_memory, chunk.num_rows)
            self._write(chunk)
            self.rows += chunk.num_rows

    @abstractmethod
    def _write(self, chunk: pa.Table) -> None:
        """Append one chunk to the partial file."""

    def close(self, mtime: float | None = None) -> None:
        self._close()
        os.replace(self.partial, self.path)
        if mtime is not None:
            os.utime(self.path, (mtime, mtime))

    @abstractmethod
    def _close(self) -> None:
        """Finish the partial file (footer, flush)."""


class ParquetSink(Sink):
    """Snappy Parquet, one row group per chunk (as AWS Data Exports writes CUR 2.0)."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        super().__init__(path)
        self.writer = pq.ParquetWriter(self.partial, schema, compression="snappy")

    def _write(self, chunk: pa.Table) -> None:
        self.writer.write_table(chunk, row_group_size=CHUNK_ROWS)

    def _close(self) -> None:
        self.writer.close()


class CsvSink(Sink):
    """CSV with a header, quoting only where needed (as Cost Management exports write), or every
    non-null value (`quote_all`, as real FOCUS exports write; nulls stay empty and unquoted)."""

    def __init__(self, path: Path, schema: pa.Schema, *, quote_all: bool = False) -> None:
        super().__init__(path)
        options = pacsv.WriteOptions(include_header=True, quoting_style="all_valid" if quote_all else "needed")
        self.writer = pacsv.CSVWriter(str(self.partial), schema, write_options=options)

    def _write(self, chunk: pa.Table) -> None:
        self.writer.write_table(chunk)

    def _close(self) -> None:
        self.writer.close()


class JsonLinesSink(Sink):
    """Newline-delimited JSON of nested records (as BigQuery exports a table), written by DuckDB."""

    def __init__(self, path: Path, select_sql: str) -> None:
        super().__init__(path)
        self.select_sql = select_sql  # a SELECT over the view `chunk` producing the record's columns
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        self.part = self.path.with_name(self.path.name + ".chunk")
        self.out = open(self.partial, "wb")

    def _write(self, chunk: pa.Table) -> None:
        self.con.register("chunk", chunk)
        target = str(self.part).replace("'", "''")
        self.con.execute(f"COPY ({self.select_sql}) TO '{target}' (FORMAT json)")
        self.con.unregister("chunk")
        with open(self.part, "rb") as fh:
            while block := fh.read(1 << 20):
                self.out.write(block)
        os.remove(self.part)

    def _close(self) -> None:
        self.out.close()
        self.con.close()
