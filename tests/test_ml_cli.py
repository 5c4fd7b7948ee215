"""`autostack forecast` and `autostack anomalies` on the published demo snapshot."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from autostack.cli import main


@pytest.fixture
def published(demo_home, autostack_home):
    """The demo estate's published snapshot, copied into this test's own home (its app store is fresh)."""
    autostack_home.serving_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(demo_home.serving_path, autostack_home.serving_path)
    return autostack_home


@pytest.mark.slow
def test_forecast_prints_projections_and_the_daily_forecast(published, capsys):
    assert main(["forecast"]) == 0
    out = capsys.readouterr().out
    assert "projected_total" in out and "2026-11-20" in out and "total" in out

    assert main(["forecast", "--scope", "provider", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["scope_value"] for r in rows} >= {"AWS", "Microsoft", "Google Cloud"}
    assert all(r["lower_80"] <= r["projected_total"] <= r["upper_80"] for r in rows)

    assert main(["forecast", "--scope", "provider=AWS", "--days", "5", "--cost-view", "effective"]) == 0
    out = capsys.readouterr().out
    assert "forecast_date" in out and "2026-11-25" in out and "2026-11-26" not in out


@pytest.mark.slow
def test_forecast_as_of_recomputes_from_the_history(published, capsys):
    assert main(["forecast", "--scope", "total=total", "--as-of", "2026-10-15", "--format", "json"]) == 0
    out = capsys.readouterr().out
    projection = json.loads(out[:out.index("]") + 1])
    assert projection[0]["as_of_date"] == "2026-10-15" and projection[0]["month"] == "2026-10-01"

    assert main(["forecast", "--as-of", "2030-01-01"]) == 1
    assert "after the last complete day" in capsys.readouterr().err


def test_forecast_rejects_an_unknown_scope_type(autostack_home, capsys):
    assert main(["forecast", "--scope", "team=data"]) == 1
    assert "scope type must be one of" in capsys.readouterr().err


@pytest.mark.slow
def test_anomalies_list_and_feedback_kept_in_the_app_store(published, capsys):
    assert main(["anomalies", "--all", "--scope", "sub_account", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows, "the demo estate's planted anomalies should be listed"
    first = rows[0]
    assert first["impact"] > 0 and first["status"] == "open" and first["top_cause"]
    assert first["feedback"] is None
    # The table shows no feedback as '-', not as SQL's NULL.
    assert main(["anomalies", "--all", "--scope", "sub_account"]) == 0
    table = capsys.readouterr().out
    lines = table.strip().splitlines()
    feedback = lines[0].split().index("feedback")
    assert "NULL" not in table and re.split(r"\s{2,}", lines[2].strip())[feedback] == "-"

    args = ["anomalies", "feedback", first["scope_type"], first["scope_value"], first["anomaly_date"],
            "--feedback", "no", "--note", "a test", "--user", "tester"]
    assert main(args) == 0
    assert "feedback no" in capsys.readouterr().out

    assert main(["anomalies", "--all", "--scope", "sub_account", "--format", "json"]) == 0
    after = {(r["scope_value"], r["anomaly_date"]): r for r in json.loads(capsys.readouterr().out)}
    assert after[(first["scope_value"], first["anomaly_date"])]["feedback"] == "no"

    assert main(["anomalies", "feedback", "sub_account", "x", "2026-01-01"]) == 1
    assert "at least one of" in capsys.readouterr().err


def test_anomalies_without_a_snapshot_says_what_to_do(autostack_home, capsys):
    assert main(["anomalies"]) == 1
    assert "autostack ingest" in capsys.readouterr().err


def test_feedback_store_round_trip_and_validation(autostack_home):
    from datetime import date

    from autostack.store.anomalies import get_all, set_feedback

    set_feedback(autostack_home, "service", "EC2", "billed", date(2026, 3, 1), feedback="yes", user="ana")
    row = set_feedback(autostack_home, "service", "EC2", "billed", "2026-03-01", status="resolved", note="fixed")
    assert (row["feedback"], row["status"], row["note"], row["updated_by"]) == ("yes", "resolved", "fixed", "ana")
    assert [(r["scope_value"], r["anomaly_date"]) for r in get_all(autostack_home)] == [("EC2", date(2026, 3, 1))]
    with pytest.raises(ValueError, match="feedback 'maybe' is not one of yes, no, planned"):
        set_feedback(autostack_home, "service", "EC2", "billed", date(2026, 3, 1), feedback="maybe")
    with pytest.raises(ValueError, match="cost_view"):
        set_feedback(autostack_home, "service", "EC2", "amortized", date(2026, 3, 1), status="open")


@pytest.mark.slow
def test_the_anomalies_table_keeps_the_end_of_long_scope_values(published, capsys):
    # An Azure MCA billing profile's FOCUS BillingAccountId is ~165 characters: whole in json/csv, its
    # end (what tells profiles apart) in the table, so one row does not widen every line.
    import duckdb

    profile = ("/providers/Microsoft.Billing/billingAccounts/0999a3a0-dcdf-4de8-835d-8e34375ed5a6:"
               "c82112e4-1563-4014-8979-4963fc2c3a90_2019-05-31/billingProfiles/CE60-F67C-98BF-5C00")
    with duckdb.connect(str(published.serving_path)) as con:  # this test's own copy of the snapshot
        con.execute("UPDATE ml.anomalies SET scope_value = ? WHERE scope_type = 'billing_account'", [profile])
        assert con.execute("SELECT count(*) FROM ml.anomalies WHERE scope_value = ?", [profile]).fetchall()[0][0]
    assert main(["anomalies", "--all", "--scope", "billing_account", "--format", "json"]) == 0
    assert {r["scope_value"] for r in json.loads(capsys.readouterr().out)} == {profile}
    assert main(["anomalies", "--all", "--scope", "billing_account"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines[1].split()[2]) == 56  # the scope_value column's rule
    assert all("…" + profile[-55:] in line for line in lines[2:])
