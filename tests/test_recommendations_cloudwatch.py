"""CloudWatch GetMetricData through boto3, against moto's server on 127.0.0.1, into metrics.utilization_daily."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import boto3
import duckdb
import pytest

from orchestration.defs.cloudwatch import fetch_utilization
from orchestration.defs.metrics import load_metrics
from tests.moto_server import moto_server  # noqa: F401

pytestmark = pytest.mark.slow  # a moto server and ~100 HTTP calls: ~15 s

END = date(2026, 3, 10)


def _seed(endpoint: str) -> tuple[str, str]:
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=endpoint)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    idle = ec2.run_instances(ImageId=image, InstanceType="m5.xlarge", MinCount=1, MaxCount=1,
                             TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "idle-box"}]}])
    busy = ec2.run_instances(ImageId=image, InstanceType="m5.large", MinCount=1, MaxCount=1)
    idle_id, busy_id = idle["Instances"][0]["InstanceId"], busy["Instances"][0]["InstanceId"]
    cw = boto3.client("cloudwatch", region_name="us-east-1", endpoint_url=endpoint)
    start = datetime(2026, 3, 8, tzinfo=UTC)
    data = []
    for hour in range(48):  # two full days, hourly
        at = start + timedelta(hours=hour)
        data.append((idle_id, "AWS/EC2", "CPUUtilization", 1.0 + (hour % 3), at))
        data.append((busy_id, "AWS/EC2", "CPUUtilization", float(10 + hour), at))
        if hour < 12:  # the busy machine reports memory through the CloudWatch agent for half a day
            data.append((busy_id, "CWAgent", "mem_used_percent", 50.0 + hour, at))
    for namespace in ("AWS/EC2", "CWAgent"):
        batch = [{"MetricName": name, "Dimensions": [{"Name": "InstanceId", "Value": instance}], "Timestamp": at,
                  "Value": value, "Unit": "Percent"} for instance, ns, name, value, at in data if ns == namespace]
        for i in range(0, len(batch), 500):
            cw.put_metric_data(Namespace=namespace, MetricData=batch[i:i + 500])
    return idle_id, busy_id


def test_cloudwatch_daily_utilization_in_the_metrics_format(moto_server, tmp_path):  # noqa: F811
    idle_id, busy_id = _seed(moto_server)
    frame = fetch_utilization(("us-east-1",), moto_server, days=3, end=END)
    assert len(frame) == 4  # two machines, two days with data
    idle = frame[frame["resource_id"] == idle_id].sort_values("date")
    assert list(idle["date"]) == [date(2026, 3, 8), date(2026, 3, 9)]
    first = idle.iloc[0]
    assert first["hours_running"] == 24 and first["cpu_max_pct"] == 3.0 and first["cpu_p95_pct"] <= 3.0
    assert (first["vcpu"], first["memory_gb"], first["resource_name"]) == (4.0, 16.0, "idle-box")
    busy = frame[frame["resource_id"] == busy_id].sort_values("date")
    assert busy.iloc[0]["cpu_max_pct"] == 33.0 and busy.iloc[1]["cpu_max_pct"] == 57.0
    assert busy.iloc[0]["memory_p95_pct"] == pytest.approx(60.45)
    assert busy.iloc[1]["memory_p95_pct"] is None or busy.iloc[1]["memory_p95_pct"] != busy.iloc[1]["memory_p95_pct"]

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    summary = load_metrics(con, (tmp_path / "no-files",), {"cloudwatch:us-east-1": frame})
    assert summary["rows"] == 4 and summary["machines"] == 2
    con.close()
