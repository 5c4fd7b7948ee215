"""The ingest asset: load export files into raw.* atomically, one transaction per file, files of
different raw tables side by side (orchestration/ingest/parallel.py)."""


from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    Config,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)
from dagster_duckdb import DuckDBResource
from pydantic import Field

from orchestration import sources
from orchestration.checks.raw_expectations import check_raw_loads
from orchestration.ingest.formats import FORMATS
from orchestration.ingest.loader import LoadResult, ensure_raw_tables
from orchestration.ingest.parallel import default_workers, load_files
from orchestration.resources import AutoStackSettings


class IngestConfig(Config):
    uris: list[str] = Field(
        default_factory=list,
        description="Files, folders, s3:// objects or prefixes to load. Empty: every configured source.",
    )
    force: bool = Field(default=False, description="Reload files even when their checksum is unchanged.")


FILE_LOADS = AssetKey(["ingest", "file_loads"])
PARTITIONS = AssetKey(["ingest", "partitions"])
RAW_TABLE_KEYS = {fmt.raw_table: AssetKey(fmt.raw_table.split(".")) for fmt in FORMATS}


def _raw_table_spec(raw_table: str) -> AssetSpec:
    formats = ", ".join(f.description for f in FORMATS if f.raw_table == raw_table)
    return AssetSpec(RAW_TABLE_KEYS[raw_table], group_name="ingest", kinds={"duckdb"},
                     description=f"{raw_table}: rows as delivered, per billing account and period. Formats: {formats}.")


@multi_asset(
    name="raw_billing_files",
    specs=[
        *(_raw_table_spec(table) for table in RAW_TABLE_KEYS),
        AssetSpec(FILE_LOADS, group_name="ingest", kinds={"duckdb"},
                  description="Every attempt to load an export file: checksum, format, totals, outcome, error."),
        AssetSpec(PARTITIONS, group_name="ingest", kinds={"duckdb"},
                  description="The current (billing account, billing period, dataset) slices of each raw table."),
    ],
    pool="warehouse",
    description=(
        "Load billing export files (FOCUS, AWS CUR, Azure exports, GCP billing export) into raw.* tables, "
        "one atomic transaction per file."
    ),
    check_specs=[
        AssetCheckSpec(
            "files_loaded_without_errors",
            asset=FILE_LOADS,
            description="Every file of the run was recognized and loaded; quarantined files are named with their error.",
        ),
        AssetCheckSpec(
            "loaded_rows_meet_expectations",
            asset=FILE_LOADS,
            description=(
                "great-expectations on the raw rows this run loaded: numeric amounts, non-null slice keys, "
                "ISO 4217 currency codes, charge periods in a sane range with end >= start."
            ),
        ),
    ],
)
def raw_billing_files(
    context: AssetExecutionContext, config: IngestConfig, autostack: AutoStackSettings, warehouse: DuckDBResource
):
    settings = autostack.get()
    settings.ensure_dirs()
    results: list[LoadResult] = []
    if config.uris:
        objects = sources.expand(config.uris, settings)
    else:
        listing = sources.scan(settings)  # a source that cannot be listed is reported; the others still load
        objects = listing.objects
        for source, reason in listing.failures.items():
            results.append(LoadResult(source, "quarantined", error=f"{source}: cannot be listed: {reason}"))
            context.log.error(results[-1].error)
    workers = settings.ingest_workers or default_workers()
    context.log.info(f"{len(objects)} export file(s) to consider, {workers} worker(s)")

    def report(number: int, result: LoadResult, fetched: bool) -> None:
        if fetched:
            _log_result(context, number, len(objects), result)
        else:
            context.log.error(result.error)

    with warehouse.get_connection() as con:
        ensure_raw_tables(con)
        results += load_files(
            con, objects, fetch=lambda obj: sources.fetch(obj, settings), workers=workers,
            quarantine_dir=settings.quarantine_dir, run_id=context.run.run_id, force=config.force, on_result=report,
        )
        con.execute("CHECKPOINT")
        quality = check_raw_loads(con, [r.load_id for r in results if r.outcome == "loaded"])
    loaded = [r for r in results if r.outcome == "loaded"]
    bad = [r for r in results if r.outcome == "quarantined"]
    periods = sorted({p for r in loaded for p in r.billing_periods})
    for key in RAW_TABLE_KEYS.values():
        yield MaterializeResult(asset_key=key)
    yield MaterializeResult(asset_key=PARTITIONS, metadata={"billing_periods": ", ".join(periods) or "none"})
    yield MaterializeResult(
        asset_key=FILE_LOADS,
        metadata={
            "files_loaded": len(loaded),
            "files_unchanged": sum(r.outcome == "unchanged" for r in results),
            "files_quarantined": len(bad),
            "rows_loaded": sum(r.row_count for r in loaded),
            "billing_periods": ", ".join(periods) or "none",
            "load_ids": MetadataValue.json([r.load_id for r in loaded]),
            "files": MetadataValue.md(_files_table(results)),
            "results": MetadataValue.json([_result_dict(r) for r in results]),
        }
    )
    yield AssetCheckResult(
        asset_key=FILE_LOADS,
        check_name="files_loaded_without_errors",
        passed=not bad,
        severity=AssetCheckSeverity.ERROR,
        description=("; ".join(r.error or r.uri for r in bad))[:2000] if bad else "all files loaded",
        metadata={"quarantined": MetadataValue.md(_files_table(bad)) if bad else "none"},
    )
    failed_tables = [q for q in quality if not q.success]
    yield AssetCheckResult(
        asset_key=FILE_LOADS,
        check_name="loaded_rows_meet_expectations",
        passed=not failed_tables,
        severity=AssetCheckSeverity.ERROR,
        description=(
            "; ".join(f"{q.table}: {len(q.failures)} expectation(s) failed" for q in failed_tables)
            if failed_tables else f"{sum(q.row_count for q in quality)} loaded rows meet expectations"
        ),
        metadata={"results": MetadataValue.md("\n\n".join(q.to_markdown() for q in quality) or "no rows loaded")},
    )


def _log_result(context, number: int, total: int, result: LoadResult) -> None:
    prefix = f"[{number}/{total}]"
    if result.outcome == "loaded":
        context.log.info(
            f"{prefix} loaded {result.uri} as {result.format}: {result.row_count} rows, "
            f"billed {result.billed_total}, periods {', '.join(result.billing_periods) or '-'}"
        )
    elif result.outcome == "unchanged":
        context.log.info(f"{prefix} unchanged {result.uri} (already loaded)")
    else:
        context.log.error(f"{prefix} quarantined {result.error}")


def _files_table(results: list[LoadResult]) -> str:
    lines = ["| file | outcome | format | rows | billed | periods / error |", "|---|---|---|---|---|---|"]
    for r in results:
        detail = r.error if r.error else ", ".join(r.billing_periods)
        detail = (detail or "").replace("|", "\\|")
        lines.append(f"| {r.uri} | {r.outcome} | {r.format or ''} | {r.row_count} | {r.billed_total if r.billed_total is not None else ''} | {detail} |")
    return "\n".join(lines)


def _result_dict(r: LoadResult) -> dict:
    return {
        "uri": r.uri, "outcome": r.outcome, "format": r.format, "rows": r.row_count,
        "billed_total": r.billed_total, "periods": list(r.billing_periods), "error": r.error,
    }
