"""Benchmark: exports → published tables, end to end, through the real Dagster job.

    .venv/bin/python benchmarks/end_to_end.py --rows 1000000 [--rows 10000000]
    .venv/bin/python benchmarks/end_to_end.py --input PATH [PATH ...]     # any exports (files or folders)
    .venv/bin/python benchmarks/end_to_end.py --generate [--generate-args "..."]   # `autostack demo-data`

Stages: generate (the input: cur_data.py's CUR Parquet for --rows, or `autostack demo-data` with
--generate) → the `ingest_job` executed in-process with a DagsterInstance under a fresh
AUTOSTACK_HOME: ingest (raw_billing_files, with its great-expectations check) → dbt build (seeds,
staging, intermediate, focus.costs_v1_2, marts, dbt tests; one Dagster step, split here by dbt's
run_results.json) → checks (reconciliation, focus-validator conformance) → publish (serving
snapshot). Stage times come from the run's step events (STEP_START → STEP_SUCCESS); peak RSS per
stage from sampling the job's process tree (/proc, summed over processes) during that step; the
job's overall peak from GNU time. Results are appended to docs/benchmarks.md (or --results).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(1, str(BENCH_DIR.parent))

import bench_lib  # noqa: E402
from bench_lib import DATA_DIR, DOCS_RESULTS, PROJECT_ROOT, ResultRow, markdown_table, measure  # noqa: E402

GB = 1_000_000_000
STAGE_OF_STEP = {
    "raw_billing_files": "ingest",
    "autostack_dbt": "dbt build (staging → focus → marts, tests)",
    "billed_cost_reconciles_to_sources": "check: reconciliation",
    "focus_1_2_conformance": "check: FOCUS 1.2 conformance (focus-validator)",
    "serving_snapshot": "publish: serving snapshot",
}


# --------------------------------------------------------------------------- the job, in a child process
class TreeSampler(threading.Thread):
    """Every `interval` s: (time, summed RSS of this process group) — the job, dbt and the validator."""

    def __init__(self, interval: float = 0.2):
        super().__init__(daemon=True)
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        pgid = os.getpgrp()
        while not self._halt.is_set():
            self.samples.append((time.time(), bench_lib.group_rss_bytes(pgid)))
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)


def stage_job(home: Path, uris: list[str], out: Path) -> int:
    os.environ["AUTOSTACK_HOME"] = str(home)
    sampler = TreeSampler()
    sampler.start()
    import logging

    from autostack.cli import prepare_dagster_home
    from autostack.settings import get_settings

    settings = get_settings()
    prepare_dagster_home(settings)
    logging.getLogger("dagster").setLevel(logging.WARNING)
    started = time.time()
    from dagster import DagsterInstance

    from orchestration.definitions import INGEST_JOB, build_definitions

    defs = build_definitions(settings)
    job = defs.resolve_job_def(INGEST_JOB)
    definitions_done = time.time()
    with DagsterInstance.get() as instance:
        result = job.execute_in_process(
            run_config={
                "ops": {"raw_billing_files": {"config": {"uris": uris, "force": True}}},
                "loggers": {"console": {"config": {"log_level": "WARNING"}}},
            },
            instance=instance,
            raise_on_error=False,
            tags={"autostack/trigger": "benchmark"},
        )
        finished = time.time()
        steps: dict[str, dict] = {}
        checks, failures, rows_loaded = [], [], 0
        for entry in instance.all_logs(result.run_id):
            event = entry.dagster_event
            if event is None or not entry.step_key:
                continue
            step = steps.setdefault(entry.step_key, {"step": entry.step_key})
            kind = event.event_type_value
            if kind == "STEP_START":
                step["start"] = entry.timestamp
            elif kind in ("STEP_SUCCESS", "STEP_FAILURE"):
                step["end"] = entry.timestamp
                step["outcome"] = "success" if kind == "STEP_SUCCESS" else "failure"
                if kind == "STEP_FAILURE":
                    failures.append(f"{entry.step_key}: {event.event_specific_data.error.message.strip()[:500]}")
            elif kind == "ASSET_CHECK_EVALUATION":
                evaluation = event.event_specific_data
                checks.append({"step": entry.step_key, "check": evaluation.check_name, "passed": evaluation.passed,
                               "description": (evaluation.description or "")[:300]})
            elif kind == "ASSET_MATERIALIZATION":
                mat = event.event_specific_data.materialization
                if mat.asset_key.path == ["ingest", "file_loads"] and "rows_loaded" in mat.metadata:
                    rows_loaded = int(mat.metadata["rows_loaded"].value)
    sampler.stop()
    for step in steps.values():
        window = [rss for t, rss in sampler.samples
                  if step.get("start", 0) - sampler.interval <= t <= step.get("end", finished) + sampler.interval]
        step["peak_tree_rss_bytes"] = max(window) if window else None
    focus_rows = None
    if settings.serving_path.exists():
        import duckdb

        con = duckdb.connect(str(settings.serving_path), read_only=True)
        try:
            focus_rows = con.execute("SELECT count(*) FROM focus.costs").fetchall()[0][0]
        finally:
            con.close()
    bench_lib.write_json(out, {
        "run_id": result.run_id, "success": result.success, "started": started, "definitions_done": definitions_done,
        "finished": finished, "steps": sorted(steps.values(), key=lambda s: s.get("start", 0)), "checks": checks,
        "failures": failures, "rows_loaded": rows_loaded, "focus_rows": focus_rows,
        "peak_tree_rss_bytes": max((rss for _, rss in sampler.samples), default=None),
        "dbt_nodes": dbt_node_times([settings.dbt_target_dir, PROJECT_ROOT / "dbt_project" / "target"], started),
    })
    return 0 if result.success and not failures else 1


def dbt_node_times(target_dirs: list[Path], since: float) -> list[tuple[str, str, float]]:
    """dbt's own per-node times, from the newest run_results.json dagster-dbt wrote during this run.

    dagster-dbt writes each invocation's target to `<target path>/<op>-<id>/`; in this version that is
    the dbt project's own `target/` folder rather than the settings' dbt target folder, so both are searched.
    """
    found = sorted((p for d in target_dirs if Path(d).exists() for p in Path(d).rglob("run_results.json")
                    if p.stat().st_mtime >= since), key=lambda p: p.stat().st_mtime)
    if not found:
        return []
    results = json.loads(found[-1].read_text()).get("results", [])
    return [(r["unique_id"], r.get("status", ""), float(r.get("execution_time") or 0)) for r in results]


def dbt_layer(unique_id: str) -> str:
    kind, name = unique_id.split(".")[0], unique_id.split(".")[-1]
    if kind == "seed":
        return "seeds (reference data)"
    if kind in ("test", "unit_test"):
        return "dbt tests (data and unit)"
    if name.startswith("stg_"):
        return "staging (views)"
    if name.startswith("int_"):
        return "intermediate (views)"
    if name.startswith("costs"):
        return "focus.costs_v1_2 / focus.costs"
    return "marts"


# --------------------------------------------------------------------------- generate
def demo_data_available() -> bool:
    try:
        import autostack.demo  # noqa: F401
    except ImportError:
        return False
    from autostack.cli import build_parser

    return "demo-data" in build_parser().format_help()


def generate_demo(out_dir: Path, extra: str, timeout: float):
    """`autostack demo-data` (the demo estate generator), measured like any other stage."""
    if not demo_data_available():
        raise SystemExit("--generate needs `autostack demo-data` (autostack/demo); it is not available in this checkout yet. "
                         "Use --rows N (a generated CUR Parquet) or --input PATH instead.")
    args = shlex.split(extra.format(out=out_dir))
    return measure("generate", [sys.executable, "-m", "autostack.cli", "demo-data", *args], timeout=timeout)


# --------------------------------------------------------------------------- one run
def run_once(label: str, rows: int | None, inputs: list[Path], args, generate_measurement=None) -> dict:
    work = Path(args.work_dir) / f"end_to_end_{label}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    home = work / "autostack-home"
    cap = int(args.rss_cap_gb * GB) if args.rss_cap_gb else None
    command = [sys.executable, str(Path(__file__).resolve()), "_job", "--home", str(home), "--out", str(work / "job.json"),
               *[str(p) for p in inputs]]
    print(f"[{label}] ingest_job on {', '.join(map(str, inputs))}", file=sys.stderr)
    env = {k: v for k, v in os.environ.items() if k not in ("AUTOSTACK_LANDING_DIRS", "AUTOSTACK_S3_SOURCES", "DAGSTER_HOME")}
    job = measure("ingest_job", command, timeout=args.timeout, env=env, rss_cap_bytes=cap)
    info = json.loads((work / "job.json").read_text()) if (work / "job.json").exists() else {}
    failures = list(info.get("failures", []))
    if not job.ok:
        failures.append(job.failure())
    rows = rows or info.get("rows_loaded") or 0
    result_rows: list[ResultRow] = []
    if generate_measurement is not None:
        result_rows.append(ResultRow("generate", "autostack demo-data", rows, generate_measurement.seconds,
                                     generate_measurement.peak_rss_bytes, "" if generate_measurement.ok else "FAILED"))
    elif args.generated_seconds is not None:
        result_rows.append(ResultRow("generate", "benchmarks/cur_data.py (CUR Parquet)", rows,
                                     args.generated_seconds, None, "in-process DuckDB COPY; not part of the job"))
    if info:
        result_rows.append(ResultRow("ingest_job", "startup: Dagster definitions (dbt manifest parse)", rows,
                                     info["definitions_done"] - info["started"], None, ""))
        checks_by_step = defaultdict(list)
        for c in info["checks"]:
            checks_by_step[c["step"]].append(c)
        for step in info["steps"]:
            seconds = (step.get("end") or info["finished"]) - step.get("start", info["finished"])
            checks = checks_by_step.get(step["step"], [])
            failed = [c["check"] for c in checks if not c["passed"]]
            note = (f"{len(checks) - len(failed)} of {len(checks)} checks passed" if checks else "") + (
                f"; FAILED: {', '.join(failed)}" if failed else "")
            if step.get("outcome") != "success":
                note = f"{step.get('outcome', 'not finished')}; {note}".strip("; ")
            stage = next((name for key, name in STAGE_OF_STEP.items() if step["step"] == key or step["step"].endswith("_" + key)),
                         step["step"])
            result_rows.append(ResultRow("ingest_job", stage, rows, seconds,
                                         step.get("peak_tree_rss_bytes"), note))
    tree_peak = info.get("peak_tree_rss_bytes") if info else None
    result_rows.append(ResultRow("ingest_job", "total (process: imports, definitions, run)", rows, job.seconds,
                                 job.peak_rss_bytes, (f"focus.costs rows published: {info.get('focus_rows')}; all processes "
                                                      f"at once peaked at {(tree_peak or 0) / 1e6:,.0f} MB") if info else "no run"))
    layers: dict[str, float] = defaultdict(float)
    for unique_id, _status, seconds in info.get("dbt_nodes", []):
        layers[dbt_layer(unique_id)] += seconds
    slowest = sorted(info.get("dbt_nodes", []), key=lambda n: n[2], reverse=True)[:8]
    targets = []
    if rows >= 10_000_000 and info:
        ingest_to_focus = sum(r.seconds for r in result_rows if r.stage in ("ingest",)) + sum(
            s for layer, s in layers.items() if layer not in ("dbt tests (data and unit)", "marts"))
        targets.append(f"10M billing rows → focus.costs ≤ 60 s: ingest + dbt up to focus.costs ≈ {ingest_to_focus:.0f} s — "
                       f"{'met' if ingest_to_focus <= 60 else 'MISSED'}")
        targets.append(f"end to end incl. marts and checks ≤ 120 s: {job.seconds:.0f} s — {'met' if job.seconds <= 120 else 'MISSED'}")
        targets.append(f"≤ 3 GB peak RSS: {(job.peak_rss_bytes or 0) / GB:.2f} GB (largest process), "
                       f"{(info.get('peak_tree_rss_bytes') or 0) / GB:.2f} GB (all processes at once) — "
                       f"{'met' if (info.get('peak_tree_rss_bytes') or 0) <= 3 * GB else 'MISSED'}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return {"label": label, "rows": rows, "result_rows": result_rows, "layers": dict(layers), "slowest": slowest,
            "checks": info.get("checks", []), "failures": failures, "targets": targets, "run_id": info.get("run_id")}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--rows", type=int, action="append", help="billing rows of generated CUR Parquet (repeatable)")
    source.add_argument("--input", type=Path, nargs="+", help="export files or folders to ingest")
    source.add_argument("--generate", action="store_true", help="generate the demo estate with `autostack demo-data`")
    parser.add_argument("--generate-args", default="--out {out}",
                        help="arguments for `autostack demo-data` ({out}: its folder), e.g. \"--out {out} --scale 7\"; "
                             "rows are counted as the job loads them")
    parser.add_argument("--results", type=Path, default=DOCS_RESULTS)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--work-dir", type=Path, default=DATA_DIR / "work")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--rss-cap-gb", type=float, default=20)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    args.generated_seconds = None
    return args


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_job"]:
        p = argparse.ArgumentParser()
        p.add_argument("--home", type=Path, required=True)
        p.add_argument("--out", type=Path, required=True)
        p.add_argument("uris", nargs="+")
        a = p.parse_args(argv[1:])
        return stage_job(a.home, a.uris, a.out)
    args = parse_args(argv)
    runs = []
    if args.generate:
        out_dir = Path(args.work_dir) / "demo-estate"
        shutil.rmtree(out_dir, ignore_errors=True)
        gen = generate_demo(out_dir, args.generate_args, args.timeout)
        if not gen.ok:
            raise SystemExit(gen.failure())
        runs.append(run_once("demo", None, [out_dir], args, gen))
    elif args.input:
        inputs = [p.resolve() for p in args.input]
        missing = [str(p) for p in inputs if not p.exists()]
        if missing:
            raise SystemExit(f"input not found: {', '.join(missing)}")
        runs.append(run_once("input", None, inputs, args))
    else:
        import cur_data

        for rows in args.rows or [1_000_000]:
            path = cur_data.default_path(rows)
            args.generated_seconds = None  # a cached input is not timed again
            if not path.exists():
                started = time.perf_counter()
                cur_data.generate(rows, path)
                args.generated_seconds = time.perf_counter() - started
            runs.append(run_once(str(rows), rows, [path], args))

    import dagster
    import dbt.version
    import duckdb

    versions = {"duckdb": duckdb.__version__, "dbt-core": dbt.version.__version__, "dagster": dagster.__version__,
                "dagster-dbt": bench_lib.package_versions(["dagster-dbt"])["dagster-dbt"]}
    all_rows = [r for run in runs for r in run["result_rows"]]
    tables, notes = [], []
    for run in runs:
        if run["layers"]:
            tables.append((f"{run['rows']:,} rows — inside the dbt step: dbt's execution time by layer (run_results.json)",
                           markdown_table(["layer", "seconds"], [[k, f"{v:.2f}"] for k, v in sorted(run["layers"].items(), key=lambda kv: -kv[1])])))
            tables.append((f"{run['rows']:,} rows — slowest dbt nodes",
                           markdown_table(["node", "status", "seconds"], [[u, s, f"{t:.2f}"] for u, s, t in run["slowest"]])))
        notes += [f"{run['rows']:,} rows: {t}" for t in run["targets"]]
        notes += [f"{run['rows']:,} rows: problem: {f[:600]}" for f in run["failures"]]
    notes.append("Peak RSS per stage: the job's process tree summed (the in-process run, dbt's subprocess, the validator's) "
                 "sampled every 0.2 s during that step; total: GNU time's maximum RSS of the largest single process.")
    section = bench_lib.results_section("End to end: exports → published tables (ingest_job)",
                                        "python benchmarks/end_to_end.py " + " ".join(argv), all_rows, tables, versions, notes)
    bench_lib.append_results(args.results, section)
    if args.json:
        bench_lib.write_json(args.json, [{**run, "result_rows": [bench_lib.as_dict(r) for r in run["result_rows"]]} for run in runs])
    print(section)
    return 1 if any(run["failures"] for run in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
