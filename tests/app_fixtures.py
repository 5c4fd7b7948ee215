"""Contract-shaped `ml.*` tables (issue 4's contracts) written into a copy of a published snapshot,
for the app's tests until the forecast and recommendation assets fill them for real.

Values are derived from the snapshot's own daily costs, so the pages' numbers can be checked
against direct SQL on the same file.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb

from autostack.settings import Settings

ML_SQL = """
CREATE SCHEMA IF NOT EXISTS ml;
CREATE OR REPLACE TABLE ml.forecasts AS
WITH as_of AS (SELECT max(charge_date) AS d FROM marts.daily_costs),
scopes AS (
    SELECT 'total' AS scope_type, 'total' AS scope_value, v.cost_view,
           avg(CASE v.cost_view WHEN 'billed' THEN billed ELSE effective END) AS level
    FROM (SELECT charge_date, sum(billed_cost) AS billed, sum(effective_cost) AS effective FROM marts.daily_costs
          WHERE charge_date > (SELECT d FROM as_of) - 14 GROUP BY 1), (VALUES ('billed'), ('effective')) v(cost_view)
    GROUP BY ALL
    UNION ALL
    SELECT 'provider', provider_name, v.cost_view,
           sum(CASE v.cost_view WHEN 'billed' THEN billed_cost ELSE effective_cost END) / 14
    FROM marts.daily_costs, (VALUES ('billed'), ('effective')) v(cost_view)
    WHERE charge_date > (SELECT d FROM as_of) - 14 GROUP BY ALL
)
SELECT scope_type, scope_value, cost_view, (SELECT d FROM as_of) AS as_of_date,
       CAST((SELECT d FROM as_of) + CAST(i AS INTEGER) AS DATE) AS forecast_date,
       level * (1 + 0.002 * i) AS predicted_cost,
       level * (1 + 0.002 * i) * 0.9 AS lower_80, level * (1 + 0.002 * i) * 1.1 AS upper_80,
       level * (1 + 0.002 * i) * 0.8 AS lower_95, level * (1 + 0.002 * i) * 1.2 AS upper_95,
       CASE WHEN scope_type = 'total' THEN 'prophet' ELSE 'seasonal_naive' END AS model
FROM scopes, range(1, 72) r(i);

CREATE OR REPLACE TABLE ml.month_end_projections AS
WITH as_of AS (SELECT max(charge_date) AS d FROM marts.daily_costs),
actual AS (
    SELECT f.scope_type, f.scope_value, f.cost_view,
           sum(CASE f.cost_view WHEN 'billed' THEN c.billed_cost ELSE c.effective_cost END) AS to_date
    FROM (SELECT DISTINCT scope_type, scope_value, cost_view FROM ml.forecasts) f
    JOIN marts.daily_costs c ON c.charge_date BETWEEN date_trunc('month', (SELECT d FROM as_of)) AND (SELECT d FROM as_of)
         AND (f.scope_type = 'total' OR c.provider_name = f.scope_value)
    GROUP BY ALL
),
rest AS (
    SELECT scope_type, scope_value, cost_view, sum(predicted_cost) AS remainder, sum(lower_80) AS lo, sum(upper_80) AS hi
    FROM ml.forecasts
    WHERE forecast_date <= last_day((SELECT d FROM as_of)) GROUP BY ALL
)
SELECT a.scope_type, a.scope_value, a.cost_view, CAST(date_trunc('month', (SELECT d FROM as_of)) AS DATE) AS month,
       (SELECT d FROM as_of) AS as_of_date, a.to_date AS actual_to_date, a.to_date + r.remainder AS projected_total,
       a.to_date + r.lo AS lower_80, a.to_date + r.hi AS upper_80,
       CASE WHEN a.scope_type = 'total' THEN 'prophet' ELSE 'seasonal_naive' END AS model,
       CASE WHEN a.scope_type = 'total' THEN 0.034 ELSE 0.061 END AS backtest_mape  -- fractions, as the pipeline writes
FROM actual a JOIN rest r USING (scope_type, scope_value, cost_view);

CREATE OR REPLACE TABLE ml.forecast_backtests AS
SELECT scope_type, scope_value, cost_view, m.model, d.origin_day,
       m.mape + d.origin_day / 1000.0 AS mape, m.mape * 0.9 AS wape, m.coverage AS coverage_80
FROM (SELECT DISTINCT scope_type, scope_value, cost_view FROM ml.forecasts),
     (VALUES ('prophet', 0.030, 0.8), ('seasonal_naive', 0.075, 0.7), ('linear_trend', 0.090, 0.6)) m(model, mape, coverage),
     (VALUES (7), (15), (22)) d(origin_day);
"""

ANOMALIES = [  # (days before as-of, scope_type, scope_value, cost_view, impact, status)
    (3, "total", "total", "billed", 41.5, "open"),
    (9, "provider", "AWS", "billed", 25.25, "open"),
    (20, "provider", "Google Cloud", "billed", 12.0, "resolved"),
    (3, "total", "total", "effective", 39.0, "open"),
]

RECOMMENDATIONS = [  # id, type, provider, resource, current, proposed, savings, confidence, action
    ("rec-idle-1", "idle_instance", "aws", "i-0abc", "m5.xlarge", "stopped", 140.16, "high", "Stop the instance"),
    ("rec-idle-2", "unattached_volume", "azure", "/subscriptions/x/disks/d1", "P10 disk", "deleted", 19.71, "high",
     "Delete the disk"),
    ("rec-size-1", "rightsizing", "gcp", "//compute.googleapis.com/projects/p/instances/vm1", "n2-standard-8",
     "n2-standard-4", 97.09, "medium", "Resize to n2-standard-4"),
    ("rec-sched-1", "schedule", "aws", "i-0def", "always on", "business hours", 61.3, "medium",
     "Stop nights and weekends"),
]


def add_ml_tables(path: Path) -> None:
    """Write ml.forecasts, ml.month_end_projections, ml.forecast_backtests, ml.anomalies and
    ml.recommendations into the DuckDB file at `path` (contract columns, values from its marts)."""
    con = duckdb.connect(str(path))
    try:
        con.execute(ML_SQL)
        as_of = con.execute("SELECT max(charge_date) FROM marts.daily_costs").fetchall()[0][0]
        con.execute("""CREATE OR REPLACE TABLE ml.anomalies (scope_type VARCHAR, scope_value VARCHAR, cost_view VARCHAR,
            anomaly_date DATE, actual_cost DOUBLE, expected_cost DOUBLE, lower_bound DOUBLE, upper_bound DOUBLE,
            impact DOUBLE, status VARCHAR, feedback VARCHAR, root_causes JSON)""")
        for days, scope_type, scope_value, cost_view, impact, status in ANOMALIES:
            causes = [{"dimension": "service", "value": "Amazon Elastic Compute Cloud", "delta": round(impact * 0.7, 2)},
                      {"dimension": "region", "value": "us-east-1", "delta": round(impact * 0.3, 2)}]
            expected = 150.0
            con.execute("INSERT INTO ml.anomalies VALUES (?, ?, ?, CAST(? AS DATE) - CAST(? AS INTEGER), ?, ?, ?, ?, ?, ?, NULL, ?)",
                        [scope_type, scope_value, cost_view, as_of, days, expected + impact, expected, expected * 0.9,
                         expected * 1.1, impact, status, json.dumps(causes)])
        con.execute("""CREATE OR REPLACE TABLE ml.recommendations (recommendation_id VARCHAR, type VARCHAR,
            provider VARCHAR, billing_account_id VARCHAR, sub_account_id VARCHAR, resource_id VARCHAR, region VARCHAR,
            current VARCHAR, proposed VARCHAR, monthly_savings DOUBLE, confidence VARCHAR, evidence JSON,
            action VARCHAR, status VARCHAR)""")
        for rid, kind, provider, resource, current, proposed, savings, confidence, action in RECOMMENDATIONS:
            evidence = {"cpu_p95_pct": 2.1, "days_observed": 30, "resource": resource}
            con.execute("INSERT INTO ml.recommendations VALUES (?, ?, ?, 'acct-1', 'sub-1', ?, 'us-east-1', ?, ?, ?, ?, ?, ?, 'open')",
                        [rid, kind, provider, resource, current, proposed, savings, confidence, json.dumps(evidence), action])
        con.execute("CHECKPOINT")
    finally:
        con.close()


def copy_published(source: Settings, target: Settings, *, with_ml: bool, dagster: bool = False) -> None:
    """Give `target` a copy of `source`'s published snapshot (and optionally its Dagster instance)."""
    target.ensure_dirs()
    shutil.copyfile(source.serving_path, target.serving_path)
    if with_ml:
        add_ml_tables(target.serving_path)
    else:  # the pipeline's own ml.* tables out too: the state before the ML assets first ran
        con = duckdb.connect(str(target.serving_path))
        try:
            con.execute("DROP SCHEMA IF EXISTS ml CASCADE")
        finally:
            con.close()
    if dagster:
        shutil.copytree(source.dagster_home, target.dagster_home, dirs_exist_ok=True)
