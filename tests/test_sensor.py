"""The `new_export_files` sensor, evaluated tick by tick with build_sensor_context."""

# No `from __future__ import annotations`: Dagster reads the op's config class from its annotation.
import dataclasses
import json
import os
from pathlib import Path

import boto3
import dagster as dg
import pytest

from orchestration.defs.sensors import build_export_files_sensor, run_key_for
from orchestration.sources import discover
from tests.conftest import SAMPLES
from tests.moto_server import moto_server  # noqa: F401  (fixture)

FOCUS_SAMPLE = SAMPLES / "focus-1.0-sample-aws" / "focus_sample_aws.csv"
AZURE_SAMPLE = SAMPLES / "azure-ea-cost-export" / "EA_ActualCost_Small.csv"


# A stand-in with the shape of the real ingest job (orchestration/defs/ingest.py), so the
# sensor's run config is checked against a job's config schema without depending on it.
class RawBillingFilesConfig(dg.Config):
    uris: list[str]
    force: bool = False


@dg.op(name="raw_billing_files")
def raw_billing_files(config: RawBillingFilesConfig) -> list[str]:
    return list(config.uris)


@dg.job(name="ingest_job")
def ingest_job():
    raw_billing_files()


def _write(path: Path, data: bytes, mtime: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return path


def _tick(sensor: dg.SensorDefinition, cursor: str | None) -> dg.SensorResult:
    with dg.build_sensor_context(cursor=cursor, sensor_name=sensor.name) as context:
        result = sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


def _uris(result: dg.SensorResult) -> list[str]:
    (request,) = result.run_requests
    return request.run_config["ops"]["raw_billing_files"]["config"]["uris"]


@pytest.fixture
def landing(autostack_home, tmp_path):
    root = tmp_path / "landing"
    files = {
        "focus": _write(root / "focus" / "2024-09" / "focus_sample_aws.csv", FOCUS_SAMPLE.read_bytes(), 1_700_000_000),
        "azure": _write(root / "azure" / "run-1" / "part_0_0001.csv", AZURE_SAMPLE.read_bytes(), 1_700_100_000),
    }
    _write(root / "azure" / "run-1" / "manifest.json", b"{}", 1_700_100_000)
    settings = dataclasses.replace(autostack_home, landing_dirs=(root,), sensor_interval_seconds=45)
    return settings, root, files


def test_sensor_definition(landing):
    settings, _, _ = landing
    sensor = build_export_files_sensor(settings=settings)
    assert sensor.name == "new_export_files"
    assert sensor.job_name == "ingest_job"
    assert sensor.minimum_interval_seconds == 45
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    dg.Definitions.validate_loadable(dg.Definitions(jobs=[ingest_job], sensors=[sensor]))
    assert build_export_files_sensor("other_job", settings=settings).job_name == "other_job"


def test_ticks_request_new_then_skip_then_changed_then_new(landing):
    settings, root, files = landing
    sensor = build_export_files_sensor(settings=settings)

    first = _tick(sensor, None)
    assert _uris(first) == [str(files["focus"]), str(files["azure"])]  # oldest delivery first
    (request,) = first.run_requests
    assert request.tags == {"autostack/trigger": "sensor", "autostack/files": "2"}
    assert request.run_config["ops"]["raw_billing_files"]["config"]["force"] is False
    assert request.run_key == run_key_for(discover(settings))
    assert json.loads(first.cursor) == {o.uri: o.version for o in discover(settings)}
    # The request is valid for a job with the ingest op's config, and runs it with those files.
    dg.validate_run_config(ingest_job, request.run_config)
    run = ingest_job.execute_in_process(run_config=request.run_config)
    assert run.output_for_node("raw_billing_files") == _uris(first)

    second = _tick(sensor, first.cursor)
    assert not second.run_requests
    assert "no new or changed export files among 2 listed" in second.skip_reason.skip_message
    assert second.cursor == first.cursor

    _write(files["azure"], AZURE_SAMPLE.read_bytes() + b"\n", 1_700_200_000)
    third = _tick(sensor, second.cursor)
    assert _uris(third) == [str(files["azure"])]
    assert third.run_requests[0].tags["autostack/files"] == "1"
    assert third.run_requests[0].run_key != request.run_key

    new = _write(root / "focus" / "2024-10" / "focus_sample_aws.csv", FOCUS_SAMPLE.read_bytes(), 1_700_300_000)
    fourth = _tick(sensor, third.cursor)
    assert _uris(fourth) == [str(new)]
    assert set(json.loads(fourth.cursor)) == {str(files["focus"]), str(files["azure"]), str(new)}
    assert _tick(sensor, fourth.cursor).skip_reason is not None


def test_run_key_depends_on_files_and_versions_not_order(landing):
    settings, _, files = landing
    objects = discover(settings)
    assert run_key_for(objects) == run_key_for(list(reversed(objects)))
    assert run_key_for(objects) != run_key_for(objects[:1])
    bumped = [dataclasses.replace(objects[0], version="other"), objects[1]]
    assert run_key_for(bumped) != run_key_for(objects)


def test_removed_file_is_reported_not_requested(landing):
    settings, _, files = landing
    sensor = build_export_files_sensor(settings=settings)
    first = _tick(sensor, None)
    files["focus"].unlink()
    second = _tick(sensor, first.cursor)
    assert not second.run_requests
    message = second.skip_reason.skip_message
    assert f"1 file(s) no longer listed (loaded data kept): {files['focus']}" in message
    assert json.loads(second.cursor) == {str(files["azure"]): json.loads(first.cursor)[str(files["azure"])]}
    # Delivered again later, it is new again (the loader then skips it if the content is unchanged).
    _write(files["focus"], FOCUS_SAMPLE.read_bytes(), 1_700_000_000)
    assert _uris(_tick(sensor, second.cursor)) == [str(files["focus"])]


def test_unreadable_cursor_starts_over(landing):
    settings, _, files = landing
    sensor = build_export_files_sensor(settings=settings)
    assert len(_uris(_tick(sensor, "not json"))) == 2
    assert len(_uris(_tick(sensor, "[1, 2]"))) == 2


def test_s3_objects_are_requested_by_uri(moto_server, autostack_home):
    s3 = boto3.client("s3", endpoint_url=moto_server)
    s3.create_bucket(Bucket="billing-exports")
    s3.put_object(Bucket="billing-exports", Key="focus/2024-09/part-1.csv", Body=FOCUS_SAMPLE.read_bytes())
    settings = dataclasses.replace(
        autostack_home, s3_sources=("s3://billing-exports/focus",), s3_endpoint_url=moto_server
    )
    sensor = build_export_files_sensor(settings=settings)
    first = _tick(sensor, None)
    assert _uris(first) == ["s3://billing-exports/focus/2024-09/part-1.csv"]
    etag = s3.head_object(Bucket="billing-exports", Key="focus/2024-09/part-1.csv")["ETag"].strip('"')
    assert json.loads(first.cursor) == {"s3://billing-exports/focus/2024-09/part-1.csv": etag}
    assert _tick(sensor, first.cursor).skip_reason is not None

    s3.put_object(Bucket="billing-exports", Key="focus/2024-09/part-1.csv", Body=FOCUS_SAMPLE.read_bytes() + b"\n")
    assert _uris(_tick(sensor, first.cursor)) == ["s3://billing-exports/focus/2024-09/part-1.csv"]


def test_unreadable_bucket_gives_a_skip_reason_naming_it(moto_server, landing):
    settings, _, files = landing
    s3 = boto3.client("s3", endpoint_url=moto_server)
    s3.create_bucket(Bucket="billing-exports")
    s3.put_object(Bucket="billing-exports", Key="cur/a.csv", Body=FOCUS_SAMPLE.read_bytes())
    settings = dataclasses.replace(
        settings, s3_sources=("s3://billing-exports/cur",), s3_endpoint_url=moto_server
    )
    sensor = build_export_files_sensor(settings=settings)
    first = _tick(sensor, None)
    assert len(_uris(first)) == 3

    # The bucket becomes unreadable: its files are not "removed", and the tick says which bucket failed.
    s3.delete_object(Bucket="billing-exports", Key="cur/a.csv")
    s3.delete_bucket(Bucket="billing-exports")
    second = _tick(sensor, first.cursor)
    assert not second.run_requests
    message = second.skip_reason.skip_message
    assert "could not list s3://billing-exports/cur (S3 error NoSuchBucket" in message
    assert "no longer listed" not in message
    assert second.cursor == first.cursor

    # Local deliveries are still requested while a bucket is failing.
    new = _write(files["focus"].parent / "more.csv", FOCUS_SAMPLE.read_bytes(), 1_700_500_000)
    third = _tick(sensor, second.cursor)
    assert _uris(third) == [str(new)]
    assert "s3://billing-exports/cur/a.csv" in json.loads(third.cursor)


def test_never_listed_bucket_only(moto_server, autostack_home):
    settings = dataclasses.replace(
        autostack_home, s3_sources=("s3://no-such-bucket",), s3_endpoint_url=moto_server
    )
    result = _tick(build_export_files_sensor(settings=settings), None)
    assert "could not list s3://no-such-bucket (S3 error NoSuchBucket" in result.skip_reason.skip_message
