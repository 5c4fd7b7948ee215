"""Loading the files of one ingest run with several workers, each on its own cursor.

DuckDB reads one CSV or JSON file with about one core, so a run of many files loads them
side by side. What must not change is what a sequential run would leave behind:

- Files that can touch the same rows load one after another, in the run's order. A file only
  replaces rows of its own raw table (its earlier version, or the slices it carries from other
  deliveries; see loader.py), so the files are grouped by raw table (detected from a cheap probe
  of the header) and each group is loaded by one worker, in order. A uri listed twice stays
  in the group of its first listing.
- Different raw tables load concurrently, each file in its own transaction on its worker's
  cursor of the same database. They share only the manifest tables (ingest.file_loads,
  ingest.partitions), where each load inserts its own rows and updates or deletes rows of its
  own raw table only: DuckDB's optimistic concurrency control raises a conflict only when two
  transactions change the same row, so these never conflict (tests/test_ingest_parallel.py
  runs every interleaving of two such transactions). The loader still retries a load whose
  transaction does hit a conflict, rather than quarantine a good file.
- A file that cannot be probed or recognized is left to `load_file`, which quarantines it as it
  would in a sequential run; it touches only its own manifest row, so it forms a group of its own.

Results come back in the run's order whatever order the files finish in.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import duckdb

from orchestration.ingest import duckdb_config
from orchestration.ingest.formats.base import UnrecognizedFileError, probe_file
from orchestration.ingest.loader import LoadResult, SourceFile, detect_format, load_file

# Bytes are a rough measure of the work a file is; compressed Parquet holds more rows per byte
# and JSON Lines fewer than CSV (measured on the 10M demo estate: CPU seconds per MB of CUR 2.0
# Parquet ~3x, of GCP JSON Lines ~0.5x that of Azure CSV). Only the order groups start in
# depends on it: the biggest first, so the last group to finish is a small one.
_CONTAINER_WEIGHT = {"parquet": 3.0, "jsonl": 0.5, "csv": 1.0}

Fetch = Callable[[object], SourceFile]
"""Turns a listed object into a local file (sources.fetch); raises if it cannot be fetched."""


def default_workers() -> int:
    """As many workers as DuckDB threads (AUTOSTACK_DUCKDB_THREADS, else the CPU count)."""
    return max(1, duckdb_config.threads())


@dataclass
class _Group:
    raw_table: str | None
    items: list[tuple[int, SourceFile]] = field(default_factory=list)
    weight: float = 0.0


@dataclass(frozen=True)
class _Fetched:
    """One listed object after fetching: its local file (or why it could not be fetched), its raw table."""

    uri: str
    source: SourceFile | None
    error: str | None
    raw_table: str | None  # None: not recognized; load_file quarantines it
    weight: float


def _fetch_and_probe(obj, fetch: Fetch) -> _Fetched:
    uri = obj.uri
    try:
        source = fetch(obj)
    except Exception as exc:  # a source that cannot be fetched is reported, the rest still loads
        return _Fetched(uri, None, f"{uri}: cannot be fetched: {exc}", None, 0.0)
    try:
        probe = probe_file(source.local_path)
        fmt = detect_format(probe)
        weight = source.local_path.stat().st_size * _CONTAINER_WEIGHT.get(probe.container, 1.0)
        return _Fetched(uri, source, None, fmt.raw_table, weight)
    except (UnrecognizedFileError, OSError):
        return _Fetched(uri, source, None, None, 0.0)  # load_file says what is wrong with it


def load_files(
    con: duckdb.DuckDBPyConnection,
    objects: Sequence,
    *,
    fetch: Fetch,
    workers: int,
    quarantine_dir=None,
    run_id: str | None = None,
    force: bool = False,
    on_result: Callable[[int, LoadResult, bool], None] = lambda number, result, fetched: None,
) -> list[LoadResult]:
    """Fetch and load `objects` (listed export files, each with a `uri`) into the warehouse.

    Returns one LoadResult per object, in the order of `objects`. `on_result(number, result,
    fetched)` is called in the calling thread as each file finishes (number counts from 1 in the
    order of `objects`; fetched is False for an object that could not be fetched). With one
    worker, files are fetched and loaded one at a time on `con`, in order.
    """
    if workers <= 1 or len(objects) <= 1:
        return _load_sequentially(con, objects, fetch, quarantine_dir, run_id, force, on_result)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingest-fetch") as pool:
        fetched = list(pool.map(lambda obj: _fetch_and_probe(obj, fetch), objects))

    results: list[LoadResult | None] = [None] * len(objects)
    groups: dict[str | None, _Group] = {}
    group_of_uri: dict[str, str | None] = {}
    for index, item in enumerate(fetched):
        if item.source is None:
            results[index] = LoadResult(item.uri, "quarantined", error=item.error)
            on_result(index + 1, results[index], False)
            continue
        key = group_of_uri.setdefault(item.uri, item.raw_table)
        group = groups.setdefault(key, _Group(key))
        group.items.append((index, item.source))
        group.weight += item.weight

    finished: queue.Queue = queue.Queue()
    stop = threading.Event()

    def load_group(group: _Group) -> None:
        cursor = con.cursor()
        try:
            for index, source in group.items:
                if stop.is_set():
                    return
                result = load_file(cursor, source, quarantine_dir=quarantine_dir, run_id=run_id, force=force)
                finished.put((index, result, None))
        except BaseException as exc:  # reraised in the calling thread once the other workers stop
            stop.set()
            finished.put((None, None, exc))
        finally:
            cursor.close()

    ordered = sorted(groups.values(), key=lambda g: g.weight, reverse=True)
    pending = sum(len(g.items) for g in ordered)
    failure: BaseException | None = None
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(ordered))), thread_name_prefix="ingest-load") as pool:
        for group in ordered:
            pool.submit(load_group, group)
        try:
            while pending:
                index, result, error = finished.get()
                if error is not None:
                    failure = error
                    break
                results[index] = result
                pending -= 1
                on_result(index + 1, result, True)
        finally:
            stop.set()  # on a failure the other workers finish the file they are loading, then stop
    # Leaving the pool waited for every worker: nothing writes any more.
    if failure is not None:
        raise failure
    return [r for r in results if r is not None]


def _load_sequentially(con, objects, fetch, quarantine_dir, run_id, force, on_result) -> list[LoadResult]:
    results: list[LoadResult] = []
    for number, obj in enumerate(objects, start=1):
        try:
            source = fetch(obj)
        except Exception as exc:  # a source that cannot be fetched is reported, the rest still loads
            results.append(LoadResult(obj.uri, "quarantined", error=f"{obj.uri}: cannot be fetched: {exc}"))
            on_result(number, results[-1], False)
            continue
        result = load_file(con, source, quarantine_dir=quarantine_dir, run_id=run_id, force=force)
        results.append(result)
        on_result(number, result, True)
    return results
