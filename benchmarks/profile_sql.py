"""Where a DuckDB statement spends its time: EXPLAIN ANALYZE's operator tree, heaviest operators first.

Uses DuckDB's JSON profiling output (the same tree EXPLAIN ANALYZE prints). Operator timings are
summed over threads, so on 2 cores they can add up to more than the wall time.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import duckdb


def _walk(node: dict, depth: int = 0):
    yield depth, node
    for child in node.get("children", []) or []:
        yield from _walk(child, depth + 1)


def _describe(extra: dict) -> str:
    keep = []
    for key in ("Table", "Function", "Join Type", "Conditions", "Groups", "Aggregates", "Partitions", "Projections", "Expressions", "Filters"):
        if key in extra and extra[key]:
            value = extra[key]
            text = ", ".join(value) if isinstance(value, list) else str(value)
            keep.append(f"{key}: {text}")
    text = "; ".join(keep)
    return text[:300] + ("…" if len(text) > 300 else "")


def profile(con: duckdb.DuckDBPyConnection, sql: str, label: str, top: int = 8) -> dict:
    """Run `sql` with profiling on; its wall time, peak buffer memory and heaviest operators."""
    with tempfile.TemporaryDirectory(prefix="autostack-profile-") as tmp:
        out = Path(tmp) / "profile.json"
        con.execute("SET enable_profiling = 'json'")
        con.execute(f"SET profiling_output = '{out}'")
        started = time.perf_counter()
        try:
            con.execute(sql).fetchall()
        finally:
            seconds = time.perf_counter() - started
            con.execute("SET enable_profiling = 'no_output'")
            con.execute("RESET profiling_output")
        tree = json.loads(out.read_text())
    operators = []
    for root in tree.get("operator", []) or []:
        for depth, node in _walk(root):
            operators.append({
                "operator": node.get("name") or node.get("type"),
                "seconds": float(node.get("timing") or 0.0),
                "rows_out": int(node.get("intermediate_rows") or 0),
                "detail": _describe(node.get("extra_info") or {}),
                "depth": depth,
            })
    total_operator_time = sum(o["seconds"] for o in operators) or 1.0
    for o in operators:
        o["share"] = o["seconds"] / total_operator_time
    operators.sort(key=lambda o: o["seconds"], reverse=True)
    query = tree.get("query", {}) or {}
    system = tree.get("system", {}) or {}
    return {
        "label": label,
        "wall_seconds": seconds,
        "cpu_seconds": float(query.get("cpu_time") or 0.0),
        "peak_buffer_memory_bytes": int(system.get("peak_buffer_memory") or 0),
        "operators": operators[:top],
    }


def markdown(result: dict) -> str:
    from bench_lib import markdown_table

    head = (f"{result['label']}: {result['wall_seconds']:.2f} s wall, {result['cpu_seconds']:.2f} s CPU in operators, "
            f"DuckDB peak buffer memory {result['peak_buffer_memory_bytes'] / 1e6:,.0f} MB")
    rows = [[o["operator"], f"{o['seconds']:.2f}", f"{o['share']:.0%}", f"{o['rows_out']:,}", o["detail"]]
            for o in result["operators"]]
    return head + "\n\n" + markdown_table(["operator", "seconds (all threads)", "share", "rows out", "what"], rows)
