"""The AWS estate as an AWS Data Exports "CUR 2.0" export: daily line items, Parquet, monthly folders.

Layout as Data Exports delivers it (one folder per billing period, one per delivery):
`aws/cur2/<export>/data/BILLING_PERIOD=YYYY-MM/<delivery-id>/<export>-00001.snappy.parquet`.
The current month is delivered twice: an earlier month-to-date delivery, restated by a later one in
another delivery folder (written later, so it supersedes the first when loaded in delivery order).

Columns are CUR 2.0's (AWS Data Exports table dictionary, "Cost and Usage Report (CUR) 2.0"):
snake_case static columns, numbers DOUBLE, times TIMESTAMP, and `product`, `resource_tags`,
`cost_category`, `discount` as MAP(VARCHAR, VARCHAR). Tags keep AWS's `user_` prefix.
Line item types: Usage (on-demand, spot, storage, requests, data transfer, databases),
DiscountedUsage + RIFee + the upfront Fee of a partial-upfront Reserved Instance,
SavingsPlanCoveredUsage + SavingsPlanNegation + SavingsPlanRecurringFee of a no-upfront Compute
Savings Plan, Tax, Credit, and the Business Support Fee (a percentage of usage).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from autostack.demo import arrowkit as ak
from autostack.demo.estate import (
    month_deliveries,
    ENVIRONMENTS, MIS_TAGGED, PRODUCTS, RESERVATION, SAVINGS_PLAN, SPOT, TAGGED, TEAMS, Estate, Fleet,
)
from autostack.demo.ledger import Ledger
from autostack.demo.sinks import ParquetSink
from autostack.demo.usage import alive, anomaly_factor, bucket_gb, day_rng, machine_hours, spot_factor, traffic_factor

EXPORT_NAME = "kestrel-cur2"
S, F, T = pa.string(), pa.float64(), pa.timestamp("ms")
MAP = pa.map_(pa.string(), pa.string())

SCHEMA = pa.schema([
    ("identity_line_item_id", S), ("identity_time_interval", S),
    ("bill_bill_type", S), ("bill_billing_entity", S), ("bill_billing_period_end_date", T),
    ("bill_billing_period_start_date", T), ("bill_invoice_id", S), ("bill_invoicing_entity", S),
    ("bill_payer_account_id", S), ("bill_payer_account_name", S),
    ("cost_category", MAP), ("discount", MAP),
    ("line_item_availability_zone", S), ("line_item_blended_cost", F), ("line_item_blended_rate", S),
    ("line_item_currency_code", S), ("line_item_legal_entity", S), ("line_item_line_item_description", S),
    ("line_item_line_item_type", S), ("line_item_net_unblended_cost", F), ("line_item_normalization_factor", F),
    ("line_item_normalized_usage_amount", F), ("line_item_operation", S), ("line_item_product_code", S),
    ("line_item_resource_id", S), ("line_item_tax_type", S), ("line_item_unblended_cost", F),
    ("line_item_unblended_rate", S), ("line_item_usage_account_id", S), ("line_item_usage_account_name", S),
    ("line_item_usage_amount", F), ("line_item_usage_end_date", T), ("line_item_usage_start_date", T),
    ("line_item_usage_type", S),
    ("pricing_currency", S), ("pricing_lease_contract_length", S), ("pricing_offering_class", S),
    ("pricing_public_on_demand_cost", F), ("pricing_public_on_demand_rate", S), ("pricing_purchase_option", S),
    ("pricing_rate_code", S), ("pricing_rate_id", S), ("pricing_term", S), ("pricing_unit", S),
    ("product", MAP), ("product_fee_code", S), ("product_from_location", S), ("product_from_location_type", S),
    ("product_from_region_code", S), ("product_instance_type", S), ("product_location", S),
    ("product_location_type", S), ("product_operation", S), ("product_product_family", S),
    ("product_region_code", S), ("product_servicecode", S), ("product_sku", S), ("product_to_location", S),
    ("product_to_region_code", S), ("product_usagetype", S),
    ("reservation_amortized_upfront_cost_for_usage", F), ("reservation_amortized_upfront_fee_for_billing_period", F),
    ("reservation_effective_cost", F), ("reservation_end_time", S), ("reservation_number_of_reservations", S),
    ("reservation_recurring_fee_for_usage", F), ("reservation_reservation_a_r_n", S), ("reservation_start_time", S),
    ("reservation_total_reserved_units", S), ("reservation_unused_amortized_upfront_fee_for_billing_period", F),
    ("reservation_unused_quantity", S), ("reservation_unused_recurring_fee", F), ("reservation_upfront_value", F),
    ("resource_tags", MAP),
    ("savings_plan_amortized_upfront_commitment_for_billing_period", F), ("savings_plan_end_time", S),
    ("savings_plan_offering_type", S), ("savings_plan_payment_option", S), ("savings_plan_purchase_term", S),
    ("savings_plan_recurring_commitment_for_billing_period", F), ("savings_plan_region", S),
    ("savings_plan_savings_plan_a_r_n", S), ("savings_plan_savings_plan_effective_cost", F),
    ("savings_plan_savings_plan_rate", F), ("savings_plan_start_time", S),
    ("savings_plan_total_commitment_to_date", F), ("savings_plan_used_commitment", F),
])

LOCATIONS = {"us-east-1": "US East (N. Virginia)", "eu-west-1": "EU (Ireland)"}
PREFIX = {"us-east-1": "", "eu-west-1": "EU-"}  # usage type region prefix (us-east-1 has none)
EC2 = "Amazon Elastic Compute Cloud"
LEGAL = "Amazon Web Services, Inc."

# List prices of what the compute catalog does not cover (USD; AWS public pricing, us-east-1).
EBS_GP3_GB_MONTH = 0.08
S3_GB_MONTH = 0.023
S3_PUT_PER_REQUEST = 0.005 / 1000
EGRESS_GB = 0.09
RDS_PREMIUM = 1.75  # RDS for PostgreSQL vs EC2 Linux of the same size
RDS_GP3_GB_MONTH = 0.115
SALES_TAX = 0.07
TAXED_ACCOUNTS = ("prod", "staging", "dev")


def _sku(*parts: object) -> str:
    return hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()[:16].upper()


def _tags(quality: np.ndarray, team: np.ndarray, product: np.ndarray, env: np.ndarray) -> pa.Array:
    values = []
    for q, t, p, e in zip(quality, team, product, env):
        if q == TAGGED:
            values.append([("user_team", TEAMS[t]), ("user_product", PRODUCTS[p]), ("user_env", ENVIRONMENTS[e])])
        elif q == MIS_TAGGED:
            values.append([("user_Team", TEAMS[t].title()), ("user_product", PRODUCTS[p])])
        else:
            values.append(None)
    return pa.array(values, type=MAP)


def _labels(names: list[str]) -> pa.Array:
    return pa.array(names, type=S)


def _normalization_factor(instance_type: str) -> float:
    """AWS's size normalization: small 1, medium 2, large 4, xlarge 8, 2xlarge 16, ... (metal as 24xlarge)."""
    size = instance_type.split(".")[1]
    named = {"nano": 0.25, "micro": 0.5, "small": 1.0, "medium": 2.0, "large": 4.0, "xlarge": 8.0, "metal": 192.0}
    if size in named:
        return named[size]
    return 8.0 * float(size.removesuffix("xlarge")) if size.endswith("xlarge") else 8.0


class AwsCur2Writer:
    """Generates and writes the AWS estate's CUR 2.0 export, month by month, a day at a time."""

    def __init__(self, estate: Estate, root: Path, ledger: Ledger) -> None:
        self.estate, self.fleet, self.ledger = estate, estate.aws, ledger
        self.root = root / "aws" / "cur2" / EXPORT_NAME / "data"
        fleet, cat = self.fleet, self.fleet.catalog
        m = fleet.machines
        self.accounts = fleet.accounts
        self.account_ids = _labels([a.id for a in fleet.accounts])
        self.account_names = _labels([a.name for a in fleet.accounts])
        self.ri, self.sp = fleet.commitments
        # Per catalog entry (instance type in a region).
        regions = [str(r) for r in cat.region]
        names = [str(n) for n in cat.name]
        self.cat_box = _labels([f"{PREFIX[r]}BoxUsage:{n}" for n, r in zip(names, regions)])
        self.cat_spot = _labels([f"{PREFIX[r]}SpotUsage:{n}" for n, r in zip(names, regions)])
        self.cat_sku = _labels([_sku("ec2", n, r) for n, r in zip(names, regions)])
        self.cat_spot_sku = _labels([_sku("ec2-spot", n, r) for n, r in zip(names, regions)])
        self.cat_od_text = _labels([f"{p:g}" for p in cat.on_demand])
        self.cat_desc = _labels([f"${p:g} per On Demand Linux {n} Instance Hour" for n, p in zip(names, cat.on_demand)])
        self.cat_spot_desc = _labels([f"Linux/UNIX (Amazon VPC), {n} Spot Instance-hour" for n in names])
        self.cat_ri_desc = _labels([f"USD {self.ri.hourly_rate:.4f} hourly fee per Linux/UNIX (Amazon VPC), {n} instance"
                                    for n in names])
        self.cat_product = pa.array([[("product_name", EC2), ("servicename", EC2), ("region", r),
                                      ("operating_system", "Linux"), ("tenancy", "Shared"),
                                      ("instance_type_family", n.split(".")[0]), ("vcpu", f"{v:g}"),
                                      ("memory", f"{g:g} GiB")]
                                     for n, r, v, g in zip(names, regions, cat.vcpu, cat.memory_gb)], type=MAP)
        self.cat_norm = np.array([_normalization_factor(n) for n in names])
        self.region_names = _labels(regions)
        self.product_codes = ["AmazonEC2", "AmazonS3", "AmazonRDS", "AmazonCloudWatch", "AWSLambda", "awskms"]
        self.product_names = pa.array([[("product_name", name)] for name in (
            EC2, "Amazon Simple Storage Service", "Amazon Relational Database Service", "Amazon CloudWatch",
            "AWS Lambda", "AWS Key Management Service")], type=MAP)
        self.negation_desc = _labels([f"SavingsPlanNegation used by AccountId : {a.id}" for a in fleet.accounts])
        self.region_locations = _labels([LOCATIONS[r] for r in regions])
        # Per resource.
        self.m_ids, self.m_tags = _labels(m.id), _tags(m.tag_quality, m.team, m.product, m.environment)
        v = fleet.volumes
        self.v_ids, self.v_tags = _labels(v.id), _tags(v.tag_quality, v.team, v.product, v.environment)
        b = fleet.buckets
        self.b_ids, self.b_tags = _labels(b.id), _tags(b.tag_quality, b.team, b.product, b.environment)
        d = fleet.databases
        self.d_ids, self.d_tags = _labels(d.id), _tags(d.tag_quality, d.team, d.product, d.environment)
        self.d_types = _labels([f"db.{cat.name[i]}" for i in d.instance])
        self.d_usage = _labels([f"{PREFIX[str(cat.region[i])]}InstanceUsage:db.{cat.name[i]}" for i in d.instance])
        self.m_zone = _labels(m.zone)
        self.v_zone = _labels(v.zone)

    # ------------------------------------------------------------------ helpers
    def _bill(self, month: date, closed: bool) -> dict:
        following = (month + timedelta(days=32)).replace(day=1)
        return {
            "bill_bill_type": "Anniversary", "bill_billing_entity": "AWS",
            "bill_billing_period_start_date": datetime.combine(month, datetime.min.time()),
            "bill_billing_period_end_date": datetime.combine(following, datetime.min.time()),
            "bill_invoice_id": f"{month:%Y%m}{self.estate.aws_payer.id[-6:]}" if closed else None,
            "bill_invoicing_entity": LEGAL, "bill_payer_account_id": self.estate.aws_payer.id,
            "bill_payer_account_name": self.estate.aws_payer.name, "line_item_currency_code": "USD",
            "line_item_legal_entity": LEGAL, "pricing_currency": "USD",
        }

    def _period(self, start: datetime, end: datetime) -> dict:
        return {"line_item_usage_start_date": start, "line_item_usage_end_date": end,
                "identity_time_interval": f"{start:%Y-%m-%dT%H:%M:%SZ}/{end:%Y-%m-%dT%H:%M:%SZ}"}

    def _finish(self, rng, n: int, values: dict) -> pa.Table:
        values.setdefault("identity_line_item_id", ak.random_text(rng, n, 52, np.frombuffer(
            b"abcdefghijklmnopqrstuvwxyz234567", dtype="S1")))
        for key in ("line_item_unblended_rate", "pricing_public_on_demand_rate", "line_item_blended_rate"):
            if isinstance(values.get(key), np.ndarray):
                values[key] = ak.fixed(values[key], 10)
        if isinstance(values.get("line_item_unblended_cost"), np.ndarray):
            values.setdefault("line_item_blended_cost", values["line_item_unblended_cost"])
            values.setdefault("line_item_net_unblended_cost", values["line_item_unblended_cost"])
        return ak.table(SCHEMA, n, values)

    # ------------------------------------------------------------------ one day
    def day_table(self, day: int, month: date, closed: bool, totals: dict) -> pa.Table:
        est, fleet, cat = self.estate, self.fleet, self.fleet.catalog
        on = est.window.date(day)
        rng = day_rng(est.seed, "aws", day)
        start = datetime.combine(on, datetime.min.time())
        end = start + timedelta(days=1)
        base = {**self._bill(month, closed), **self._period(start, end)}
        days_in_month = ((month + timedelta(days=32)).replace(day=1) - month).days
        tables = []

        # ---- EC2 instances
        m = fleet.machines
        hours_all = machine_hours(m, day, on)
        run = np.flatnonzero(hours_all > 0)
        hours = hours_all[run]
        inst = m.instance[run]
        od_rate = cat.on_demand[inst]
        is_spot = m.pricing[run] == SPOT
        rate = np.where(is_spot, np.round(cat.spot[inst] * spot_factor(rng, len(run)), 4), od_rate)
        cost = hours * rate
        on_ri = (m.commitment[run] == RESERVATION) & (day >= self.ri.start_day)
        sp_rate = od_rate * (1 - self.sp.discount)
        wants_sp = (m.commitment[run] == SAVINGS_PLAN) & ~is_spot
        sp_cost = np.where(wants_sp, hours * sp_rate, 0.0)
        on_sp = wants_sp & (np.cumsum(sp_cost) <= self.sp.quantity * 24 + 1e-9)
        kind = np.where(on_ri, 1, np.where(on_sp, 2, 0))  # 0 Usage, 1 DiscountedUsage, 2 SavingsPlanCoveredUsage
        for i in np.flatnonzero(m.anomaly[run] >= 0):
            self.ledger.add_anomaly(int(m.anomaly[run][i]), float(cost[i]))
        n = len(run)
        acct = m.account[run]
        ri_effective = np.where(on_ri, hours * self.ri.hourly_rate, np.nan)
        values = {
            **base,
            "line_item_line_item_type": ak.take(_labels(["Usage", "DiscountedUsage", "SavingsPlanCoveredUsage"]), kind),
            "line_item_product_code": "AmazonEC2", "product_servicecode": "AmazonEC2",
            "line_item_usage_account_id": ak.take(self.account_ids, acct),
            "line_item_usage_account_name": ak.take(self.account_names, acct),
            "line_item_usage_type": ak.take(pa.concat_arrays([self.cat_box, self.cat_spot]), inst + is_spot * len(cat)),
            "line_item_operation": ak.take(_labels(["RunInstances", "RunInstances:SV001"]), is_spot.astype(int)),
            "line_item_availability_zone": ak.take(self.m_zone, run),
            "line_item_resource_id": ak.take(self.m_ids, run),
            "line_item_usage_amount": hours,
            "line_item_normalization_factor": self.cat_norm[inst],
            "line_item_normalized_usage_amount": hours * self.cat_norm[inst],
            "line_item_unblended_rate": np.where(on_ri, 0.0, rate),
            "line_item_unblended_cost": np.where(on_ri, 0.0, cost),
            "line_item_line_item_description": ak.take(pa.concat_arrays(
                [self.cat_desc, self.cat_spot_desc, self.cat_ri_desc]), inst + np.where(on_ri, 2, is_spot) * len(cat)),
            "pricing_public_on_demand_rate": od_rate, "pricing_public_on_demand_cost": hours * od_rate,
            "pricing_unit": "Hrs",
            "pricing_term": ak.take(_labels(["OnDemand", "Spot", "Reserved"]), np.where(on_ri, 2, is_spot)),
            "pricing_purchase_option": ak.take(_labels(["", "", "Partial Upfront"]), np.where(on_ri, 2, 0)),
            "pricing_lease_contract_length": ak.take(_labels(["", "1yr"]), on_ri.astype(int)),
            "pricing_offering_class": ak.take(_labels(["", "standard"]), on_ri.astype(int)),
            "pricing_rate_code": ak.take(pa.concat_arrays([self.cat_sku, self.cat_spot_sku]), inst + is_spot * len(cat)),
            "product_sku": ak.take(pa.concat_arrays([self.cat_sku, self.cat_spot_sku]), inst + is_spot * len(cat)),
            "product_product_family": "Compute Instance",
            "product_instance_type": ak.take(_labels([str(x) for x in cat.name]), inst),
            "product_region_code": ak.take(self.region_names, inst),
            "product_location": ak.take(self.region_locations, inst), "product_location_type": "AWS Region",
            "product_usagetype": ak.take(pa.concat_arrays([self.cat_box, self.cat_spot]), inst + is_spot * len(cat)),
            "product_operation": "RunInstances",
            "product": ak.take(self.cat_product, inst), "resource_tags": ak.take(self.m_tags, run),
            "reservation_reservation_a_r_n": ak.take(_labels(["", self.ri.id]), on_ri.astype(int)),
            "reservation_effective_cost": ri_effective,
            "reservation_amortized_upfront_cost_for_usage": ri_effective * self.ri.upfront_fraction,
            "reservation_recurring_fee_for_usage": ri_effective * (1 - self.ri.upfront_fraction),
            "savings_plan_savings_plan_a_r_n": ak.take(_labels(["", self.sp.id]), on_sp.astype(int)),
            "savings_plan_savings_plan_rate": np.where(on_sp, sp_rate, np.nan),
            "savings_plan_savings_plan_effective_cost": np.where(on_sp, hours * sp_rate, np.nan),
        }
        for key in ("pricing_purchase_option", "pricing_lease_contract_length", "pricing_offering_class",
                    "reservation_reservation_a_r_n", "savings_plan_savings_plan_a_r_n"):
            values[key] = _blank_to_null(values[key])
        machines = self._finish(rng, n, values)
        tables.append(machines)
        totals["ri_hours"] += float(hours[on_ri].sum())
        sp_used = float((hours * sp_rate)[on_sp].sum())
        self._add_usage(totals, acct, "AmazonEC2", np.where(on_ri, 0.0, cost))

        # Savings Plan negations of the covered lines, and the day's recurring fee.
        covered = np.flatnonzero(on_sp)
        if len(covered):
            neg = machines.take(pa.array(covered))
            neg_values = {name: neg.column(name) for name in SCHEMA.names}
            neg_cost = -(hours[covered] * od_rate[covered])
            neg_values.update({
                "identity_line_item_id": None, "line_item_line_item_type": "SavingsPlanNegation",
                "line_item_unblended_rate": -od_rate[covered], "line_item_unblended_cost": neg_cost,
                "line_item_blended_cost": neg_cost, "line_item_net_unblended_cost": neg_cost,
                "line_item_line_item_description": ak.take(self.negation_desc, acct[covered]),
                "pricing_public_on_demand_cost": None, "pricing_public_on_demand_rate": None,
                "savings_plan_savings_plan_rate": None, "savings_plan_savings_plan_effective_cost": None,
                "line_item_normalization_factor": None, "line_item_normalized_usage_amount": None,
            })
            neg_values.pop("identity_line_item_id")
            tables.append(self._finish(rng, len(covered), neg_values))
            self._add_usage(totals, acct[covered], "AmazonEC2", neg_cost)
        if day >= self.sp.start_day:
            commitment = self.sp.quantity * 24
            tables.append(self._finish(rng, 1, {
                **base, "line_item_line_item_type": "SavingsPlanRecurringFee",
                "line_item_product_code": "ComputeSavingsPlans", "line_item_usage_type": "ComputeSP:1yrNoUpfront",
                "line_item_operation": None, "line_item_usage_account_id": self.estate.aws_payer.id,
                "line_item_usage_account_name": self.estate.aws_payer.name,
                "line_item_usage_amount": np.array([24.0]), "line_item_unblended_rate": np.array([self.sp.quantity]),
                "line_item_unblended_cost": np.array([commitment]),
                "line_item_line_item_description": "1 year No Upfront Compute Savings Plan",
                "pricing_unit": "Hrs", "product_sku": _sku("sp"), "pricing_rate_code": _sku("sp") + ".NOUPFRONT",
                "product": [[("product_name", "Savings Plans for AWS Compute usage")]],
                "savings_plan_savings_plan_a_r_n": self.sp.id,
                "savings_plan_total_commitment_to_date": np.array([commitment]),
                "savings_plan_used_commitment": np.array([min(sp_used, commitment)]),
                "savings_plan_recurring_commitment_for_billing_period": np.array([commitment]),
                "savings_plan_amortized_upfront_commitment_for_billing_period": np.array([0.0]),
                "savings_plan_offering_type": "ComputeSavingsPlans", "savings_plan_payment_option": "No Upfront",
                "savings_plan_purchase_term": "1yr", "savings_plan_start_time": "2023-06-01T00:00:00Z",
                "savings_plan_end_time": "2026-06-01T00:00:00Z",
            }))
            totals["sp_fees"] += commitment

        # ---- EBS volumes
        v = fleet.volumes
        vol = np.flatnonzero(alive(v.launch_day, v.end_day, day))
        gb_month = v.size_gb[vol] / days_in_month
        vcost = gb_month * EBS_GP3_GB_MONTH
        vregion = v.region[vol]
        prefix = np.where(vregion == "eu-west-1", 1, 0)
        tables.append(self._finish(rng, len(vol), {
            **base, "line_item_line_item_type": "Usage", "line_item_product_code": "AmazonEC2",
            "product_servicecode": "AmazonEC2", "line_item_usage_account_id": ak.take(self.account_ids, v.account[vol]),
            "line_item_usage_account_name": ak.take(self.account_names, v.account[vol]),
            "line_item_usage_type": ak.take(_labels(["EBS:VolumeUsage.gp3", "EU-EBS:VolumeUsage.gp3"]), prefix),
            "line_item_operation": "CreateVolume-Gp3", "line_item_availability_zone": ak.take(self.v_zone, vol),
            "line_item_resource_id": ak.take(self.v_ids, vol), "line_item_usage_amount": gb_month,
            "line_item_unblended_rate": np.full(len(vol), EBS_GP3_GB_MONTH), "line_item_unblended_cost": vcost,
            "line_item_line_item_description": "$0.08 per GB-month of General Purpose (gp3) provisioned storage",
            "pricing_public_on_demand_rate": np.full(len(vol), EBS_GP3_GB_MONTH), "pricing_public_on_demand_cost": vcost,
            "pricing_unit": "GB-Mo", "pricing_term": "OnDemand",
            "product_sku": ak.take(_labels([_sku("gp3", "us-east-1"), _sku("gp3", "eu-west-1")]), prefix),
            "product_product_family": "Storage", "product_region_code": ak.take(_labels(["us-east-1", "eu-west-1"]), prefix),
            "product_location": ak.take(_labels([LOCATIONS["us-east-1"], LOCATIONS["eu-west-1"]]), prefix),
            "product_location_type": "AWS Region",
            "product": ak.take(pa.array([[("product_name", EC2), ("region", "us-east-1"), ("volume_api_name", "gp3")],
                                         [("product_name", EC2), ("region", "eu-west-1"), ("volume_api_name", "gp3")]],
                                        type=MAP), prefix),
            "resource_tags": ak.take(self.v_tags, vol),
        }))
        self._add_usage(totals, v.account[vol], "AmazonEC2", vcost)

        # ---- S3: storage that grows, and requests that follow traffic
        b = fleet.buckets
        nb = len(b)
        gb = bucket_gb(fleet, day)
        reqs = np.round(b.requests_per_day * 1000 * traffic_factor(on) * rng.uniform(0.8, 1.2, nb))
        s3_cost = np.concatenate([gb / days_in_month * S3_GB_MONTH, reqs * S3_PUT_PER_REQUEST])
        bidx = np.concatenate([np.arange(nb), np.arange(nb)])
        is_req = np.repeat([0, 1], nb)
        bprefix = np.where(b.region[bidx] == "eu-west-1", 1, 0)
        tables.append(self._finish(rng, 2 * nb, {
            **base, "line_item_line_item_type": "Usage", "line_item_product_code": "AmazonS3",
            "product_servicecode": "AmazonS3", "line_item_usage_account_id": ak.take(self.account_ids, b.account[bidx]),
            "line_item_usage_account_name": ak.take(self.account_names, b.account[bidx]),
            "line_item_usage_type": ak.take(_labels(["TimedStorage-ByteHrs", "Requests-Tier1",
                                                     "EU-TimedStorage-ByteHrs", "EU-Requests-Tier1"]), is_req + 2 * bprefix),
            "line_item_operation": ak.take(_labels(["StandardStorage", "PutObject"]), is_req),
            "line_item_resource_id": ak.take(self.b_ids, bidx),
            "line_item_usage_amount": np.concatenate([gb / days_in_month, reqs]),
            "line_item_unblended_rate": np.where(is_req == 1, S3_PUT_PER_REQUEST, S3_GB_MONTH),
            "line_item_unblended_cost": s3_cost,
            "line_item_line_item_description": ak.take(_labels(["$0.023 per GB - first 50 TB / month of storage used",
                                                                "$0.005 per 1,000 PUT, COPY, POST, or LIST requests"]), is_req),
            "pricing_public_on_demand_rate": np.where(is_req == 1, S3_PUT_PER_REQUEST, S3_GB_MONTH),
            "pricing_public_on_demand_cost": s3_cost,
            "pricing_unit": ak.take(_labels(["GB-Mo", "Requests"]), is_req), "pricing_term": "OnDemand",
            "product_sku": ak.take(_labels([_sku("s3", "storage"), _sku("s3", "put")]), is_req),
            "product_product_family": ak.take(_labels(["Storage", "API Request"]), is_req),
            "product_region_code": ak.take(_labels(["us-east-1", "eu-west-1"]), bprefix),
            "product_location": ak.take(_labels([LOCATIONS["us-east-1"], LOCATIONS["eu-west-1"]]), bprefix),
            "product_location_type": "AWS Region",
            "product": ak.take(pa.array([[("product_name", "Amazon Simple Storage Service"), ("region", "us-east-1"),
                                          ("storage_class", "General Purpose")],
                                         [("product_name", "Amazon Simple Storage Service"), ("region", "eu-west-1"),
                                          ("storage_class", "General Purpose")]], type=MAP), bprefix),
            "resource_tags": ak.take(self.b_tags, bidx),
        }))
        self._add_usage(totals, b.account[bidx], "AmazonS3", s3_cost)

        # ---- RDS: instance hours and storage
        d = fleet.databases
        db = np.flatnonzero(alive(d.launch_day, d.end_day, day))
        nd = len(db)
        drate = np.round(cat.on_demand[d.instance[db]] * RDS_PREMIUM, 4)
        dcost = np.concatenate([24 * drate, d.storage_gb[db] / days_in_month * RDS_GP3_GB_MONTH])
        didx = np.concatenate([db, db])
        is_storage = np.repeat([0, 1], nd)
        tables.append(self._finish(rng, 2 * nd, {
            **base, "line_item_line_item_type": "Usage", "line_item_product_code": "AmazonRDS",
            "product_servicecode": "AmazonRDS", "line_item_usage_account_id": ak.take(self.account_ids, d.account[didx]),
            "line_item_usage_account_name": ak.take(self.account_names, d.account[didx]),
            "line_item_usage_type": pa.concat_arrays([ak.take(self.d_usage, db), ak.constant("RDS:GP3-Storage", nd, S)]),
            "line_item_operation": ak.take(_labels(["CreateDBInstance:0014", "CreateDBInstance:0014"]), is_storage),
            "line_item_availability_zone": "us-east-1a",
            "line_item_resource_id": ak.take(self.d_ids, didx),
            "line_item_usage_amount": np.concatenate([np.full(nd, 24.0), d.storage_gb[db] / days_in_month]),
            "line_item_unblended_rate": np.concatenate([drate, np.full(nd, RDS_GP3_GB_MONTH)]),
            "line_item_unblended_cost": dcost,
            "line_item_line_item_description": ak.take(_labels(["RDS for PostgreSQL Single-AZ instance hour",
                                                                "$0.115 per GB-month of provisioned gp3 storage"]), is_storage),
            "pricing_public_on_demand_rate": np.concatenate([drate, np.full(nd, RDS_GP3_GB_MONTH)]),
            "pricing_public_on_demand_cost": dcost, "pricing_term": "OnDemand",
            "pricing_unit": ak.take(_labels(["Hrs", "GB-Mo"]), is_storage),
            "product_sku": pa.concat_arrays([ak.take(_labels([_sku("rds", str(x)) for x in cat.name]), d.instance[db]),
                                             ak.constant(_sku("rds-gp3"), nd, S)]),
            "product_product_family": ak.take(_labels(["Database Instance", "Database Storage"]), is_storage),
            "product_instance_type": pa.concat_arrays([ak.take(self.d_types, db), pa.nulls(nd, S)]),
            "product_region_code": "us-east-1", "product_location": LOCATIONS["us-east-1"],
            "product_location_type": "AWS Region",
            "product": ak.constant([("product_name", "Amazon Relational Database Service"), ("region", "us-east-1"),
                                    ("database_engine", "PostgreSQL"), ("deployment_option", "Single-AZ")], 2 * nd, MAP),
            "resource_tags": ak.take(self.d_tags, didx),
        }))
        self._add_usage(totals, d.account[didx], "AmazonRDS", dcost)

        # ---- data transfer out to the internet, per account and region (prod carries the traffic)
        n_acct = len(self.accounts)
        base_gb = np.array([900.0 if a.environment == "prod" else 40.0 for a in self.accounts]) * self.estate.scale
        gb_out = np.concatenate([base_gb, base_gb * 0.25]) * traffic_factor(on) * rng.uniform(0.85, 1.15, 2 * n_acct)
        factor, anomaly = anomaly_factor(est, "aws", "egress-spike", 0, day)
        if anomaly >= 0:
            extra = gb_out[0] * (factor - 1)
            gb_out[0] += extra
            self.ledger.add_anomaly(anomaly, extra * EGRESS_GB)
        t_acct = np.concatenate([np.arange(n_acct), np.arange(n_acct)])
        t_region = np.repeat([0, 1], n_acct)
        tcost = gb_out * EGRESS_GB
        tables.append(self._finish(rng, 2 * n_acct, {
            **base, "line_item_line_item_type": "Usage", "line_item_product_code": "AmazonEC2",
            "product_servicecode": "AWSDataTransfer",
            "line_item_usage_account_id": ak.take(self.account_ids, t_acct),
            "line_item_usage_account_name": ak.take(self.account_names, t_acct),
            "line_item_usage_type": ak.take(_labels(["DataTransfer-Out-Bytes", "EU-DataTransfer-Out-Bytes"]), t_region),
            "line_item_operation": "RunInstances", "line_item_usage_amount": gb_out,
            "line_item_unblended_rate": np.full(2 * n_acct, EGRESS_GB), "line_item_unblended_cost": tcost,
            "line_item_line_item_description": "$0.09 per GB - first 10 TB / month data transfer out beyond the global free tier",
            "pricing_public_on_demand_rate": np.full(2 * n_acct, EGRESS_GB), "pricing_public_on_demand_cost": tcost,
            "pricing_unit": "GB", "pricing_term": "OnDemand",
            "product_sku": ak.take(_labels([_sku("dto", "us-east-1"), _sku("dto", "eu-west-1")]), t_region),
            "product_product_family": "Data Transfer",
            "product_from_region_code": ak.take(_labels(["us-east-1", "eu-west-1"]), t_region),
            "product_from_location": ak.take(_labels([LOCATIONS["us-east-1"], LOCATIONS["eu-west-1"]]), t_region),
            "product_from_location_type": "AWS Region", "product_to_location": "External",
            "product": ak.take(pa.array([[("product_name", EC2), ("region", "us-east-1"), ("transfer_type", "AWS Outbound")],
                                         [("product_name", EC2), ("region", "eu-west-1"), ("transfer_type", "AWS Outbound")]],
                                        type=MAP), t_region),
        }))
        self._add_usage(totals, t_acct, "AmazonEC2", tcost)

        # ---- monitoring, functions and keys: small daily charges per account
        services = [("AmazonCloudWatch", "CW:MetricMonitorUsage", "MetricStorage", 0.30 / days_in_month, 120.0, "Metrics",
                     "Amazon CloudWatch", "$0.30 per metric-month - first 10,000 metrics"),
                    ("AWSLambda", "Lambda-GB-Second", "Invoke", 0.0000166667, 220000.0, "Lambda-GB-Second",
                     "AWS Lambda", "AWS Lambda - Total Compute - US East (Northern Virginia)"),
                    ("awskms", "KMS-Requests", "Decrypt", 0.03 / 10000, 400000.0, "Requests",
                     "AWS Key Management Service", "$0.03 per 10,000 requests")]
        k = len(services)
        s_acct = np.repeat(np.arange(n_acct), k)
        s_kind = np.tile(np.arange(k), n_acct)
        env_weight = np.array([1.0 if a.environment == "prod" else 0.3 for a in self.accounts])[s_acct]
        amount = np.array([s[4] for s in services])[s_kind] * env_weight * est.scale * rng.uniform(0.8, 1.2, len(s_kind))
        srate = np.array([s[3] for s in services])[s_kind]
        scost = amount * srate
        tables.append(self._finish(rng, len(s_kind), {
            **base, "line_item_line_item_type": "Usage",
            "line_item_product_code": ak.take(_labels([s[0] for s in services]), s_kind),
            "product_servicecode": ak.take(_labels([s[0] for s in services]), s_kind),
            "line_item_usage_account_id": ak.take(self.account_ids, s_acct),
            "line_item_usage_account_name": ak.take(self.account_names, s_acct),
            "line_item_usage_type": ak.take(_labels([s[1] for s in services]), s_kind),
            "line_item_operation": ak.take(_labels([s[2] for s in services]), s_kind),
            "line_item_usage_amount": amount, "line_item_unblended_rate": srate, "line_item_unblended_cost": scost,
            "line_item_line_item_description": ak.take(_labels([s[7] for s in services]), s_kind),
            "pricing_public_on_demand_rate": srate, "pricing_public_on_demand_cost": scost,
            "pricing_unit": ak.take(_labels([s[5] for s in services]), s_kind), "pricing_term": "OnDemand",
            "product_sku": ak.take(_labels([_sku(s[0]) for s in services]), s_kind),
            "product_region_code": "us-east-1", "product_location": LOCATIONS["us-east-1"],
            "product_location_type": "AWS Region",
            "product": ak.take(pa.array([[("product_name", s[6]), ("region", "us-east-1")] for s in services], type=MAP),
                               s_kind),
        }))
        for j, s in enumerate(services):
            self._add_usage(totals, s_acct[s_kind == j], s[0], scost[s_kind == j])
        return pa.concat_tables(tables)

    def _add_usage(self, totals: dict, account: np.ndarray, product_code: str, cost: np.ndarray) -> None:
        sums = np.bincount(account.astype(np.int64), weights=cost, minlength=len(self.accounts))
        for i, value in enumerate(sums):
            if value:
                totals["usage"][(i, product_code)] += float(value)

    # ------------------------------------------------------------------ once a month
    def month_table(self, month: date, first: int, stop: int, closed: bool, totals: dict) -> pa.Table:
        est = self.estate
        rng = day_rng(est.seed, "aws", 100_000 + first)
        month_start = datetime.combine(month, datetime.min.time())
        following = datetime.combine((month + timedelta(days=32)).replace(day=1), datetime.min.time())
        base = {**self._bill(month, closed), **self._period(month_start, following)}
        tables = []
        ri = self.ri
        covered_from = max(first, ri.start_day)
        if covered_from < stop:
            reserved = ri.quantity * 24.0 * (stop - covered_from)
            used = totals["ri_hours"]
            unused = max(reserved - used, 0.0)
            upfront, recurring = ri.hourly_rate * ri.upfront_fraction, ri.hourly_rate * (1 - ri.upfront_fraction)
            ri_start = est.window.date(ri.start_day) if ri.start_day >= 0 else est.window.start - timedelta(days=30)
            common = {**base, "line_item_product_code": "AmazonEC2", "product_servicecode": "AmazonEC2",
                      "line_item_usage_account_id": self.accounts[0].id, "line_item_usage_account_name": self.accounts[0].name,
                      "line_item_usage_type": "HeavyUsage:m5.xlarge", "line_item_operation": "RunInstances",
                      "pricing_unit": "Hrs", "pricing_term": "Reserved", "pricing_purchase_option": "Partial Upfront",
                      "pricing_lease_contract_length": "1yr", "pricing_offering_class": "standard",
                      "product_sku": _sku("ec2", "m5.xlarge", "us-east-1"), "product_product_family": "Compute Instance",
                      "product_instance_type": "m5.xlarge", "product_region_code": "us-east-1",
                      "product_location": LOCATIONS["us-east-1"], "product_location_type": "AWS Region",
                      "product": [[("product_name", EC2), ("region", "us-east-1")]],
                      "reservation_reservation_a_r_n": ri.id, "reservation_number_of_reservations": f"{ri.quantity:g}",
                      "reservation_start_time": f"{ri_start:%Y-%m-%d}T00:00:00.000Z",
                      "reservation_end_time": f"{ri_start + timedelta(days=365):%Y-%m-%d}T00:00:00.000Z"}
            tables.append(self._finish(rng, 1, {
                **common, "line_item_line_item_type": "RIFee",
                "line_item_usage_amount": np.array([reserved]), "line_item_unblended_rate": np.array([recurring]),
                "line_item_unblended_cost": np.array([reserved * recurring]),
                "line_item_line_item_description": f"USD {recurring:.4f} hourly fee per Linux/UNIX (Amazon VPC), m5.xlarge instance",
                "reservation_total_reserved_units": f"{reserved:g}", "reservation_unused_quantity": f"{unused:g}",
                "reservation_unused_recurring_fee": np.array([unused * recurring]),
                "reservation_amortized_upfront_fee_for_billing_period": np.array([reserved * upfront]),
                "reservation_unused_amortized_upfront_fee_for_billing_period": np.array([unused * upfront]),
            }))
            totals["usage"][(0, "AmazonEC2")] += reserved * recurring
            if first <= ri.start_day < stop:
                value = ri.quantity * upfront * ri.term_hours
                purchase_day = datetime.combine(est.window.date(ri.start_day), datetime.min.time())
                tables.append(self._finish(rng, 1, {
                    **common, **self._period(purchase_day, purchase_day), "bill_bill_type": "Purchase",
                    "line_item_line_item_type": "Fee", "line_item_usage_amount": np.array([1.0]),
                    "line_item_unblended_rate": np.array([value]), "line_item_unblended_cost": np.array([value]),
                    "line_item_line_item_description": "Sign up charge for subscription: m5.xlarge Partial Upfront 1yr",
                    "pricing_unit": "Quantity", "reservation_upfront_value": np.array([value]),
                }))
        # Tax on each account's usage, per product; Business Support on the whole bill; credits early on.
        usage = totals["usage"]
        keys = sorted(k for k, v in usage.items() if v > 0)
        if keys:
            tax = np.array([usage[k] * SALES_TAX for k in keys])
            tables.append(self._finish(rng, len(keys), {
                **base, "line_item_line_item_type": "Tax",
                "line_item_product_code": _labels([k[1] for k in keys]),
                "line_item_usage_account_id": _labels([self.accounts[k[0]].id for k in keys]),
                "line_item_usage_account_name": _labels([self.accounts[k[0]].name for k in keys]),
                "line_item_usage_amount": np.ones(len(keys)), "line_item_unblended_cost": np.round(tax, 6),
                "line_item_tax_type": "SalesTax",
                "product": ak.take(self.product_names, np.array([self.product_codes.index(k[1]) for k in keys])),
                "line_item_line_item_description": _labels([f"Tax for product code {k[1]}" for k in keys]),
            }))
        spend = sum(usage.values()) + totals["sp_fees"]
        support = max(100.0, 0.10 * min(spend, 10_000) + 0.07 * max(min(spend, 80_000) - 10_000, 0)
                      + 0.05 * max(spend - 80_000, 0))
        tables.append(self._finish(rng, 1, {
            **base, "line_item_line_item_type": "Fee", "line_item_product_code": "AWSSupportBusiness",
            "line_item_usage_type": "Dollar", "line_item_usage_account_id": est.aws_payer.id,
            "line_item_usage_account_name": est.aws_payer.name, "line_item_usage_amount": np.array([1.0]),
            "line_item_unblended_rate": np.array([round(support, 2)]), "line_item_unblended_cost": np.array([round(support, 2)]),
            "line_item_line_item_description": "AWS Support (Business)", "product_product_family": "Support",
            "pricing_unit": "Quantity",
            "product_sku": _sku("support"), "product": [[("product_name", "AWS Support (Business)")]],
        }))
        if first < est.window.days // 2:
            credit = -round(min(500.0, 0.05 * spend), 2)
            tables.append(self._finish(rng, 1, {
                **base, "line_item_line_item_type": "Credit", "line_item_product_code": "AmazonEC2",
                "line_item_usage_account_id": self.accounts[0].id, "line_item_usage_account_name": self.accounts[0].name,
                "line_item_unblended_cost": np.array([credit]),
                "line_item_line_item_description": "AWS Activate Credits",
                "product": [[("product_name", EC2)]],
            }))
        return pa.concat_tables(tables)

    # ------------------------------------------------------------------ files
    def write(self) -> None:
        est = self.estate
        months = est.window.months()
        for number, (month, first, stop) in enumerate(months):
            current = number == len(months) - 1
            closed = not current
            deliveries = month_deliveries(est.window, current, first, stop, hour=6)
            sinks = []
            for cut, at in deliveries:
                folder = self.root / f"BILLING_PERIOD={month:%Y-%m}" / f"{at:%Y%m%dT%H%M%SZ}-{_sku(est.seed, month, cut)[:8].lower()}"
                sinks.append((cut, at, ParquetSink(folder / f"{EXPORT_NAME}-00001.snappy.parquet", SCHEMA), self._totals()))
            for day in range(first, stop):
                table = self.day_table(day, month, closed, sinks[-1][3])
                for cut, _, sink, totals in sinks:
                    if day < cut:
                        sink.write(table)
                        if totals is not sinks[-1][3]:
                            _merge_day(totals, table, self)
            for cut, at, sink, totals in sinks:
                sink.write(self.month_table(month, first, cut, closed, totals))
                sink.close(mtime=at.timestamp())
                self.ledger.max_rows_in_memory = max(self.ledger.max_rows_in_memory, sink.max_rows_in_memory)
                self.ledger.files.append(str(sink.path))
                if cut == stop:
                    self.ledger.add_rows("aws_cur2", sink.rows, 0.0)

    def _totals(self) -> dict:
        return {"usage": defaultdict(float), "ri_hours": 0.0, "sp_fees": 0.0}


def _blank_to_null(array: pa.Array) -> pa.Array:
    import pyarrow.compute as pc

    return pc.if_else(pc.equal(array, ""), pa.scalar(None, S), array)


def _merge_day(totals: dict, table: pa.Table, writer: AwsCur2Writer) -> None:
    """The month-to-date totals of an earlier delivery, from the rows it received."""
    import pyarrow.compute as pc

    ids = {a.id: i for i, a in enumerate(writer.accounts)}
    grouped = table.group_by(["line_item_usage_account_id", "line_item_product_code", "line_item_line_item_type"]).aggregate(
        [("line_item_unblended_cost", "sum"), ("line_item_usage_amount", "sum")])
    for acct, code, kind, cost, amount in zip(*(grouped.column(i).to_pylist() for i in range(5))):
        if kind == "SavingsPlanRecurringFee":
            totals["sp_fees"] += cost
        elif kind == "DiscountedUsage":
            totals["ri_hours"] += amount
        elif acct in ids:
            totals["usage"][(ids[acct], code)] += cost
    del pc
