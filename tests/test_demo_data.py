"""The demo estate generator: deterministic, streaming, metrics and ground truth consistent with the
exports, ground truth absent from them, the CLI command, and (slow) a real `autostack ingest`."""

from __future__ import annotations

import hashlib
import json
import tracemalloc
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from autostack.cli import main
from autostack.demo.estate import Window, build_estate
from autostack.demo.generate import WRITERS, DemoConfig, available_writers, generate
from autostack.demo.metrics import METRICS_SCHEMA

END = date(2026, 3, 20)
SMALL = dict(months=2, end=END, scale=0.3)
# What each writer records in the ledger (the wiring test expects these for every writer present).
EXPORT_ROWS = {"aws": ("aws_cur2",), "azure": ("azure_actual", "azure_amortized"), "gcp": ("gcp_billing",),
               "oci": ("focus_oci",)}
WASTE_TYPES = {"idle_instance", "oversized_instance", "unattached_volume", "nonprod_always_on",
               "uncommitted_steady_compute"}


def digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def estate(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return out, generate(DemoConfig(out=out, **SMALL))


def export_text(exports: Path) -> str:
    """Every string in the exports: Parquet string and map columns' distinct values, text files whole."""
    pieces = []
    for path in sorted(p for p in exports.rglob("*") if p.is_file()):
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            for column in table.columns:
                chunk = column.combine_chunks()
                if pa.types.is_map(chunk.type):
                    pieces += [str(v) for v in pc.unique(chunk.keys).to_pylist() + pc.unique(chunk.items).to_pylist()]
                elif pa.types.is_string(chunk.type):
                    pieces += [str(v) for v in pc.unique(chunk).to_pylist()]
        else:
            pieces.append(path.read_text(encoding="utf-8"))
    return "\n".join(pieces).lower()


def export_resource_ids(exports: Path) -> dict[str, set[str]]:
    con = duckdb.connect()
    ids: dict[str, set[str]] = {}
    aws = sorted(exports.glob("aws/**/*.parquet"))
    if aws:
        ids["aws"] = {r[0] for r in con.execute(
            "SELECT DISTINCT line_item_resource_id FROM read_parquet(?)", [[str(p) for p in aws]]).fetchall()}
    azure = sorted(exports.glob("azure/**/*.csv"))
    if azure:
        ids["azure"] = {r[0] for r in con.execute(
            "SELECT DISTINCT ResourceId FROM read_csv(?, all_varchar=true, union_by_name=true)",
            [[str(p) for p in azure]]).fetchall()}
    gcp = sorted(exports.glob("gcp/**/*.jsonl"))
    if gcp:
        ids["gcp"] = {r[0] for r in con.execute(
            "SELECT DISTINCT resource.global_name FROM read_json(?, format='newline_delimited')",
            [[str(p) for p in gcp]]).fetchall()}
    oci = sorted(exports.glob("oci/**/*.csv"))
    if oci:
        ids["oci"] = {r[0] for r in con.execute(
            "SELECT DISTINCT ResourceId FROM read_csv(?, all_varchar=true)", [[str(p) for p in oci]]).fetchall()}
    return ids


def test_every_writer_present_is_wired(estate):
    out, summary = estate
    present = [p for p, _ in available_writers()]
    assert summary.providers == present
    assert present == [p for p, *_ in WRITERS] == ["aws", "azure", "gcp", "oci"]
    expected = {name for p in present for name in EXPORT_ROWS[p]}
    assert set(summary.rows) == expected and all(summary.rows[k] > 0 for k in expected)
    planted = build_estate(42, SMALL["scale"], Window.months_to(END, SMALL["months"])).anomalies
    assert summary.metric_rows > 0 and summary.anomalies == sum(1 for a in planted if a.provider in present)
    assert (out / "ground-truth" / "summary.json").exists()
    assert summary.rows["focus_oci"] > 0
    assert sorted(p.name for p in (out / "metrics").iterdir()) == ["utilization-2026-02.parquet", "utilization-2026-03.parquet"]


def test_same_seed_same_bytes_other_seed_differs(estate, tmp_path):
    out, _ = estate
    again = tmp_path / "again"
    generate(DemoConfig(out=again, **SMALL))
    first = digests(out)
    assert first == digests(again)
    other = tmp_path / "other"
    generate(DemoConfig(out=other, seed=7, **SMALL))
    second = digests(other)
    for part in ("exports/aws", "exports/azure", "exports/gcp", "exports/oci", "metrics", "ground-truth"):
        mine = {k: v for k, v in first.items() if k.startswith(part)}
        theirs = {k: v for k, v in second.items() if k.startswith(part)}
        assert mine and theirs and set(mine.values()).isdisjoint(theirs.values()), f"seed 7 left {part} unchanged"


def test_ground_truth_never_leaks_into_exports(estate):
    out, _ = estate
    text = export_text(out / "exports")
    anomalies = json.loads((out / "ground-truth" / "anomalies.json").read_text())
    waste = json.loads((out / "ground-truth" / "waste.json").read_text())
    words = {"anomaly", "anomalies", "runaway", "oversized", "waste", "unattached", "idle_instance",
             "ground truth", "ground-truth"} | WASTE_TYPES
    words |= {a["id"] for a in anomalies} | {a["description"].lower() for a in anomalies}
    words |= {w["how"].lower() for w in waste}
    found = sorted(w for w in words if w.lower() in text)
    assert not found, f"ground truth visible in the exports: {found}"


def test_ground_truth_shape_and_resources(estate):
    out, _ = estate
    anomalies = json.loads((out / "ground-truth" / "anomalies.json").read_text())
    waste = json.loads((out / "ground-truth" / "waste.json").read_text())
    assert {a["provider"] for a in anomalies} >= {"aws", "azure", "gcp"}
    for a in anomalies:
        assert a["scope_type"] in ("account", "subscription", "project") and a["scope_value"]
        assert date.fromisoformat(a["start_date"]) <= date.fromisoformat(a["end_date"])
    assert {w["type"] for w in waste} == WASTE_TYPES
    for w in waste:
        assert 0 < w["monthly_savings"] <= w["monthly_cost"] + 1e-9, w
        assert w["how"] and w["account"] and w["resource_id"]
    ids = export_resource_ids(out / "exports")
    for w in waste:
        assert w["resource_id"] in ids[w["provider"]], f"waste resource {w['resource_id']} is not billed"


def test_metrics_cover_billed_machines_and_show_planted_waste(estate):
    out, _ = estate
    con = duckdb.connect()
    files = sorted(str(p) for p in (out / "metrics").glob("*.parquet"))
    assert pq.read_schema(files[0]).equals(METRICS_SCHEMA)
    rows = con.execute("SELECT provider, resource_id, date, hours_running, cpu_p50_pct, cpu_p95_pct, cpu_max_pct, "
                       "memory_p95_pct FROM read_parquet(?)", [files]).fetchall()
    ids = export_resource_ids(out / "exports")
    by_provider: dict[str, set[str]] = {}
    for r in rows:
        by_provider.setdefault(r[0], set()).add(r[1])
        assert 0 < r[3] <= 24 and 0 <= r[4] <= r[5] <= r[6] <= 100 and 0 < r[7] < 100, r
    assert set(by_provider) == {"aws", "azure", "gcp", "oci"}
    for provider, resources in by_provider.items():
        missing = resources - ids[provider]
        assert not missing, f"{provider} metrics for resources the export never bills: {sorted(missing)[:3]}"
    stats = {r[0]: r[1:] for r in con.execute(
        "SELECT resource_id, max(cpu_p95_pct), avg(cpu_p95_pct), "
        "max(hours_running) FILTER (WHERE dayofweek(date) IN (0, 6)) FROM read_parquet(?) GROUP BY 1", [files]).fetchall()}
    waste = json.loads((out / "ground-truth" / "waste.json").read_text())
    kinds = {w["resource_id"]: w["type"] for w in waste}
    for resource, kind in kinds.items():
        if kind == "idle_instance":
            assert stats[resource][0] <= 3.0
        elif kind == "oversized_instance":
            assert stats[resource][0] <= 18.0
        elif kind == "nonprod_always_on":
            assert stats[resource][2] == 24.0  # runs through weekends
    normal = [v[1] for k, v in stats.items() if k not in kinds]
    assert np.median(normal) > 25.0


def test_memory_is_bounded_by_a_day_not_the_history(tmp_path):
    """Python-side peak (tracemalloc) is that of one day's rows: 4x the days or 4x the estate costs
    little more. A first untraced run loads the catalog, which is not the generator's working set."""
    end = date(2026, 3, 10)
    generate(DemoConfig(out=tmp_path / "warm", months=1, end=date(2026, 3, 2), scale=0.1))

    def peak(name: str, **kwargs) -> tuple[int, int]:
        tracemalloc.start()
        try:
            summary = generate(DemoConfig(out=tmp_path / name, end=end, **kwargs))
            return tracemalloc.get_traced_memory()[1], summary.billing_rows
        finally:
            tracemalloc.stop()

    short, long_ = peak("short", months=1, scale=0.2), peak("long", months=2, scale=0.2)
    small, big = peak("small", months=1, scale=0.2), peak("big", months=1, scale=0.8)
    assert long_[1] > 3 * short[1] and big[1] > 2.5 * small[1]
    assert long_[0] < short[0] * 1.5, (short, long_)
    assert big[0] < small[0] * 2.0, (small, big)


def test_cli_demo_data(tmp_path, capsys, autostack_home):
    out = tmp_path / "cli-demo"
    assert main(["demo-data", "--out", str(out), "--months", "1", "--end", "2026-03-05", "--seed", "3",
                 "--scale", "0.2"]) == 0
    printed = capsys.readouterr().out
    assert "aws_cur2" in printed and "billing rows" in printed and "2026-03-01 .. 2026-03-05" in printed
    # how to load it, metrics included (they are outside the folders the pipeline reads by default)
    assert f"AUTOSTACK_METRICS_DIRS={out / 'metrics'} autostack ingest {out / 'exports'}" in printed
    summary = json.loads((out / "ground-truth" / "summary.json").read_text())
    assert summary["seed"] == 3 and summary["rows"]["aws_cur2"] > 0
    assert main(["demo-data", "--out", str(out), "--months", "0"]) == 1
    assert "--months" in capsys.readouterr().err


@pytest.mark.slow  # needs the demo estate (built once per session)
def test_generated_estate_ingests_with_every_check_passing(demo_home):
    """The demo estate, every writer, loaded by the real ingest job (demo_home, whose build also requires
    the ingest's exit code 0: no file quarantined, no step or check failed): every data file loaded,
    every check evaluated passed, every provider's rows in focus.costs."""
    from dagster import DagsterEventType, DagsterInstance

    present = {p for p, _ in available_writers()}
    assert present == {p for p, *_ in WRITERS}
    summary = json.loads((demo_home.home / "demo" / "ground-truth" / "summary.json").read_text())
    assert set(summary["providers"]) == present
    with DagsterInstance.from_config(str(demo_home.dagster_home)) as instance:
        (run,) = instance.get_runs()
        records = instance.get_records_for_run(run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION).records
        evaluations = [r.event_log_entry.dagster_event.event_specific_data for r in records]
    assert len(evaluations) > 20, len(evaluations)
    assert [f"{e.asset_key.to_user_string()}:{e.check_name}" for e in evaluations if not e.passed] == []
    with duckdb.connect(str(demo_home.serving_path), read_only=True) as con:
        outcomes = dict(con.execute("SELECT outcome, count(*) FROM ingest.file_loads GROUP BY 1").fetchall())
        counts = dict(con.execute("SELECT ProviderName, count(*) FROM focus.costs GROUP BY 1").fetchall())
    data_files = [p for p in (demo_home.home / "demo" / "exports").rglob("*") if p.suffix in (".parquet", ".csv", ".jsonl")]
    # Each data file loaded once; a month-to-date delivery restated by a later one is superseded, not lost.
    assert set(outcomes) <= {"loaded", "superseded"} and sum(outcomes.values()) == len(data_files), outcomes
    assert len(counts) == len(present) and sum(counts.values()) > 0.5 * sum(summary["rows"].values())


@pytest.mark.slow
def test_quick_start_lands_the_demo_exports_and_keeps_the_truth_outside(autostack_home):
    from autostack.cli import seed_landing_with_samples
    from orchestration.sources import discover

    assert seed_landing_with_samples(autostack_home)
    landing = autostack_home.default_landing_dir
    truth = autostack_home.home / "demo-truth"
    assert (landing / "samples").is_dir() and (landing / "demo" / "aws" / "cur2").is_dir()
    assert (truth / "ground-truth" / "waste.json").exists() and list((truth / "metrics").glob("*.parquet"))
    found = [obj.uri for obj in discover(autostack_home)]
    assert any("/demo/oci/" in uri for uri in found) and any("/demo/gcp/" in uri for uri in found)
    assert not any("demo-truth" in uri or "/metrics/" in uri or "ground-truth" in uri for uri in found)
    assert not seed_landing_with_samples(autostack_home)  # the landing folder is no longer empty
