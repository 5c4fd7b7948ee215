"""Where billing export files come from: landing folders and S3 prefixes.

`discover` lists every export file the settings point at (what the sensor watches),
`expand` turns CLI arguments into the same objects, and `fetch` makes one of them a local
file the loader can read. Listing is cheap on purpose: a local file's version is its size and
mtime, an S3 object's its ETag; the loader computes the real checksum when it loads.

Only billing data files are taken: the clouds deliver manifests, success markers, SQL helpers
and test objects beside them (AWS CUR `*-Manifest.json`, `aws-programmatic-access-test-object`,
Azure `manifest.json`, Spark `_SUCCESS`), and browsers or sync tools leave partial files.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from autostack.settings import Settings
from orchestration.ingest.loader import SourceFile

DATA_SUFFIXES = (".csv", ".gz", ".parquet", ".json", ".jsonl", ".ndjson")
"""Billing data files by (lower-case) name ending; `.gz` covers `.csv.gz`, `.jsonl.gz`, ..."""

PARTIAL_SUFFIXES = (".tmp", ".temp", ".part", ".partial", ".crdownload", ".download", ".filepart", ".swp", "~")
MANIFEST_NAMES = ("manifest.json", "_manifest.json")
MANIFEST_SUFFIXES = ("-manifest.json",)

S3_SCHEME = "s3://"
_ETAG_DIR = ".etags"  # under s3_cache_dir; bucket names cannot start with a dot, so no clash


class SourceError(Exception):
    """A source (landing folder, S3 bucket/prefix, CLI path) cannot be listed or read."""

    def __init__(self, source: str, message: str):
        super().__init__(f"{source}: {message}")
        self.source = source
        self.reason = message


class SourceNotFoundError(SourceError):
    """A path or S3 location that was named explicitly does not exist."""


@dataclass(frozen=True)
class ExportObject:
    """One export file as listed: enough to notice that it is new or changed, not its content."""

    uri: str  # absolute local path, or s3://bucket/key
    version: str  # S3 ETag, or "<size>-<mtime_ns>" for a local file
    size: int
    modified_at: datetime  # timezone-aware UTC

    @property
    def is_s3(self) -> bool:
        return self.uri.startswith(S3_SCHEME)


@dataclass(frozen=True)
class Scan:
    """What a listing of all sources found, and which sources could not be listed (and why)."""

    objects: list[ExportObject]
    failures: dict[str, str] = field(default_factory=dict)  # source → reason

    def covers_failed_source(self, uri: str) -> bool:
        """True if `uri` lies under a source that could not be listed (its absence means nothing)."""
        return any(_is_under(uri, source) for source in self.failures)


# ---------------------------------------------------------------------------------------------
# Which names are billing data files


def is_export_file_name(name: str) -> bool:
    """A file name that can hold billing data (not hidden, partial, a marker or a manifest)."""
    lower = name.lower()
    if not lower or lower.startswith((".", "_")):  # hidden files, _SUCCESS, _committed_*, _started_*
        return False
    if lower.endswith(PARTIAL_SUFFIXES):
        return False
    if lower in MANIFEST_NAMES or lower.endswith(MANIFEST_SUFFIXES):
        return False
    return lower.endswith(DATA_SUFFIXES)


def is_skipped_folder_name(name: str) -> bool:
    """Hidden folders and tool folders such as Spark's `_temporary` or Delta's `_delta_log`."""
    return name.startswith((".", "_"))


def _relative_key_is_export(relative_key: str) -> bool:
    parts = [p for p in relative_key.split("/") if p]
    if not parts or relative_key.endswith("/"):
        return False
    return not any(is_skipped_folder_name(p) for p in parts[:-1]) and is_export_file_name(parts[-1])


# ---------------------------------------------------------------------------------------------
# Listing


def discover(settings: Settings) -> list[ExportObject]:
    """Every export file under the landing folders and S3 sources, oldest delivery first.

    Raises SourceError naming the first source that cannot be listed; `scan` reports
    failures per source instead (what the sensor uses).
    """
    result = scan(settings)
    if result.failures:
        source, reason = next(iter(result.failures.items()))
        raise SourceError(source, reason)
    return result.objects


def scan(settings: Settings) -> Scan:
    """List all sources; a source that cannot be listed is reported, not raised."""
    found: dict[str, ExportObject] = {}
    failures: dict[str, str] = {}
    for landing in settings.landing_dirs:
        root = Path(landing).resolve()
        if not root.exists():
            if root == Path(settings.default_landing_dir).resolve():
                continue  # the default folder appears with the first delivery; nothing to see yet
            failures[str(root)] = "the landing folder does not exist"
            continue
        if not root.is_dir():
            failures[str(root)] = "the landing folder is not a folder"
            continue
        try:
            for obj in _walk_local(root):
                found[obj.uri] = obj
        except OSError as exc:
            failures[str(root)] = f"cannot be listed: {exc}"
    if settings.s3_sources:
        client = None
        for source in settings.s3_sources:
            try:
                bucket, prefix = parse_s3_uri(source)
                client = client or s3_client(settings)
                folder = prefix if not prefix or prefix.endswith("/") else prefix + "/"
                for obj in _list_s3(client, bucket, folder):
                    found[obj.uri] = obj
            except SourceError as exc:
                failures[source] = exc.reason
            except Exception as exc:  # botocore errors: credentials, bucket, network
                failures[source] = describe_s3_error(exc)
    return Scan(sorted(found.values(), key=_delivery_order), failures)


def expand(paths: Iterable[str], settings: Settings) -> list[ExportObject]:
    """CLI arguments → export objects: local files, local folders (recursive), S3 objects or prefixes.

    A file named explicitly is taken as it is (the loader says if it is not a billing export);
    folders and prefixes are filtered like the landing folders. Raises SourceNotFoundError
    naming a path that does not exist, and SourceError for a folder or prefix without exports.
    """
    found: dict[str, ExportObject] = {}
    client = None
    for raw in paths:
        if raw.startswith(S3_SCHEME):
            bucket, key = parse_s3_uri(raw)
            client = client or s3_client(settings)
            objects = _expand_s3(client, raw, bucket, key)
        else:
            objects = _expand_local(raw)
        for obj in objects:
            found[obj.uri] = obj
    return sorted(found.values(), key=_delivery_order)


def _delivery_order(obj: ExportObject) -> tuple[datetime, str]:
    return (obj.modified_at, obj.uri)


def _expand_local(raw: str) -> list[ExportObject]:
    path = Path(raw).expanduser()
    if not path.exists():
        raise SourceNotFoundError(raw, "no such file or folder")
    if path.is_file():
        return [_local_object(path)]
    objects = list(_walk_local(path))
    if not objects:
        raise SourceError(raw, f"no billing export files in this folder (looked for {', '.join(DATA_SUFFIXES)})")
    return objects


def _walk_local(root: Path) -> Iterator[ExportObject]:
    def fail(exc: OSError) -> None:
        raise exc

    for folder, dirnames, filenames in os.walk(root, onerror=fail):
        dirnames[:] = sorted(d for d in dirnames if not is_skipped_folder_name(d))
        for name in sorted(filenames):
            if not is_export_file_name(name):
                continue
            try:
                obj = _local_object(Path(folder) / name)
            except OSError:
                continue  # vanished while listing, or a broken link: not a delivery
            yield obj


def _local_object(path: Path) -> ExportObject:
    resolved = path.resolve()
    stat = resolved.stat()
    return ExportObject(
        uri=str(resolved),
        version=f"{stat.st_size}-{stat.st_mtime_ns}",
        size=stat.st_size,
        modified_at=datetime.fromtimestamp(stat.st_mtime, UTC),
    )


# ---------------------------------------------------------------------------------------------
# S3


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/prefix/key` → (bucket, "prefix/key")."""
    if not uri.startswith(S3_SCHEME):
        raise SourceError(uri, "not an S3 URI; expected s3://bucket/prefix")
    bucket, _, key = uri[len(S3_SCHEME):].partition("/")
    if not bucket:
        raise SourceError(uri, "no bucket name; expected s3://bucket/prefix")
    return bucket, key


def s3_client(settings: Settings):
    """An S3 client from the standard AWS credential chain (environment, profile, role)."""
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=10,
        read_timeout=60,
        retries={"max_attempts": 3, "mode": "standard"},
        # S3-compatible stores (MinIO, Ceph, a local test server) are reached by path, not by DNS name.
        s3={"addressing_style": "path"} if settings.s3_endpoint_url else None,
    )
    return boto3.session.Session().client("s3", endpoint_url=settings.s3_endpoint_url, config=config)


def describe_s3_error(exc: Exception) -> str:
    """A one-line reason for an S3 failure: the error code and message, never credentials."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        error = response["Error"]
        code = error.get("Code") or response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        message = error.get("Message") or ""
        return f"S3 error {code}: {message}".rstrip(": ")
    return f"{type(exc).__name__}: {exc}"


def _error_code(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    return response.get("Error", {}).get("Code") if isinstance(response, dict) else None


def _s3_object(bucket: str, key: str, etag: str, size: int, modified: datetime) -> ExportObject:
    return ExportObject(
        uri=f"{S3_SCHEME}{bucket}/{key}",
        version=etag.strip('"'),
        size=int(size),
        modified_at=modified.astimezone(UTC),
    )


def _list_s3(client, bucket: str, prefix: str) -> Iterator[ExportObject]:
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            if _relative_key_is_export(key[len(prefix):]):
                yield _s3_object(bucket, key, item["ETag"], item["Size"], item["LastModified"])


def _expand_s3(client, raw: str, bucket: str, key: str) -> list[ExportObject]:
    from botocore.exceptions import ClientError

    try:
        if key and not key.endswith("/"):
            try:
                head = client.head_object(Bucket=bucket, Key=key)
                return [_s3_object(bucket, key, head["ETag"], head["ContentLength"], head["LastModified"])]
            except ClientError as exc:
                if _error_code(exc) not in ("404", "NoSuchKey", "NotFound"):
                    raise
        folder = key if not key or key.endswith("/") else key + "/"
        objects = list(_list_s3(client, bucket, folder))
    except ClientError as exc:
        if _error_code(exc) == "NoSuchBucket":
            raise SourceNotFoundError(raw, f"no such bucket {bucket!r}") from exc
        raise SourceError(raw, describe_s3_error(exc)) from exc
    except SourceError:
        raise
    except Exception as exc:  # credentials, endpoint, network
        raise SourceError(raw, describe_s3_error(exc)) from exc
    if not objects:
        raise SourceNotFoundError(raw, "no such S3 object, and no billing export files under it as a prefix")
    return objects


# ---------------------------------------------------------------------------------------------
# Fetching


def fetch(obj: ExportObject, settings: Settings, *, client=None) -> SourceFile:
    """A local file the loader can read, with where it came from.

    Local files are used where they are. S3 objects are downloaded to the S3 cache folder
    (bucket/key mirrored), atomically, and only when the cached copy's ETag differs.
    """
    if not obj.is_s3:
        return SourceFile.local(Path(obj.uri))
    bucket, key = parse_s3_uri(obj.uri)
    cache_root = Path(settings.s3_cache_dir).resolve()
    cached = _inside(cache_root, bucket, key, obj.uri)
    sidecar = _inside(cache_root / _ETAG_DIR, bucket, key + ".json", obj.uri)
    parent_prefix = key.rpartition("/")[0]
    delivery = f"{S3_SCHEME}{bucket}/{parent_prefix}" if parent_prefix else f"{S3_SCHEME}{bucket}"

    remembered = _read_sidecar(sidecar)
    if remembered and remembered.get("etag") == obj.version and cached.is_file() and cached.stat().st_size == obj.size:
        modified = datetime.fromisoformat(remembered["last_modified"]) if remembered.get("last_modified") else obj.modified_at
        return SourceFile(local_path=cached, uri=obj.uri, delivery=delivery, modified_at=_naive_utc(modified))

    client = client or s3_client(settings)
    try:
        response = client.get_object(Bucket=bucket, Key=key)
    except Exception as exc:  # botocore errors: missing object, credentials, network
        if _error_code(exc) in ("NoSuchKey", "404", "NoSuchBucket"):
            raise SourceNotFoundError(obj.uri, "the object no longer exists") from exc
        raise SourceError(obj.uri, f"cannot be downloaded: {describe_s3_error(exc)}") from exc
    etag = response["ETag"].strip('"')
    modified = response["LastModified"].astimezone(UTC)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        sidecar.parent.mkdir(parents=True, exist_ok=True)
        temp = cached.with_name(f".{cached.name}.{uuid.uuid4().hex}.tmp")
        try:
            with open(temp, "wb") as out:
                shutil.copyfileobj(response["Body"], out, 1 << 20)
            sidecar.unlink(missing_ok=True)  # the old ETag must never describe the new bytes
            os.replace(temp, cached)
        finally:
            temp.unlink(missing_ok=True)
        _write_sidecar(sidecar, {"etag": etag, "last_modified": modified.isoformat(), "size": cached.stat().st_size})
    except OSError as exc:
        raise SourceError(obj.uri, f"cannot be cached at {cached}: {exc}") from exc
    finally:
        response["Body"].close()
    return SourceFile(local_path=cached, uri=obj.uri, delivery=delivery, modified_at=_naive_utc(modified))


def _inside(root: Path, bucket: str, key: str, uri: str) -> Path:
    """root/bucket/key, refusing keys that would escape the cache (`..`, absolute parts)."""
    parts = [p for p in key.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise SourceError(uri, "the key cannot be mirrored as a local path (empty, '.' or '..' parts)")
    path = root.joinpath(bucket, *parts)
    if root not in path.parents:
        raise SourceError(uri, f"the key would be cached outside {root}")
    return path


def _read_sidecar(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write_sidecar(path: Path, data: dict) -> None:
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    temp.write_text(json.dumps(data))
    os.replace(temp, path)


def _naive_utc(moment: datetime) -> datetime:
    """The loader stores TIMESTAMP (UTC, no zone), like SourceFile.local."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _is_under(uri: str, source: str) -> bool:
    if source.startswith(S3_SCHEME):
        folder = source if source.endswith("/") else source + "/"
        return uri.startswith(folder) or uri == source
    return uri == source or uri.startswith(source.rstrip(os.sep) + os.sep)
