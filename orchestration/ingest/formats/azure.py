"""Azure Cost Management cost details exports (actual and amortized), EA and MCA, CSV/CSV.gz/Parquet.

Cost Management writes the same column under different names by agreement and API version:
`Cost` (EA 2019-10-01) or `CostInBillingCurrency` / `costInBillingCurrency` (EA 2021+ and MCA),
`BillingCurrency` or `BillingCurrencyCode`, `Product` or `ProductName`, `Date` or `UsageDate`,
PascalCase (EA) or camelCase (MCA: `billingAccountId`, `subscriptionName`). Column names are matched
without regard to case, and each alias group below lands in one canonical raw column; columns no group
claims are kept as text in `x_Extras`. Dates are `MM/DD/YYYY` (EA) or ISO 8601 (MCA, Parquet).
Schemas: learn.microsoft.com/azure/cost-management-billing/dataset-schema/cost-usage-details-ea and
.../cost-usage-details-mca (versions 2019-10-01 to 2024-08-01).

Actual or amortized? The file does not say so in a column; the content does (and this rule is the one
Microsoft's ConvertTo-FinOpsSchema checks its inputs with):
- a commitment row (PricingModel Reservation/SavingsPlan, or ConsumedService Microsoft.Capacity/
  Microsoft.BillingBenefits, or a ReservationId/BenefitId) that is usage or unused commitment
  (ChargeType Usage/UnusedReservation/UnusedSavingsPlan) and carries a non-zero cost exists only in
  amortized data (actual data prices commitment-covered usage at 0 and has no unused rows);
- a commitment Purchase or Refund exists only in actual data (amortized data spreads it instead);
- a file with both is rejected; a file with neither (no commitments at all: both datasets hold the
  same rows) falls back to its name, then its nearest folders' names ("amortiz…"/"actual"), then 'actual'.
`x_commitment_role` keeps the per-row classification ('purchase' | 'usage' | NULL) for dbt.
"""

from __future__ import annotations

from pathlib import PurePath

from orchestration.ingest import sql
from orchestration.ingest.formats.base import ExportFormat, FileProbe

DECIMAL = sql.DECIMAL

# canonical raw column -> (type, names it appears under, lower case, preferred first)
COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "BillingAccountId": ("text", ("billingaccountid", "enrollmentnumber")),
    "BillingAccountName": ("text", ("billingaccountname",)),
    "BillingProfileId": ("text", ("billingprofileid",)),
    "BillingProfileName": ("text", ("billingprofilename",)),
    "InvoiceSectionId": ("text", ("invoicesectionid", "departmentid")),
    "InvoiceSectionName": ("text", ("invoicesectionname", "invoicesection", "departmentname")),
    "AccountId": ("text", ("accountid",)),
    "AccountName": ("text", ("accountname",)),
    "AccountOwnerId": ("text", ("accountownerid", "accountowneremail")),
    "SubscriptionId": ("text", ("subscriptionid", "subscriptionguid")),
    "SubscriptionName": ("text", ("subscriptionname",)),
    "ResourceGroup": ("text", ("resourcegroup", "resourcegroupname")),
    "ResourceId": ("text", ("resourceid", "instanceid", "instancename")),
    "ResourceName": ("text", ("resourcename",)),
    "ResourceLocation": ("text", ("resourcelocation",)),
    "ResourceLocationNormalized": ("text", ("resourcelocationnormalized", "location")),
    "AvailabilityZone": ("text", ("availabilityzone",)),
    "BillingPeriodStartDate": ("timestamp", ("billingperiodstartdate",)),
    "BillingPeriodEndDate": ("timestamp", ("billingperiodenddate",)),
    "ServicePeriodStartDate": ("timestamp", ("serviceperiodstartdate",)),
    "ServicePeriodEndDate": ("timestamp", ("serviceperiodenddate",)),
    "Date": ("timestamp", ("date", "usagedate", "usagedatetime")),
    "ProductName": ("text", ("productname", "product")),
    "ProductId": ("text", ("productid",)),
    "PartNumber": ("text", ("partnumber",)),
    "MeterId": ("text", ("meterid",)),
    "MeterName": ("text", ("metername",)),
    "MeterCategory": ("text", ("metercategory",)),
    "MeterSubCategory": ("text", ("metersubcategory",)),
    "MeterRegion": ("text", ("meterregion",)),
    "ServiceFamily": ("text", ("servicefamily",)),
    "ConsumedService": ("text", ("consumedservice",)),
    "UnitOfMeasure": ("text", ("unitofmeasure",)),
    "Quantity": ("decimal", ("quantity", "usagequantity")),
    "EffectivePrice": ("decimal", ("effectiveprice",)),
    "UnitPrice": ("decimal", ("unitprice",)),
    "PayGPrice": ("decimal", ("paygprice",)),
    "Cost": ("decimal", ("costinbillingcurrency", "cost", "pretaxcost")),
    "CostInPricingCurrency": ("decimal", ("costinpricingcurrency",)),
    "CostInUsd": ("decimal", ("costinusd",)),
    "PaygCostInBillingCurrency": ("decimal", ("paygcostinbillingcurrency",)),
    "PaygCostInUsd": ("decimal", ("paygcostinusd",)),
    "ExchangeRatePricingToBilling": ("decimal", ("exchangeratepricingtobilling", "exchangerate")),
    "ExchangeRateDate": ("timestamp", ("exchangeratedate",)),
    "BillingCurrency": ("text", ("billingcurrency", "billingcurrencycode", "currency")),
    "PricingCurrency": ("text", ("pricingcurrency", "pricingcurrencycode")),
    "ChargeType": ("text", ("chargetype",)),
    "Frequency": ("text", ("frequency",)),
    "PricingModel": ("text", ("pricingmodel",)),
    "PublisherType": ("text", ("publishertype",)),
    "PublisherName": ("text", ("publishername",)),
    "PublisherId": ("text", ("publisherid",)),
    "PlanName": ("text", ("planname",)),
    "OfferId": ("text", ("offerid",)),
    "Term": ("text", ("term",)),
    "ReservationId": ("text", ("reservationid",)),
    "ReservationName": ("text", ("reservationname",)),
    "BenefitId": ("text", ("benefitid",)),
    "BenefitName": ("text", ("benefitname",)),
    "ProductOrderId": ("text", ("productorderid",)),
    "ProductOrderName": ("text", ("productordername",)),
    "InvoiceId": ("text", ("invoiceid",)),
    "PreviousInvoiceId": ("text", ("previousinvoiceid",)),
    "IsAzureCreditEligible": ("text", ("isazurecrediteligible",)),
    "CostCenter": ("text", ("costcenter",)),
    "CostAllocationRuleName": ("text", ("costallocationrulename",)),
    "Tags": ("tags", ("tags",)),
    "AdditionalInfo": ("text", ("additionalinfo",)),
    "ServiceInfo1": ("text", ("serviceinfo1",)),
    "ServiceInfo2": ("text", ("serviceinfo2",)),
    "Provider": ("text", ("provider",)),
    "ResellerName": ("text", ("resellername",)),
    "ResellerMpnId": ("text", ("resellermpnid",)),
    "PartnerName": ("text", ("partnername",)),
    "PartnerTenantId": ("text", ("partnertenantid",)),
    "CustomerName": ("text", ("customername",)),
    "CustomerTenantId": ("text", ("customertenantid",)),
}

_RAW_TYPES = {"text": "VARCHAR", "tags": "VARCHAR", "decimal": DECIMAL, "timestamp": "TIMESTAMP"}

RAW_COLUMNS: dict[str, str] = {
    **{name: _RAW_TYPES[kind] for name, (kind, _) in COLUMNS.items()},
    "x_commitment_role": "VARCHAR",
    "x_Extras": "JSON",
}

# A file is a Cost Management cost details export when it has all of these (any alias of each).
_REQUIRED = ("Cost", "ChargeType", "Date")
_METER_COLUMNS = {"meterid", "metercategory", "metername"}

# Commitment charges: the classification the dataset detection and the dbt models share.
_IS_COMMITMENT = """(
    replace(lower(coalesce("PricingModel", '')), ' ', '') IN ('reservation', 'savingsplan')
    OR lower(coalesce("ConsumedService", '')) IN ('microsoft.capacity', 'microsoft.billingbenefits')
    OR "BenefitId" IS NOT NULL OR "ReservationId" IS NOT NULL)"""
_COMMITMENT_ROLE = f"""CASE
    WHEN lower("ChargeType") IN ('unusedreservation', 'unusedsavingsplan') THEN 'usage'
    WHEN {_IS_COMMITMENT} AND lower("ChargeType") IN ('purchase', 'refund') THEN 'purchase'
    WHEN {_IS_COMMITMENT} AND lower("ChargeType") = 'usage' THEN 'usage'
END"""


def _present(probe: FileProbe) -> dict[str, str]:
    """Canonical column -> the file's column that fills it (first alias present wins)."""
    by_lower: dict[str, str] = {}
    for column in probe.columns:
        by_lower.setdefault(column.strip().lower(), column)
    found: dict[str, str] = {}
    for canonical, (_, aliases) in COLUMNS.items():
        for alias in aliases:
            if alias in by_lower:
                found[canonical] = by_lower[alias]
                break
    return found


def matches(probe: FileProbe) -> bool:
    lower = {c.strip().lower() for c in probe.columns}
    if "billedcost" in lower:  # a FOCUS export, not a native one
        return False
    found = _present(probe)
    return all(name in found for name in _REQUIRED) and bool(lower & _METER_COLUMNS)


def _failure(column: str, expected: str, value_sql: str) -> str:
    """A DuckDB error() naming the file's column, what was expected and the offending value."""
    return f"error({sql.literal(f'column {column}: expected {expected}, got ')} || '''' || left({value_sql}, 200) || '''')"


def _typed(canonical: str, source: str) -> str:
    kind = COLUMNS[canonical][0]
    text = sql.text(sql.ident(source))
    if kind == "text":
        return text
    # Each value is converted once: coalesce evaluates the error only for the rows whose conversion
    # gave NULL, and text that is NULL itself stays NULL.
    if kind == "decimal":
        return (
            f"coalesce(TRY_CAST({text} AS {DECIMAL}), "
            f"CASE WHEN {text} IS NOT NULL THEN {_failure(source, 'a decimal number', text)} END)"
        )
    if kind == "timestamp":
        parsed = (
            f"CASE WHEN regexp_matches({text}, '^\\d{{1,2}}/\\d{{1,2}}/\\d{{4}}') "
            f"THEN CAST(try_strptime(split_part({text}, ' ', 1), '%m/%d/%Y') AS TIMESTAMP) "
            f"ELSE timezone('UTC', TRY_CAST({text} AS TIMESTAMPTZ)) END"
        )
        return (
            f"coalesce({parsed}, "
            f"CASE WHEN {text} IS NOT NULL THEN {_failure(source, 'a date (MM/DD/YYYY or ISO 8601)', text)} END)"
        )
    # Tags: JSON key/value pairs, with or without the outer braces (both occur in exports).
    wrapped = f"CASE WHEN starts_with({text}, '{{') THEN {text} ELSE '{{' || {text} || '}}' END"
    return (
        f"CASE WHEN {text} IS NULL THEN NULL "
        f"WHEN NOT json_valid({wrapped}) THEN {_failure(source, 'JSON key/value pairs', text)} "
        f"ELSE {text} END"
    )


def dataset_hint(path: PurePath) -> str:
    """The tie-breaker when the content cannot tell: the file name, then the nearest folders (an export
    writes <export name>/<date range>/[<run id>/]<file>), then 'actual'."""
    for part in (path.name, *reversed(path.parent.parts[-4:])):
        lowered = part.lower()
        if "amortiz" in lowered:
            return "amortized"
        if "actual" in lowered:
            return "actual"
    return "actual"


def select_sql(probe: FileProbe) -> str:
    found = _present(probe)
    typed = []
    for canonical in COLUMNS:
        if canonical in found:
            typed.append(f"{_typed(canonical, found[canonical])} AS {sql.ident(canonical)}")
        else:
            typed.append(f"CAST(NULL AS {_RAW_TYPES[COLUMNS[canonical][0]]}) AS {sql.ident(canonical)}")
    claimed = set(found.values())
    extras = [c for c in probe.columns if c not in claimed]
    typed.append(f"{sql.object_of([(c, sql.text(sql.ident(c))) for c in extras])} AS x_Extras")
    file_name = sql.literal(str(probe.path))
    hint = sql.literal(dataset_hint(PurePath(probe.path)))
    mixed = sql.literal(
        "the file has both commitment purchases/refunds (only actual cost exports have them) and "
        "commitment usage with cost or unused commitment rows (only amortized exports have them): "
    )
    return f"""
    WITH typed AS MATERIALIZED (
        SELECT *, {_COMMITMENT_ROLE} AS x_commitment_role
        FROM (SELECT {", ".join(typed)} FROM {probe.read_sql()})
    ),
    signals AS (
        SELECT count(*) FILTER (WHERE x_commitment_role = 'usage' AND coalesce("Cost", 0) <> 0) AS amortized_rows,
               count(*) FILTER (WHERE x_commitment_role = 'purchase') AS actual_rows
        FROM typed
    )
    SELECT typed.*,
        coalesce("BillingAccountId", "BillingProfileId", "SubscriptionId") AS x_billing_account_id,
        CAST(coalesce("BillingPeriodStartDate", date_trunc('month', "Date")) AS DATE) AS x_billing_period,
        CASE
            WHEN amortized_rows > 0 AND actual_rows > 0 THEN error({mixed} || actual_rows || ' purchase/refund row(s), '
                || amortized_rows || ' amortized commitment row(s) in ' || {file_name})
            WHEN amortized_rows > 0 THEN 'amortized'
            WHEN actual_rows > 0 THEN 'actual'
            ELSE {hint}
        END AS x_dataset
    FROM typed CROSS JOIN signals
    """


AZURE = ExportFormat(
    name="azure",
    description="Azure Cost Management cost details export, actual or amortized, EA or MCA (CSV, CSV.gz, Parquet)",
    raw_table="raw.azure_costs",
    raw_columns=RAW_COLUMNS,
    matches=matches,
    select_sql=select_sql,
    # Actual: what the file says was invoiced. Amortized: the same minus commitment-covered usage and
    # unused commitment (their cost was invoiced as the commitment purchase, which this file lacks).
    billed_total_sql=(
        "sum(CASE WHEN x_dataset = 'amortized' AND x_commitment_role = 'usage' THEN 0 ELSE \"Cost\" END)"
    ),
    currency_sql="string_agg(DISTINCT \"BillingCurrency\", ',')",
    # Paired with the amortized export, the actual export contributes only its commitment purchases/refunds.
    paired_billed_total_sql="sum(CASE WHEN x_commitment_role = 'purchase' THEN \"Cost\" ELSE 0 END)",
    provider="Microsoft",
)
