"""The Azure estate as Cost Management exports: an actual cost and an amortized cost export, CSV, MCA columns.

Layout as Cost Management delivers a scheduled export (one folder per export, date range and run):
`azure/<export>-actual/<YYYYMMDD-YYYYMMDD>/<run-guid>/part_0_0001.csv` and the same under
`<export>-amortized`. The date range is the whole calendar month (MCA billing periods are calendar
months); the current month is delivered twice, an earlier month-to-date run restated by a later one.

Columns are the Microsoft Customer Agreement cost details schema's (the 65 columns of
tests/fixtures/azure/MCA_*_Constructed.csv, mixed camelCase/PascalCase as Microsoft writes them),
dates MM/DD/YYYY, amounts as fixed-point text, billed in USD (exchange rate 1). Tags are JSON pairs,
written without the outer braces for VMs and disks (as cost details often do) and with them elsewhere.

Rows: VM usage priced from the compute catalog (on-demand and Spot), Premium SSD managed disks,
Blob storage (data stored, write operations), Azure SQL Database (vCores, storage), bandwidth out.
The 1-year D4s_v4 reservation (monthly billing, auto-renewed at term end with a new order, scoped to
the prod subscription) covers matching prod VM usage, whole VM-days, up to its quantity x 24 hours a
day, the VMs it was bought for first:
- actual: covered usage at cost 0 (PricingModel Reservation), plus the monthly Purchase on the
  purchase date's day of the month;
- amortized: covered usage at the reservation's hourly rate and an UnusedReservation row per day for
  the hours no VM used; no Purchase.
Every other row is written identically to both files, so the actual total = amortized non-commitment
rows + purchases, and the amortized total = what FOCUS EffectiveCost sums to.
Usage is daily (Cost Management's daily granularity).
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from autostack.demo import arrowkit as ak
from autostack.demo.estate import (
    ENVIRONMENTS,
    MIS_TAGGED,
    PRODUCTS,
    RESERVATION,
    SPOT,
    TAGGED,
    TEAMS,
    Estate,
    month_deliveries,
)
from autostack.demo.ledger import Ledger
from autostack.demo.sinks import CsvSink
from autostack.demo.usage import alive, bucket_gb, day_rng, machine_hours, spot_factor, traffic_factor

EXPORT_NAME = "kestrel-costs"
FILE_NAME = "part_0_0001.csv"
S = pa.string()

COLUMNS = (
    "invoiceId,previousInvoiceId,billingAccountId,billingAccountName,billingProfileId,billingProfileName,"
    "invoiceSectionId,invoiceSectionName,resellerName,resellerMpnId,costCenter,billingPeriodEndDate,"
    "billingPeriodStartDate,servicePeriodEndDate,servicePeriodStartDate,date,serviceFamily,productOrderId,"
    "productOrderName,consumedService,meterId,meterName,meterCategory,meterSubCategory,meterRegion,ProductId,"
    "ProductName,SubscriptionId,subscriptionName,publisherType,publisherId,publisherName,resourceGroupName,"
    "ResourceId,resourceLocation,location,effectivePrice,quantity,unitOfMeasure,chargeType,billingCurrency,"
    "pricingCurrency,costInBillingCurrency,costInPricingCurrency,costInUsd,paygCostInBillingCurrency,"
    "paygCostInUsd,exchangeRatePricingToBilling,exchangeRateDate,isAzureCreditEligible,serviceInfo1,"
    "serviceInfo2,additionalInfo,tags,PayGPrice,frequency,term,reservationId,reservationName,pricingModel,"
    "unitPrice,costAllocationRuleName,benefitId,benefitName,provider"
).split(",")
SCHEMA = pa.schema([(name, S) for name in COLUMNS])

METER_REGIONS = {"eastus": "US East", "westeurope": "EU West"}

# List prices (USD, Azure retail prices, East US) of what the compute catalog does not cover.
DISK_TIERS = ((32, "P4", 5.28), (64, "P6", 10.21), (128, "P10", 19.71), (256, "P15", 38.01),
              (512, "P20", 73.22), (1024, "P30", 135.17))
BLOB_HOT_GB_MONTH = 0.0184
BLOB_WRITE_PER_10K = 0.065
SQL_VCORE_HOUR = 0.2522  # General Purpose, Gen5, per vCore-hour
SQL_GB_MONTH = 0.115
EGRESS_GB = 0.087
EGRESS_GB_PER_DAY = {"prod": 180.0, "nonprod": 25.0}


def _guid(*parts: object) -> str:
    h = hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:32]}"


def _product_id(*parts: object) -> str:
    h = hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest().upper()
    return f"DZH318Z0{h[:4]}:{int(h[4:8], 16) % 10000:04d}"


def _labels(values) -> pa.Array:
    return pa.array(list(values), type=S)


def _num(values) -> pa.Array:
    return ak.fixed(np.asarray(values, dtype=float), 10)


def _mdy(on: date) -> str:
    return f"{on:%m/%d/%Y}"


def _add_months(on: date, months: int) -> date:
    year, month = divmod(on.month - 1 + months, 12)
    following = date(on.year + year + (month == 11), (month + 1) % 12 + 1, 1)
    last = (following - timedelta(days=1)).day
    return date(on.year + year, month + 1, min(on.day, last))


def _tags(quality, team, product, env, braces: bool) -> pa.Array:
    """Azure's tags text: JSON pairs, with or without the outer braces; None when untagged."""
    out = []
    for q, t, p, e in zip(quality, team, product, env):
        if q == TAGGED:
            pairs = {"team": TEAMS[t], "product": PRODUCTS[p], "env": ENVIRONMENTS[e]}
        elif q == MIS_TAGGED:
            pairs = {"Team": TEAMS[t].title(), "product": PRODUCTS[p]}
        else:
            out.append(None)
            continue
        body = ",".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in pairs.items())
        out.append("{" + body + "}" if braces else body)
    return pa.array(out, type=S)


def _resource_group(resource_id: str) -> str:
    parts = resource_id.split("/")
    return parts[4] if len(parts) > 4 and parts[3].lower() == "resourcegroups" else ""


def _meter_name(vm_size: str) -> str:
    return vm_size.removeprefix("Standard_").replace("_", " ")  # Standard_D4s_v4 -> D4s v4


def _series(vm_size: str) -> str:
    parts = vm_size.removeprefix("Standard_").split("_")
    letters = "".join(c for c in parts[0] if not c.isdigit())
    return (f"{letters[0]}{letters[1:]}{parts[1]} Series" if len(parts) > 1 else f"{letters.upper()} Series")


class AzureExportsWriter:
    """Generates and writes the Azure estate's actual and amortized cost exports, a day at a time."""

    def __init__(self, estate: Estate, root: Path, ledger: Ledger) -> None:
        self.estate, self.fleet, self.ledger = estate, estate.azure, ledger
        self.root = Path(root) / "azure"
        fleet, cat = self.fleet, self.fleet.catalog
        self.reservation = next(c for c in fleet.commitments if c.kind == "reservation")
        h = hashlib.sha1(f"section|{estate.seed}".encode()).hexdigest().upper()
        self.invoice_section = f"{h[:4]}-{h[4:8]}-{h[8:11]}-{h[11:14]}"  # MCA's XXXX-XXXX-XXX-XXX
        self.sub_ids = _labels(a.id for a in fleet.accounts)
        self.sub_names = _labels(a.name for a in fleet.accounts)
        self.prod_sub = next(i for i, a in enumerate(fleet.accounts) if a.environment == "prod")
        # Per catalog entry (VM size in a region).
        names, regions = [str(n) for n in cat.name], [str(r) for r in cat.region]
        self.cat_meter = _labels(_meter_name(n) for n in names)
        self.cat_spot_meter = _labels(_meter_name(n) + " Spot" for n in names)
        self.cat_sub = _labels(_series(n) for n in names)
        self.cat_product = _labels(f"Virtual Machines {_series(n)} - {_meter_name(n)} - {METER_REGIONS[r]}"
                                   for n, r in zip(names, regions))
        self.cat_spot_product = _labels(f"Virtual Machines {_series(n)} - {_meter_name(n)} Spot - {METER_REGIONS[r]}"
                                        for n, r in zip(names, regions))
        self.cat_meter_id = _labels(_guid("meter", n, r) for n, r in zip(names, regions))
        self.cat_spot_meter_id = _labels(_guid("meter-spot", n, r) for n, r in zip(names, regions))
        self.cat_product_id = _labels(_product_id("vm", n, r) for n, r in zip(names, regions))
        self.cat_spot_product_id = _labels(_product_id("vm-spot", n, r) for n, r in zip(names, regions))
        self.cat_info = _labels(json.dumps({"UsageType": "ComputeHR", "ImageType": "Canonical", "ServiceType": n,
                                            "VCPUs": int(v)}, separators=(",", ":"))
                                for n, v in zip(names, cat.vcpu))
        self.cat_ri_info = _labels(json.dumps({"UsageType": "ComputeHR", "ImageType": "Canonical", "ServiceType": n,
                                               "VCPUs": int(v), "RINormalizationRatio": "1"}, separators=(",", ":"))
                                   for n, v in zip(names, cat.vcpu))
        self.cat_region = _labels(regions)
        self.cat_location = _labels(METER_REGIONS[r] for r in regions)
        # Per resource.
        m, v, b, d = fleet.machines, fleet.volumes, fleet.buckets, fleet.databases
        self.m_ids, self.m_rg = _labels(m.id), _labels(_resource_group(i) for i in m.id)
        self.m_tags = _tags(m.tag_quality, m.team, m.product, m.environment, braces=False)
        self.v_ids, self.v_rg = _labels(v.id), _labels(_resource_group(i) for i in v.id)
        self.v_tags = _tags(v.tag_quality, v.team, v.product, v.environment, braces=False)
        tier = np.searchsorted([t[0] for t in DISK_TIERS], v.size_gb)
        self.v_tier = np.minimum(tier, len(DISK_TIERS) - 1)
        self.b_ids, self.b_rg = _labels(b.id), _labels(_resource_group(i) for i in b.id)
        self.b_tags = _tags(b.tag_quality, b.team, b.product, b.environment, braces=True)
        self.d_ids, self.d_rg = _labels(d.id), _labels(_resource_group(i) for i in d.id)
        self.d_tags = _tags(d.tag_quality, d.team, d.product, d.environment, braces=True)
        self.b_region = self._region_index(b.region)
        self.d_region = self._region_index(d.region)
        self.v_region = self._region_index(v.region)
        self.regions = _labels(fleet.regions)
        self.locations = _labels(METER_REGIONS[r] for r in fleet.regions)
        # Load balancers carrying each subscription's internet egress, per region.
        self.lb_ids = []
        for acct in fleet.accounts:
            for region in fleet.regions:
                env = "prod" if acct.environment == "prod" else "nonprod"
                self.lb_ids.append(f"/subscriptions/{acct.id}/resourceGroups/rg-shared-{env}/providers/"
                                   f"Microsoft.Network/loadBalancers/lb-edge-{region}")
        self.lb_rg = _labels(_resource_group(i) for i in self.lb_ids)
        self.lb_tags = pa.array([f'{{"team": "platform", "product": "shared", "env": '
                                 f'"{"prod" if a.environment == "prod" else "dev"}"}}'
                                 for a in fleet.accounts for _ in fleet.regions], type=S)
        self.lb_ids = _labels(self.lb_ids)

    def _region_index(self, regions: np.ndarray) -> np.ndarray:
        """Index into the fleet's regions of each resource's region (an error names an unknown one)."""
        out = np.full(len(regions), -1, dtype=np.int64)
        for i, region in enumerate(self.fleet.regions):
            out[regions == region] = i
        if (out < 0).any():
            raise ValueError(f"azure resource region {regions[out < 0][0]!r} is not one of {self.fleet.regions}")
        return out

    # ------------------------------------------------------------------ reservation terms
    def _term(self, day: int) -> tuple[int, date]:
        """Which 1-year term of the (auto-renewed) reservation covers the day, and when it started."""
        r = self.reservation
        first = self.estate.window.date(r.start_day)
        on = self.estate.window.date(day)
        k = 0
        while _add_months(first, 12 * (k + 1)) <= on:
            k += 1
        return k, _add_months(first, 12 * k)

    def _reservation_ids(self, term: int) -> dict:
        r = self.reservation
        if term == 0:
            parts = r.id.split("/")
            order, res = parts[4], parts[6]
        else:  # a renewal is a new reservation order
            order, res = _guid(self.estate.seed, r.id, "order", term), _guid(self.estate.seed, r.id, "res", term)
        path = f"/providers/Microsoft.Capacity/reservationOrders/{order}/reservations/{res}"
        name = r.name if term == 0 else f"{r.name}-renewal{term}"
        return {"reservationId": res, "reservationName": name, "benefitId": path, "benefitName": name,
                "productOrderId": order, "productOrderName": f"{name}-order", "pricingModel": "Reservation"}

    # ------------------------------------------------------------------ rows
    def _base(self, month: date, closed: bool) -> dict:
        est = self.estate
        last = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        return {
            "invoiceId": f"G0{int(hashlib.sha1(f'{est.seed}{month}'.encode()).hexdigest()[:8], 16) % 10**8:08d}"
            if closed else None,
            "billingAccountId": est.azure_billing_account.id, "billingAccountName": est.azure_billing_account.name,
            "billingProfileId": est.azure_billing_profile.id, "billingProfileName": est.azure_billing_profile.name,
            "invoiceSectionId": self.invoice_section, "invoiceSectionName": "Kestrel Engineering",
            "billingPeriodStartDate": _mdy(month), "billingPeriodEndDate": _mdy(last),
            "servicePeriodStartDate": _mdy(month), "servicePeriodEndDate": _mdy(last),
            "publisherType": "Microsoft", "publisherName": "Microsoft", "billingCurrency": "USD",
            "pricingCurrency": "USD", "exchangeRatePricingToBilling": "1", "exchangeRateDate": _mdy(month),
            "provider": "Azure",
        }

    def _rows(self, n: int, base: dict, values: dict, cost, payg_cost) -> pa.Table:
        cost_text = _num(cost)
        payg = _num(payg_cost) if payg_cost is not None else None
        return ak.table(SCHEMA, n, {**base, **values, "costInBillingCurrency": cost_text,
                                    "costInPricingCurrency": cost_text, "costInUsd": cost_text,
                                    "paygCostInBillingCurrency": payg, "paygCostInUsd": payg})

    def day_tables(self, day: int, month: date, closed: bool) -> tuple[pa.Table, pa.Table, float, float]:
        """(actual rows, amortized rows, actual total, amortized total) of one day."""
        est, fleet, cat = self.estate, self.fleet, self.fleet.catalog
        on = est.window.date(day)
        rng = day_rng(est.seed, "azure", day)
        days_in_month = ((month + timedelta(days=32)).replace(day=1) - month).days
        base = {**self._base(month, closed), "date": _mdy(on)}
        shared: list[pa.Table] = []
        shared_cost = 0.0

        # ---- virtual machines
        m = fleet.machines
        hours_all = machine_hours(m, day, on)
        run = np.flatnonzero(hours_all > 0)
        hours, inst, acct = hours_all[run], m.instance[run], m.account[run]
        od = cat.on_demand[inst]
        spot = m.pricing[run] == SPOT
        rate = np.where(spot, np.round(cat.spot[inst] * spot_factor(rng, len(run)), 6), od)
        r = self.reservation
        eligible = (inst == r.instance) & (acct == self.prod_sub) & ~spot & (day >= r.start_day)
        capacity = r.quantity * 24.0
        # The machines it was bought for take it first; any other matching VM in scope gets the rest (as Azure
        # applies a shared-scope reservation to whatever usage matches).
        order = np.argsort(m.commitment[run] != RESERVATION, kind="stable")
        filled = np.empty(len(run))
        filled[order] = np.cumsum(np.where(eligible, hours, 0.0)[order])
        covered = eligible & (filled <= capacity + 1e-9)
        used = float(hours[covered].sum())
        for i in np.flatnonzero(m.anomaly[run] >= 0):
            self.ledger.add_anomaly(int(m.anomaly[run][i]), float(hours[i] * rate[i]))
        n_cat = len(cat)
        vm = {
            "serviceFamily": "Compute", "consumedService": "Microsoft.Compute", "meterCategory": "Virtual Machines",
            "meterId": ak.take(pa.concat_arrays([self.cat_meter_id, self.cat_spot_meter_id]), inst + spot * n_cat),
            "meterName": ak.take(pa.concat_arrays([self.cat_meter, self.cat_spot_meter]), inst + spot * n_cat),
            "meterSubCategory": ak.take(self.cat_sub, inst), "meterRegion": ak.take(self.cat_location, inst),
            "ProductId": ak.take(pa.concat_arrays([self.cat_product_id, self.cat_spot_product_id]), inst + spot * n_cat),
            "ProductName": ak.take(pa.concat_arrays([self.cat_product, self.cat_spot_product]), inst + spot * n_cat),
            "SubscriptionId": ak.take(self.sub_ids, acct), "subscriptionName": ak.take(self.sub_names, acct),
            "resourceGroupName": ak.take(self.m_rg, run), "ResourceId": ak.take(self.m_ids, run),
            "resourceLocation": ak.take(self.cat_region, inst), "location": ak.take(self.cat_location, inst),
            "quantity": _num(hours), "unitOfMeasure": "1 Hour", "chargeType": "Usage",
            "isAzureCreditEligible": "True", "tags": ak.take(self.m_tags, run), "frequency": "UsageBased",
        }
        plain = np.flatnonzero(~covered)
        sel = {k: (v.take(pa.array(plain)) if isinstance(v, pa.Array) else v) for k, v in vm.items()}
        cost = hours[plain] * rate[plain]
        shared.append(self._rows(len(plain), base, {
            **sel, "effectivePrice": _num(rate[plain]), "unitPrice": _num(rate[plain]), "PayGPrice": _num(od[plain]),
            "pricingModel": ak.take(_labels(["OnDemand", "Spot"]), spot[plain].astype(int)),
            "additionalInfo": ak.take(self.cat_info, inst[plain]),
        }, cost, hours[plain] * od[plain]))
        shared_cost += float(cost.sum())

        actual, amortized = list(shared), list(shared)
        actual_cost = amortized_cost = shared_cost
        term, _ = self._term(day) if day >= r.start_day else (0, None)
        res = self._reservation_ids(term)
        hit = np.flatnonzero(covered)
        if len(hit):
            sel = {k: (v.take(pa.array(hit)) if isinstance(v, pa.Array) else v) for k, v in vm.items()}
            common = {**sel, **res, "unitPrice": _num(od[hit]), "PayGPrice": _num(od[hit]),
                      "additionalInfo": ak.take(self.cat_ri_info, inst[hit])}
            payg = hours[hit] * od[hit]
            actual.append(self._rows(len(hit), base, {**common, "effectivePrice": _num(np.zeros(len(hit)))},
                                     np.zeros(len(hit)), payg))
            covered_cost = hours[hit] * r.hourly_rate
            amortized.append(self._rows(len(hit), base, {**common, "effectivePrice": _num(np.full(len(hit), r.hourly_rate))},
                                        covered_cost, payg))
            amortized_cost += float(covered_cost.sum())
        if day >= r.start_day and capacity - used > 1e-9:
            unused = capacity - used
            inst_r = r.instance
            amortized.append(self._rows(1, base, {
                **res, "serviceFamily": "Compute", "consumedService": "Microsoft.Capacity",
                "meterCategory": "Virtual Machines", "meterId": str(self.cat_meter_id[inst_r]),
                "meterName": str(self.cat_meter[inst_r]), "meterSubCategory": str(self.cat_sub[inst_r]),
                "meterRegion": str(self.cat_location[inst_r]), "ProductId": str(self.cat_product_id[inst_r]),
                "ProductName": f"Reserved VM Instance, {cat.name[inst_r]}, {self.cat_location[inst_r]}, 1 Year",
                "SubscriptionId": str(self.sub_ids[self.prod_sub]), "subscriptionName": str(self.sub_names[self.prod_sub]),
                "ResourceId": res["benefitId"], "resourceLocation": r.region, "location": str(self.cat_location[inst_r]),
                "effectivePrice": _num([r.hourly_rate]), "quantity": _num([unused]), "unitOfMeasure": "1 Hour",
                "chargeType": "UnusedReservation", "isAzureCreditEligible": "True", "PayGPrice": _num([od_of(cat, inst_r)]),
                "unitPrice": _num([od_of(cat, inst_r)]), "frequency": "UsageBased",
            }, [unused * r.hourly_rate], None))
            amortized_cost += unused * r.hourly_rate

        # ---- managed disks (Premium SSD, billed per disk-month, a day's share each day)
        v = fleet.volumes
        live = np.flatnonzero(alive(v.launch_day, v.end_day, day))
        tier = self.v_tier[live]
        price = np.array([t[2] for t in DISK_TIERS])[tier]
        qty = np.full(len(live), 1.0 / days_in_month)
        region = self.v_region[live]
        tier_names = [f"{t[1]} LRS Disk" for t in DISK_TIERS]
        cost = np.round(qty, 6) * price
        disks = self._rows(len(live), base, {
            "serviceFamily": "Storage", "consumedService": "Microsoft.Compute", "meterCategory": "Storage",
            "meterSubCategory": "Premium SSD Managed Disks",
            "meterName": ak.take(_labels(tier_names), tier),
            "meterId": ak.take(_labels(_guid("disk", t) for t in tier_names), tier),
            "ProductId": ak.take(_labels(_product_id("disk", t) for t in tier_names), tier),
            "ProductName": ak.take(_labels(f"Premium SSD Managed Disks - {t[1]} LRS - Disk" for t in DISK_TIERS), tier),
            "meterRegion": ak.take(self.locations, region), "location": ak.take(self.locations, region),
            "resourceLocation": ak.take(self.regions, region),
            "SubscriptionId": ak.take(self.sub_ids, v.account[live]), "subscriptionName": ak.take(self.sub_names, v.account[live]),
            "resourceGroupName": ak.take(self.v_rg, live), "ResourceId": ak.take(self.v_ids, live),
            "effectivePrice": _num(price), "unitPrice": _num(price), "PayGPrice": _num(price),
            "quantity": _num(np.round(qty, 6)), "unitOfMeasure": "1/Month", "chargeType": "Usage",
            "isAzureCreditEligible": "True", "tags": ak.take(self.v_tags, live), "frequency": "UsageBased",
            "pricingModel": "OnDemand",
        }, cost, cost)
        disks_cost = float(cost.sum())

        # ---- storage accounts: hot blob data stored and write operations
        b = fleet.buckets
        nb = len(b)
        gb = bucket_gb(fleet, day)
        writes = b.requests_per_day * traffic_factor(on) * rng.uniform(0.85, 1.15, nb) / 10.0  # units of 10K
        b_region = self.b_region
        idx = np.concatenate([np.arange(nb), np.arange(nb)])
        kind = np.repeat([0, 1], nb)
        b_qty = np.concatenate([np.round(gb / days_in_month, 6), np.round(writes, 6)])
        b_price = np.where(kind == 0, BLOB_HOT_GB_MONTH, BLOB_WRITE_PER_10K)
        b_cost = b_qty * b_price
        storage = self._rows(2 * nb, base, {
            "serviceFamily": "Storage", "consumedService": "Microsoft.Storage", "meterCategory": "Storage",
            "meterSubCategory": "Tiered Block Blob",
            "meterName": ak.take(_labels(["Hot LRS Data Stored", "Hot LRS Write Operations"]), kind),
            "meterId": ak.take(_labels([_guid("blob", "stored"), _guid("blob", "write")]), kind),
            "ProductId": ak.take(_labels([_product_id("blob", "stored"), _product_id("blob", "write")]), kind),
            "ProductName": ak.take(_labels(["Blob Storage - Hot LRS - Data Stored",
                                            "Blob Storage - Hot LRS - Write Operations"]), kind),
            "meterRegion": ak.take(self.locations, b_region[idx]), "location": ak.take(self.locations, b_region[idx]),
            "resourceLocation": ak.take(self.regions, b_region[idx]),
            "SubscriptionId": ak.take(self.sub_ids, b.account[idx]), "subscriptionName": ak.take(self.sub_names, b.account[idx]),
            "resourceGroupName": ak.take(self.b_rg, idx), "ResourceId": ak.take(self.b_ids, idx),
            "effectivePrice": _num(b_price), "unitPrice": _num(b_price), "PayGPrice": _num(b_price),
            "quantity": _num(b_qty), "unitOfMeasure": ak.take(_labels(["1 GB/Month", "10K"]), kind),
            "chargeType": "Usage", "isAzureCreditEligible": "True", "tags": ak.take(self.b_tags, idx),
            "frequency": "UsageBased", "pricingModel": "OnDemand",
        }, b_cost, b_cost)

        # ---- Azure SQL Database: vCore hours and data stored
        d = fleet.databases
        dl = np.flatnonzero(alive(d.launch_day, d.end_day, day))
        nd = len(dl)
        didx = np.concatenate([dl, dl])
        dkind = np.repeat([0, 1], nd)
        vcores = cat.vcpu[d.instance[didx]]
        d_qty = np.where(dkind == 0, vcores * 24.0, np.round(d.storage_gb[didx] / days_in_month, 6))
        d_price = np.where(dkind == 0, SQL_VCORE_HOUR, SQL_GB_MONTH)
        d_cost = d_qty * d_price
        d_region = self.d_region[didx]
        sql = self._rows(2 * nd, base, {
            "serviceFamily": "Databases", "consumedService": "Microsoft.Sql", "meterCategory": "SQL Database",
            "meterSubCategory": ak.take(_labels(["General Purpose - Compute Gen5", "General Purpose - Storage"]), dkind),
            "meterName": ak.take(_labels(["vCore", "General Purpose Data Stored"]), dkind),
            "meterId": ak.take(_labels([_guid("sql", "vcore"), _guid("sql", "storage")]), dkind),
            "ProductId": ak.take(_labels([_product_id("sql", "vcore"), _product_id("sql", "storage")]), dkind),
            "ProductName": ak.take(_labels(["SQL Database Single/Elastic Pool General Purpose - Compute Gen5 - vCore",
                                            "SQL Database Single/Elastic Pool General Purpose - Storage - Data Stored"]),
                                   dkind),
            "meterRegion": ak.take(self.locations, d_region), "location": ak.take(self.locations, d_region),
            "resourceLocation": ak.take(self.regions, d_region),
            "SubscriptionId": ak.take(self.sub_ids, d.account[didx]), "subscriptionName": ak.take(self.sub_names, d.account[didx]),
            "resourceGroupName": ak.take(self.d_rg, didx), "ResourceId": ak.take(self.d_ids, didx),
            "effectivePrice": _num(d_price), "unitPrice": _num(d_price), "PayGPrice": _num(d_price),
            "quantity": _num(d_qty), "unitOfMeasure": ak.take(_labels(["1 Hour", "1 GB/Month"]), dkind),
            "chargeType": "Usage", "isAzureCreditEligible": "True", "tags": ak.take(self.d_tags, didx),
            "frequency": "UsageBased", "pricingModel": "OnDemand",
        }, d_cost, d_cost)

        # ---- bandwidth: internet egress per subscription and region
        n_acct, n_reg = len(fleet.accounts), len(fleet.regions)
        lb = np.arange(n_acct * n_reg)
        lb_acct, lb_region = lb // n_reg, lb % n_reg
        per_day = np.array([EGRESS_GB_PER_DAY["prod" if a.environment == "prod" else "nonprod"] for a in fleet.accounts])
        share = np.where(lb_region == 0, 0.8, 0.2)
        gb_out = np.round(per_day[lb_acct] * share * est.scale * traffic_factor(on) * rng.uniform(0.85, 1.15, len(lb)), 6)
        e_cost = gb_out * EGRESS_GB
        egress = self._rows(len(lb), base, {
            "serviceFamily": "Networking", "consumedService": "Microsoft.Network", "meterCategory": "Bandwidth",
            "meterSubCategory": "Rtn Preference: MGN", "meterName": "Standard Data Transfer Out",
            "meterId": _guid("bandwidth", "out"), "ProductId": _product_id("bandwidth", "out"),
            "ProductName": "Rtn Preference: MGN - Standard Data Transfer Out",
            "meterRegion": "Zone 1",
            "location": ak.take(self.locations, lb_region), "resourceLocation": ak.take(self.regions, lb_region),
            "SubscriptionId": ak.take(self.sub_ids, lb_acct), "subscriptionName": ak.take(self.sub_names, lb_acct),
            "resourceGroupName": ak.take(self.lb_rg, lb), "ResourceId": ak.take(self.lb_ids, lb),
            "effectivePrice": _num(np.full(len(lb), EGRESS_GB)), "unitPrice": _num(np.full(len(lb), EGRESS_GB)),
            "PayGPrice": _num(np.full(len(lb), EGRESS_GB)), "quantity": _num(gb_out), "unitOfMeasure": "1 GB",
            "chargeType": "Usage", "isAzureCreditEligible": "True", "tags": ak.take(self.lb_tags, lb),
            "frequency": "UsageBased", "pricingModel": "OnDemand",
        }, e_cost, e_cost)
        rest = [disks, storage, sql, egress]
        rest_cost = disks_cost + float(b_cost.sum()) + float(d_cost.sum()) + float(e_cost.sum())
        return (pa.concat_tables(actual + rest), pa.concat_tables(amortized + rest),
                actual_cost + rest_cost, amortized_cost + rest_cost)

    def purchase_table(self, month: date, first: int, stop: int, closed: bool) -> tuple[pa.Table, float]:
        """The reservation's monthly purchase rows charged in [first, stop) (actual export only)."""
        r, est, cat = self.reservation, self.estate, self.fleet.catalog
        start = est.window.date(r.start_day)
        rows = []
        k = 0
        while True:
            charged = _add_months(start, k)
            if charged > est.window.date(stop - 1):
                break
            if charged >= est.window.date(first):
                rows.append((charged, k // 12))
            k += 1
        if not rows:
            return pa.table({c: pa.array([], type=S) for c in COLUMNS}), 0.0
        monthly = r.hourly_rate * r.term_hours / 12.0
        cost = np.full(len(rows), round(monthly * r.quantity, 6))
        tables = []
        for (charged, term), c in zip(rows, cost):
            res = self._reservation_ids(term)
            tables.append(self._rows(1, self._base(month, closed), {
                **res, "date": _mdy(charged), "serviceFamily": "Compute", "consumedService": "Microsoft.Capacity",
                "meterCategory": "Virtual Machines", "meterId": str(self.cat_meter_id[r.instance]),
                "meterName": str(self.cat_meter[r.instance]), "meterSubCategory": str(self.cat_sub[r.instance]),
                "meterRegion": str(self.cat_location[r.instance]), "ProductId": str(self.cat_product_id[r.instance]),
                "ProductName": f"Reserved VM Instance, {cat.name[r.instance]}, {self.cat_location[r.instance]}, 1 Year",
                "SubscriptionId": str(self.sub_ids[self.prod_sub]), "subscriptionName": str(self.sub_names[self.prod_sub]),
                "ResourceId": res["benefitId"], "resourceLocation": r.region, "location": str(self.cat_location[r.instance]),
                "effectivePrice": _num([monthly]), "unitPrice": _num([monthly]), "PayGPrice": _num([monthly]),
                "quantity": _num([r.quantity]), "unitOfMeasure": "1 Hour", "chargeType": "Purchase",
                "isAzureCreditEligible": "False", "frequency": "Recurring", "term": "12",
            }, [c], None))
        return pa.concat_tables(tables), float(cost.sum())

    # ------------------------------------------------------------------ files
    def write(self) -> None:
        est = self.estate
        months = est.window.months()
        for number, (month, first, stop) in enumerate(months):
            current = number == len(months) - 1
            closed = not current
            last = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
            cuts = month_deliveries(est.window, current, first, stop, hour=5)
            runs = []
            for cut, at in cuts:
                sinks = {}
                for dataset in ("actual", "amortized"):
                    run = _guid(est.seed, dataset, month, cut)
                    folder = self.root / f"{EXPORT_NAME}-{dataset}" / f"{month:%Y%m%d}-{last:%Y%m%d}" / run
                    sinks[dataset] = CsvSink(folder / FILE_NAME, SCHEMA)
                runs.append((cut, at, sinks, {"actual": 0.0, "amortized": 0.0}))
            for day in range(first, stop):
                actual, amortized, actual_cost, amortized_cost = self.day_tables(day, month, closed)
                for cut, _, sinks, totals in runs:
                    if day < cut:
                        sinks["actual"].write(actual)
                        sinks["amortized"].write(amortized)
                        totals["actual"] += actual_cost
                        totals["amortized"] += amortized_cost
            for cut, at, sinks, totals in runs:
                purchases, purchase_cost = self.purchase_table(month, first, cut, closed)
                sinks["actual"].write(purchases)
                totals["actual"] += purchase_cost
                for dataset, sink in sinks.items():
                    sink.close(mtime=at.timestamp())
                    self.ledger.max_rows_in_memory = max(self.ledger.max_rows_in_memory, sink.max_rows_in_memory)
                    self.ledger.files.append(str(sink.path))
                    if cut == stop:
                        self.ledger.add_rows(f"azure_{dataset}", sink.rows, totals[dataset])


def od_of(catalog, index: int) -> float:
    return float(catalog.on_demand[index])
