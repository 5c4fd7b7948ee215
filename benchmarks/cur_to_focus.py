"""Benchmark: AWS CUR (legacy, Athena/Parquet) → FOCUS, AutoStack vs focus-converter 1.0.0 vs a bare DuckDB load.

    .venv/bin/python benchmarks/cur_to_focus.py --rows 1000000 [--rows 10000000]

For each size, on the SAME generated Parquet file (cur_data.py, cached in benchmarks/.data/):
(a) AutoStack, each stage a process of its own: `load_file` into a fresh DuckDB warehouse
    (raw.aws_cur), then one dbt process as the ingest job runs it: `dbt build --select +costs_v1_2`
    without tests (reference seeds and the models up to the table focus.costs_v1_2), then
    `dbt test --select +costs_v1_2` (its data and unit tests) reported apart;
(b) the FinOps Foundation focus-converter 1.0.0 in its own virtualenv (benchmarks/.data/
    venv-focus-converter, created on first use: it pins polars 0.20 and numpy<2 and needs
    `multimethod<2` and `click<8.2`), both as `convert-auto` (what it picks for a Parquet file:
    a pyarrow dataset read in 50,000-row batches) and as `convert --parquet-data-format file`
    (the whole file in one polars frame);
(c) the floor: `CREATE TABLE AS SELECT * FROM read_parquet(...)` into a fresh DuckDB file.
Wall time and peak RSS of every process (GNU time). With --profile (default), where AutoStack's
time goes: the loader's statements, dbt's per-model times, and EXPLAIN ANALYZE of the two heavy
SELECTs. Results are appended to docs/benchmarks.md (or --results).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(1, str(BENCH_DIR.parent))

import bench_lib  # noqa: E402
from bench_lib import DATA_DIR, DOCS_RESULTS, PROJECT_ROOT, Measurement, ResultRow, markdown_table, measure  # noqa: E402

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
FOCUS_CONVERTER_VENV = DATA_DIR / "venv-focus-converter"
FOCUS_CONVERTER_REQUIREMENTS = ["focus-converter==1.0.0", "multimethod<2", "click<8.2"]
FOCUS_MODEL = "costs_v1_2"
GB = 1_000_000_000


# --------------------------------------------------------------------------- stages run in children
class TimedConnection:
    """A DuckDB connection that records how long each statement takes (for the loader's profile)."""

    def __init__(self, con):
        self._con = con
        self.statements: list[tuple[str, float]] = []

    def execute(self, sql, *args, **kwargs):
        started = time.perf_counter()
        result = self._con.execute(sql, *args, **kwargs)
        self.statements.append((" ".join(str(sql).split())[:160], time.perf_counter() - started))
        return result

    def __getattr__(self, name):
        return getattr(self._con, name)


def stage_load(home: Path, input_path: Path, out: Path) -> int:
    import duckdb

    os.environ["AUTOSTACK_HOME"] = str(home)
    from autostack.settings import get_settings
    from orchestration.ingest.loader import SourceFile, ensure_raw_tables, load_file

    settings = get_settings()
    settings.ensure_dirs()
    con = duckdb.connect(str(settings.warehouse_path))
    ensure_raw_tables(con)  # as the ingest asset does: every source's raw table exists for dbt
    timed = TimedConnection(con)
    started = time.perf_counter()
    result = load_file(timed, SourceFile.local(input_path))
    started_checkpoint = time.perf_counter()
    con.execute("CHECKPOINT")
    timed.statements.append(("CHECKPOINT", time.perf_counter() - started_checkpoint))
    con.close()
    bench_lib.write_json(out, {
        "outcome": result.outcome, "rows": result.row_count, "error": result.error, "format": result.format,
        "seconds": time.perf_counter() - started, "statements": timed.statements,
    })
    return 0 if result.outcome == "loaded" else 1


def stage_floor(db: Path, input_path: Path, out: Path) -> int:
    import duckdb

    con = duckdb.connect(str(db))
    con.execute(f"CREATE TABLE cur AS SELECT * FROM read_parquet('{input_path}')")
    con.execute("CHECKPOINT")
    rows = con.execute("SELECT count(*) FROM cur").fetchall()[0][0]
    con.close()
    bench_lib.write_json(out, {"rows": rows})
    return 0


def stage_profile(home: Path, input_path: Path, target: Path, out: Path) -> int:
    """EXPLAIN ANALYZE (as JSON profiles) of the loader's SELECT and of focus.costs_v1_2's SELECT."""
    import duckdb

    from orchestration.ingest.formats.base import probe_file
    from orchestration.ingest.loader import detect_format
    from profile_sql import profile

    os.environ["AUTOSTACK_HOME"] = str(home)
    from autostack.settings import get_settings

    settings = get_settings()
    con = duckdb.connect(str(settings.warehouse_path))
    con.execute("SET TimeZone = 'UTC'")
    results = []
    probe = probe_file(input_path)
    select = detect_format(probe).select_sql(probe)
    results.append(profile(con, f"CREATE OR REPLACE TEMP TABLE _staged AS {select}",
                           "loader: the format's SELECT from the Parquet file (CREATE TEMP TABLE _staged AS ...)"))
    con.execute("DROP TABLE _staged")
    compiled = next(target.glob(f"compiled/**/{FOCUS_MODEL}.sql"), None)
    if compiled is not None:
        results.append(profile(con, f"CREATE OR REPLACE TEMP TABLE _focus AS {compiled.read_text()}",
                               f"dbt: focus.{FOCUS_MODEL}'s SELECT over the staging and intermediate views"))
        con.execute("DROP TABLE _focus")
        # The AWS mapping alone, without the cross-source conformance step on top of it.
        results.append(profile(con, "CREATE OR REPLACE TEMP TABLE _aws AS SELECT * FROM intermediate.int_aws__focus_costs",
                               "dbt: intermediate.int_aws__focus_costs alone (the AWS mapping view)"))
        con.execute("DROP TABLE _aws")
    con.close()
    bench_lib.write_json(out, results)
    return 0


# --------------------------------------------------------------------------- focus-converter's environment
def find_python312() -> str | None:
    """The same discovery as scripts/bootstrap: AUTOSTACK_PYTHON, python3.12, pyenv's 3.12, python3."""
    candidates = [os.environ.get("AUTOSTACK_PYTHON"), "python3.12"]
    pyenv = shutil.which("pyenv")
    if pyenv:
        root = subprocess.run([pyenv, "root"], capture_output=True, text=True).stdout.strip()
        candidates += [str(p / "bin" / "python3") for p in sorted(Path(root, "versions").glob("3.12*"))] if root else []
    candidates += ["/usr/bin/python3.12", "/usr/local/bin/python3.12", "python3"]
    for candidate in filter(None, candidates):
        exe = shutil.which(candidate) or candidate
        try:
            check = subprocess.run([exe, "-c", "import sys; sys.exit(0 if sys.version_info[:2] == (3, 12) else 1)"],
                                   capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if check.returncode == 0:
            return exe
    return None


def focus_converter_executable(venv: Path) -> Path:
    return venv / "bin" / "focus-converter"


def ensure_focus_converter(venv: Path) -> Path:
    """focus-converter 1.0.0 in its own virtualenv (never in .venv: it pins polars 0.20 and numpy<2)."""
    exe = focus_converter_executable(venv)
    if exe.exists():
        return exe
    python = find_python312()
    if python is None:
        raise RuntimeError("focus-converter needs Python 3.12; set AUTOSTACK_PYTHON to a 3.12 interpreter")
    print(f"creating {venv} with {python} and {' '.join(FOCUS_CONVERTER_REQUIREMENTS)} ...", file=sys.stderr)
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                          *FOCUS_CONVERTER_REQUIREMENTS], capture_output=True, text=True)
    if pip.returncode != 0:
        raise RuntimeError(f"pip could not install {' '.join(FOCUS_CONVERTER_REQUIREMENTS)} into {venv}: "
                           + "\n".join((pip.stderr or pip.stdout).strip().splitlines()[-10:]))
    return exe


def focus_converter_version(venv: Path) -> str:
    out = subprocess.run([str(venv / "bin" / "python"), "-c",
                          "from importlib.metadata import version as v; print(v('focus-converter'), v('polars'), v('pyarrow'))"],
                         capture_output=True, text=True)
    parts = out.stdout.split()
    return f"{parts[0]} (polars {parts[1]}, pyarrow {parts[2]})" if len(parts) == 3 else "unknown"


def parquet_rows(folder: Path) -> int | None:
    import duckdb

    files = list(folder.glob("*.parquet"))
    if not files:
        return None
    con = duckdb.connect()
    try:
        return con.execute(f"SELECT count(*) FROM read_parquet({[str(f) for f in files]!r})").fetchall()[0][0]
    finally:
        con.close()


# --------------------------------------------------------------------------- one size
def self_command(*args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "_stage", *args]


def dbt_command(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "dbt"), *args, "--project-dir", str(DBT_PROJECT_DIR),
            "--profiles-dir", str(DBT_PROJECT_DIR)]


def model_timings(target: Path) -> list[tuple[str, str, float]]:
    path = target / "run_results.json"
    if not path.exists():
        return []
    results = json.loads(path.read_text()).get("results", [])
    return sorted(((r["unique_id"], r.get("status", ""), float(r.get("execution_time") or 0)) for r in results),
                  key=lambda r: r[2], reverse=True)


def row_from(m: Measurement, tool: str, stage: str, rows: int, notes: str = "") -> ResultRow:
    cap = m.extra.get("killed_at_rss_cap_bytes")
    if not m.ok:
        reason = "timed out" if m.timed_out else (f"killed after {m.seconds:.0f} s when its memory passed the cap" if cap
                                                 else f"FAILED (exit {m.returncode})")
        notes = f"{reason}; {notes}".strip("; ")
    if m.extra.get("cpu_seconds") is not None:
        notes = f"{notes}; CPU {m.extra['cpu_seconds']:.1f} s (user+sys), load avg {m.extra['load_average_1m_after']:.1f}".strip("; ")
    return ResultRow(tool, stage, rows, m.seconds, None if cap else m.peak_rss_bytes, notes, completed=m.ok, killed_at_bytes=cap)


def run_size(rows: int, input_path: Path, args) -> dict:
    work = Path(args.work_dir) / f"cur_to_focus_{rows}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    home = work / "autostack-home"
    target = home / "dbt-target"
    cap = int(args.rss_cap_gb * GB) if args.rss_cap_gb else None
    timeout = args.timeout
    env = {**os.environ, "AUTOSTACK_HOME": str(home), "AUTOSTACK_WAREHOUSE_PATH": str(home / "warehouse" / "autostack.duckdb"),
           "DBT_TARGET_PATH": str(target), "DBT_LOG_PATH": str(home / "dbt-logs"), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    result_rows: list[ResultRow] = []
    failures: list[str] = []
    details: dict = {"rows": rows, "input": str(input_path), "input_bytes": input_path.stat().st_size}

    def note_failure(m: Measurement) -> None:
        if not m.ok:
            failures.append(m.failure() if "killed_at_rss_cap_bytes" not in m.extra else
                            f"{m.label}: killed after {m.seconds:.0f} s when its memory passed {cap / GB:.0f} GB")
            print(failures[-1], file=sys.stderr)

    # (a) AutoStack, stage by stage
    print(f"[{rows:,}] AutoStack: load", file=sys.stderr)
    load = measure("autostack load", self_command("load", "--home", str(home), "--input", str(input_path),
                                                  "--out", str(work / "load.json")), timeout=timeout, env=env, rss_cap_bytes=cap)
    note_failure(load)
    load_info = json.loads((work / "load.json").read_text()) if (work / "load.json").exists() else {}
    details["load"] = load_info
    if load_info.get("outcome") not in (None, "loaded"):
        failures.append(f"load: {load_info.get('outcome')}: {load_info.get('error')}")
    result_rows.append(row_from(load, "AutoStack", "load_file → raw.aws_cur", rows, "fresh warehouse, one transaction, checkpointed"))
    stages = [load]
    dbt_rows = []
    if load.ok:
        # Seeds and models in one dbt process, as the ingest job's `dbt build` does (each dbt process
        # costs ~4 s of start-up and parse before any SQL runs).
        for label, cmd, stage in (
            ("dbt run", dbt_command("build", "--select", f"+{FOCUS_MODEL}", "--exclude-resource-type", "test", "unit_test"),
             f"dbt build --select +{FOCUS_MODEL}, no tests (seeds + models) → focus.{FOCUS_MODEL}"),
        ):
            print(f"[{rows:,}] AutoStack: {label}", file=sys.stderr)
            m = measure(f"autostack {label}", cmd, timeout=timeout, env=env, cwd=DBT_PROJECT_DIR, rss_cap_bytes=cap)
            note_failure(m)
            result_rows.append(row_from(m, "AutoStack", stage, rows))
            stages.append(m)
            if label == "dbt run" and m.ok:
                details["dbt_run_models"] = model_timings(target)
            if not m.ok:
                break
    total_ok = all(s.ok for s in stages) and len(stages) == 2
    caps = [s.extra["killed_at_rss_cap_bytes"] for s in stages if "killed_at_rss_cap_bytes" in s.extra]
    total = ResultRow("AutoStack", "total: load + seed + run → focus.costs_v1_2", rows, sum(s.seconds for s in stages),
                      max((s.peak_rss_bytes or 0) for s in stages) or None,
                      "sum of the stages (load, dbt build); peak = the largest stage" + ("" if total_ok else "; INCOMPLETE: a stage did not finish"),
                      completed=total_ok, killed_at_bytes=caps[0] if caps else None)
    result_rows.append(total)
    if total_ok and not args.skip_dbt_tests:
        print(f"[{rows:,}] AutoStack: dbt test", file=sys.stderr)
        m = measure("autostack dbt test", dbt_command("test", "--select", f"+{FOCUS_MODEL}"), timeout=timeout, env=env,
                    cwd=DBT_PROJECT_DIR, rss_cap_bytes=cap)
        note_failure(m)
        details["dbt_test_nodes"] = model_timings(target)[:10]
        result_rows.append(row_from(m, "AutoStack", f"dbt test --select +{FOCUS_MODEL} (data + unit tests)", rows))
        dbt_rows.append(m)
        result_rows.append(ResultRow("AutoStack", "total incl. dbt tests", rows, total.seconds + m.seconds,
                                     max(total.peak_rss_bytes or 0, m.peak_rss_bytes or 0) or None,
                                     "" if m.ok else "INCOMPLETE", completed=m.ok))
    if total_ok and args.profile:
        print(f"[{rows:,}] AutoStack: EXPLAIN ANALYZE", file=sys.stderr)
        m = measure("profile", self_command("profile", "--home", str(home), "--input", str(input_path), "--target", str(target),
                                            "--out", str(work / "profile.json")), timeout=timeout, env=env, rss_cap_bytes=cap)
        note_failure(m)
        if (work / "profile.json").exists():
            details["profiles"] = json.loads((work / "profile.json").read_text())

    # (b) focus-converter
    fc_rows: list[ResultRow] = []
    if args.focus_converter != "skip":
        venv = Path(args.focus_converter_venv)
        try:
            exe = ensure_focus_converter(venv) if args.focus_converter == "auto" else focus_converter_executable(venv)
            if not exe.exists():
                raise RuntimeError(f"{exe} does not exist (run once with --focus-converter auto to create it)")
            details["focus_converter_version"] = focus_converter_version(venv)
        except (RuntimeError, subprocess.CalledProcessError) as exc:
            failures.append(f"focus-converter: not available: {exc}")
            exe = None
        if exe is not None:
            for mode, cmd_args, stage in (
                ("auto", ["convert-auto"], "convert-auto (pyarrow dataset, 50k-row batches) → Parquet"),
                ("file", ["convert", "--provider", "aws", "--data-format", "parquet", "--parquet-data-format", "file"],
                 "convert --parquet-data-format file (one polars frame) → Parquet"),
            ):
                out_dir = work / f"focus-converter-{mode}"
                print(f"[{rows:,}] focus-converter {mode}", file=sys.stderr)
                m = measure(f"focus-converter {mode}", [str(exe), *cmd_args, "--data-path", str(input_path),
                                                        "--export-path", str(out_dir)],
                            timeout=timeout, env={**os.environ, "POLARS_MAX_THREADS": str(os.cpu_count())}, rss_cap_bytes=cap)
                note_failure(m)
                written = parquet_rows(out_dir) if m.ok else None
                if m.ok and written != rows:
                    failures.append(f"focus-converter {mode}: wrote {written} rows, expected {rows}")
                fc_rows.append(row_from(m, "focus-converter", stage, rows, f"{written:,} rows written" if written is not None else ""))
                shutil.rmtree(out_dir, ignore_errors=True)
        result_rows += fc_rows

    # (c) the floor
    print(f"[{rows:,}] floor: bare DuckDB load", file=sys.stderr)
    floor = measure("duckdb floor", self_command("floor", "--db", str(work / "floor.duckdb"), "--input", str(input_path),
                                                 "--out", str(work / "floor.json")), timeout=timeout, rss_cap_bytes=cap)
    note_failure(floor)
    floor_row = row_from(floor, "DuckDB (floor)", "CREATE TABLE AS SELECT * FROM read_parquet → DuckDB file", rows)
    result_rows.append(floor_row)

    details["result_rows"] = [bench_lib.as_dict(r) for r in result_rows]
    details["comparison"] = comparison(total if total_ok else None, fc_rows, floor_row if floor.ok else None, rows)
    details["failures"] = failures
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return {"rows": result_rows, "details": details, "failures": failures}


def comparison(autostack: ResultRow | None, fc_rows: list[ResultRow], floor: ResultRow | None, rows: int) -> dict:
    """Ratios and the issue's targets. focus-converter's best run on each axis is the bar."""
    out: dict = {"targets": []}
    ok_fc = [r for r in fc_rows if r.completed]
    if autostack is None:
        out["targets"].append("AutoStack did not complete: no ratio can be computed; every target at this size is MISSED")
        return out
    if ok_fc:
        best_speed = max(r.rows_per_second for r in ok_fc)
        best_memory = min(r.peak_rss_bytes for r in ok_fc if r.peak_rss_bytes)
        speed_ratio = autostack.rows_per_second / best_speed
        memory_ratio = autostack.peak_rss_bytes / best_memory if autostack.peak_rss_bytes else float("nan")
        out["speed_vs_focus_converter"] = speed_ratio
        out["memory_vs_focus_converter"] = memory_ratio
        out["targets"].append(
            f"rows/s ≥ 5× focus-converter's best ({best_speed:,.0f} rows/s): AutoStack {autostack.rows_per_second:,.0f} rows/s = "
            f"{speed_ratio:.2f}× — {'met' if speed_ratio >= 5 else f'MISSED: needs {5 / speed_ratio:.1f}× faster'}")
        out["targets"].append(
            f"peak RSS ≤ ¼ of focus-converter's lowest ({best_memory / 1e6:,.0f} MB): AutoStack {autostack.peak_rss_bytes / 1e6:,.0f} MB = "
            f"{memory_ratio:.2f}× — {'met' if memory_ratio <= 0.25 else f'MISSED: needs {memory_ratio / 0.25:.1f}× less memory'}")
    elif fc_rows:
        out["targets"].append("focus-converter did not complete at this size: " + "; ".join(f"{r.stage}: {r.notes}" for r in fc_rows))
    if floor is not None:
        floor_ratio = autostack.seconds / floor.seconds
        out["time_vs_floor"] = floor_ratio
        out["targets"].append(
            f"within 1.5× of the bare DuckDB load ({floor.seconds:.1f} s): AutoStack {autostack.seconds:.1f} s = {floor_ratio:.2f}× — "
            f"{'met' if floor_ratio <= 1.5 else f'MISSED by {autostack.seconds - 1.5 * floor.seconds:.1f} s ({floor_ratio / 1.5:.1f}× over)'}")
    if rows >= 10_000_000:
        ok = autostack.seconds <= 60 and (autostack.peak_rss_bytes or 0) <= 3 * GB
        out["targets"].append(
            f"10M rows ≤ 60 s and ≤ 3 GB: {autostack.seconds:.1f} s, {(autostack.peak_rss_bytes or 0) / GB:.2f} GB — "
            f"{'met' if ok else 'MISSED'}")
    return out


def comparison_table(result_rows: list[ResultRow]) -> str:
    totals = [r for r in result_rows if r.tool != "AutoStack" or r.stage.startswith("total")]
    fc = [r for r in totals if r.tool == "focus-converter" and r.completed]
    floor = next((r for r in totals if r.tool.startswith("DuckDB") and r.completed), None)
    rows = []
    for r in totals:
        if not r.completed:
            rows.append([f"{r.tool}: {r.stage}", f"{r.rows:,}", f"{r.seconds:.2f}", "—", r.cells()[5],
                         "did not finish", "did not finish"])
            continue
        vs_fc = "; ".join(f"{r.rows_per_second / f.rows_per_second:.2f}× rows/s, "
                          f"{(r.peak_rss_bytes or 0) / f.peak_rss_bytes:.2f}× RSS vs {f.stage.split(' ')[0]}"
                          for f in fc if f is not r and f.peak_rss_bytes) if r.tool != "focus-converter" else ""
        vs_floor = f"{r.seconds / floor.seconds:.2f}× time, {(r.peak_rss_bytes or 0) / floor.peak_rss_bytes:.2f}× RSS" \
            if floor and floor is not r and floor.peak_rss_bytes else ""
        rows.append([f"{r.tool}: {r.stage}", f"{r.rows:,}", f"{r.seconds:.2f}", f"{r.rows_per_second:,.0f}",
                     f"{(r.peak_rss_bytes or 0) / 1e6:,.0f}", vs_fc, vs_floor])
    return markdown_table(["tool", "rows", "seconds", "rows/s", "peak RSS (MB)", "vs focus-converter", "vs floor"], rows)


def where_time_goes(details: dict) -> list[tuple[str, str]]:
    tables = []
    statements = details.get("load", {}).get("statements") or []
    if statements:
        total = sum(s for _, s in statements) or 1
        top = sorted(statements, key=lambda s: s[1], reverse=True)[:6]
        tables.append((f"{details['rows']:,} rows — load_file: the slowest of its {len(statements)} statements",
                       markdown_table(["statement", "seconds", "share"], [[sql, f"{s:.2f}", f"{s / total:.0%}"] for sql, s in top])))
    models = [m for m in details.get("dbt_run_models") or [] if m[0].startswith("model.")]
    if models:
        tables.append((f"{details['rows']:,} rows — dbt run: time per model (run_results.json)",
                       markdown_table(["model", "status", "seconds"], [[u, st, f"{s:.2f}"] for u, st, s in models[:6]])))
    tests = details.get("dbt_test_nodes") or []
    if tests:
        tables.append((f"{details['rows']:,} rows — dbt test: slowest tests",
                       markdown_table(["test", "status", "seconds"], [[u, st, f"{s:.2f}"] for u, st, s in tests[:6]])))
    from profile_sql import markdown as profile_markdown

    for prof in details.get("profiles") or []:
        tables.append((f"{details['rows']:,} rows — EXPLAIN ANALYZE", profile_markdown(prof)))
    return tables


# --------------------------------------------------------------------------- main
def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--rows", type=int, action="append", help="rows of CUR to convert (repeatable); default 1,000,000")
    parser.add_argument("--input", type=Path, help="use this CUR Parquet file instead of a generated one (one size)")
    parser.add_argument("--results", type=Path, default=DOCS_RESULTS, help="markdown file the results are appended to")
    parser.add_argument("--json", type=Path, help="also write every measurement as JSON here")
    parser.add_argument("--work-dir", type=Path, default=DATA_DIR / "work")
    parser.add_argument("--focus-converter", choices=["auto", "existing", "skip"], default="auto",
                        help="auto: create its virtualenv if missing; existing: use it only if present; skip")
    parser.add_argument("--focus-converter-venv", type=Path, default=FOCUS_CONVERTER_VENV)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per measured process")
    parser.add_argument("--rss-cap-gb", type=float, default=20, help="kill a measured process group above this RSS (0: no cap)")
    parser.add_argument("--skip-dbt-tests", action="store_true")
    parser.add_argument("--no-profile", dest="profile", action="store_false")
    parser.add_argument("--keep", action="store_true", help="keep the scratch warehouses in --work-dir")
    parser.add_argument("--from-json", type=Path, help="render the section again from a --json file of an earlier run (no measuring)")
    return parser.parse_args(argv)


def stage_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("stage", choices=["load", "floor", "profile"])
    parser.add_argument("--home", type=Path)
    parser.add_argument("--db", type=Path)
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--target", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    a = parser.parse_args(argv)
    if a.stage == "load":
        return stage_load(a.home, a.input, a.out)
    if a.stage == "floor":
        return stage_floor(a.db, a.input, a.out)
    return stage_profile(a.home, a.input, a.target, a.out)


def render(details: list[dict], versions: dict[str, str], command: str) -> str:
    """The markdown section for one run of this benchmark (every size it measured)."""
    all_rows: list[ResultRow] = []
    tables: list[tuple[str, str]] = []
    notes: list[str] = []
    for d in details:
        rows = [ResultRow.from_dict(r) for r in d["result_rows"]]
        all_rows += rows
        tables.append((f"{d['rows']:,} rows — comparison (totals)", comparison_table(rows)))
        tables += where_time_goes(d)
        total = next((r for r in rows if r.tool == "AutoStack" and r.stage.startswith("total: load") and r.completed), None)
        floor = next((r for r in rows if r.tool.startswith("DuckDB") and r.completed), None)
        targets = comparison(total, [r for r in rows if r.tool == "focus-converter"], floor, d["rows"])["targets"]
        notes += [f"{d['rows']:,} rows: {t}" for t in targets]
        notes += [f"{d['rows']:,} rows: problem: {f}" for f in d["failures"]]
    inputs = "; ".join(f"{d['rows']:,} rows: {Path(d['input']).name} ({d['input_bytes'] / 1e6:,.0f} MB)" for d in details)
    notes.insert(0, f"Input (legacy CUR, Athena/Parquet snake_case, benchmarks/cur_data.py): {inputs}")
    return bench_lib.results_section("AWS CUR → FOCUS", command, all_rows, tables, versions, notes)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_stage"]:
        return stage_main(argv[1:])
    args = parse_args(argv)
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        section = render(saved["sizes"], saved["versions"], saved.get("command", "(from " + str(args.from_json) + ")"))
        bench_lib.report(args.results, section)
        return 0
    import cur_data

    sizes = args.rows or [1_000_000]
    if args.input and len(sizes) > 1:
        raise SystemExit("--input takes one size")
    details = []
    for rows in sizes:
        if args.input:
            import duckdb

            input_path = args.input.resolve()
            rows = duckdb.connect().execute(f"SELECT count(*) FROM read_parquet('{input_path}')").fetchall()[0][0]
        else:
            print(f"[{rows:,}] input: {cur_data.default_path(rows)}", file=sys.stderr)
            input_path = cur_data.ensure(rows)
        details.append(run_size(rows, input_path, args)["details"])
    import dagster
    import dbt.version
    import duckdb

    versions = {"duckdb": duckdb.__version__, "dbt-core": dbt.version.__version__, "dbt-duckdb": bench_lib.package_versions(["dbt-duckdb"])["dbt-duckdb"],
                "dagster": dagster.__version__}
    fc_versions = {d.get("focus_converter_version") for d in details if d.get("focus_converter_version")}
    versions["focus-converter"] = ", ".join(sorted(fc_versions)) or "not run"
    command = "python benchmarks/cur_to_focus.py " + " ".join(argv)
    section = render(details, versions, command)
    bench_lib.append_results(args.results, section)
    if args.json:
        bench_lib.write_json(args.json, {"versions": versions, "command": command, "sizes": details})
    print(section)
    return 1 if any(d["failures"] for d in details) else 0


if __name__ == "__main__":
    sys.exit(main())
