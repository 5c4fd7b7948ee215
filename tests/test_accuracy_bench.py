"""benchmarks/accuracy.py's scoring of anomalies against a ground truth, per seed and pooled (no estate)."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from benchmarks.accuracy import anomaly_accuracy, pooled

TRUTH = [
    {"id": "anomaly-01", "scope_value": "111122223333", "start_date": "2026-06-27", "end_date": "2026-07-01"},
    {"id": "anomaly-02", "scope_value": "kestrel-analytics-prod", "start_date": "2026-10-13", "end_date": "2026-10-13"},
]


def _con(rows: list[tuple[str, str, date]]):
    con = duckdb.connect()
    con.execute("CREATE SCHEMA ml; CREATE TABLE ml.anomalies (scope_type VARCHAR, scope_value VARCHAR, "
                "cost_view VARCHAR, anomaly_date DATE)")
    con.executemany("INSERT INTO ml.anomalies VALUES (?, ?, 'billed', ?)", rows)
    con.execute("INSERT INTO ml.anomalies VALUES ('service', 'BigQuery', 'billed', DATE '2026-03-01')")  # not scored
    return con


def test_events_are_runs_of_flagged_days_and_match_planted_anomalies_of_their_account():
    con = _con([("sub_account", "111122223333", date(2026, 6, 28)), ("sub_account", "111122223333", date(2026, 6, 30)),
                ("sub_account", "111122223333", date(2026, 7, 20)),  # another event of the same account
                ("sub_account", "kestrel-analytics-prod", date(2026, 10, 14))])  # the day after: within ± 1
    result = anomaly_accuracy(con, TRUTH)
    assert (result["detected_events"], result["true_events"], result["missed"]) == (3, 2, [])
    assert result["precision"] == pytest.approx(2 / 3) and result["recall"] == 1.0
    assert result["false_events"] == [{"account": "111122223333", "first": "2026-07-20", "last": "2026-07-20"}]


def test_pooled_counts_every_seeds_events_and_planted_anomalies_together():
    one = anomaly_accuracy(_con([("sub_account", "111122223333", date(2026, 6, 27))]), TRUTH)  # 1 of 1, 1 of 2
    two = anomaly_accuracy(_con([("sub_account", "kestrel-analytics-prod", date(2026, 10, 13)),
                                 ("sub_account", "kestrel-analytics-prod", date(2026, 5, 2)),
                                 ("sub_account", "111122223333", date(2026, 2, 2))]), TRUTH)  # 1 of 3, 1 of 2
    forecast = {"day_15": {"scopes": 2, "mape_mean": 0.02, "points": 20, "coverage_80": 0.7},
                "all": {"scopes": 2, "mape_mean": 0.03, "points": 60, "coverage_80": 0.8}}
    other = {"day_15": {"scopes": 6, "mape_mean": 0.04, "points": 60, "coverage_80": 0.9},
             "all": {"scopes": 6, "mape_mean": 0.05, "points": 180, "coverage_80": 0.76}}
    out = pooled([{"anomalies": one, "forecast": forecast}, {"anomalies": two, "forecast": other}])
    assert out["anomalies"] == {"planted": 4, "detected_events": 4, "true_events": 2, "found": 2,
                                "precision": 0.5, "recall": 0.5}
    assert out["day_15"]["mape_mean"] == pytest.approx((2 * 0.02 + 6 * 0.04) / 8)
    assert out["all"]["coverage_80"] == pytest.approx((60 * 0.8 + 180 * 0.76) / 240)


def test_the_caveat_says_which_seeds_were_developed_on_and_which_held_out():
    from benchmarks.accuracy import DEVELOPMENT_SEEDS, HELD_OUT_SEEDS, HOLDOUT_DOC, caveat

    assert not set(DEVELOPMENT_SEEDS) & set(HELD_OUT_SEEDS)
    development = caveat(list(DEVELOPMENT_SEEDS))
    assert HOLDOUT_DOC in development and "in-sample" in development and "are held out" not in development
    held_out = caveat(list(HELD_OUT_SEEDS))
    assert "are held out" in held_out and "in-sample" not in held_out
    assert "Seeds 5 are neither" in caveat([42, 5])
