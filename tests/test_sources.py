"""Finding export files in landing folders and S3 (a real moto server), and fetching them."""

from __future__ import annotations

import dataclasses
import gzip
import os
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest

from orchestration.ingest.loader import SourceFile, load_file
from orchestration.sources import (
    ExportObject,
    SourceError,
    SourceNotFoundError,
    discover,
    expand,
    fetch,
    scan,
)
from tests.conftest import SAMPLES
from tests.moto_server import moto_server  # noqa: F401  (fixture)

FOCUS_SAMPLE = SAMPLES / "focus-1.0-sample-aws" / "focus_sample_aws.csv"
CUR_SAMPLE = SAMPLES / "aws-cur-legacy" / "aws-cur-legacy_sample-anonymous-aws-export-dataset.csv"
AZURE_SAMPLE = SAMPLES / "azure-ea-cost-export" / "EA_ActualCost_Small.csv"

# Seconds since the epoch, so the expected order does not depend on when files were written.
NOV, DEC, JAN = 1_700_000_000, 1_701_500_000, 1_704_100_000


def _write(path: Path, data: bytes, mtime: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


@pytest.fixture
def landing(autostack_home, tmp_path):
    """A landing folder laid out as the clouds deliver, with the junk they deliver beside the data."""
    root = tmp_path / "landing"
    cur = root / "aws" / "cur" / "my-report" / "20231101-20231201"
    data = {
        "cur_part1": _write(cur / "a1b2-assembly" / "my-report-00001.csv.gz", gzip.compress(CUR_SAMPLE.read_bytes()), DEC),
        "cur_part2": _write(cur / "a1b2-assembly" / "my-report-00002.csv.gz", gzip.compress(b"x,y\n1,2\n"), DEC),
        "azure": _write(root / "azure" / "daily" / "20240101-20240131" / "run-7" / "part_0_0001.csv", AZURE_SAMPLE.read_bytes(), JAN),
        "focus": _write(root / "focus" / "focus_sample_aws.csv", FOCUS_SAMPLE.read_bytes(), NOV),
        "parquet": _write(root / "cur2" / "data" / "BILLING_PERIOD=2024-01" / "part-0.snappy.parquet", b"PAR1", JAN),
        "jsonl": _write(root / "gcp" / "billing.JSONL", b'{"a": 1}\n', JAN),
        "ndjson_gz": _write(root / "gcp" / "billing-2.ndjson.gz", gzip.compress(b'{"a": 1}\n'), JAN),
    }
    junk = [
        cur / "my-report-Manifest.json",  # AWS CUR delivery manifest
        cur / "a1b2-assembly" / "my-report-Manifest.json",
        root / "aws" / "cur" / "aws-programmatic-access-test-object",
        root / "aws" / "cur" / "my-report" / "my-report-create-table.sql",
        root / "azure" / "daily" / "20240101-20240131" / "run-7" / "manifest.json",  # Azure export manifest
        root / "cur2" / "data" / "_SUCCESS",
        root / "cur2" / "_temporary" / "0" / "part-0.parquet",  # Spark's in-flight output
        root / "focus" / ".focus_sample_aws.csv.swp",
        root / "focus" / "next.csv.tmp",
        root / "focus" / "download.csv.crdownload",
        root / "focus" / "notes.txt",
        root / ".git" / "objects" / "x.csv",  # hidden folder
        root / ".hidden.csv",
    ]
    for path in junk:
        _write(path, b"not billing data\n", JAN)
    settings = dataclasses.replace(autostack_home, landing_dirs=(root,))
    return settings, root, data


def test_discover_landing_folder_takes_data_files_only_oldest_first(landing):
    settings, root, data = landing
    found = discover(settings)

    expected = sorted(data.values(), key=lambda p: (p.stat().st_mtime, str(p)))
    assert [o.uri for o in found] == [str(p) for p in expected]
    assert found[0].uri == str(data["focus"])  # November before December before January
    assert {o.uri for o in found[1:3]} == {str(data["cur_part1"]), str(data["cur_part2"])}
    for obj in found:
        stat = Path(obj.uri).stat()
        assert obj.version == f"{stat.st_size}-{stat.st_mtime_ns}"
        assert obj.size == stat.st_size
        assert obj.modified_at == datetime.fromtimestamp(stat.st_mtime, UTC)
        assert not obj.is_s3


def test_local_version_changes_when_the_file_changes(landing):
    settings, _, data = landing
    before = {o.uri: o.version for o in discover(settings)}
    _write(data["azure"], AZURE_SAMPLE.read_bytes() + b"\n", JAN + 60)
    after = {o.uri: o.version for o in discover(settings)}
    assert {u for u in after if after[u] != before[u]} == {str(data["azure"])}


def test_several_landing_folders_and_a_missing_one(landing, tmp_path):
    settings, root, data = landing
    second = tmp_path / "second"
    extra = _write(second / "more.csv", FOCUS_SAMPLE.read_bytes(), NOV - 10)
    both = dataclasses.replace(settings, landing_dirs=(root, second))
    assert discover(both)[0].uri == str(extra)
    assert len(discover(both)) == len(data) + 1

    missing = tmp_path / "typo-in-config"
    broken = dataclasses.replace(settings, landing_dirs=(root, missing))
    result = scan(broken)
    assert result.failures == {str(missing): "the landing folder does not exist"}
    assert len(result.objects) == len(data)  # the folders that exist are still listed
    with pytest.raises(SourceError, match="typo-in-config: the landing folder does not exist"):
        discover(broken)


def test_default_landing_folder_may_not_exist_yet(autostack_home):
    autostack_home.default_landing_dir.rmdir()
    assert discover(autostack_home) == []


def test_expand_files_folders_and_missing_paths(landing, tmp_path):
    settings, root, data = landing
    folder = expand([str(root / "aws")], settings)
    assert [o.uri for o in folder] == sorted([str(data["cur_part1"]), str(data["cur_part2"])])

    # A file named explicitly is taken even if a folder scan would skip it: the loader judges it.
    notes = root / "focus" / "notes.txt"
    both = expand([str(notes), str(data["focus"]), str(root / "focus")], settings)
    assert [o.uri for o in both] == [str(data["focus"]), str(notes)]

    with pytest.raises(SourceNotFoundError, match=r"nowhere\.csv: no such file or folder"):
        expand([str(data["focus"]), str(tmp_path / "nowhere.csv")], settings)
    empty = tmp_path / "empty"
    _write(empty / "_SUCCESS", b"")
    with pytest.raises(SourceError, match=r"empty: no billing export files in this folder"):
        expand([str(empty)], settings)


def test_fetch_local_file_is_used_in_place(landing):
    settings, _, data = landing
    obj = next(o for o in discover(settings) if o.uri == str(data["focus"]))
    source = fetch(obj, settings)
    assert source == SourceFile.local(data["focus"])
    assert source.delivery == str(data["focus"].parent)


# ------------------------------------------------------------------------------------------
# S3 through a real moto server


@pytest.fixture
def bucket(moto_server, autostack_home):
    s3 = boto3.client("s3", endpoint_url=moto_server)
    s3.create_bucket(Bucket="billing-exports")
    settings = dataclasses.replace(
        autostack_home, s3_sources=("s3://billing-exports/cur",), s3_endpoint_url=moto_server
    )
    return s3, settings


def _count_downloads(client) -> list[str]:
    calls: list[str] = []
    client.meta.events.register("before-parameter-build.s3.GetObject", lambda params, **_: calls.append(params["Key"]))
    return calls


def test_s3_discover_fetch_cache_and_change(bucket):
    s3, settings = bucket
    data_key = "cur/my-report/20240901-20241001/a1b2/focus-00001.csv.gz"
    second_key = "cur/my-report/20240901-20241001/a1b2/focus-00002.csv"
    body = gzip.compress(FOCUS_SAMPLE.read_bytes())
    s3.put_object(Bucket="billing-exports", Key=data_key, Body=body)
    s3.put_object(Bucket="billing-exports", Key=second_key, Body=b"BilledCost\n1\n")
    for junk in (
        "cur/my-report/20240901-20241001/my-report-Manifest.json",
        "cur/aws-programmatic-access-test-object",
        "cur/my-report/.staging/x.csv",
        "cur/my-report/20240901-20241001/a1b2/_SUCCESS",
        "cur/",  # a "folder" marker object
        "cur2/not-under-the-prefix.csv",  # s3://billing-exports/cur is a folder, not a name prefix
        "elsewhere/x.csv",
    ):
        s3.put_object(Bucket="billing-exports", Key=junk, Body=b"junk")

    found = discover(settings)
    assert [o.uri for o in found] == [f"s3://billing-exports/{data_key}", f"s3://billing-exports/{second_key}"]
    head = s3.head_object(Bucket="billing-exports", Key=data_key)
    obj = found[0]
    assert obj.is_s3
    assert obj.version == head["ETag"].strip('"')
    assert obj.size == head["ContentLength"]
    assert obj.modified_at == head["LastModified"]

    client = boto3.client("s3", endpoint_url=settings.s3_endpoint_url)
    downloads = _count_downloads(client)
    source = fetch(obj, settings, client=client)
    cached = settings.s3_cache_dir / "billing-exports" / data_key
    assert source.local_path == cached.resolve()
    assert cached.read_bytes() == body
    assert source.uri == f"s3://billing-exports/{data_key}"
    assert source.delivery == "s3://billing-exports/cur/my-report/20240901-20241001/a1b2"
    assert source.modified_at == head["LastModified"].astimezone(UTC).replace(tzinfo=None)
    assert downloads == [data_key]
    assert not [p for p in cached.parent.iterdir() if p.name.endswith(".tmp")]

    again = fetch(obj, settings, client=client)
    assert again == source
    assert downloads == [data_key]  # the cached copy had the same ETag: no second download

    changed_body = gzip.compress(FOCUS_SAMPLE.read_bytes().replace(b"SunBird", b"SunBird2"))
    s3.put_object(Bucket="billing-exports", Key=data_key, Body=changed_body)
    changed = next(o for o in discover(settings) if o.uri == obj.uri)
    assert changed.version != obj.version
    assert changed.version == s3.head_object(Bucket="billing-exports", Key=data_key)["ETag"].strip('"')
    refreshed = fetch(changed, settings, client=client)
    assert downloads == [data_key, data_key]
    assert refreshed.local_path.read_bytes() == changed_body


def test_s3_fetched_file_loads_with_its_s3_uri(bucket, warehouse):
    s3, settings = bucket
    key = "cur/focus/2024-09/focus_sample_aws.csv"
    s3.put_object(Bucket="billing-exports", Key=key, Body=FOCUS_SAMPLE.read_bytes())
    (obj,) = discover(settings)
    result = load_file(warehouse, fetch(obj, settings))
    assert result.outcome == "loaded", result.error
    assert result.uri == f"s3://billing-exports/{key}"
    rows = warehouse.execute(
        "SELECT source_uri, delivery, local_path FROM ingest.file_loads WHERE outcome = 'loaded'"
    ).fetchall()
    assert rows == [(f"s3://billing-exports/{key}", "s3://billing-exports/cur/focus/2024-09",
                     str(settings.s3_cache_dir.resolve() / "billing-exports" / key))]


def test_s3_expand_objects_prefixes_and_missing(bucket):
    s3, settings = bucket
    for key in ("cur/a/one.csv", "cur/a/two.parquet", "cur/a/x-Manifest.json", "cur/b/three.csv"):
        s3.put_object(Bucket="billing-exports", Key=key, Body=b"x")
    assert [o.uri for o in expand(["s3://billing-exports/cur/a/one.csv"], settings)] == ["s3://billing-exports/cur/a/one.csv"]
    assert sorted(o.uri for o in expand(["s3://billing-exports/cur/a"], settings)) == [
        "s3://billing-exports/cur/a/one.csv", "s3://billing-exports/cur/a/two.parquet"
    ]
    assert len(expand(["s3://billing-exports/", "s3://billing-exports/cur/b/three.csv"], settings)) == 3
    with pytest.raises(SourceNotFoundError, match=r"s3://billing-exports/cur/zzz: no such S3 object"):
        expand(["s3://billing-exports/cur/zzz"], settings)
    with pytest.raises(SourceNotFoundError, match=r"s3://no-such-bucket/x.csv: no such bucket 'no-such-bucket'"):
        expand(["s3://no-such-bucket/x.csv"], settings)
    with pytest.raises(SourceError, match=r"s3:///x.csv: no bucket name"):
        expand(["s3:///x.csv"], settings)


def test_s3_unreadable_bucket_is_reported_with_its_name(bucket):
    _, settings = bucket
    broken = dataclasses.replace(settings, s3_sources=("s3://billing-exports/cur", "s3://no-such-bucket/exports"))
    result = scan(broken)
    assert list(result.failures) == ["s3://no-such-bucket/exports"]
    assert "NoSuchBucket" in result.failures["s3://no-such-bucket/exports"]
    with pytest.raises(SourceError, match=r"s3://no-such-bucket/exports: S3 error NoSuchBucket"):
        discover(broken)


def test_s3_unreachable_endpoint_is_reported(autostack_home, moto_server):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = dataclasses.replace(
        autostack_home, s3_sources=("s3://billing-exports",), s3_endpoint_url=f"http://127.0.0.1:{port}"
    )
    result = scan(settings)
    assert "EndpointConnectionError" in result.failures["s3://billing-exports"]


def test_fetch_refuses_keys_that_escape_the_cache(autostack_home):
    obj = ExportObject("s3://bucket/a/../../../etc/passwd.csv", "etag", 1, datetime.now(UTC))
    with pytest.raises(SourceError, match=r"passwd.csv: the key cannot be mirrored"):
        fetch(obj, autostack_home)
