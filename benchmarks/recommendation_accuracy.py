"""How well ml.recommendations finds the demo estate's planted waste (docs/demo-data.md "Ground truth").

    .venv/bin/python benchmarks/recommendation_accuracy.py [--snapshot PATH] [--demo DIR] [--out docs/accuracy.md]

Reads the published ml.recommendations and the demo's `ground-truth/waste.json`, and writes its
section of docs/accuracy.md between `<!-- recommendations:start -->` and `<!-- recommendations:end -->`.

Measures (targets from issue 4):
- planted waste found: waste items with a recommendation of the matching type on the same resource
  (idle_instance -> idle_resource, oversized_instance -> rightsize, unattached_volume ->
  unattached_volume, nonprod_always_on -> schedule, uncommitted_steady_compute -> commitment); >= 90 %.
- false positives: waste-type recommendations (idle, unattached, idle load balancer, rightsize,
  schedule, commitment) on a resource the ground truth does not list as waste, over all waste-type
  recommendations; <= 10 %. Spot, cheaper-region and cheaper-cloud advice are opportunities (the same
  thing bought cheaper), not planted waste: they are counted and shown, not scored.
- savings found: the monthly savings of the matching recommendations of the waste found (one per
  resource), over the waste-planted spend (the waste items' monthly cost); >= 30 %.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import duckdb
import pandas as pd

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from models_ml.recommendations import WASTE_TYPES, achievable_savings  # noqa: E402

START, END = "<!-- recommendations:start -->", "<!-- recommendations:end -->"
MATCHING_TYPE = {"idle_instance": "idle_resource", "oversized_instance": "rightsize",
                 "unattached_volume": "unattached_volume", "nonprod_always_on": "schedule",
                 "uncommitted_steady_compute": "commitment"}
TARGETS = {"waste_found_share": 0.9, "false_positive_share": 0.1, "savings_share_of_waste_spend": 0.3}


def read_recommendations(snapshot_path: Path) -> pd.DataFrame:
    con = duckdb.connect(str(snapshot_path), read_only=True)
    try:
        return con.execute("SELECT recommendation_id, type, provider, resource_id, CAST(monthly_savings AS DOUBLE) AS "
                           "monthly_savings, confidence, status FROM ml.recommendations").df()
    finally:
        con.close()


def measure(snapshot_path: Path, demo_dir: Path) -> tuple[dict, str]:
    """Numbers against the ground truth, and the markdown section that reports them."""
    recs = read_recommendations(Path(snapshot_path))
    waste = json.loads((Path(demo_dir) / "ground-truth" / "waste.json").read_text())
    planted = {w["resource_id"] for w in waste}
    waste_recs = recs[recs["type"].isin(WASTE_TYPES)]
    rows, found, saved = [], 0, 0.0
    per_type: dict[str, list[int]] = {}
    for w in waste:
        match = waste_recs[(waste_recs["resource_id"] == w["resource_id"]) & (waste_recs["type"] == MATCHING_TYPE[w["type"]])]
        hit = not match.empty
        found += hit
        saving = float(match["monthly_savings"].max()) if hit else 0.0
        saved += saving
        counts = per_type.setdefault(w["type"], [0, 0, 0.0, 0.0])
        counts[0] += 1
        counts[1] += hit
        counts[2] += w["monthly_savings"]
        counts[3] += saving
        rows.append((w, hit, saving))
    false_positive = waste_recs[~waste_recs["resource_id"].isin(planted)]
    spend = sum(w["monthly_cost"] for w in waste)
    numbers = {
        "waste_items": len(waste), "waste_found": found,
        "waste_found_share": found / len(waste) if waste else 1.0,
        "waste_recommendations": len(waste_recs), "false_positives": len(false_positive),
        "false_positive_share": len(false_positive) / len(waste_recs) if len(waste_recs) else 0.0,
        "waste_spend": round(spend, 2), "planted_savings": round(sum(w["monthly_savings"] for w in waste), 2),
        "savings_found": round(saved, 2), "savings_share_of_waste_spend": saved / spend if spend else 0.0,
        "recommendations": len(recs), "opportunities": int((~recs["type"].isin(WASTE_TYPES)).sum()),
        "achievable_savings_all": achievable_savings(recs.assign(status="open")) if not recs.empty else 0.0,
    }
    numbers["meets_targets"] = (numbers["waste_found_share"] >= TARGETS["waste_found_share"]
                                and numbers["false_positive_share"] <= TARGETS["false_positive_share"]
                                and numbers["savings_share_of_waste_spend"] >= TARGETS["savings_share_of_waste_spend"])
    summary_path = Path(demo_dir) / "ground-truth" / "summary.json"
    options = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    numbers["estate"] = {k: options.get(k) for k in ("seed", "scale", "start", "end")}
    return numbers, _markdown(numbers, per_type, false_positive, recs)


def reproduce_command(estate: dict) -> str:
    """The accuracy command that rebuilds `estate` (seed, scale, last day) and scores it."""
    if None in (estate.get("seed"), estate.get("scale"), estate.get("end")):
        return ".venv/bin/python benchmarks/accuracy.py --seed SEED --scale SCALE --end LAST_DAY"
    return (f".venv/bin/python benchmarks/accuracy.py --seed {estate.get('seed')} --scale {estate.get('scale'):g} "
            f"--end {estate.get('end')}")


def _markdown(n: dict, per_type: dict, false_positive: pd.DataFrame, recs: pd.DataFrame) -> str:
    ok = {True: "met", False: "**missed**"}
    lines = [
        "## Recommendations vs the planted waste",
        "",
        "`benchmarks/recommendation_accuracy.py` on the published `ml.recommendations` against the demo "
        "estate's `ground-truth/waste.json` (waste on the last day of the history). Estate: seed "
        f"{n['estate'].get('seed')}, scale {n['estate'].get('scale')}, {n['estate'].get('start')} .. {n['estate'].get('end')}. "
        f"Reproduce: `{reproduce_command(n['estate'])}` (builds this estate, metrics included, and runs the pipeline "
        "on it); on any loaded estate, `.venv/bin/python benchmarks/recommendation_accuracy.py`.",
        "",
        "| measure | value | target | |",
        "|---|---|---|---|",
        f"| planted waste found | {n['waste_found']} of {n['waste_items']} ({n['waste_found_share']:.0%}) | >= 90 % | "
        f"{ok[n['waste_found_share'] >= 0.9]} |",
        f"| false positives (waste-type advice on resources that are not waste) | {n['false_positives']} of "
        f"{n['waste_recommendations']} ({n['false_positive_share']:.0%}) | <= 10 % | {ok[n['false_positive_share'] <= 0.1]} |",
        f"| savings found / waste-planted spend | {n['savings_found']:,.2f} / {n['waste_spend']:,.2f} USD a month "
        f"({n['savings_share_of_waste_spend']:.0%}) | >= 30 % | {ok[n['savings_share_of_waste_spend'] >= 0.3]} |",
        "",
        "| planted waste type | items | found | planted savings (USD/month) | savings found |",
        "|---|---|---|---|---|",
    ]
    for kind, (items, hits, planted, found) in sorted(per_type.items()):
        lines.append(f"| {kind} | {items} | {hits} | {planted:,.2f} | {found:,.2f} |")
    by_type = recs.groupby("type")["monthly_savings"].agg(["count", "sum"])
    lines += ["", f"All recommendations: {n['recommendations']} ({n['opportunities']} opportunities — spot, cheaper "
              f"region, cheaper cloud — not scored against the ground truth); achievable savings, one per resource: "
              f"{n['achievable_savings_all']:,.2f} USD a month.", "",
              "| type | recommendations | savings listed (USD/month) |", "|---|---|---|"]
    lines += [f"| {t} | {int(r['count'])} | {r['sum']:,.2f} |" for t, r in by_type.iterrows()]
    if not false_positive.empty:
        lines += ["", "False positives: " + ", ".join(f"{r.type} on {r.resource_id}" for r in false_positive.itertuples())]
    return "\n".join(lines)


def write_section(markdown: str, path: Path) -> None:
    """Replace this benchmark's section of the accuracy report (the rest of the file is the forecasts')."""
    text = path.read_text() if path.exists() else "# Accuracy\n"
    block = f"{START}\n{markdown}\n{END}"
    if START in text and END in text:
        text = text[:text.index(START)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    from autostack.settings import get_settings

    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--snapshot", type=Path, default=settings.serving_path)
    parser.add_argument("--demo", type=Path, default=settings.home / "demo-truth",
                        help="the demo folder holding ground-truth/waste.json (default: the quick start's)")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "docs" / "accuracy.md")
    args = parser.parse_args(argv)
    numbers, markdown = measure(args.snapshot, args.demo)
    write_section(markdown, args.out)
    print(markdown)
    print(json.dumps(numbers, indent=2, default=str))
    return 0 if numbers["meets_targets"] else 1


if __name__ == "__main__":
    sys.exit(main())
