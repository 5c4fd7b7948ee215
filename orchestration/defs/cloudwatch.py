"""Optional: AWS machines' daily utilization from CloudWatch GetMetricData, in the metrics file format.

Enabled by `AUTOSTACK_CLOUDWATCH_REGIONS` (comma-separated); `AUTOSTACK_CLOUDWATCH_ENDPOINT_URL`
points boto3 at another endpoint (tests use moto's server on 127.0.0.1). Credentials come from the
standard AWS chain, never from AutoStack's settings. For each region: the EC2 instances
(DescribeInstances), their hourly `AWS/EC2 CPUUtilization` averages and, when the CloudWatch agent
publishes it, `CWAgent mem_used_percent`, over the last `days` days; each machine-day becomes one
row: hours_running = hours with a datapoint, CPU p50/p95/max over those hours, memory p95.
"""

from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pandas as pd

from autostack.pricing import load_specs

METRIC_COLUMNS = ["date", "provider", "account_id", "resource_id", "resource_name", "instance_type", "region", "vcpu",
                  "memory_gb", "hours_running", "cpu_p50_pct", "cpu_p95_pct", "cpu_max_pct", "memory_p95_pct"]
QUERIES_PER_CALL = 500  # GetMetricData's limit


def _client(service: str, region: str, endpoint_url: str | None):
    import boto3

    return boto3.client(service, region_name=region, endpoint_url=endpoint_url or None)


def list_instances(region: str, endpoint_url: str | None = None) -> list[dict]:
    ec2 = _client("ec2", region, endpoint_url)
    out = []
    for page in ec2.get_paginator("describe_instances").paginate():
        for reservation in page["Reservations"]:
            for inst in reservation["Instances"]:
                name = next((t["Value"] for t in inst.get("Tags", []) if t["Key"] == "Name"), None)
                out.append({"resource_id": inst["InstanceId"], "instance_type": inst["InstanceType"],
                            "account_id": reservation.get("OwnerId"), "resource_name": name, "region": region})
    return out


def _hourly(cloudwatch, queries: list[dict], start: datetime, end: datetime) -> dict[str, pd.Series]:
    """Query id -> hourly values (indexed by timestamp), following NextToken pages."""
    series: dict[str, list] = {}
    for i in range(0, len(queries), QUERIES_PER_CALL):
        kwargs = {"MetricDataQueries": queries[i:i + QUERIES_PER_CALL], "StartTime": start, "EndTime": end}
        while True:
            response = cloudwatch.get_metric_data(**kwargs)
            for result in response["MetricDataResults"]:
                series.setdefault(result["Id"], []).extend(zip(result["Timestamps"], result["Values"]))
            token = response.get("NextToken")
            if not token:
                break
            kwargs["NextToken"] = token
    return {qid: pd.Series({pd.Timestamp(t).tz_convert("UTC"): v for t, v in points}) for qid, points in series.items()}


def _query(qid: str, namespace: str, metric: str, instance_id: str) -> dict:
    return {"Id": qid, "ReturnData": True, "MetricStat": {
        "Metric": {"Namespace": namespace, "MetricName": metric, "Dimensions": [{"Name": "InstanceId", "Value": instance_id}]},
        "Period": 3600, "Stat": "Average"}}


def daily_rows(instance: dict, cpu: pd.Series, memory: pd.Series | None, specs: dict[str, tuple[float, float]]) -> list[dict]:
    """One metrics row per day with at least one hourly CPU datapoint."""
    if cpu is None or cpu.empty:
        return []
    vcpu, memory_gb = specs.get(instance["instance_type"].lower(), (None, None))
    rows = []
    for day, values in cpu.groupby(cpu.index.date):
        mem = memory[memory.index.date == day] if memory is not None and not memory.empty else pd.Series(dtype=float)
        v = np.asarray(values, dtype=float)
        rows.append({
            "date": day, "provider": "aws", "account_id": instance.get("account_id"), "resource_id": instance["resource_id"],
            "resource_name": instance.get("resource_name") or instance["resource_id"], "instance_type": instance["instance_type"],
            "region": instance["region"], "vcpu": vcpu, "memory_gb": memory_gb, "hours_running": float(len(v)),
            "cpu_p50_pct": float(np.percentile(v, 50)), "cpu_p95_pct": float(np.percentile(v, 95)),
            "cpu_max_pct": float(v.max()), "memory_p95_pct": float(np.percentile(mem, 95)) if len(mem) else None,
        })
    return rows


def fetch_utilization(regions: tuple[str, ...], endpoint_url: str | None = None, days: int = 30,
                      end: date | None = None) -> pd.DataFrame:
    """Daily utilization of every EC2 instance in the regions over the `days` complete days before `end` (default today)."""
    end_day = end or datetime.now(UTC).date()
    stop = datetime.combine(end_day, time(0), tzinfo=UTC)
    start = stop - timedelta(days=days)
    specs = load_specs("aws")
    rows: list[dict] = []
    for region in regions:
        instances = list_instances(region, endpoint_url)
        if not instances:
            continue
        queries = []
        for i, inst in enumerate(instances):
            queries.append(_query(f"cpu{i}", "AWS/EC2", "CPUUtilization", inst["resource_id"]))
            queries.append(_query(f"mem{i}", "CWAgent", "mem_used_percent", inst["resource_id"]))
        hourly = _hourly(_client("cloudwatch", region, endpoint_url), queries, start, stop)
        for i, inst in enumerate(instances):
            rows.extend(daily_rows(inst, hourly.get(f"cpu{i}"), hourly.get(f"mem{i}"), specs))
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)
