"""Benchmark: the floor under any ingestion of a set of export files — DuckDB's own readers, auto-detected
(no AutoStack code), loading every file into a DuckDB table.

    .venv/bin/python benchmarks/load_floor.py PATH   # a folder of exports, e.g. the demo estate's exports/

Files are grouped by reader: Parquet (`read_parquet`), CSV (`read_csv`, gzip included) and JSON Lines
(`read_json`); each group is one CREATE TABLE AS into a scratch DuckDB file, with the same 2 GB
memory limit the pipeline uses. Reported per group and in total: rows, wall and CPU seconds, and
the process's peak RSS. Compare with `end_to_end.py --input PATH`'s ingest and dbt stages.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from bench_lib import DATA_DIR, DOCS_RESULTS, code_version, load_average, machine_info, markdown_table, report  # noqa: E402

READERS = (  # (reader, file name endings, options)
    ("read_parquet", (".parquet",), ""),
    ("read_csv", (".csv", ".csv.gz"), ", union_by_name = true"),
    ("read_json", (".jsonl", ".json", ".jsonl.gz", ".json.gz"), ", union_by_name = true"),
)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv=None) -> int:
    import duckdb

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--results", type=Path, default=DOCS_RESULTS)
    args = parser.parse_args(argv)

    files = sorted(p for p in args.path.rglob("*") if p.is_file())
    scratch = DATA_DIR / "load_floor.duckdb"
    scratch.parent.mkdir(parents=True, exist_ok=True)
    scratch.unlink(missing_ok=True)
    con = duckdb.connect(str(scratch))
    con.execute("SET memory_limit = '2GB'")
    rows, started, cpu_started = [], time.monotonic(), cpu_seconds()
    total_rows = total_bytes = 0
    try:
        for i, (reader, endings, options) in enumerate(READERS):
            group = [str(p) for p in files if p.name.endswith(endings)]
            if not group:
                continue
            size = sum(Path(f).stat().st_size for f in group)
            t, c = time.monotonic(), cpu_seconds()
            con.execute(f"CREATE TABLE t{i} AS SELECT * FROM {reader}({group!r}{options})")
            count = con.execute(f"SELECT count(*) FROM t{i}").fetchall()[0][0]
            rows.append([reader, f"{len(group)}", f"{size / 1e9:.2f}", f"{count:,}", f"{time.monotonic() - t:.1f}",
                         f"{cpu_seconds() - c:.1f}"])
            total_rows += count
            total_bytes += size
    finally:
        con.close()
        scratch.unlink(missing_ok=True)
    wall, cpu = time.monotonic() - started, cpu_seconds() - cpu_started
    rows.append(["**total**", f"{sum(int(r[1]) for r in rows)}", f"{total_bytes / 1e9:.2f}", f"{total_rows:,}",
                 f"{wall:.1f}", f"{cpu:.1f}"])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    section = "\n".join([
        f"## Load floor: DuckDB's own readers on the export files — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"Command: `benchmarks/load_floor.py {args.path}`",
        "",
        f"AutoStack code: {code_version()}",
        "",
        "Machine: " + "; ".join(f"{k} {v}" for k, v in machine_info().items()),
        "",
        f"Versions: duckdb {duckdb.__version__}",
        "",
        markdown_table(["reader", "files", "GB", "rows", "wall seconds", "CPU seconds"], rows),
        "",
        f"- Peak RSS of the process: {peak:,.0f} MB. Load average at the end: {load_average()}.",
        "- No AutoStack code runs: this is what reading and storing these files costs DuckDB alone.",
        "",
    ])
    report(args.results, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
