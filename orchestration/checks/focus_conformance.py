"""FOCUS 1.2 conformance of a warehouse table, judged by the FinOps Foundation's focus-validator.

The validator lives in its own virtualenv (it pins numpy<2, duckdb<2, polars<2), so it runs
as a subprocess of that environment's interpreter (`Settings.validator_python`):

1. The table is exported to Parquet, not CSV: Parquet keeps the types (DECIMAL costs, strings,
   NULLs as NULLs), whereas the validator's CSV loader infers them and reads e.g. the
   numeric-looking BillingAccountId `1234567890123` as an integer, failing "BillingAccountId
   MUST be of type String". Two columns kinds are written as text: JSON (Tags, SkuPriceDetails),
   which reaches the validator's polars as Binary and fails "Tags MUST be valid JSON format";
   and timestamps, as FOCUS DateTimeFormat `2025-03-01T00:00:00Z`, because the validator's
   Parquet loader drops a timestamp column holding any NULL (then reporting it missing), while
   it parses such text into UTC datetimes and lets the nullability rules see the NULLs. `x_`
   columns are left out: the validator has no rules for them (its custom-column rules are
   "Dynamic", i.e. skipped, and `--column-namespace` is accepted but unused in 2.2.1).
2. `focus_validator.main` runs unchanged with `--validate-version 1.2 --block-download`
   (never the network) and writes its JUnit XML. Its working directory is the folder holding
   the `focus_validator` package, because it opens `focus_validator/rules/currency_codes.csv`
   relative to it; its log goes to `workdir` (LOGGING_CONFIG), never into site-packages.
3. The status of each rule is read from that XML (the exit code is 0 whatever fails). The XML
   has no counts or messages, so a few lines around `main()` also keep what
   `Validator.validate` returned (violations and message per rule); keyword, column and
   requirement text come from the validator's rules model file.
4. Verdicts this validator release is known to get wrong are decided again on the exported
   data (KNOWN_VALIDATOR_DEFECTS, and every "one of the allowed values" rule, see
   `_RowLevelOrDefect`); the report shows both verdicts.

Applicability criteria: a FOCUS rule tied to a provider capability (commitment discounts,
regions, tagging...) is skipped unless that capability is declared. AUTOSTACK_APPLICABILITY_CRITERIA
declares the capabilities focus.costs carries for AutoStack's sources (AWS, Azure, GCP and FOCUS
exports), so their rules are checked; the comments there say what is left out and why.
"""

from __future__ import annotations

import json
import os
import subprocess
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

import duckdb

from orchestration.ingest import sql

FOCUS_VERSION = "1.2"
STATUSES = ("passed", "failed", "skipped", "errored")
MUST_KEYWORDS = frozenset({"MUST", "MUST NOT"})
BOOTSTRAP_HINT = "Run ./scripts/bootstrap to create the validator environment (.venv-validator)."

# Provider capabilities (the rules model's ApplicabilityCriteria) that focus.costs exhibits.
AUTOSTACK_APPLICABILITY_CRITERIA: tuple[str, ...] = (
    "ACCOUNT_NAMING_SUPPORTED",  # BillingAccountName from every source
    "AVAILABILITY_ZONE_SUPPORTED",  # AWS/Azure/GCP zones
    "CAPACITY_RESERVATION_SUPPORTED",  # AWS On-Demand Capacity Reservations, Azure capacity reservations
    "COMMITMENT_DISCOUNT_SUPPORTED",  # Reserved Instances, Savings Plans, CUDs
    "MULTIPLE_PRICING_CATEGORIES_SUPPORTED",  # Standard / Committed / Dynamic (spot)
    "NEGOTIATED_PRICING_SUPPORTED",  # EDP/EA/contract prices in ContractedUnitPrice
    "PUBLIC_PRICE_LIST_SUPPORTED",  # ListUnitPrice and SKUs from public price lists
    "USAGE_MEASUREMENT_SUPPORTED",  # ConsumedQuantity / ConsumedUnit
    "UNIT_PRICING_SUPPORTED",  # unit prices per SKU
    "SUB_ACCOUNT_SUPPORTED",  # linked accounts, subscriptions, projects
    "BILLING_BASED_ON_PROVISIONED_RESOURCES_SUPPORTED",  # ResourceId per row
    "RESOURCE_TYPE_ASSIGNMENT_SUPPORTED",  # ResourceType
    "REGION_SUPPORTED",  # RegionId / RegionName
    "TAGGING_SUPPORTED",  # Tags
    # Not declared: MULTIPLE_BILLING_ACCOUNT_TYPES_SUPPORTED and MULTIPLE_SUB_ACCOUNT_TYPES_SUPPORTED
    # (BillingAccountType/SubAccountType are only filled where a source names them),
    # PRICING_BILLING_CURRENCY_DIFFERENCES_SUPPORTED (AutoStack converts no currency; the
    # PricingCurrency* columns carry what a source gives) and VIRTUAL_CURRENCY_SUPPORTED (no
    # source prices in credits or tokens).
)


@dataclass(frozen=True)
class ValidatorDefect:
    """A rule a validator release evaluates wrongly, and how AutoStack decides it instead.

    `violations_where` selects, in the exported data, the rows violating the rule as the
    specification states it; None when the data cannot decide the rule (it is then reported
    as skipped, with the reason).
    """

    reason: str
    violations_where: str | None


# Keyed by validator version, so that an upgrade runs the validator's own checks again.
KNOWN_VALIDATOR_DEFECTS: dict[tuple[str, str], ValidatorDefect] = {
    ("2.2.1", "CommitmentDiscountStatus-C-004-C"): ValidatorDefect(
        "the 1.2 rules model encodes the condition as CommitmentDiscountId IS NULL although the rule says "
        "'is not null', contradicting CommitmentDiscountStatus-C-003-C (FOCUS_Spec issue #2393)",
        "CommitmentDiscountStatus IS NULL AND CommitmentDiscountId IS NOT NULL AND ChargeCategory = 'Usage'",
    ),
    ("2.2.1", "CommitmentDiscountStatus-C-005-M"): ValidatorDefect(
        "the 1.2 rules model allows Active/Expired/Pending where FOCUS 1.2 allows Used and Unused "
        "(FOCUS_Spec issue #2418)",
        "CommitmentDiscountStatus NOT IN ('Used', 'Unused')",
    ),
    ("2.2.1", "CapacityReservationStatus-C-003-C"): ValidatorDefect(
        "the rules model writes this condition as {\"AND\": ...}, which focus-validator 2.2.1 ignores, so it "
        "demands a NULL status on every row",
        "CapacityReservationStatus IS NOT NULL AND CapacityReservationId IS NULL",
    ),
    ("2.2.1", "CapacityReservationStatus-C-004-C"): ValidatorDefect(
        "the rules model writes this condition as {\"AND\": [...]}, which focus-validator 2.2.1 ignores, so it "
        "demands a status on every row, contradicting CapacityReservationStatus-C-003-C",
        "CapacityReservationStatus IS NULL AND CapacityReservationId IS NOT NULL AND ChargeCategory = 'Usage'",
    ),
    ("2.2.1", "BilledCost-C-005-C"): ValidatorDefect(
        "'BilledCost MUST be 0 for charges where payments are received by a third party' is approximated as "
        "ProviderName <> InvoiceIssuerName, which flags first-party charges whose provider and invoicing "
        "entity are written differently (AWS and Amazon Web Services EMEA SARL); who receives the payment "
        "is not in the data",
        None,
    ),
    ("2.2.1", "EffectiveCost-C-005-C"): ValidatorDefect(
        "FOCUS 1.2 requires EffectiveCost 0 for purchases 'intended to cover future eligible charges' "
        "(commitments); the rules model drops that qualifier and demands 0 for every Purchase, including "
        "a domain registration or a marketplace subscription, which are consumed when bought",
        "ChargeCategory = 'Purchase' AND CommitmentDiscountId IS NOT NULL AND EffectiveCost <> 0",
    ),
    ("2.2.1", "InvoiceId-C-004-C"): ValidatorDefect(
        "'InvoiceId MUST be null when the charge is not associated with an invoice' has no condition in the "
        "rules model, so it demands NULL on every row; whether a charge is invoiced yet is not in the data",
        None,
    ),
    ("2.2.1", "InvoiceId-C-005-C"): ValidatorDefect(
        "'InvoiceId MUST NOT be null when the charge is associated with an invoice' has no condition in the "
        "rules model, so it demands an id on every row (month-to-date charges have none yet)",
        None,
    ),
}


@dataclass(frozen=True)
class _RowLevelOrDefect:
    """focus-validator 2.2.1 passes an OR of column checks (e.g. "ChargeCategory MUST be one of the
    allowed values") when each alternative holds on at least one row (`violations < total_rows`
    in CompositeORRuleGenerator), so a bad value among good rows passes. Such rules are decided
    again row by row from the rules model: a row violates when none of the alternatives holds."""

    versions: frozenset[str] = frozenset({"2.2.1"})
    reason: str = (
        "focus-validator 2.2.1 passes an OR of column checks when each alternative holds on some row, "
        "not on every row; decided again row by row"
    )


ROW_LEVEL_OR_DEFECT = _RowLevelOrDefect()

# Runs focus_validator.main exactly as its console script does, and keeps what
# Validator.validate returned (violation counts and messages, which the JUnit XML omits).
_DRIVER = r"""
import json, sys
import focus_validator.validator as fv

details_path, argv = sys.argv[1], sys.argv[2:]
captured = {}
_validate = fv.Validator.validate

def _capturing_validate(self, *args, **kwargs):
    results = _validate(self, *args, **kwargs)
    captured["results"] = results
    return results

fv.Validator.validate = _capturing_validate
from focus_validator.main import main

sys.argv = ["focus-validator", *argv]
main()
results = captured.get("results")
if results is not None:
    keep = ("violations", "message", "reason", "skipped", "error", "missing_columns")
    by_rule = {}
    for rule_id, entry in results.by_rule_id.items():
        details = entry.get("details") or {}
        by_rule[rule_id] = {"ok": bool(entry.get("ok")), **{k: details.get(k) for k in keep if k in details}}
    with open(details_path, "w", encoding="utf-8") as fh:
        json.dump({"rules_version": results.rules_version, "model_version": results.model_version,
                   "row_count": results.data_row_count, "rules": by_rule}, fh, default=str)
"""

_PROBE = r"""
import json, os, importlib.metadata as md
import focus_validator
print(json.dumps({"package_dir": os.path.dirname(focus_validator.__file__), "version": md.version("focus_validator")}))
"""

_LOGGING_YAML = """version: 1
disable_existing_loggers: false
formatters:
  plain:
    format: "%(asctime)s %(levelname).1s %(name)s - %(message)s"
handlers:
  file:
    class: logging.FileHandler
    filename: {log_path}
    formatter: plain
root:
  level: INFO
  handlers: [file]
"""


class ValidatorNotInstalledError(RuntimeError):
    """The focus-validator environment is missing or broken."""


class ValidatorRunError(RuntimeError):
    """The validator ran but produced no readable results."""


@dataclass(frozen=True)
class RuleResult:
    rule_id: str
    keyword: str  # MUST, MUST NOT, SHOULD, SHOULD NOT, MAY, RECOMMENDED
    status: str  # passed | failed | skipped | errored
    column: str  # the column (or dataset) the rule is about
    message: str  # the validator's message when it failed, else the requirement text
    failing_rows: int | None = None  # rows violating a row-level check; None when not counted
    check: str = ""  # Type, Format, Nullability, Validation, Presence or Composite
    requirement: str = ""  # the specification sentence (MustSatisfy)
    validator_status: str = ""  # the validator's verdict; differs from status only for known defects
    known_defect: str | None = None  # why the validator's verdict was replaced
    satisfied_by_alternative: bool = False  # one of alternatives (an OR) of which another one passed

    @property
    def is_must(self) -> bool:
        return self.keyword in MUST_KEYWORDS

    @property
    def is_composite(self) -> bool:
        """A rule that only combines other rules (AND/OR of rule ids)."""
        return self.check == "Composite"


@dataclass(frozen=True)
class ConformanceReport:
    rules: tuple[RuleResult, ...]
    validator_version: str
    focus_version: str
    model_version: str
    row_count: int
    applicability_criteria: tuple[str, ...]
    data_file: Path
    table: str = ""
    log_file: Path | None = None
    counts: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        counts = Counter(r.status for r in self.rules)
        object.__setattr__(self, "counts", {s: counts.get(s, 0) for s in STATUSES})

    @property
    def must_failures(self) -> list[RuleResult]:
        """Failed MUST / MUST NOT checks: what makes the data non-conformant.

        Composites are left out (their failing parts are listed themselves, and the validator
        fails a composite MUST when one of its SHOULD parts fails), and so is a rule that is one
        of several alternatives (InvoiceId MUST be null / MUST NOT be null) when another passed.
        """
        return [
            r for r in self.rules
            if r.status == "failed" and r.is_must and not r.is_composite and not r.satisfied_by_alternative
        ]

    @property
    def must_errors(self) -> list[RuleResult]:
        """MUST checks that could not be evaluated (a column missing, a dependency failed)."""
        return [
            r for r in self.rules
            if r.status == "errored" and r.is_must and not r.is_composite and not r.satisfied_by_alternative
        ]

    @property
    def other_failures(self) -> list[RuleResult]:
        """Failed SHOULD / MAY / RECOMMENDED checks: advice, not conformance."""
        return [
            r for r in self.rules
            if r.status == "failed" and not r.is_must and not r.is_composite and not r.satisfied_by_alternative
        ]

    @property
    def rechecked(self) -> list[RuleResult]:
        """Rules whose validator verdict was replaced because of a known validator defect."""
        return [r for r in self.rules if r.known_defect is not None]

    @property
    def is_conformant(self) -> bool:
        return not self.must_failures and not self.must_errors

    def get(self, rule_id: str) -> RuleResult:
        for rule in self.rules:
            if rule.rule_id == rule_id:
                return rule
        raise KeyError(f"rule {rule_id} is not in this report ({len(self.rules)} rules)")

    def to_markdown(self, limit: int = 40) -> str:
        verdict = "conformant" if self.is_conformant else "NOT conformant"
        lines = [
            f"**FOCUS {self.focus_version} {verdict}**: {self.table or self.data_file.name}, "
            f"{self.row_count} rows; focus-validator {self.validator_version} (rules model {self.model_version})",
            "",
            "| passed | failed | skipped | errored | MUST failures |",
            "|---:|---:|---:|---:|---:|",
            f"| {self.counts['passed']} | {self.counts['failed']} | {self.counts['skipped']} "
            f"| {self.counts['errored']} | {len(self.must_failures)} |",
        ]
        sections = (
            ("MUST failures", self.must_failures),
            ("MUST checks that could not run", self.must_errors),
            ("SHOULD / MAY failures", self.other_failures),
        )
        for title, rules in sections:
            if not rules:
                continue
            lines += ["", f"**{title}**", "", "| rule | column | rows | message |", "|---|---|---:|---|"]
            for r in rules[:limit]:
                rows = "" if r.failing_rows is None else str(r.failing_rows)
                lines.append(f"| {r.rule_id} | {r.column} | {rows} | {_cell(r.message)} |")
            if len(rules) > limit:
                lines.append(f"| … {len(rules) - limit} more | | | |")
        overruled = [r for r in self.rechecked if r.status != r.validator_status]
        if overruled:
            lines += ["", "**Verdicts replaced because of validator defects**", ""]
            for r in overruled:
                if r.is_composite:
                    continue
                rows = "" if r.failing_rows is None else f" ({r.failing_rows} rows)"
                lines.append(f"- {r.rule_id}: validator {r.validator_status}, AutoStack {r.status}{rows}: {r.known_defect}")
            if composites := [r.rule_id for r in overruled if r.is_composite]:
                lines.append(f"- composites combining them, re-derived: {', '.join(composites)}")
        lines += ["", "Applicability criteria: " + (", ".join(self.applicability_criteria) or "none")]
        return "\n".join(lines)


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())[:300]


@dataclass(frozen=True)
class ValidatorInstall:
    python: Path
    package_dir: Path
    version: str

    @property
    def working_dir(self) -> Path:
        """The folder holding the package: the validator opens focus_validator/rules/... from here."""
        return self.package_dir.parent

    def rules_model(self, focus_version: str = FOCUS_VERSION) -> Path:
        """The model file the validator picks for a version: the highest model-<version>[.x...].json."""
        rules_dir = self.package_dir / "rules"
        candidates = []
        for path in rules_dir.glob("model-*.json"):
            version = path.name[len("model-"):-len(".json")]
            if version == focus_version or version.startswith(focus_version + "."):
                try:
                    candidates.append((tuple(int(p) for p in version.split(".")), path))
                except ValueError:
                    continue
        if not candidates:
            raise ValidatorNotInstalledError(
                f"{rules_dir}: no model-{focus_version}*.json rules file; the validator install is incomplete. "
                + BOOTSTRAP_HINT
            )
        return max(candidates)[1]


@cache
def locate_validator(validator_python: Path) -> ValidatorInstall:
    """Find the focus_validator package and its version through the validator's interpreter."""
    validator_python = Path(validator_python)
    if not validator_python.exists():
        raise ValidatorNotInstalledError(f"focus-validator interpreter {validator_python} does not exist. {BOOTSTRAP_HINT}")
    try:
        probe = subprocess.run(
            [str(validator_python), "-c", _PROBE], capture_output=True, text=True, timeout=120, check=False
        )
    except OSError as exc:
        raise ValidatorNotInstalledError(f"cannot run {validator_python}: {exc}. {BOOTSTRAP_HINT}") from exc
    if probe.returncode != 0:
        tail = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        raise ValidatorNotInstalledError(f"{validator_python} cannot import focus_validator ({tail}). {BOOTSTRAP_HINT}")
    info = json.loads(probe.stdout.strip().splitlines()[-1])
    return ValidatorInstall(validator_python, Path(info["package_dir"]), info["version"])


def _quote_table(table: str) -> str:
    return ".".join(_ident(part) for part in table.split("."))


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# Columns whose combinations a sample must all contain: the rules mostly test these.
STRATA_COLUMNS = (
    "ProviderName", "ChargeCategory", "ChargeClass", "ChargeFrequency", "PricingCategory",
    "CommitmentDiscountCategory", "CommitmentDiscountStatus", "CommitmentDiscountType",
    "CapacityReservationStatus", "ServiceCategory", "ServiceSubcategory", "BillingCurrency",
)
DEFAULT_MAX_ROWS = 500_000
ROWS_PER_STRATUM = 25


def export_for_validator(
    con: duckdb.DuckDBPyConnection, table: str, path: Path, *, max_rows: int | None = DEFAULT_MAX_ROWS,
    where: str | None = None,
) -> int:
    """Write the FOCUS (non-`x_`) columns of `table` to Parquet as the validator reads them best.

    `where` (an SQL condition on the table's columns) limits the export to those rows, e.g. the
    slices one run loaded (`x_LoadId IN (...)`), so a new file is validated on its own rows.

    focus-validator holds the whole file in memory (pandas/polars), so a table larger than
    `max_rows` is validated on a deterministic stratified sample: every combination of the
    STRATA_COLUMNS values keeps up to ROWS_PER_STRATUM rows, and a hash-uniform sample fills up to
    about `max_rows`. Returns the number of rows written.
    """
    quoted = _quote_table(table)
    if where:
        quoted = f"(SELECT * FROM {quoted} WHERE {where})"
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {quoted}").fetchall()
    except duckdb.Error as exc:
        raise ValueError(f"table {table} cannot be read for FOCUS validation: {str(exc).splitlines()[0]}") from exc
    columns = []
    present = set()
    for name, type_, *_ in described:
        present.add(name)
        if name.startswith("x_"):
            continue
        columns.append(f"{_export_expression(_ident(name), type_.upper())} AS {_ident(name)}")
    if not columns:
        raise ValueError(f"table {table} has no FOCUS columns (only x_ columns or none at all)")
    path.parent.mkdir(parents=True, exist_ok=True)
    target = sql.literal(str(path))
    total = int(con.execute(f"SELECT count(*) FROM {quoted}").fetchall()[0][0])
    source = quoted
    if max_rows is not None and total > max_rows:
        strata = ", ".join(_ident(c) for c in STRATA_COLUMNS if c in present) or "1"
        every = -(-total // max_rows)  # ceil: keep about one row in `every`
        base = _quote_table(table)
        if _has_rowid(con, base):
            # Pick the rows on a narrow pass (the row id and the strata columns only), then read the
            # wide columns of the picked rows: sorting whole FOCUS rows for the window cost 175 CPU s
            # and 2.2 GB at 10M rows. The sample is deterministic for a given table.
            picked = f"""SELECT row_id FROM (
                    SELECT rowid AS row_id, hash(rowid) AS row_hash,
                           row_number() OVER (PARTITION BY {strata} ORDER BY hash(rowid)) AS stratum_rank
                    FROM {base} WHERE {where or 'true'})
                WHERE stratum_rank <= {ROWS_PER_STRATUM} OR row_hash % {every} = 0"""
            source = f"(SELECT * FROM {base} WHERE rowid IN ({picked}))"
        else:  # a view has no row id: hash the FOCUS columns instead (slower, same sample design)
            row_hash = "hash(" + ", ".join(_ident(n) for n, *_ in described if not n.startswith("x_")) + ")"
            source = f"""(SELECT * EXCLUDE (stratum_rank, row_hash) FROM (
                    SELECT *, {row_hash} AS row_hash,
                           row_number() OVER (PARTITION BY {strata} ORDER BY {row_hash}) AS stratum_rank
                    FROM {quoted})
                WHERE stratum_rank <= {ROWS_PER_STRATUM} OR row_hash % {every} = 0)"""
    con.execute(f"COPY (SELECT {', '.join(columns)} FROM {source}) TO {target} (FORMAT parquet)")
    return int(con.execute(f"SELECT count(*) FROM read_parquet({target})").fetchall()[0][0])


def _has_rowid(con: duckdb.DuckDBPyConnection, quoted_table: str) -> bool:
    """Whether `quoted_table` is a base table (it has DuckDB's `rowid`), not a view."""
    try:
        con.execute(f"SELECT rowid FROM {quoted_table} LIMIT 0").fetchall()
    except duckdb.Error:
        return False
    return True


def _export_expression(column: str, type_: str) -> str:
    if type_ == "JSON":
        # Parquet JSON reaches the validator's polars as Binary; text is what it parses as JSON.
        return f"CAST({column} AS VARCHAR)"
    if type_.startswith("TIMESTAMP"):
        # FOCUS DateTimeFormat text. A Parquet timestamp column with a NULL in it is dropped whole by
        # the validator's loader (then "MUST be present" fails); text with NULLs converts, and the
        # NULLs meet the nullability rules as they should.
        utc = f"timezone('UTC', {column})" if "TIME ZONE" in type_ else f"CAST({column} AS TIMESTAMP)"
        return f"strftime({utc}, '%Y-%m-%dT%H:%M:%SZ')"
    return column


def run_focus_validator(
    con_or_path: duckdb.DuckDBPyConnection | str | os.PathLike,
    table: str = "focus.costs",
    *,
    validator_python: Path | None = None,
    workdir: Path,
    applicability_criteria: tuple[str, ...] | list[str] = AUTOSTACK_APPLICABILITY_CRITERIA,
    timeout_seconds: float = 3600,
    where: str | None = None,
) -> ConformanceReport:
    """Validate `table` of a DuckDB warehouse (an open connection, or a file opened read-only)
    against FOCUS 1.2 with focus-validator. The exported data, the JUnit XML and the validator's
    log are written to `workdir`. `validator_python` defaults to the settings' validator."""
    if validator_python is None:
        from autostack.settings import get_settings

        validator_python = get_settings().validator_python
    install = locate_validator(Path(validator_python))
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    data_file = workdir / "focus_export.parquet"
    junit_file = workdir / "focus_validator_results.xml"
    details_file = workdir / "focus_validator_details.json"
    log_file = workdir / "focus_validator.log"
    for stale in (junit_file, details_file):
        stale.unlink(missing_ok=True)

    if isinstance(con_or_path, duckdb.DuckDBPyConnection):
        export_for_validator(con_or_path, table, data_file, where=where)
    else:
        database = Path(con_or_path)
        if not database.is_file():
            raise FileNotFoundError(f"DuckDB warehouse {database} does not exist")
        with duckdb.connect(str(database), read_only=True) as con:
            export_for_validator(con, table, data_file, where=where)

    criteria = tuple(applicability_criteria)
    args = [
        "--data-file", str(data_file),
        "--validate-version", FOCUS_VERSION,
        "--block-download",
        "--output-type", "unittest",
        "--output-destination", str(junit_file),
    ]
    if criteria:
        args += ["--applicability-criteria", ",".join(criteria)]
    logging_config = workdir / "focus_validator_logging.yaml"
    logging_config.write_text(_LOGGING_YAML.format(log_path=json.dumps(str(log_file))))
    env = {**os.environ, "LOGGING_CONFIG": str(logging_config)}
    env.pop("PYTHONPATH", None)  # the validator's own environment only
    try:
        proc = subprocess.run(
            [str(install.python), "-c", _DRIVER, str(details_file), *args],
            cwd=install.working_dir, env=env, capture_output=True, text=True,
            timeout=timeout_seconds, check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ValidatorRunError(f"focus-validator did not finish within {timeout_seconds:.0f}s on {data_file}") from exc
    (workdir / "focus_validator_output.txt").write_text(proc.stdout + proc.stderr)
    if not junit_file.is_file():
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise ValidatorRunError(
            f"focus-validator wrote no results for {data_file} (exit {proc.returncode}); see {log_file}:\n{tail}"
        )
    details = json.loads(details_file.read_text()) if details_file.is_file() else {}
    model = json.loads(install.rules_model().read_text())
    model_rules = model.get("ModelRules", {})
    rules = _read_results(junit_file, details.get("rules", {}), model_rules)
    rules = _recheck_known_defects(rules, model_rules, data_file, install.version)
    rules = _rederive_composites(rules, model_rules)
    rules = _mark_satisfied_alternatives(rules, model_rules)
    model_details = model.get("Details", {})
    return ConformanceReport(
        rules=rules,
        validator_version=install.version,
        focus_version=str(details.get("rules_version") or model_details.get("FOCUSVersion") or FOCUS_VERSION),
        model_version=str(details.get("model_version") or model_details.get("ModelVersion") or "unknown"),
        row_count=int(details.get("row_count") or _parquet_rows(data_file)),
        applicability_criteria=criteria,
        data_file=data_file,
        table=table,
        log_file=log_file,
    )


def _parquet_rows(path: Path) -> int:
    with duckdb.connect() as con:
        return int(con.execute("SELECT count(*) FROM read_parquet(?)", [str(path)]).fetchall()[0][0])


def _read_results(junit_file: Path, details: dict, model_rules: dict) -> tuple[RuleResult, ...]:
    """One RuleResult per JUnit testcase (named `<rule id> :: <check>`), with the run's details
    and the rules model's keyword, column and requirement."""
    try:
        root = ET.parse(junit_file).getroot()
    except ET.ParseError as exc:
        raise ValidatorRunError(f"{junit_file}: not readable JUnit XML: {exc}") from exc
    results: dict[str, RuleResult] = {}
    for case in root.iter("testcase"):
        rule_id = case.get("name", "").split(" :: ", 1)[0].strip()
        if not rule_id:
            continue
        status, outcome = "passed", None
        for tag, name in (("failure", "failed"), ("error", "errored"), ("skipped", "skipped")):
            if (element := case.find(tag)) is not None:
                status, outcome = name, element
                break
        spec = model_rules.get(rule_id, {})
        criteria = spec.get("ValidationCriteria", {})
        detail = details.get(rule_id, {})
        requirement = criteria.get("MustSatisfy", "")
        message = requirement
        if status in ("failed", "errored"):
            outcome_message = outcome.get("message") if outcome is not None else None
            message = detail.get("message") or detail.get("error") or outcome_message or requirement
        elif status == "skipped":
            message = detail.get("reason") or detail.get("message") or requirement
        check = spec.get("Function", "")
        failing_rows = None
        if check != "Composite" and isinstance(detail.get("violations"), int) and status in ("failed", "passed"):
            failing_rows = detail["violations"]
        results[rule_id] = RuleResult(
            rule_id=rule_id,
            keyword=criteria.get("Keyword") or "UNKNOWN",
            status=status,
            column=spec.get("Reference", "") or rule_id.split("-", 1)[0],
            message=str(message),
            failing_rows=failing_rows,
            check=check,
            requirement=requirement,
            validator_status=status,
        )
    if not results:
        raise ValidatorRunError(f"{junit_file}: no test cases; the validator checked nothing")
    return tuple(sorted(results.values(), key=lambda r: r.rule_id))


def _recheck_known_defects(
    rules: tuple[RuleResult, ...], model_rules: dict, data_file: Path, validator_version: str
) -> tuple[RuleResult, ...]:
    """Decide again, on the exported data, the rules this validator release gets wrong."""
    checked = []
    with duckdb.connect() as con:
        for rule in rules:
            if rule.status == "skipped":  # not applicable (criteria) or not checkable: leave it so
                checked.append(rule)
                continue
            reason, where = _corrected_check(rule.rule_id, model_rules.get(rule.rule_id, {}), validator_version)
            if reason is None:
                checked.append(rule)
                continue
            if where is None:
                if rule.status != "failed":  # nothing for the defect to have got wrong
                    checked.append(rule)
                    continue
                checked.append(replace(rule, status="skipped", failing_rows=None, known_defect=reason,
                                       message=f"not decidable from the data: {reason}"))
                continue
            try:
                rows = int(con.execute(
                    f"SELECT count(*) FROM read_parquet(?) WHERE {where}", [str(data_file)]
                ).fetchall()[0][0])
            except duckdb.Error as exc:
                checked.append(replace(rule, status="errored", failing_rows=None, known_defect=reason,
                                       message=f"cannot be decided again: {str(exc).splitlines()[0]}"))
                continue
            message = f"{rows} row(s) violate: {rule.requirement}" if rows else rule.requirement
            checked.append(replace(rule, status="failed" if rows else "passed", failing_rows=rows,
                                   known_defect=reason, message=message))
    return tuple(checked)


def _corrected_check(rule_id: str, spec: dict, validator_version: str) -> tuple[str | None, str | None]:
    """(reason, WHERE selecting violating rows) for a rule the validator gets wrong, else (None, None)."""
    defect = KNOWN_VALIDATOR_DEFECTS.get((validator_version, rule_id))
    if defect is not None:
        return defect.reason, defect.violations_where
    if validator_version not in ROW_LEVEL_OR_DEFECT.versions:
        return None, None
    criteria = spec.get("ValidationCriteria", {})
    requirement = criteria.get("Requirement", {})
    items = requirement.get("Items", [])
    if requirement.get("CheckFunction") != "OR" or all(i.get("CheckFunction") == "CheckModelRule" for i in items):
        return None, None
    holds = _predicate_sql(requirement)
    condition = criteria.get("Condition") or {}
    applies = _predicate_sql(condition) if condition else "TRUE"
    if holds is None or applies is None:
        return None, None
    # NOT over SQL's three-valued logic: a NULL value (handled by the nullability rules) is no violation.
    return ROW_LEVEL_OR_DEFECT.reason, f"({applies}) AND NOT {holds}"


def _predicate_sql(node: dict) -> str | None:
    """The rules model's CheckValue/CheckNotValue/AND/OR tree as a SQL predicate; None if it has
    anything else."""
    function = node.get("CheckFunction")
    if function in ("AND", "OR"):
        parts = [_predicate_sql(item) for item in node.get("Items") or []]
        if not parts or any(p is None for p in parts):
            return None
        return "(" + f" {function} ".join(parts) + ")"
    column = node.get("ColumnName")
    if function not in ("CheckValue", "CheckNotValue") or not column:
        return None
    value = node.get("Value")
    if value is None:
        return f"{_ident(column)} IS {'' if function == 'CheckValue' else 'NOT '}NULL"
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    literal = str(value) if isinstance(value, (int, float)) else sql.literal(value)
    return f"{_ident(column)} {'=' if function == 'CheckValue' else '<>'} {literal}"


def _children(spec: dict) -> list[str]:
    requirement = spec.get("ValidationCriteria", {}).get("Requirement", {})
    return [
        item["ModelRuleId"] for item in requirement.get("Items") or []
        if item.get("CheckFunction") == "CheckModelRule" and item.get("ModelRuleId")
    ]


def _rederive_composites(rules: tuple[RuleResult, ...], model_rules: dict) -> tuple[RuleResult, ...]:
    """Composites above a rule decided again follow its new verdict, combined as the validator
    combines them (AND: any failed part fails it; OR: any passed part passes it)."""
    by_id = {r.rule_id: r for r in rules}
    changed = {r.rule_id for r in rules if r.known_defect is not None and r.status != r.validator_status}
    if not changed:
        return rules

    @cache
    def affected(rule_id: str) -> bool:
        return rule_id in changed or any(affected(c) for c in _children(model_rules.get(rule_id, {})) if c in by_id)

    @cache
    def status_of(rule_id: str) -> str:
        rule = by_id[rule_id]
        if not rule.is_composite or not affected(rule_id) or rule.status == "skipped":
            return rule.status
        parts = [status_of(c) for c in _children(model_rules.get(rule_id, {})) if c in by_id]
        decided = [p for p in parts if p != "skipped"]
        if not decided:
            return rule.status
        if _is_or(model_rules[rule_id]):
            return "passed" if "passed" in decided else "failed"
        return "failed" if any(p in ("failed", "errored") for p in decided) else "passed"

    rederived = []
    for rule in rules:
        new_status = status_of(rule.rule_id)
        if rule.is_composite and new_status != rule.status:
            rule = replace(rule, status=new_status, known_defect="combines parts decided again",
                           message=rule.requirement)
        rederived.append(rule)
    return tuple(rederived)


def _mark_satisfied_alternatives(rules: tuple[RuleResult, ...], model_rules: dict) -> tuple[RuleResult, ...]:
    """Flag rules that only matter through an OR composite that passed.

    The model states some requirements as alternatives, e.g. InvoiceId-C-003-C = OR(C-004-C
    "MUST be null when not invoiced", C-005-C "MUST NOT be null when invoiced"): one of them
    fails by design. A rule counts if some path from a root to it crosses no passed OR.
    """
    status = {r.rule_id: r.status for r in rules}
    parents: dict[str, list[str]] = {}
    for rule_id, spec in model_rules.items():
        for child in _children(spec):
            parents.setdefault(child, []).append(rule_id)

    @cache
    def counts(rule_id: str) -> bool:
        ups = [p for p in parents.get(rule_id, []) if p in status]
        if not ups:
            return True
        return any(counts(p) and not (_is_or(model_rules[p]) and status[p] == "passed") for p in ups)

    return tuple(replace(r, satisfied_by_alternative=not counts(r.rule_id)) for r in rules)


def _is_or(spec: dict) -> bool:
    return spec.get("ValidationCriteria", {}).get("Requirement", {}).get("CheckFunction") == "OR"
