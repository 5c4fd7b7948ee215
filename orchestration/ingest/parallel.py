"""Loading the files of one ingest run with several workers, each on its own cursor.

DuckDB reads one CSV or JSON file with about one core, so a run of many files loads them
side by side. What must not change is what a sequential run would leave behind:

- Files that can touch the same rows load one after another, in the run's order. A file only
  replaces rows of its own raw table (its earlier version, or the slices it carries from other
  deliveries; see loader.py), so the files form one chain per raw table (detected from a cheap
  probe of the header), and a chain's next file starts only once its previous file committed.
  A uri listed twice stays in the chain of its first listing.
- Files of different raw tables load concurrently, each in its own transaction on its worker's
  cursor of the same database. They share only the manifest tables (ingest.file_loads,
  ingest.partitions), where each load inserts its own rows and updates or deletes rows of its
  own raw table only: DuckDB's optimistic concurrency control raises a conflict only when two
  transactions change the same row, so these never conflict (tests/test_ingest_parallel.py holds
  two such loads open at once and commits them in either order). The loader still retries a load
  whose transaction meets a conflict, rather than quarantine a good file.
- A file that cannot be probed or recognized is left to `load_file`, which quarantines it as it
  would in a sequential run; it touches only its own manifest row, so such files form a chain of
  their own.

Results come back in the run's order whatever order the files finish in.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import duckdb

from orchestration.ingest import duckdb_config
from orchestration.ingest.formats.base import probe_file
from orchestration.ingest.loader import LoadResult, SourceFile, detect_format, load_file

# Bytes are a rough first measure of the work a file is: compressed Parquet holds more rows per
# byte, JSON Lines fewer than CSV. It only orders the chains until their first files have loaded;
# from then on each chain's own seconds per unit are used (see _Chains).
_CONTAINER_WEIGHT = {"parquet": 3.0, "jsonl": 0.5, "csv": 1.0}

Fetch = Callable[[object], SourceFile]
"""Turns a listed object into a local file (sources.fetch); raises if it cannot be fetched."""


def default_workers() -> int:
    """As many workers as DuckDB threads (AUTOSTACK_DUCKDB_THREADS, else the CPU count)."""
    return max(1, duckdb_config.threads())


class _Chains:
    """The run's files as one chain per raw table, handed to workers a file at a time.

    A chain is busy while one of its files loads, so its files load one after another, in order;
    a free worker takes the next file of the idle chain with the most work left (bytes weighted by
    container, times the seconds per unit its finished files took), so the longest chain does not
    end up loading alone at the end of the run."""

    def __init__(self, fetched: list[tuple[int, _Fetched]]):
        self._lock = threading.Condition()
        self._chains: dict[str | None, deque[tuple[int, _Fetched]]] = {}
        uri_chain: dict[str, str | None] = {}
        for index, item in fetched:
            key = uri_chain.setdefault(item.uri, item.raw_table)
            self._chains.setdefault(key, deque()).append((index, item))
        self._busy: set[str | None] = set()
        self._spent: dict[str | None, list[float]] = {key: [0.0, 0.0] for key in self._chains}  # seconds, weight
        self.stopped = False

    def __len__(self) -> int:
        return len(self._chains)

    def _seconds_per_weight(self, key) -> float:
        seconds, weight = self._spent[key]
        if weight:
            return seconds / weight
        seconds, weight = (sum(v) for v in zip(*self._spent.values()))
        return seconds / weight if weight else 1.0

    def take(self) -> tuple[str | None, int, _Fetched] | None:
        """The next file to load, waiting while every chain with files left is busy; None when done."""
        with self._lock:
            while not self.stopped:
                idle = [k for k, files in self._chains.items() if files and k not in self._busy]
                if idle:
                    key = max(idle, key=lambda k: (sum(f.weight for _, f in self._chains[k]) or 1.0) * self._seconds_per_weight(k))
                    self._busy.add(key)
                    index, item = self._chains[key].popleft()
                    return key, index, item
                if not any(self._chains.values()):
                    return None
                self._lock.wait()
            return None

    def done(self, key, item: _Fetched, seconds: float, loaded: bool) -> None:
        """The file is committed (or quarantined): its chain's next file may start."""
        with self._lock:
            self._busy.discard(key)
            if loaded and item.weight:  # an unchanged or quarantined file says nothing of the work a load is
                self._spent[key][0] += seconds
                self._spent[key][1] += item.weight
            self._lock.notify_all()

    def stop(self) -> None:
        with self._lock:
            self.stopped = True
            self._lock.notify_all()


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
    except Exception:  # not readable or not recognized: load_file says what is wrong with it
        return _Fetched(uri, source, None, None, 0.0)


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
    to_load: list[tuple[int, _Fetched]] = []
    for index, item in enumerate(fetched):
        if item.source is None:
            results[index] = LoadResult(item.uri, "quarantined", error=item.error)
            on_result(index + 1, results[index], False)
        else:
            to_load.append((index, item))
    chains = _Chains(to_load)
    finished: queue.Queue = queue.Queue()

    def work() -> None:
        cursor = con.cursor()
        try:
            while (job := chains.take()) is not None:
                key, index, item = job
                started = time.monotonic()
                result = load_file(cursor, item.source, quarantine_dir=quarantine_dir, run_id=run_id, force=force)
                chains.done(key, item, time.monotonic() - started, result.outcome == "loaded")
                finished.put((index, result, None))
        except BaseException as exc:  # reraised in the calling thread once the other workers stop
            chains.stop()
            finished.put((None, None, exc))
        finally:
            cursor.close()

    pending = len(to_load)
    failure: BaseException | None = None
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(chains))), thread_name_prefix="ingest-load") as pool:
        for _ in range(max(1, min(workers, len(chains)))):
            pool.submit(work)
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
            chains.stop()  # on a failure the other workers finish the file they are loading, then stop
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
