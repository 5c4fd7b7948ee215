"""A small Oracle Cloud Infrastructure tenancy as a FOCUS 1.2 cost and usage export (CSV).

OCI delivers cost reports in FOCUS form ("FOCUS reports" in the tenancy's usage-report bucket);
this writer produces one CSV per billing period, the way a FOCUS 1.2 export is written: every
value quoted, timestamps in RFC 3339 UTC (`2026-10-01T00:00:00Z`), `Tags` as JSON text, amounts
as plain decimals, and Oracle's own columns with the `oci_` prefix (kept in x_Extras on load):
`oci/focus-reports/<YYYY-MM>/focus_<tenancy short id>_<YYYYMM>.csv`.

The tenancy: a few flexible E4 compute instances (OCPU and memory billed as two SKUs), a block
volume each, and object storage buckets, in two compartments (prod and non-prod), daily rows,
list prices (USD, Oracle's public price list; no discounts, so every cost equals list). Tag
coverage is imperfect (some resources have none, some a `Team` key for `team`). Every row is a
valid FOCUS 1.2 Usage row with the columns a conforming export fills, so nothing needs repair.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from autostack.demo import arrowkit as ak
from autostack.demo.estate import ENVIRONMENTS, MIS_TAGGED, PRODUCTS, TAGGED, TEAMS, UNTAGGED, Estate
from autostack.demo.ledger import Ledger
from autostack.demo.sinks import CsvSink
from autostack.demo.usage import alive, day_rng, traffic_factor
from orchestration.ingest.focus_spec import FOCUS_1_2_COLUMNS

EXPORT = "focus_oci"
PROVIDER = "Oracle Cloud Infrastructure"
OCI_EXTRAS = ("oci_ReferenceNumber", "oci_CompartmentId", "oci_CompartmentName", "oci_OverageFlag")
SCHEMA = pa.schema([(name, pa.string()) for name in (*FOCUS_1_2_COLUMNS, *OCI_EXTRAS)])

REGION = ("us-ashburn-1", "US East (Ashburn)")
AD = "kEsT:US-ASHBURN-AD-1"
# (SkuId, meter, USD list price per pricing unit, pricing unit) from Oracle's public price list.
E4_OCPU = ("B93113", "Compute - Standard - E4 - OCPU", 0.025, "Hours")
E4_MEMORY = ("B93114", "Compute - Standard - E4 - Memory", 0.0015, "GB-Hours")
BLOCK_STORAGE = ("B91961", "Block Volume - Storage", 0.0255, "GB-Months")
OBJECT_STORAGE = ("B91628", "Object Storage - Storage", 0.0255, "GB-Months")
OBJECT_REQUESTS = ("B91627", "Object Storage - Requests", 0.0034 / 10_000, "Requests")


def _ocid(kind: str, *parts: object) -> str:
    digest = hashlib.sha256("|".join(map(str, (kind, *parts))).encode()).hexdigest()
    return f"ocid1.{kind}.oc1.iad.aaaaaaaa{digest[:52]}" if kind not in ("compartment",) else \
        f"ocid1.{kind}.oc1..aaaaaaaa{digest[:52]}"


def _tags(quality: int, team: int, env: int) -> str | None:
    if quality == TAGGED:
        return json.dumps({"team": TEAMS[team], "product": PRODUCTS[team], "env": ENVIRONMENTS[env]},
                          separators=(",", ":"))
    if quality == MIS_TAGGED:
        return json.dumps({"Team": TEAMS[team].title()}, separators=(",", ":"))
    return None


class FocusOciWriter:
    """Generates and writes the OCI tenancy's FOCUS 1.2 export, one CSV per billing period."""

    def __init__(self, estate: Estate, root: Path, ledger: Ledger) -> None:
        self.estate, self.ledger = estate, ledger
        self.tenancy = estate.oci_tenancy
        self.root = root / "oci" / "focus-reports"
        self.short = self.tenancy.id.rsplit(".", 1)[-1][-12:]
        rng = np.random.default_rng([estate.seed, 4, 7])
        days = estate.window.days
        self.compartments = [(_ocid("compartment", self.tenancy.id, name), name) for name in ("kestrel-prod", "kestrel-nonprod")]
        # Instances: prod ones run always; non-prod ones on weekdays, 12 hours.
        n = max(2, int(round(4 * estate.scale)))
        self.i_compartment = np.arange(n) % 2
        self.i_env = np.where(self.i_compartment == 0, 0, 2)
        self.i_team = rng.integers(0, len(TEAMS), n)
        self.i_ocpus = rng.choice([1.0, 2.0, 4.0], size=n)
        self.i_memory = self.i_ocpus * 16.0
        self.i_launch = np.zeros(n, dtype=np.int64)
        self.i_end = np.full(n, days, dtype=np.int64)
        if n >= 2 and days > 10:
            self.i_launch[-1] = days // 3  # one launched during the window, one decommissioned
            self.i_end[0] = max(1, (days * 3) // 4)
        self.i_quality = rng.choice([TAGGED, TAGGED, TAGGED, MIS_TAGGED, UNTAGGED], size=n)
        self.i_names = [f"{PRODUCTS[t]}-{ENVIRONMENTS[e]}-oci-{i + 1:02d}" for i, (t, e) in enumerate(zip(self.i_team, self.i_env))]
        self.i_ids = [_ocid("instance", self.tenancy.id, name) for name in self.i_names]
        self.v_size = rng.choice([50.0, 100.0, 200.0, 500.0], size=n)
        self.v_ids = [_ocid("volume", self.tenancy.id, name) for name in self.i_names]
        # Buckets: one per compartment, growing.
        self.b_names = [f"kestrel-{c[1].split('-')[1]}-objects" for c in self.compartments]
        self.b_ids = [f"/n/kestrel/b/{name}" for name in self.b_names]
        self.b_gb = rng.uniform(300, 1500, len(self.b_names)) * estate.scale
        self.b_growth = rng.uniform(1, 5, len(self.b_names)) * estate.scale
        self.b_requests = rng.uniform(20_000, 80_000, len(self.b_names))
        self.b_team = rng.integers(0, len(TEAMS), len(self.b_names))
        self.b_quality = np.array([TAGGED, UNTAGGED])

        # Every resource in one table (instances, then their volumes, then buckets): rows take by index.
        nb = len(self.b_ids)
        b_env = np.where(np.arange(nb) == 0, 0, 2)
        quality = np.concatenate([self.i_quality, self.i_quality, self.b_quality[:nb]])
        team = np.concatenate([self.i_team, self.i_team, self.b_team])
        env = np.concatenate([self.i_env, self.i_env, b_env])
        self.r_compartment = np.concatenate([self.i_compartment, self.i_compartment, np.arange(nb) % 2])
        self.r_id = pa.array(self.i_ids + self.v_ids + self.b_ids)
        self.r_name = pa.array(self.i_names + [f"{x}-data" for x in self.i_names] + self.b_names)
        self.r_type = pa.array(["Instance"] * n + ["Block Volume"] * n + ["Bucket"] * nb)
        self.r_zone = pa.array([AD] * (2 * n) + [None] * nb, type=pa.string())
        self.r_tags = pa.array([_tags(q, t, e) for q, t, e in zip(quality, team, env)], type=pa.string())
        skus = (E4_OCPU, E4_MEMORY, BLOCK_STORAGE, OBJECT_STORAGE, OBJECT_REQUESTS)
        self.s_price = np.array([s[2] for s in skus])
        self.s_id = pa.array([s[0] for s in skus])
        self.s_meter = pa.array([s[1] for s in skus])
        self.s_unit = pa.array([s[3] for s in skus])
        self.s_price_id = pa.array([f"{s[0]}-USD-LIST" for s in skus])
        services = ("Compute", "Compute", "Block Storage", "Object Storage", "Object Storage")
        categories = {"Compute": ("Compute", "Virtual Machines"), "Block Storage": ("Storage", "Block Storage"),
                      "Object Storage": ("Storage", "Object Storage")}
        self.s_service = pa.array(services)
        self.s_category = pa.array([categories[x][0] for x in services])
        self.s_subcategory = pa.array([categories[x][1] for x in services])
        self.c_id = pa.array([c[0] for c in self.compartments])
        self.c_name = pa.array([c[1] for c in self.compartments])

    # ------------------------------------------------------------------ one day
    def day_table(self, day: int, month: date, following: date, closed: bool) -> tuple[pa.Table, float]:
        est = self.estate
        on = est.window.date(day)
        rng = day_rng(est.seed, "oci", day)
        n, nb = len(self.i_ids), len(self.b_ids)
        days_in_month = _days_in(month)
        # Instances (prod always on, non-prod 12 weekday hours): an OCPU and a memory row each.
        live = np.flatnonzero(alive(self.i_launch, self.i_end, day))
        hours = np.where(self.i_env[live] == 0, 24.0, 12.0 if on.weekday() < 5 else 0.0)
        running, hours = live[hours > 0], hours[hours > 0]
        buckets = np.arange(nb)
        requests = np.round(self.b_requests * traffic_factor(on) * rng.uniform(0.8, 1.2, nb))
        resource = np.concatenate([running, running, n + live, 2 * n + buckets, 2 * n + buckets])
        sku = np.concatenate([np.zeros(len(running)), np.ones(len(running)), np.full(len(live), 2),
                              np.full(nb, 3), np.full(nb, 4)]).astype(np.int64)
        quantity = np.round(np.concatenate([
            self.i_ocpus[running] * hours, self.i_memory[running] * hours, self.v_size[live] / days_in_month,
            (self.b_gb + self.b_growth * day) / days_in_month, requests]), 6)
        rows = len(resource)
        price = self.s_price[sku]
        cost = np.round(price * quantity, 10)
        start = datetime.combine(on, datetime.min.time())
        stamp = "%Y-%m-%dT%H:%M:%SZ"
        compartment = self.r_compartment[resource]
        money = ak.fixed(cost, 10)
        unit_price = ak.fixed(price, 10)
        units = ak.take(self.s_unit, sku)
        values = {
            "AvailabilityZone": ak.take(self.r_zone, resource),
            "BilledCost": money, "EffectiveCost": money, "ListCost": money, "ContractedCost": money,
            "PricingCurrencyEffectiveCost": money,
            "ListUnitPrice": unit_price, "ContractedUnitPrice": unit_price,
            "PricingCurrencyListUnitPrice": unit_price, "PricingCurrencyContractedUnitPrice": unit_price,
            "BillingAccountId": self.tenancy.id, "BillingAccountName": self.tenancy.name,
            "BillingAccountType": "Tenancy", "BillingCurrency": "USD", "PricingCurrency": "USD",
            "BillingPeriodStart": f"{month:%Y-%m-%d}T00:00:00Z", "BillingPeriodEnd": f"{following:%Y-%m-%d}T00:00:00Z",
            "ChargePeriodStart": start.strftime(stamp), "ChargePeriodEnd": (start + timedelta(days=1)).strftime(stamp),
            "ChargeCategory": "Usage", "ChargeFrequency": "Usage-Based", "PricingCategory": "Standard",
            "ChargeDescription": ak.take(self.s_meter, sku),
            "ConsumedQuantity": ak.fixed(quantity, 6), "ConsumedUnit": units,
            "PricingQuantity": ak.fixed(quantity, 6), "PricingUnit": units,
            "InvoiceId": f"OCI-{month:%Y%m}-{self.short[-6:].upper()}" if closed else None,
            "InvoiceIssuerName": PROVIDER, "ProviderName": PROVIDER, "PublisherName": PROVIDER,
            "RegionId": REGION[0], "RegionName": REGION[1],
            "ResourceId": ak.take(self.r_id, resource), "ResourceName": ak.take(self.r_name, resource),
            "ResourceType": ak.take(self.r_type, resource),
            "ServiceName": ak.take(self.s_service, sku), "ServiceCategory": ak.take(self.s_category, sku),
            "ServiceSubcategory": ak.take(self.s_subcategory, sku),
            "SkuId": ak.take(self.s_id, sku), "SkuPriceId": ak.take(self.s_price_id, sku),
            "SkuMeter": ak.take(self.s_meter, sku),
            "SubAccountId": ak.take(self.c_id, compartment), "SubAccountName": ak.take(self.c_name, compartment),
            "SubAccountType": "Compartment",
            "Tags": ak.take(self.r_tags, resource),
            "oci_ReferenceNumber": ak.random_text(rng, rows, 10, np.frombuffer(b"0123456789", dtype="S1")),
            "oci_CompartmentId": ak.take(self.c_id, compartment),
            "oci_CompartmentName": ak.take(self.c_name, compartment),
            "oci_OverageFlag": "N",
        }
        return ak.table(SCHEMA, rows, values), float(cost.sum())

    # ------------------------------------------------------------------ files
    def write(self) -> None:
        est = self.estate
        months = est.window.months()
        for number, (month, first, stop) in enumerate(months):
            closed = number < len(months) - 1
            following = (month + timedelta(days=32)).replace(day=1)
            sink = CsvSink(self.root / f"{month:%Y-%m}" / f"focus_{self.short}_{month:%Y%m}.csv", SCHEMA, quote_all=True)
            billed = 0.0
            for day in range(first, stop):
                table, cost = self.day_table(day, month, following, closed)
                sink.write(table)
                billed += cost
            delivered = datetime.combine(est.window.date(stop - 1) + timedelta(days=1), datetime.min.time())
            sink.close(mtime=(delivered + timedelta(hours=8)).timestamp())
            self.ledger.max_rows_in_memory = max(self.ledger.max_rows_in_memory, sink.max_rows_in_memory)
            self.ledger.files.append(str(sink.path))
            self.ledger.add_rows(EXPORT, sink.rows, round(billed, 10))


def _days_in(month: date) -> int:
    return ((month + timedelta(days=32)).replace(day=1) - month).days
