"""Forecast and anomaly accuracy on the generated demo estate, against its ground truth.

    .venv/bin/python benchmarks/accuracy.py [--seed 42 [7 2024 ...]] [--end 2026-11-20] [--scale 0.3] [--home DIR]

Several seeds measure several estates (the same company, other random draws: other launches,
decommissions and noise, the anomalies planted on other days); each is reported, and the targets are
judged on each seed and on all seeds pooled (anomalies: the events and planted anomalies of every
seed counted together; forecasts: every seed's scopes together).

1. For each seed, generates the demo estate (`autostack demo-data`, fixed seed and end) and loads it with the real
   ingest job (dbt, checks, the ML assets, publish) into a scratch AUTOSTACK_HOME
   (benchmarks/.data/accuracy-<seed>-<end>-<scale>; reused when it is already loaded).
2. Month-end projection accuracy: the rolling-origin backtests of `ml.forecast_backtests` (the
   projection made on day 7, 15 and 22 of each of the last 12 complete months, by the model the
   asset selected for each scope, never seeing the month it projects). Mid-month = day 15. MAPE per
   scope, then its mean / median / cost-weighted mean across scopes; 80% interval coverage = share of
   backtest projections whose month's actual total fell inside their interval.
3. Anomalies: `ml.anomalies` at the sub-account scope (AWS account, Azure subscription, GCP project:
   the scope of the ground truth), billed cost. Flagged days of one sub account with gaps of at
   most two days form one detected event. Precision = detected events overlapping a planted anomaly
   of that account (its days ± 1) / detected events; recall = planted anomalies with at least one
   flagged day of their account in their days ± 1 / planted anomalies.
4. Recommendations: `benchmarks/recommendation_accuracy.py`'s measure() on the first seed's snapshot
   against the estate's planted waste (ground-truth/waste.json).
5. Writes docs/accuracy.md (machine, date, versions, targets and results), or the `--out` file.

The rules were developed looking at the DEVELOPMENT_SEEDS; the HELD_OUT_SEEDS were measured once,
with the final code, into their own report (the code was not changed after):

    .venv/bin/python benchmarks/accuracy.py --seed 42 7 2024 11 99 3 31 555 8 64 --scale 0.3 --recompute
    .venv/bin/python benchmarks/accuracy.py --seed 777 123 4096 31337 --scale 0.3 --recompute --out docs/accuracy-holdout.md

Seeds 3, 31, 555 were the first held-out seeds; once measured (their anomaly precision and recall
fell short) the anomaly rules were developed on them too, and 8, 64, 777 were held out instead.
Measured with the rules of 2026-11-26, 8 and 64 fell short of the precision target; the anomalies'
total-impact thresholds were chosen looking at them (and 3, 31, 555), not at 777, which stays held
out, with the new seeds 123, 4096 and 31337.

Each report's caveat says which of its seeds are which.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_lib import DATA_DIR, PROJECT_ROOT, code_version, machine_info, markdown_table, package_versions  # noqa: E402

DOC = PROJECT_ROOT / "docs" / "accuracy.md"
DEVELOPMENT_SEEDS = (42, 7, 2024, 11, 99, 3, 31, 555, 8, 64)  # looked at while the forecast and anomaly rules were developed
FORMER_HELD_OUT_SEEDS = (3, 31, 555, 8, 64)  # held out until measured once (anomaly precision 0.40-0.80), then developed on
HELD_OUT_SEEDS = (777, 123, 4096, 31337)  # measured with the final code only: docs/accuracy-holdout.md
HOLDOUT_DOC = "docs/accuracy-holdout.md"
TARGETS = {"mape_mid_month": 0.05, "coverage_low": 0.75, "coverage_high": 0.85, "precision": 0.9, "recall": 0.9}


def load_estate(home: Path, seed: int, end: date, scale: float, months: int) -> float:
    """Generate and ingest the estate into `home` unless it is already there; seconds spent."""
    from autostack.cli import prepare_dagster_home, run_ingest
    from autostack.demo.generate import DemoConfig, generate
    from autostack.settings import get_settings

    done = home / ".loaded"
    if done.exists():
        return 0.0
    started = time.monotonic()
    os.environ["AUTOSTACK_HOME"] = str(home)
    os.environ["AUTOSTACK_METRICS_DIRS"] = str(home / "demo" / "metrics")  # the recommendations read them
    settings = get_settings()
    settings.ensure_dirs()
    generate(DemoConfig(out=home / "demo", months=months, end=end, seed=seed, scale=scale))
    prepare_dagster_home(settings)
    code = run_ingest(settings, [str(home / "demo" / "exports")])
    if code != 0:
        raise SystemExit(f"accuracy: loading the demo estate into {home} failed (exit {code})")
    done.write_text("ok")
    return time.monotonic() - started


def recompute(snapshot, settings):
    """An in-memory connection whose ml.* are recomputed by the current code from the snapshot's marts."""
    import duckdb

    from models_ml.anomalies import AnomalyConfig
    from orchestration.defs.ml import compute_anomalies, compute_forecasts

    tables = compute_forecasts(snapshot, settings.forecast_tag_keys, workers=os.cpu_count())
    config = AnomalyConfig.from_settings(settings)
    tables["anomalies"] = compute_anomalies(snapshot, settings.forecast_tag_keys, config, [])
    snapshot.close()
    con = duckdb.connect()
    con.execute("CREATE SCHEMA ml")
    for name, frame in tables.items():
        con.register(f"frame_{name}", frame)
        con.execute(f"CREATE TABLE ml.{name} AS SELECT * FROM frame_{name}")
    return con


def forecast_accuracy(con) -> dict:
    rows = con.execute("""
        SELECT b.scope_type, b.scope_value, b.cost_view, b.model, b.origin, b.mape, b.wape, b.coverage_80, b.points,
               p.actual_to_date
        FROM ml.forecast_backtests b
        JOIN ml.month_end_projections p USING (scope_type, scope_value, cost_view)
        WHERE b.selected AND b.points > 0
    """).df()
    out = {}
    for origin in ("day_7", "day_15", "day_22", "all"):
        sub = rows[(rows["origin"] == origin) & rows["mape"].notna()]
        weights = sub["actual_to_date"].abs().astype(float)
        out[origin] = {
            "scopes": int(len(sub)),
            "mape_mean": float(sub["mape"].mean()),
            "mape_median": float(sub["mape"].median()),
            "mape_weighted": float((sub["mape"] * weights).sum() / weights.sum()) if weights.sum() else None,
            "mape_p90": float(sub["mape"].quantile(0.9)),
            "coverage_80": float((sub["coverage_80"] * sub["points"]).sum() / sub["points"].sum()),
            "points": int(sub["points"].sum()),
        }
    by_type = rows[rows["origin"] == "day_15"].groupby("scope_type").agg(
        scopes=("mape", "size"), mape_mean=("mape", "mean"), mape_median=("mape", "median"),
        coverage_80=("coverage_80", "mean"))
    out["by_scope_type"] = by_type.reset_index().to_dict("records")
    out["models"] = rows[rows["origin"] == "all"]["model"].value_counts().to_dict()
    worst = rows[rows["origin"] == "day_15"].sort_values("mape", ascending=False).head(5)
    out["worst"] = worst[["scope_type", "scope_value", "cost_view", "model", "mape"]].to_dict("records")
    return out


def _runs(days: list[date], gap: int = 2) -> list[list[date]]:
    runs: list[list[date]] = []
    for d in sorted(days):
        if runs and (d - runs[-1][-1]).days <= gap + 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    return runs


def anomaly_accuracy(con, truth: list[dict]) -> dict:
    found = con.execute("SELECT scope_value, anomaly_date FROM ml.anomalies "
                        "WHERE scope_type = 'sub_account' AND cost_view = 'billed'").fetchall()
    by_account: dict[str, list[date]] = {}
    for value, day in found:
        by_account.setdefault(value, []).append(day)

    def same_account(detected: str, planted: str) -> bool:
        return detected == planted or detected.endswith("/" + planted)

    def overlaps(days: list[date], t: dict) -> bool:
        lo = date.fromisoformat(t["start_date"]) - timedelta(days=1)
        hi = date.fromisoformat(t["end_date"]) + timedelta(days=1)
        return any(lo <= d <= hi for d in days)

    events = [(account, run) for account, days in by_account.items() for run in _runs(days)]
    true_events = [e for e in events if any(same_account(e[0], t["scope_value"]) and overlaps(e[1], t) for t in truth)]
    found_truth = [t for t in truth if any(same_account(a, t["scope_value"]) and overlaps(days, t)
                                           for a, days in by_account.items())]
    return {
        "planted": len(truth), "detected_events": len(events), "true_events": len(true_events),
        "precision": len(true_events) / len(events) if events else None,
        "recall": len(found_truth) / len(truth) if truth else None,
        "missed": [t["id"] for t in truth if t not in found_truth],
        "false_events": [{"account": a, "first": str(r[0]), "last": str(r[-1])} for a, r in events
                         if (a, r) not in true_events],
    }


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def pooled(seeds: list[dict]) -> dict:
    """Every seed's numbers counted together: anomaly events and planted anomalies, forecast scopes and points."""
    anomalies = [r["anomalies"] for r in seeds]
    events = sum(a["detected_events"] for a in anomalies)
    planted = sum(a["planted"] for a in anomalies)
    out = {"anomalies": {
        "planted": planted, "detected_events": events, "true_events": sum(a["true_events"] for a in anomalies),
        "found": sum(a["planted"] - len(a["missed"]) for a in anomalies),
    }}
    out["anomalies"]["precision"] = out["anomalies"]["true_events"] / events if events else None
    out["anomalies"]["recall"] = out["anomalies"]["found"] / planted if planted else None
    for origin in ("day_15", "all"):
        parts = [r["forecast"][origin] for r in seeds]
        scopes, points = sum(p["scopes"] for p in parts), sum(p["points"] for p in parts)
        out[origin] = {"scopes": scopes,
                       "mape_mean": sum(p["mape_mean"] * p["scopes"] for p in parts) / scopes if scopes else None,
                       "coverage_80": sum(p["coverage_80"] * p["points"] for p in parts) / points if points else None}
    return out


def _precision(a: dict) -> str:
    return f"{a['precision']:.2f} ({a['true_events']} of {a['detected_events']} events)" if a["precision"] is not None else "no events"


def _recall(a: dict) -> str:
    found = a["found"] if "found" in a else a["planted"] - len(a["missed"])
    return f"{a['recall']:.2f} ({found} of {a['planted']})" if a["recall"] is not None else "nothing planted"


def caveat(seeds: list[int]) -> str:
    """Which of the report's seeds the rules were developed on and which were held out."""
    developed = [s for s in seeds if s in DEVELOPMENT_SEEDS]
    held_out = [s for s in seeds if s in HELD_OUT_SEEDS]
    other = [s for s in seeds if s not in DEVELOPMENT_SEEDS and s not in HELD_OUT_SEEDS]
    names = lambda xs: ", ".join(str(x) for x in xs)  # noqa: E731
    parts = ["Caveat: each estate plants few anomalies (one per kind), so precision and recall move in large steps. "
             f"The forecast and anomaly rules were developed looking at the tests' estate (seed 7, scale 0.15) and at "
             f"seeds {names(DEVELOPMENT_SEEDS)} (scale 0.3; {names(FORMER_HELD_OUT_SEEDS)} were held out until "
             f"measured once, then developed on); seeds {names(HELD_OUT_SEEDS)} were held out: no rule was chosen "
             f"looking at them, and they are measured with the final code (no change after) in `{HOLDOUT_DOC}`."]
    if developed:
        parts.append(f"Here, seeds {names(developed)} were looked at during development: their numbers are in-sample.")
    if held_out:
        parts.append(f"Here, seeds {names(held_out)} are held out: nobody tuned a rule on them.")
    if other:
        parts.append(f"Seeds {names(other)} are neither.")
    return " ".join(parts)


def _seed_section(args, r: dict) -> list[str]:
    fa, aa = r["forecast"], r["anomalies"]
    loaded = f"{r['load_seconds']:.0f} s" if r["load_seconds"] else "reused"
    return [
        f"## Seed {r['seed']}",
        "",
        f"Estate: `autostack demo-data --seed {r['seed']} --end {args.end} --months {args.months} --scale {args.scale}`, "
        f"loaded by the ingest job ({loaded}"
        f"{'; ml tables recomputed with the current code' if args.recompute else ''}); as-of date "
        f"{r['as_of']}; {fa['day_15']['scopes']} scope × cost view series with a mid-month backtest.",
        "",
        "Month-end projection error by origin day (selected model per scope):",
        "",
        markdown_table(["origin", "series", "MAPE mean", "MAPE median", "MAPE cost-weighted", "MAPE p90", "80% coverage"], [
            [o, str(fa[o]["scopes"]), f"{fa[o]['mape_mean']:.2%}", f"{fa[o]['mape_median']:.2%}",
             f"{fa[o]['mape_weighted']:.2%}", f"{fa[o]['mape_p90']:.2%}", f"{fa[o]['coverage_80']:.1%}"]
            for o in ("day_7", "day_15", "day_22", "all")]),
        "",
        "Mid-month by scope type:",
        "",
        markdown_table(["scope type", "series", "MAPE mean", "MAPE median", "80% coverage"], [
            [x["scope_type"], str(x["scopes"]), f"{x['mape_mean']:.2%}", f"{x['mape_median']:.2%}",
             f"{x['coverage_80']:.1%}"] for x in fa["by_scope_type"]]),
        "",
        "Models selected by the backtests: " + ", ".join(f"{m} {n}" for m, n in fa["models"].items()),
        "",
        "Worst mid-month series: " + "; ".join(
            f"{w['scope_type']}={w['scope_value']} ({w['cost_view']}, {w['model']}) {w['mape']:.1%}" for w in fa["worst"]),
        "",
        f"Anomalies: planted {aa['planted']}; missed: {', '.join(aa['missed']) or 'none'}; detected events that match "
        f"no planted anomaly: {json.dumps(aa['false_events']) if aa['false_events'] else 'none'}.",
        "",
    ]


def render(args, results: dict) -> str:
    seeds, all_seeds = results["seeds"], results["pooled"]
    versions = package_versions(["prophet", "numpy", "pandas", "polars", "duckdb", "dagster", "dbt-duckdb"])
    names = [f"seed {r['seed']}" for r in seeds]
    several = len(seeds) > 1

    def row(target: str, cells: list[str], pooled_cell: str, oks: list[bool]) -> list[str]:
        return [target, *cells, *([pooled_cell] if several else []), verdict(all(oks))]

    def mape_ok(f: dict) -> bool:
        return f["mape_mean"] is not None and f["mape_mean"] <= TARGETS["mape_mid_month"]

    def coverage_ok(f: dict) -> bool:
        return f["coverage_80"] is not None and TARGETS["coverage_low"] <= f["coverage_80"] <= TARGETS["coverage_high"]

    def share_ok(a: dict, key: str) -> bool:
        return a[key] is not None and a[key] >= TARGETS[key]

    pa = all_seeds["anomalies"]
    targets = markdown_table(["target", *names, *(["all seeds pooled"] if several else []), "verdict"], [
        row("month-end projection at mid-month (day 15): MAPE ≤ 5% across scopes (mean of per-scope MAPE)",
            [f"{r['forecast']['day_15']['mape_mean']:.2%} (median {r['forecast']['day_15']['mape_median']:.2%}, "
             f"cost-weighted {r['forecast']['day_15']['mape_weighted']:.2%})" for r in seeds],
            f"{all_seeds['day_15']['mape_mean']:.2%}",
            [mape_ok(r["forecast"]["day_15"]) for r in seeds] + [mape_ok(all_seeds["day_15"])]),
        row("80% interval coverage between 75% and 85% (all backtest projections, days 7/15/22)",
            [f"{r['forecast']['all']['coverage_80']:.1%} (day 15 alone: {r['forecast']['day_15']['coverage_80']:.1%})"
             for r in seeds],
            f"{all_seeds['all']['coverage_80']:.1%}",
            [coverage_ok(r["forecast"]["all"]) for r in seeds] + [coverage_ok(all_seeds["all"])]),
        row("anomaly precision ≥ 0.9 (sub-account events)", [_precision(r["anomalies"]) for r in seeds], _precision(pa),
            [share_ok(r["anomalies"], "precision") for r in seeds] + [share_ok(pa, "precision")]),
        row("anomaly recall ≥ 0.9 (planted anomalies found)", [_recall(r["anomalies"]) for r in seeds], _recall(pa),
            [share_ok(r["anomalies"], "recall") for r in seeds] + [share_ok(pa, "recall")]),
    ])
    lines = [
        "# Forecast and anomaly accuracy",
        "",
        "Written by `benchmarks/accuracy.py` (numbers measured, never edited by hand). How each number is",
        "computed is in the script's docstring.",
        "",
        f"Run: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}; command `{results['command']}`; "
        f"AutoStack code {code_version()}",
        "",
        "Machine: " + "; ".join(f"{k} {v}" for k, v in machine_info().items()),
        "",
        "Versions: " + "; ".join(f"{k} {v}" for k, v in versions.items()),
        "",
        "## Targets",
        "",
        (f"Each seed is its own estate (`autostack demo-data --seed N`, same options); a target is met when it "
         f"is met on every seed and on all seeds pooled." if several else
         "One estate; `--seed 42 7 2024` measures several and pools them."),
        "",
        targets,
        "",
        "## Anomalies by seed",
        "",
        markdown_table(["seed", "planted", "detected events", "matching a planted anomaly", "precision", "recall",
                        "missed", "events matching no planted anomaly"],
                       [[str(r["seed"]), str(r["anomalies"]["planted"]), str(r["anomalies"]["detected_events"]),
                         str(r["anomalies"]["true_events"]),
                         f"{r['anomalies']['precision']:.2f}" if r["anomalies"]["precision"] is not None else "-",
                         f"{r['anomalies']['recall']:.2f}" if r["anomalies"]["recall"] is not None else "-",
                         ", ".join(r["anomalies"]["missed"]) or "none",
                         "; ".join(f"{e['account']} {e['first']}..{e['last']}" for e in r["anomalies"]["false_events"])
                         or "none"] for r in seeds]
                       + ([["pooled", str(pa["planted"]), str(pa["detected_events"]), str(pa["true_events"]),
                            f"{pa['precision']:.2f}" if pa["precision"] is not None else "-",
                            f"{pa['recall']:.2f}" if pa["recall"] is not None else "-", "", ""]] if several else [])),
        "",
        caveat([r["seed"] for r in seeds]),
        "",
    ]
    for r in seeds:
        lines += _seed_section(args, r)
    return "\n".join(lines)


def measure_seed(args, seed: int, home: Path | None) -> dict:
    """Generate/load one seed's estate and measure its forecasts and anomalies."""
    import duckdb

    from autostack.settings import get_settings

    home = (home or DATA_DIR / f"accuracy-{seed}-{args.end}-{args.scale}").resolve()
    load_seconds = load_estate(home, seed, args.end, args.scale, args.months)
    settings = get_settings({**os.environ, "AUTOSTACK_HOME": str(home)})
    truth = json.loads((home / "demo" / "ground-truth" / "anomalies.json").read_text())
    con = duckdb.connect(str(settings.serving_path), read_only=True)
    if args.recompute:
        con = recompute(con, settings)
    try:
        return {
            "seed": seed, "home": str(home), "load_seconds": load_seconds, "serving_path": str(settings.serving_path),
            "as_of": str(con.execute("SELECT max(as_of_date) FROM ml.month_end_projections").fetchall()[0][0]),
            "forecast": forecast_accuracy(con),
            "anomalies": anomaly_accuracy(con, truth),
        }
    finally:
        con.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, nargs="+", default=[42],
                        help="one or more seeds, one estate each (default 42; the first also measures recommendations)")
    parser.add_argument("--end", type=date.fromisoformat, default=date(2026, 11, 20))
    parser.add_argument("--months", type=int, default=13)
    parser.add_argument("--scale", type=float, default=0.3)
    parser.add_argument("--home", type=Path, default=None,
                        help="scratch AUTOSTACK_HOME of a single seed (default under benchmarks/.data)")
    parser.add_argument("--out", type=Path, default=DOC, help="report file (default docs/accuracy.md)")
    parser.add_argument("--json", type=Path, default=None, help="also write every number as JSON")
    parser.add_argument("--recompute", action="store_true",
                        help="recompute the ml tables with the current code from the loaded estate's marts "
                             "(instead of reading those its ingest run published)")
    args = parser.parse_args(argv)
    if args.home and len(args.seed) > 1:
        parser.error("--home names the scratch home of one seed; leave it out with several seeds")
    if len(set(args.seed)) != len(args.seed):
        parser.error(f"--seed lists a seed twice: {args.seed}")

    seeds = [measure_seed(args, seed, args.home) for seed in args.seed]
    results = {
        "command": "benchmarks/accuracy.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "seeds": seeds, "pooled": pooled(seeds),
    }
    from benchmarks.recommendation_accuracy import measure, write_section

    first = seeds[0]
    results["recommendations"], recommendations_md = measure(Path(first["serving_path"]), Path(first["home"]) / "demo")
    report = render(args, results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    write_section(recommendations_md, args.out)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
