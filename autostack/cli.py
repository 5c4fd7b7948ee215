"""The `autostack` command: start everything, load exports, query and export the published data.

The CLI sits on top of the stack: it may import orchestration to run jobs in-process (the runs
are recorded in the Dagster instance under AUTOSTACK_HOME, so the UI shows them).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from autostack.settings import PROJECT_ROOT, SAMPLES_DIR, Settings, get_settings

DAGSTER_YAML = """\
# Written by `autostack`; edit AUTOSTACK_HOME to move it. Runs that write the warehouse share the
# `warehouse` pool with limit 1: DuckDB allows one writing process at a time.
telemetry:
  enabled: false
# No "join the community" / newsletter dialog on a user's first visit to the UI.
nux:
  enabled: false
concurrency:
  pools:
    default_limit: 1
    granularity: op
"""

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class CliError(Exception):
    """A problem the user can fix; printed without a traceback."""


# --------------------------------------------------------------------------- environment
def prepare_dagster_home(settings: Settings) -> None:
    settings.ensure_dirs()
    config = settings.dagster_home / "dagster.yaml"
    if not config.exists() or config.read_text() != DAGSTER_YAML:
        config.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(settings.dagster_home)
    os.environ.setdefault("AUTOSTACK_HOME", str(settings.home))


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- runs
def run_ingest(settings: Settings, uris: list[str], *, force: bool = False) -> int:
    """Load the given files (or every configured source) and rebuild everything downstream, blocking."""
    import logging

    from dagster import DagsterInstance

    from orchestration.definitions import INGEST_JOB, build_definitions

    prepare_dagster_home(settings)
    logging.getLogger("dagster").setLevel(logging.WARNING)
    _progress(f"autostack: loading {len(uris) or 'all configured'} source(s) into {settings.warehouse_path}")
    started = time.monotonic()
    defs = build_definitions(settings)
    job = defs.resolve_job_def(INGEST_JOB)
    instance = DagsterInstance.get()
    result = job.execute_in_process(
        run_config={
            "ops": {"raw_billing_files": {"config": {"uris": uris, "force": force}}},
            "loggers": {"console": {"config": {"log_level": "WARNING"}}},
        },
        instance=instance,
        raise_on_error=False,
        tags={"autostack/trigger": "cli"},
    )
    failed = _report_run(result)
    _progress(f"autostack: run {result.run_id} finished in {time.monotonic() - started:.1f} s "
              f"({'with problems' if failed else 'ok'}); see it in the Dagster UI")
    return EXIT_FAILED if failed else EXIT_OK


def _report_run(result) -> bool:
    failed = not result.success
    passed_checks = 0
    for event in result.all_events:
        if event.event_type_value == "ASSET_MATERIALIZATION":
            mat = event.event_specific_data.materialization
            if mat.asset_key.path == ["ingest", "file_loads"]:
                for entry in mat.metadata.get("results").value if "results" in mat.metadata else []:
                    _print_file_result(entry)
                    failed |= entry["outcome"] == "quarantined"
        elif event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
            if evaluation.passed:
                passed_checks += 1
            else:
                failed = True
                _progress(f"  check FAILED  {name}: {evaluation.description or ''}")
        elif event.event_type_value == "STEP_FAILURE":
            failed = True
            _progress(f"  step FAILED   {event.step_key}: {event.event_specific_data.error.message.strip()[:2000]}")
    _progress(f"  {passed_checks} check(s) passed")
    return failed


def _print_file_result(entry: dict) -> None:
    outcome = entry["outcome"]
    if outcome == "loaded":
        _progress(f"  loaded        {entry['uri']} ({entry['format']}, {entry['rows']} rows, "
                  f"billed {entry['billed_total'] if entry['billed_total'] is not None else '-'}, periods {', '.join(entry['periods']) or '-'})")
    elif outcome == "unchanged":
        _progress(f"  unchanged     {entry['uri']}")
    else:
        _progress(f"  QUARANTINED   {entry['error']}")


# --------------------------------------------------------------------------- reading the snapshot
def connect_snapshot(settings: Settings):
    import duckdb

    if not settings.serving_path.exists():
        raise CliError(
            f"nothing is published yet ({settings.serving_path} does not exist): run `autostack ingest PATH` "
            "or `autostack up` first"
        )
    return duckdb.connect(str(settings.serving_path), read_only=True)


def _plain(value):
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def shorten(text, width: int) -> str:
    """Text for a table cell at most `width` characters wide, keeping its end (ids end in what differs)."""
    text = "" if text is None else str(text)
    return text if len(text) <= width else "…" + text[-(width - 1):]


def format_rows(columns: Sequence[str], rows: Sequence[Sequence], fmt: str) -> str:
    if fmt == "json":
        return json.dumps([{c: _plain(v) for c, v in zip(columns, row)} for row in rows], indent=2, default=str)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[_plain(v) for v in row] for row in rows])
        return buffer.getvalue().rstrip("\n")
    from tabulate import tabulate

    return tabulate([[_plain(v) for v in row] for row in rows], headers=list(columns), tablefmt="simple",
                    floatfmt=".2f", disable_numparse=False, missingval="NULL")


def cmd_sql(settings: Settings, query: str, fmt: str, max_rows: int) -> int:
    import duckdb

    con = connect_snapshot(settings)
    try:
        cursor = con.execute(query)
        if cursor.description is None:
            return EXIT_OK
        columns = [d[0] for d in cursor.description]
        rows = cursor.fetchmany(max_rows + 1) if fmt == "table" else cursor.fetchall()
    except duckdb.Error as exc:
        raise CliError(f"SQL error: {str(exc).strip()}") from exc
    finally:
        con.close()
    truncated = fmt == "table" and len(rows) > max_rows
    print(format_rows(columns, rows[:max_rows], fmt))
    if truncated:
        _progress(f"(showing the first {max_rows} rows; use --max-rows or --format csv for all)")
    return EXIT_OK


def cmd_export_focus(settings: Settings, out: Path) -> int:
    suffix = "".join(out.suffixes[-2:]).lower() if out.name.lower().endswith(".csv.gz") else out.suffix.lower()
    formats = {".csv": "(FORMAT csv, HEADER true)", ".csv.gz": "(FORMAT csv, HEADER true, COMPRESSION gzip)",
               ".parquet": "(FORMAT parquet, COMPRESSION zstd)"}
    if suffix not in formats:
        raise CliError(f"{out}: unsupported export type {suffix or '(none)'}; use .csv, .csv.gz or .parquet")
    out.parent.mkdir(parents=True, exist_ok=True)
    con = connect_snapshot(settings)
    try:
        target = str(out.resolve()).replace("'", "''")
        con.execute(f"COPY (SELECT * FROM focus.costs ORDER BY ChargePeriodStart, BillingAccountId) TO '{target}' {formats[suffix]}")
        rows = con.execute("SELECT count(*) FROM focus.costs").fetchall()[0][0]
    finally:
        con.close()
    _progress(f"autostack: wrote {rows} FOCUS 1.2 rows to {out}")
    return EXIT_OK


STATUS_QUERIES = {
    "Files": """
        SELECT source_uri AS file, format, outcome, row_count AS rows, round(billed_total, 2) AS billed,
               currency, array_to_string(list_transform(billing_periods, lambda p: strftime(p, '%Y-%m')), ',') AS periods,
               strftime(loaded_at, '%Y-%m-%d %H:%M') AS loaded_at
        FROM (SELECT *, row_number() OVER (PARTITION BY source_uri ORDER BY loaded_at DESC) AS n FROM ingest.file_loads)
        WHERE n = 1 ORDER BY source_uri""",
    "Totals by provider and billing period": """
        SELECT ProviderName AS provider, strftime(BillingPeriodStart, '%Y-%m') AS period, BillingCurrency AS currency,
               count(DISTINCT BillingAccountId) AS accounts, count(*) AS rows,
               round(sum(BilledCost), 2) AS billed_cost, round(sum(EffectiveCost), 2) AS effective_cost
        FROM focus.costs GROUP BY ALL ORDER BY 1, 2""",
}


def cmd_status(settings: Settings) -> int:
    from orchestration.defs.quality import reconciliation_failures, reconciliation_rows

    con = connect_snapshot(settings)
    try:
        for title, query in STATUS_QUERIES.items():
            cursor = con.execute(query)
            print(f"\n{title}\n" + format_rows([d[0] for d in cursor.description], cursor.fetchall(), "table"))
        quarantined = con.execute(
            """SELECT source_uri, error FROM (SELECT *, row_number() OVER (PARTITION BY source_uri ORDER BY loaded_at DESC) n
               FROM ingest.file_loads) WHERE n = 1 AND outcome = 'quarantined' ORDER BY 1"""
        ).fetchall()
        recon = reconciliation_rows(con)
    finally:
        con.close()
    print("\nQuarantined files")
    print("\n".join(f"  {uri}\n    {error}" for uri, error in quarantined) if quarantined else "  none")
    bad = reconciliation_failures(recon)
    print(f"\nReconciliation (published snapshot): {len(recon) - len(bad)} of {len(recon)} file billing periods match their source's billed total to the cent")
    for r in bad:
        print(f"  MISMATCH {r['source_uri']} {r['billing_period']} (accounts {r['billing_account_id']}): "
              f"source {r['source_billed']} vs focus {r['focus_billed']}")
    print("\nChecks (latest run)")
    for line in _latest_check_lines(settings):
        print(f"  {line}")
    return EXIT_OK


def _latest_check_lines(settings: Settings) -> list[str]:
    prepare_dagster_home(settings)
    from dagster import AssetCheckKey, AssetKey, DagsterInstance

    keys = [AssetCheckKey(AssetKey(["focus", "costs_v1_2"]), "billed_cost_reconciles_to_sources"),
            AssetCheckKey(AssetKey(["focus", "costs_v1_2"]), "focus_1_2_conformance"),
            AssetCheckKey(AssetKey(["ingest", "file_loads"]), "files_loaded_without_errors")]
    try:
        with DagsterInstance.get() as instance:
            records = instance.event_log_storage.get_latest_asset_check_execution_by_key(keys)
    except Exception as exc:  # the instance may be missing or locked; status must still print
        return [f"unavailable ({exc})"]
    lines = []
    for key in keys:
        record = records.get(key)
        if record is None:
            lines.append(f"{key.name}: never run")
            continue
        evaluation = record.event.asset_check_evaluation if record.event else None
        when = datetime.fromtimestamp(record.create_timestamp).strftime("%Y-%m-%d %H:%M")
        verdict = record.status.value.lower()
        detail = f" — {evaluation.description}" if evaluation and evaluation.description else ""
        lines.append(f"{key.name}: {verdict} at {when}{detail}")
    return lines


# --------------------------------------------------------------------------- up
def cmd_demo_data(settings: Settings, out: Path | None, months: int, end: date | None, seed: int, scale: float) -> int:
    from autostack.demo.generate import DemoConfig, generate

    if months < 1 or scale <= 0:
        raise CliError(f"--months must be at least 1 and --scale positive (got {months}, {scale})")
    config = DemoConfig(out=out or settings.home / "demo", months=months, seed=seed, scale=scale,
                        **({"end": end} if end else {}))
    summary = generate(config)
    print(f"demo estate {summary.start} .. {summary.end} (seed {summary.seed}, scale {summary.scale:g}) in {summary.out}")
    for export, rows in summary.rows.items():
        print(f"  {export:<18} {rows:>12,} rows")
    print(f"  {'billing rows':<18} {summary.billing_rows:>12,}")
    print(f"  {'metric rows':<18} {summary.metric_rows:>12,}")
    print(f"  {summary.anomalies} anomalies and {summary.waste_items} waste items planted; {summary.files} files "
          f"in {summary.seconds:g} s")
    metrics = Path(summary.out) / "metrics"
    if metrics.resolve() not in settings.metrics_dirs:
        print(f"load it with: AUTOSTACK_METRICS_DIRS={shlex.quote(str(metrics))} autostack ingest "
              f"{shlex.quote(str(Path(summary.out) / 'exports'))}  (the variable lets the recommendations read its "
              "utilization metrics)")
    return EXIT_OK


def seed_landing_with_samples(settings: Settings) -> bool:
    """With no sources configured and an empty landing folder, deliver the shipped samples to it."""
    from orchestration.sources import discover

    if settings.s3_sources or discover(settings):
        return False
    target = settings.default_landing_dir / "samples"
    shutil.copytree(SAMPLES_DIR, target, dirs_exist_ok=True)
    _progress(f"autostack: no exports configured; delivered the shipped samples to {target}")
    from autostack.demo.generate import DemoConfig, generate

    # Metrics and ground truth are Parquet/JSON, which the landing scan would take for exports: they
    # go outside the landing folder.
    demo = generate(DemoConfig(out=settings.home / "demo-truth", exports_dir=settings.default_landing_dir / "demo",
                               truth_dir=settings.home / "demo-truth"))
    _progress(f"autostack: generated the demo estate ({demo.billing_rows:,} billing rows, {demo.start} .. {demo.end}) "
              f"into {settings.default_landing_dir / 'demo'}; its metrics and ground truth are in {settings.home / 'demo-truth'}")
    return True


def app_server_command(host: str, port: int) -> list[str]:
    """The Streamlit server of the web app (headless, on `host`:`port`)."""
    return [sys.executable, "-m", "app.server", "run", str(PROJECT_ROOT / "app" / "main.py"),  # streamlit run, preloaded
            "--server.address", host, "--server.port", str(port), "--server.headless", "true",
            "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer"]


def cmd_up(settings: Settings, serve: bool, host: str, dagster_port: int, app_port: int = 8501) -> int:
    prepare_dagster_home(settings)
    seed_landing_with_samples(settings)
    code = run_ingest(settings, [])
    if not serve:
        return code
    env = {**os.environ, "DAGSTER_HOME": str(settings.dagster_home), "AUTOSTACK_HOME": str(settings.home)}
    bindir = Path(sys.executable).parent
    workspace = str(PROJECT_ROOT / "workspace.yaml")
    logs = settings.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    webserver_log = open(logs / "dagster-webserver.log", "a")
    daemon_log = open(logs / "dagster-daemon.log", "a")
    app_log = open(logs / "app.log", "a")
    processes = [
        subprocess.Popen([str(bindir / "dagster-webserver"), "-w", workspace, "-h", host, "-p", str(dagster_port)],
                         env=env, cwd=PROJECT_ROOT, stdout=webserver_log, stderr=subprocess.STDOUT),
        subprocess.Popen([str(bindir / "dagster-daemon"), "run", "-w", workspace],
                         env=env, cwd=PROJECT_ROOT, stdout=daemon_log, stderr=subprocess.STDOUT),
        subprocess.Popen(app_server_command(host, app_port), env=env, cwd=PROJECT_ROOT, stdout=app_log,
                         stderr=subprocess.STDOUT),
    ]
    _progress(f"autostack: Dagster UI on http://{host}:{dagster_port}; the daemon runs the new_export_files sensor")
    _progress(f"autostack: the app on http://{host}:{app_port}")
    _progress(f"autostack: logs in {logs}; Ctrl-C stops")

    def stop(*_):
        for proc in processes:
            if proc.poll() is None:
                proc.terminate()
        for proc in processes:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()

    signal.signal(signal.SIGTERM, lambda *_: (stop(), sys.exit(0)))
    try:
        while all(proc.poll() is None for proc in processes):
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        stop()
        webserver_log.close()
        daemon_log.close()
        app_log.close()
    return code


# --------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autostack",
        description="AutoStack: multi-cloud billing exports → FOCUS 1.2 in DuckDB, orchestrated by Dagster.",
        epilog="State lives in $AUTOSTACK_HOME (default: .state/ in the project).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser("up", help="load the configured sources (the shipped samples by default), then serve the Dagster UI and the app")
    up.add_argument("--no-serve", action="store_true", help="load and exit instead of serving the UI")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--dagster-port", type=int, default=3000)
    up.add_argument("--app-port", type=int, default=8501)

    ingest = sub.add_parser("ingest", help="load export files or folders (local or s3://) and rebuild everything downstream")
    ingest.add_argument("paths", nargs="+", metavar="PATH")
    ingest.add_argument("--force", action="store_true", help="reload files even if unchanged")

    export = sub.add_parser("export", help="export published data")
    export_sub = export.add_subparsers(dest="dataset", required=True, metavar="DATASET")
    focus = export_sub.add_parser("focus", help="the FOCUS 1.2 dataset as loaded, to .csv, .csv.gz or .parquet")
    focus.add_argument("out", type=Path, metavar="OUT")

    sub.add_parser("status", help="what is loaded: files, billing periods, providers, totals, check results")

    demo = sub.add_parser("demo-data", help="generate the demo estate: multi-cloud exports, utilization metrics, ground truth")
    demo.add_argument("--out", type=Path, default=None, help="output folder (default: $AUTOSTACK_HOME/demo)")
    demo.add_argument("--months", type=int, default=13, help="months of history (default 13)")
    demo.add_argument("--end", type=date.fromisoformat, default=None, metavar="YYYY-MM-DD", help="last day (default yesterday)")
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--scale", type=float, default=1.0, help="size of the estate (1.0 ~ 150k billing rows a year)")

    sql = sub.add_parser("sql", help="read-only SQL on the published data")
    sql.add_argument("query")
    sql.add_argument("--format", choices=["table", "csv", "json"], default="table")
    sql.add_argument("--max-rows", type=int, default=200, help="rows shown in table format (default 200)")

    from autostack.commands import register_all

    register_all(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = get_settings()
    try:
        if args.command == "up":
            return cmd_up(settings, serve=not args.no_serve, host=args.host, dagster_port=args.dagster_port,
                          app_port=args.app_port)
        if args.command == "ingest":
            from orchestration.sources import expand

            expand(list(args.paths), settings)  # fail fast, naming a path that does not exist
            return run_ingest(settings, list(args.paths), force=args.force)
        if args.command == "export":
            return cmd_export_focus(settings, args.out)
        if args.command == "status":
            return cmd_status(settings)
        if args.command == "sql":
            return cmd_sql(settings, args.query, args.format, args.max_rows)
        if args.command == "demo-data":
            return cmd_demo_data(settings, args.out, args.months, args.end, args.seed, args.scale)
        if getattr(args, "handler", None) is not None:
            return args.handler(settings, args)
    except CliError as exc:
        print(f"autostack: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:
        from orchestration.sources import SourceError

        if isinstance(exc, SourceError):
            print(f"autostack: error: {exc}", file=sys.stderr)
            return EXIT_FAILED
        raise
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
