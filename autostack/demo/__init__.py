"""The demo estate: a fictitious company's multi-cloud billing history, written in each cloud's
native export format, with daily utilization metrics and a separate ground truth.

    from autostack.demo.generate import DemoConfig, generate
    summary = generate(DemoConfig(out=Path("demo"), months=13))

Layout under `out`: `exports/` (what a cloud would deliver: load it with `autostack ingest
out/exports`), `metrics/` (daily utilization per machine), `ground-truth/` (planted anomalies and
waste; never read by the exports). See docs/demo-data.md.
"""
