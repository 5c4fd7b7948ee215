"""Speed of forecasting + backtesting many series: the target is 1,000 series in ≤ 60 s on 2 cores.

    .venv/bin/python benchmarks/ml_speed.py [--series 1000] [--workers 2] [--prophet-max 12]

The series are synthetic and deterministic (seed 0), shaped like cost series: 400 days each, a
level drawn log-uniformly from $1 to $10k a day, a weekday/weekend pattern, a slow trend, a fee on
the 1st for a third of them, a launch (level step) for a quarter, multiplicative noise, and one in
ten sparse (a monthly charge only). Every series gets exactly what the `ml_forecasts` asset does:
rolling-origin backtests of its candidates over 12 months (days 7, 15, 22), the winner's daily
forecast to the end of the third month ahead with 80/95% intervals, and its month-end projection.
Prophet is a candidate for the `--prophet-max` largest series only (as in the asset: it fits once
per backtest month and reuses the fit for days 15 and 22), and only where the simple models' WAPE
is above 1%. Work is spread over `--workers` processes (spawned). Appends a section to
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_lib import DOCS_RESULTS, code_version, load_average, machine_info, markdown_table, package_versions, report  # noqa: E402
from models_ml.forecast_run import ForecastConfig, ScopeSeries, forecast_many  # noqa: E402

START = date(2025, 10, 17)
DAYS = 400


def synthetic_series(count: int, seed: int = 0) -> list[ScopeSeries]:
    rng = np.random.default_rng(seed)
    days = [START + timedelta(days=i) for i in range(DAYS)]
    weekday = np.array([d.weekday() < 5 for d in days])
    first = np.array([d.day == 1 for d in days])
    out = []
    for i in range(count):
        level = float(np.exp(rng.uniform(np.log(1), np.log(10_000))))
        if i % 10 == 9:
            values = np.where(first, level * 30, 0.0)
        else:
            weekend_share = rng.uniform(0.5, 1.0)
            values = level * np.where(weekday, 1.0, weekend_share)
            values = values * (1 + rng.uniform(-0.2, 0.4) * np.arange(DAYS) / DAYS)
            if i % 3 == 0:
                values = values + np.where(first, level * rng.uniform(2, 10), 0.0)
            if i % 4 == 0:
                step = int(rng.integers(60, DAYS - 30))
                values[step:] *= rng.uniform(1.2, 2.0)
            values = values * rng.lognormal(0, rng.uniform(0.01, 0.08), DAYS)
        out.append(ScopeSeries("service", f"synthetic-{i:04d}", "billed", START, values))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--prophet-max", type=int, default=12)
    parser.add_argument("--results", type=Path, default=DOCS_RESULTS)
    args = parser.parse_args(argv)

    series = synthetic_series(args.series)
    ranked = sorted(range(len(series)), key=lambda i: -float(np.sum(series[i].values[-28:])))
    allowed = set(ranked[:args.prophet_max])
    for i, s in enumerate(series):
        s.allow_prophet = i in allowed
    import resource

    def cpu_seconds() -> float:
        own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime

    load_before = __import__("os").getloadavg()[0]
    started, cpu_started = time.monotonic(), cpu_seconds()
    tables = forecast_many(series, ForecastConfig(), workers=args.workers)
    seconds = time.monotonic() - started
    cpu = cpu_seconds() - cpu_started  # the workers and Prophet's cmdstan processes, once reaped

    backtests = tables["forecast_backtests"]
    pooled = backtests[backtests["origin"] == "all"]
    winners = pooled[pooled["selected"]]["model"].value_counts().to_dict()
    candidates = pooled["model"].value_counts().to_dict()
    prophet_series = int(candidates.get("prophet", 0))
    mid = backtests[(backtests["origin"] == "day_15") & backtests["selected"]]
    ok = seconds <= 60
    versions = package_versions(["prophet", "cmdstanpy", "numpy", "pandas"])
    section = "\n".join([
        f"## ML speed: {args.series:,} series forecast and backtested — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"Command: `benchmarks/ml_speed.py --series {args.series} --workers {args.workers} --prophet-max {args.prophet_max}`",
        "",
        f"AutoStack code: {code_version()}",
        "",
        "Machine: " + "; ".join(f"{k} {v}" for k, v in machine_info().items()),
        "",
        "Versions: " + "; ".join(f"{k} {v}" for k, v in versions.items()),
        "",
        markdown_table(["series", "workers", "wall seconds", "CPU seconds (all processes)", "series/s", "Prophet backtested",
                        "forecast rows", "backtest rows"], [[
            f"{args.series:,}", str(args.workers), f"{seconds:.1f}", f"{cpu:.1f}", f"{args.series / seconds:.1f}",
            f"{prophet_series} (allowed {args.prophet_max})", f"{len(tables['forecasts']):,}", f"{len(backtests):,}"]]),
        "",
        f"- Target 1,000 series in ≤ 60 s on 2 cores: {'met' if ok and args.series >= 1000 else 'MISSED' if not ok else 'n/a (fewer series)'} "
        f"({seconds:.1f} s for {args.series:,}).",
        "- Candidates backtested: " + ", ".join(f"{m} {n}" for m, n in candidates.items()) + ".",
        "- Winners: " + ", ".join(f"{m} {n}" for m, n in winners.items()) + ".",
        f"- Mid-month (day 15) month-end MAPE of the winners on these synthetic series: mean {mid['mape'].mean():.2%}, "
        f"median {mid['mape'].median():.2%}.",
        "- Wall time includes spawning the worker processes. The machine is shared: load average "
        f"{load_before:.1f} before, {load_average()} after. "
        f"On {args.workers} otherwise idle cores the CPU seconds would take about {cpu / args.workers:.0f} s of wall time.",
        "",
    ])
    report(args.results, section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
