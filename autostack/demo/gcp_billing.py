"""The Google Cloud estate as a Cloud Billing standard usage cost export, delivered as JSON Lines.

Layout: one file per invoice month, named after the BigQuery table it was exported from
(`gcp_billing_export_v1_<ACCOUNT with underscores>`) with BigQuery's shard suffix:
`gcp/billing-export/<YYYY-MM>/gcp_billing_export_v1_<ACCOUNT>-000000000000.jsonl`.

Records are nested as Google documents them ("Structure of Standard data export"; the detailed
export's `resource`, `price` and `subscription` records are included, as in tests/fixtures/gcp):
`service`, `sku`, `project` (with labels and ancestors), `labels`, `system_labels`, `location`,
`usage`, `credits[]`, `invoice`, `cost_type`, ... BigQuery's JSON form: INT64 as strings,
timestamps `YYYY-MM-DD HH:MM:SS UTC`, empty repeated fields `[]`.

What is billed (USD list prices; Compute Engine machine prices from the catalog, split into core
and RAM SKUs by `gcp_core_fraction`):
- Compute Engine `<FAMILY> Instance Core|Ram running in <Americas|EMEA>`, spot VMs as
  `Spot Preemptible ...` SKUs at the day's spot price;
- sustained use discount credits on N2 (not E2) on-demand always-on machines, incremental by how
  far into the month the machine has run (Google's N2 tiers: 0, 13.33, 26.67, 40 % off; 20 % over
  a full month), never on usage a commitment covers;
- the n2 resource-based committed use discount: a daily `Commitment v1: N2 Cpu in Americas for
  1 Year` fee row (committed vCPUs x 24 h x the commitment rate) and `COMMITTED_USAGE_DISCOUNT`
  credits equal to the on-demand cost of the N2 core usage it covers in its project and region
  (cores only: the estate's commitment is for vCPUs);
- balanced persistent disks, Cloud Storage standard storage and class A operations, BigQuery
  on-demand analysis (with the planted query spike) and active logical storage, Cloud SQL for
  PostgreSQL vCPU, RAM and storage, internet egress (service `Networking`);
- a `PROMOTION` credit (a migration credit with a budget) on Compute Engine and BigQuery usage in
  the first three months, until its budget is spent;
- `tax` rows per project at the end of each invoice month (US sales tax on cost + credits).

Labels: project labels on two of three projects; resource labels follow the resource's tag
quality (tagged `team`/`product`/`env`, untagged, or mis-tagged with `owner` instead of `team`).
Usage is generated per day (one row per resource, SKU and day); Google's real export is hourly.
Invoice month = the UTC month of the usage (Google uses Pacific time; late usage is not modelled).
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from autostack.demo import arrowkit as ak
from autostack.demo.estate import (
    ALWAYS_ON, ENVIRONMENTS, MIS_TAGGED, PRODUCTS, SPOT, TAGGED, TEAMS, Estate, gcp_core_fraction,
)
from autostack.demo.ledger import Ledger
from autostack.demo.sinks import JsonLinesSink
from autostack.demo.usage import alive, anomaly_factor, bucket_gb, day_rng, machine_hours, spot_factor, traffic_factor

EXPORT = "gcp_billing"
S, F, T = pa.string(), pa.float64(), pa.timestamp("ms")
MONEY = pa.decimal128(20, 6)  # written as plain decimal text, never an exponent
LABEL = pa.struct([("key", S), ("value", S)])
LABELS = pa.list_(LABEL)
ANCESTOR = pa.struct([("resource_name", S), ("display_name", S)])
CREDIT = pa.struct([("name", S), ("amount", MONEY), ("full_name", S), ("id", S), ("type", S)])

# The flat form each day is built in; the sink nests it (SELECT_SQL) as BigQuery exports it.
FLAT = pa.schema([
    ("service_id", S), ("service_description", S), ("sku_id", S), ("sku_description", S),
    ("usage_start_time", T), ("usage_end_time", T),
    ("project_id", S), ("project_number", S), ("project_name", S), ("project_labels", LABELS),
    ("project_ancestry_numbers", S), ("project_ancestors", pa.list_(ANCESTOR)),
    ("labels", LABELS), ("system_labels", LABELS),
    ("location_location", S), ("location_country", S), ("location_region", S), ("location_zone", S),
    ("resource_name", S), ("resource_global_name", S),
    ("export_time", T), ("cost", MONEY), ("usage_amount", F), ("usage_unit", S),
    ("usage_amount_in_pricing_units", F), ("usage_pricing_unit", S), ("credits", pa.list_(CREDIT)),
    ("invoice_month", S), ("cost_type", S), ("cost_at_list", MONEY), ("transaction_type", S),
    ("seller_name", S), ("price_effective_price", F), ("price_unit", S), ("subscription_instance_id", S),
])

SELECT_SQL = """
SELECT
    billing_account_id,
    {'id': service_id, 'description': service_description} AS service,
    {'id': sku_id, 'description': sku_description} AS sku,
    strftime(usage_start_time, '%Y-%m-%d %H:%M:%S UTC') AS usage_start_time,
    strftime(usage_end_time, '%Y-%m-%d %H:%M:%S UTC') AS usage_end_time,
    {'id': project_id, 'number': project_number, 'name': project_name,
     'labels': coalesce(project_labels, []), 'ancestry_numbers': project_ancestry_numbers,
     'ancestors': coalesce(project_ancestors, [])} AS project,
    coalesce(labels, []) AS labels,
    coalesce(system_labels, []) AS system_labels,
    {'location': location_location, 'country': location_country, 'region': location_region,
     'zone': location_zone} AS location,
    {'name': resource_name, 'global_name': resource_global_name} AS resource,
    CAST([] AS STRUCT(key VARCHAR, value VARCHAR, inherited BOOLEAN, namespace VARCHAR)[]) AS tags,
    strftime(export_time, '%Y-%m-%d %H:%M:%S.%f UTC') AS export_time,
    cost, currency, 1.0 AS currency_conversion_rate,
    {'amount': usage_amount, 'unit': usage_unit, 'amount_in_pricing_units': usage_amount_in_pricing_units,
     'pricing_unit': usage_pricing_unit} AS usage,
    coalesce(credits, []) AS credits,
    {'month': invoice_month, 'publisher_type': 'GOOGLE'} AS invoice,
    cost_type,
    {'id': NULL, 'description': NULL, 'mode': NULL, 'type': NULL} AS adjustment_info,
    cost_at_list, transaction_type, seller_name,
    {'effective_price': price_effective_price, 'tier_start_amount': CASE WHEN price_unit IS NOT NULL THEN 0 END,
     'unit': price_unit, 'pricing_unit_quantity': CASE WHEN price_unit IS NOT NULL THEN 1 END} AS price,
    {'instance_id': subscription_instance_id} AS subscription
FROM chunk
"""

SERVICES = {
    "compute": ("6F81-5844-456A", "Compute Engine"),
    "storage": ("95FF-2EF5-5EA1", "Cloud Storage"),
    "bigquery": ("24E6-581D-38E5", "BigQuery"),
    "sql": ("9662-B51E-5089", "Cloud SQL"),
    "networking": ("E505-1604-58F8", "Networking"),
    "invoice": ("0000-0000-0000", "Invoice"),
}
GEO = {"us-central1": ("Americas", "US"), "europe-west1": ("EMEA", "BE")}
REGION_NAME = {"us-central1": "Iowa", "europe-west1": "Belgium"}

# List prices (USD, Google Cloud public pricing, us-central1; europe-west1 the same for these).
PD_BALANCED_GB_MONTH = 0.10
GCS_STANDARD_GB_MONTH = 0.020
GCS_CLASS_A_PER_1000 = 0.05 / 10
BQ_ANALYSIS_TIB = 6.25
BQ_ACTIVE_STORAGE_GB_MONTH = 0.02
SQL_VCPU_HOUR = 0.0413
SQL_RAM_GB_HOUR = 0.007
SQL_STORAGE_GB_MONTH = 0.17
EGRESS_GB = 0.12
SALES_TAX = 0.07
N2_SUD_TIERS = np.array([0.0, 0.1333, 0.2667, 0.40])  # off the base rate, per quarter of the month
PROMOTION_MONTHS = 3
PROMOTION_SHARE = 0.30  # of eligible usage the credit pays, until its budget is spent
GIB = float(1 << 30)
TIB = float(1 << 40)

CREDIT_KINDS = ("SUD", "CUD", "PROMO")
# Days are handed to the JSON sink in batches of at least this many rows (a DuckDB COPY costs ~10 ms
# however small): memory holds at most FLUSH_ROWS plus one day's rows.
FLUSH_ROWS = 20_000


def _sku_id(*parts: object) -> str:
    h = hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest().upper()
    return f"{h[:4]}-{h[4:8]}-{h[8:12]}"


def _text(values) -> pa.Array:
    return pa.array(list(values), type=S)


def _label_lists(quality: np.ndarray, team: np.ndarray, product: np.ndarray, env: np.ndarray) -> pa.Array:
    """Resource labels (lower case, as GCP requires): as the policy says, none, or `owner` for `team`."""
    values = []
    for q, t, p, e in zip(quality, team, product, env):
        if q == TAGGED:
            values.append([{"key": "team", "value": TEAMS[t]}, {"key": "product", "value": PRODUCTS[p]},
                           {"key": "env", "value": ENVIRONMENTS[e]}])
        elif q == MIS_TAGGED:
            values.append([{"key": "owner", "value": TEAMS[t]}, {"key": "product", "value": PRODUCTS[p]}])
        else:
            values.append([])
    return pa.array(values, type=LABELS)


def _money(values: np.ndarray) -> pa.Array:
    return pa.array(np.round(values, 6), type=F).cast(MONEY, safe=False)


class GcpBillingWriter:
    """Generates and writes the GCP estate's standard billing export, month by month, a day at a time."""

    def __init__(self, estate: Estate, root: Path, ledger: Ledger) -> None:
        self.estate, self.fleet, self.ledger = estate, estate.gcp, ledger
        self.account = estate.gcp_billing_account
        self.root = root / "gcp" / "billing-export"
        self.table_name = "gcp_billing_export_v1_" + self.account.replace("-", "_")
        fleet, cat = self.fleet, self.fleet.catalog
        self.commitment = next(c for c in fleet.commitments if c.kind == "committed-use")
        org = str(int(hashlib.sha1(self.account.encode()).hexdigest(), 16))[:12]
        folder = str(int(hashlib.sha1((self.account + "prod").encode()).hexdigest(), 16))[:12]
        # Per project: id, number, name, labels (the ML dev project has none), ancestry.
        accts = fleet.accounts
        self.p_id = _text(a.id for a in accts)
        self.p_number = _text(a.number for a in accts)
        self.p_name = _text(a.name for a in accts)
        self.p_labels = pa.array([
            [{"key": "env", "value": a.environment}, {"key": "cost-center", "value": f"cc-{100 + i}"}]
            if i < 2 else [] for i, a in enumerate(accts)], type=LABELS)
        self.p_ancestry = _text(f"/{org}/{folder}/" if a.environment == "prod" else f"/{org}/" for a in accts)
        self.p_ancestors = pa.array([
            [{"resource_name": f"projects/{a.number}", "display_name": a.name}]
            + ([{"resource_name": f"folders/{folder}", "display_name": "Production"}] if a.environment == "prod" else [])
            + [{"resource_name": f"organizations/{org}", "display_name": "kestrel.example"}]
            for a in accts], type=pa.list_(ANCESTOR))
        self.regions = list(fleet.regions)
        self.region_text = _text(self.regions)
        self.country_text = _text(GEO[r][1] for r in self.regions)
        self.pd_sku = self._region_skus(
            "compute", lambda r: f"Balanced PD Capacity{'' if r == 'us-central1' else ' in ' + REGION_NAME[r]}")
        self.gcs_sku = self._region_skus(
            "storage", lambda r: f"Standard Storage {'US Regional' if r == 'us-central1' else REGION_NAME[r]}")
        self.sql_skus = [self._region_skus("sql", lambda r, p=part: f"Cloud SQL for PostgreSQL: Zonal - {p} in {GEO[r][0]}")
                         for part in ("vCPU", "RAM", "Standard storage")]
        self.egress_sku = self._region_skus(
            "networking", lambda r: f"Network Internet Data Transfer Out from {GEO[r][0]} to {GEO[r][0]}")
        # Per catalog entry: family, SKU descriptions and ids, core/RAM split, per-vCPU core rate.
        names = [str(n) for n in cat.name]
        cat_regions = [str(r) for r in cat.region]
        self.cat_family = [n.split("-")[0].upper() for n in names]
        self.cat_n2 = np.array([f == "N2" for f in self.cat_family])
        self.core_fraction = gcp_core_fraction(cat, np.arange(len(cat)))
        self.cat_region_index = np.array([self.regions.index(r) for r in cat_regions])
        sku_desc, sku_ids = [], []
        for spot in ("", "Spot Preemptible "):
            for part in ("Core", "Ram"):
                for fam, reg in zip(self.cat_family, cat_regions):
                    text = f"{spot}{fam} Instance {part} running in {GEO[reg][0]}"
                    sku_desc.append(text)
                    sku_ids.append(_sku_id("compute", text))
        self.vm_sku_desc, self.vm_sku_id = _text(sku_desc), _text(sku_ids)
        self.cat_system_labels = pa.array([
            [{"key": "compute.googleapis.com/machine_spec", "value": n},
             {"key": "compute.googleapis.com/cores", "value": f"{v:g}"},
             {"key": "compute.googleapis.com/memory", "value": f"{g * 1024:g}"}]
            for n, v, g in zip(names, cat.vcpu, cat.memory_gb)], type=LABELS)
        # Per resource.
        m, v, b, d = fleet.machines, fleet.volumes, fleet.buckets, fleet.databases
        self.m_labels = _label_lists(m.tag_quality, m.team, m.product, m.environment)
        self.m_ids, self.m_names, self.m_zone = _text(m.id), _text(m.name), _text(m.zone)
        self.v_labels = _label_lists(v.tag_quality, v.team, v.product, v.environment)
        self.v_ids, self.v_names, self.v_zone = _text(v.id), _text(v.name), _text(v.zone)
        self.v_region_index = self._region_index(v.region)
        self.b_labels = _label_lists(b.tag_quality, b.team, b.product, b.environment)
        self.b_names = _text(b.id)
        self.b_global = _text(f"//storage.googleapis.com/projects/_/buckets/{x}" for x in b.id)
        self.b_region_index = self._region_index(b.region)
        self.d_labels = _label_lists(d.tag_quality, d.team, d.product, d.environment)
        self.d_ids, self.d_names = _text(d.id), _text(d.name)
        self.d_region_index = self._region_index(d.region)
        self.credit_templates = {
            "SUD": ("Sustained Usage Discount", None, "Sustained Usage Discount", "SUSTAINED_USAGE_DISCOUNT"),
            "CUD": ("Committed use discount: CPU", None, "Committed use discount: CPU", "COMMITTED_USAGE_DISCOUNT"),
            "PROMO": ("Kestrel migration credit", "Google Cloud migration program credit",
                      _sku_id("promotion", self.account).lower(), "PROMOTION"),
        }
        self.promotion_left = round(4000.0 * estate.scale, 2)
        self.promotion_end_day = est_months_day(estate, PROMOTION_MONTHS)

    # ------------------------------------------------------------------ helpers
    def _credits(self, amounts: dict[str, np.ndarray]) -> pa.Array:
        """Each row's credits (0 = none) as a list of credit records, in CREDIT_KINDS order."""
        kinds = [k for k in CREDIT_KINDS if k in amounts]
        matrix = np.stack([np.round(np.nan_to_num(amounts[k]), 6) for k in kinds], axis=1)
        present = matrix < 0
        kind_index = np.broadcast_to(np.arange(len(kinds)), matrix.shape)[present]
        offsets = np.concatenate([[0], np.cumsum(present.sum(axis=1))]).astype(np.int32)
        templates = [self.credit_templates[k] for k in kinds]  # (name, full_name, id, type)

        def field(position: int) -> pa.Array:
            return ak.take(pa.array([t[position] for t in templates], type=S), kind_index)

        values = pa.StructArray.from_arrays([field(0), _money(matrix[present]), field(1), field(2), field(3)],
                                            fields=list(CREDIT))
        return pa.ListArray.from_arrays(pa.array(offsets), values)

    def _project(self, project: np.ndarray) -> dict:
        return {"project_id": ak.take(self.p_id, project), "project_number": ak.take(self.p_number, project),
                "project_name": ak.take(self.p_name, project), "project_labels": ak.take(self.p_labels, project),
                "project_ancestry_numbers": ak.take(self.p_ancestry, project),
                "project_ancestors": ak.take(self.p_ancestors, project)}

    def _service(self, key: str) -> dict:
        sid, desc = SERVICES[key]
        return {"service_id": sid, "service_description": desc}

    def _region_index(self, region: np.ndarray | list) -> np.ndarray:
        region = np.asarray(region).astype(str)
        return (region[:, None] == np.array(self.regions)[None, :]).argmax(axis=1).astype(np.int64)

    def _regional(self, index: np.ndarray) -> dict:
        return {"location_location": ak.take(self.region_text, index), "location_region": ak.take(self.region_text, index),
                "location_country": ak.take(self.country_text, index)}

    def _region_skus(self, service: str, template) -> tuple[pa.Array, pa.Array]:
        """A regional SKU's (ids, descriptions), one per region of the fleet, for ak.take by region index."""
        texts = [template(r) for r in self.regions]
        return _text(_sku_id(service, t) for t in texts), _text(texts)

    def _part(self, n: int, values: dict, credits: dict | None = None) -> tuple[pa.Table, np.ndarray, np.ndarray]:
        """A part of a day: the table, and each row's cost and credits (for ledger and tax)."""
        cost = np.round(np.asarray(values.pop("cost"), dtype=float), 6)
        credit_amounts = {k: np.round(np.nan_to_num(v), 6) for k, v in (credits or {}).items()}
        credit_sum = sum(credit_amounts.values()) if credit_amounts else np.zeros(n)
        values["cost"] = _money(cost)
        values.setdefault("cost_at_list", values["cost"])
        values["credits"] = self._credits(credit_amounts) if credit_amounts else None
        values.setdefault("cost_type", "regular")
        values.setdefault("transaction_type", "GOOGLE")
        values.setdefault("seller_name", "Google LLC")
        for key in ("location_location", "location_region", "location_country", "location_zone"):
            if isinstance(values.get(key), np.ndarray):
                values[key] = pa.array(values[key], type=S)
        return ak.table(FLAT, n, values), cost, np.asarray(credit_sum, dtype=float)

    # ------------------------------------------------------------------ one day
    def day_parts(self, day: int, invoice: str, days_in_month: int, month_first: int):
        """Yields (table, cost, credits, project index) per row group for every service used on the day."""
        est, fleet, cat = self.estate, self.fleet, self.fleet.catalog
        on = est.window.date(day)
        rng = day_rng(est.seed, "gcp", day)
        start = datetime.combine(on, datetime.min.time())
        end = start + timedelta(days=1)
        exported = end + timedelta(hours=4, minutes=int(rng.integers(0, 60)), seconds=int(rng.integers(0, 60)))
        base = {"usage_start_time": start, "usage_end_time": end, "export_time": exported, "invoice_month": invoice}
        traffic = traffic_factor(on)
        promo_open = day < self.promotion_end_day and self.promotion_left > 0

        # ---- Compute Engine: core and RAM rows per running machine
        m = fleet.machines
        hours_all = machine_hours(m, day, on)
        run = np.flatnonzero(hours_all > 0)
        hours, inst, project = hours_all[run], m.instance[run], m.account[run].astype(np.int64)
        spot = m.pricing[run] == SPOT
        machine_rate = np.where(spot, cat.spot[inst] * spot_factor(rng, len(run)), cat.on_demand[inst])
        frac = self.core_fraction[inst]
        core_cost = np.round(hours * machine_rate * frac, 6)
        ram_cost = np.round(hours * machine_rate * (1 - frac), 6)
        vcpu_hours = hours * cat.vcpu[inst]
        core_rate = cat.on_demand[inst] * frac / cat.vcpu[inst]
        # The committed use discount: the commitment's vCPU-hours go to its project's N2 cores first come.
        c = self.commitment
        eligible = ((~spot) & self.cat_n2[inst] & (project == 0)
                    & (self.cat_region_index[inst] == self.regions.index(c.region)) & (day >= c.start_day))
        wanted = np.where(eligible, vcpu_hours, 0.0)
        available = c.quantity * 24.0
        covered = np.clip(available - (np.cumsum(wanted) - wanted), 0.0, wanted)
        cud_credit = -np.round(covered * core_rate, 6)
        # Sustained use: N2 on-demand always-on machines, by the quarter of the month reached today.
        since = np.maximum(m.launch_day[run], month_first)
        quarter = np.minimum(((day - since + 1) * 4 - 1) // days_in_month, 3)
        sud_share = np.where(self.cat_n2[inst] & ~spot & (m.schedule[run] == ALWAYS_ON), N2_SUD_TIERS[quarter], 0.0)
        uncovered_core = core_cost + cud_credit
        sud_core = -np.round(uncovered_core * sud_share, 6)
        sud_ram = -np.round(ram_cost * sud_share, 6)
        promo_core = self._promotion(promo_open, core_cost + cud_credit + sud_core)
        promo_ram = self._promotion(promo_open, ram_cost + sud_ram)
        for i in np.flatnonzero(m.anomaly[run] >= 0):
            self.ledger.add_anomaly(int(m.anomaly[run][i]), float(core_cost[i] + ram_cost[i]))
        n = len(run)
        n_cat = len(cat)
        common = {**base, **self._service("compute"), **self._project(project),
                  **self._regional(self.cat_region_index[inst]), "location_zone": ak.take(self.m_zone, run),
                  "location_location": ak.take(self.m_zone, run),
                  "labels": ak.take(self.m_labels, run), "system_labels": ak.take(self.cat_system_labels, inst),
                  "resource_name": ak.take(self.m_names, run), "resource_global_name": ak.take(self.m_ids, run)}
        core_index = inst + spot * 2 * n_cat
        yield (*self._part(n, {
            **common, "sku_id": ak.take(self.vm_sku_id, core_index), "sku_description": ak.take(self.vm_sku_desc, core_index),
            "cost": core_cost, "cost_at_list": _money(hours * cat.on_demand[inst] * frac),
            "usage_amount": vcpu_hours * 3600.0, "usage_unit": "seconds",
            "usage_amount_in_pricing_units": vcpu_hours, "usage_pricing_unit": "hour",
            "price_effective_price": np.round(machine_rate * frac / cat.vcpu[inst], 6), "price_unit": "hour",
        }, {"SUD": sud_core, "CUD": cud_credit, "PROMO": promo_core}), project)
        ram_index = core_index + n_cat
        gib_hours = hours * cat.memory_gb[inst]
        yield (*self._part(n, {
            **common, "sku_id": ak.take(self.vm_sku_id, ram_index), "sku_description": ak.take(self.vm_sku_desc, ram_index),
            "cost": ram_cost, "cost_at_list": _money(hours * cat.on_demand[inst] * (1 - frac)),
            "usage_amount": gib_hours * GIB * 3600.0, "usage_unit": "byte-seconds",
            "usage_amount_in_pricing_units": gib_hours, "usage_pricing_unit": "gibibyte hour",
            "price_effective_price": np.round(machine_rate * (1 - frac) / cat.memory_gb[inst], 6),
            "price_unit": "gibibyte hour",
        }, {"SUD": sud_ram, "PROMO": promo_ram}), project)

        # ---- the commitment's fee, every day it runs
        if day >= c.start_day:
            geo = GEO[c.region][0]
            text = f"Commitment v1: N2 Cpu in {geo} for 1 Year"
            yield (*self._part(1, {
                **base, **self._service("compute"), **self._project(np.array([0])), **self._regional(self._region_index([c.region])),
                "sku_id": _sku_id("compute", text), "sku_description": text,
                "cost": np.array([c.quantity * 24.0 * c.hourly_rate]),
                "usage_amount": np.array([c.quantity * 86400.0]), "usage_unit": "seconds",
                "usage_amount_in_pricing_units": np.array([c.quantity * 24.0]), "usage_pricing_unit": "hour",
                "price_effective_price": np.array([round(c.hourly_rate, 6)]), "price_unit": "hour",
                "resource_name": c.id.rsplit("/", 1)[-1], "resource_global_name": f"//compute.googleapis.com/{c.id}",
                "subscription_instance_id": c.id,
            }), np.array([0]))

        # ---- persistent disks (balanced), billed per GiB-month
        v = fleet.volumes
        live = np.flatnonzero(alive(v.launch_day, v.end_day, day))
        gb = v.size_gb[live]
        vproject = v.account[live].astype(np.int64)
        ridx = self.v_region_index[live]
        yield (*self._part(len(live), {
            **base, **self._service("compute"), **self._project(vproject), **self._regional(ridx),
            "location_zone": ak.take(self.v_zone, live), "location_location": ak.take(self.v_zone, live),
            "sku_id": ak.take(self.pd_sku[0], ridx), "sku_description": ak.take(self.pd_sku[1], ridx),
            "cost": gb * PD_BALANCED_GB_MONTH / days_in_month,
            "usage_amount": gb * GIB * 86400.0, "usage_unit": "byte-seconds",
            "usage_amount_in_pricing_units": gb / days_in_month, "usage_pricing_unit": "gibibyte month",
            "labels": ak.take(self.v_labels, live),
            "resource_name": ak.take(self.v_names, live), "resource_global_name": ak.take(self.v_ids, live),
        }), vproject)

        # ---- Cloud Storage: standard storage and class A operations per bucket
        b = fleet.buckets
        nb = len(b)
        bproject = b.account.astype(np.int64)
        bregion = self.b_region_index
        storage_gb = bucket_gb(fleet, day)
        ops = np.round(b.requests_per_day * 1000 * traffic * rng.uniform(0.8, 1.2, nb))
        bucket_common = {**base, **self._service("storage"), **self._project(bproject), **self._regional(bregion),
                         "labels": self.b_labels, "resource_name": self.b_names, "resource_global_name": self.b_global}
        yield (*self._part(nb, {
            **bucket_common, "sku_id": ak.take(self.gcs_sku[0], bregion), "sku_description": ak.take(self.gcs_sku[1], bregion),
            "cost": storage_gb * GCS_STANDARD_GB_MONTH / days_in_month,
            "usage_amount": storage_gb * GIB * 86400.0, "usage_unit": "byte-seconds",
            "usage_amount_in_pricing_units": storage_gb / days_in_month, "usage_pricing_unit": "gibibyte month",
        }), bproject)
        yield (*self._part(nb, {
            **bucket_common, "sku_id": _sku_id("storage", "Regional Standard Class A Operations"),
            "sku_description": "Regional Standard Class A Operations",
            "cost": ops / 1000 * GCS_CLASS_A_PER_1000,
            "usage_amount": ops, "usage_unit": "requests",
            "usage_amount_in_pricing_units": ops, "usage_pricing_unit": "requests",
        }), bproject)

        # ---- BigQuery: on-demand analysis (the planted spike) and active storage, per project (US multi-region)
        projects = np.arange(len(fleet.accounts), dtype=np.int64)
        tib = np.array([2.5, 0.15, 0.6])[: len(projects)] * est.scale * traffic * rng.lognormal(0, 0.25, len(projects))
        tib *= 1.0 + 0.6 * day / max(est.window.days, 1)  # the data team's usage grows
        factor, anomaly = anomaly_factor(est, "gcp", "query-spike", 0, day)
        if anomaly >= 0:
            self.ledger.add_anomaly(anomaly, float(tib[0] * (factor - 1) * BQ_ANALYSIS_TIB))
            tib[0] *= factor
        analysis = tib * BQ_ANALYSIS_TIB
        us = {"location_location": "us", "location_country": "US", "location_region": None}
        yield (*self._part(len(projects), {
            **base, **self._service("bigquery"), **self._project(projects), **us,
            "sku_id": _sku_id("bigquery", "Analysis"), "sku_description": "Analysis", "cost": analysis,
            "usage_amount": np.round(tib * TIB), "usage_unit": "bytes",
            "usage_amount_in_pricing_units": tib, "usage_pricing_unit": "tebibyte",
        }, {"PROMO": self._promotion(promo_open, np.round(analysis, 6))}), projects)
        stored = np.array([9000.0, 400.0, 2500.0])[: len(projects)] * est.scale * (1 + 1.2 * day / max(est.window.days, 1))
        yield (*self._part(len(projects), {
            **base, **self._service("bigquery"), **self._project(projects), **us,
            "sku_id": _sku_id("bigquery", "Active Logical Storage"), "sku_description": "Active Logical Storage",
            "cost": stored * BQ_ACTIVE_STORAGE_GB_MONTH / days_in_month,
            "usage_amount": stored * GIB * 86400.0, "usage_unit": "byte-seconds",
            "usage_amount_in_pricing_units": stored / days_in_month, "usage_pricing_unit": "gibibyte month",
        }), projects)

        # ---- Cloud SQL for PostgreSQL: vCPU, RAM, storage per running instance
        d = fleet.databases
        live = np.flatnonzero(alive(d.launch_day, d.end_day, day))
        dproject = d.account[live].astype(np.int64)
        dinst = d.instance[live]
        dregion = self.d_region_index[live]
        sql_common = {**base, **self._service("sql"), **self._project(dproject), **self._regional(dregion),
                      "labels": ak.take(self.d_labels, live), "resource_name": ak.take(self.d_names, live),
                      "resource_global_name": ak.take(self.d_ids, live)}
        for skus, (quantity, price, unit, usage_unit, scale_usage) in zip(self.sql_skus, (
            (cat.vcpu[dinst] * 24.0, SQL_VCPU_HOUR, "hour", "seconds", 3600.0),
            (cat.memory_gb[dinst] * 24.0, SQL_RAM_GB_HOUR, "gibibyte hour", "byte-seconds", GIB * 3600.0),
            (d.storage_gb[live] / days_in_month, SQL_STORAGE_GB_MONTH, "gibibyte month",
             "byte-seconds", GIB * 86400.0 * days_in_month),
        )):
            yield (*self._part(len(live), {
                **sql_common, "sku_id": ak.take(skus[0], dregion), "sku_description": ak.take(skus[1], dregion),
                "cost": quantity * price, "usage_amount": quantity * scale_usage, "usage_unit": usage_unit,
                "usage_amount_in_pricing_units": quantity, "usage_pricing_unit": unit,
                "price_effective_price": np.full(len(live), price), "price_unit": unit,
            }), dproject)

        # ---- internet egress per project and region, from the vCPU-hours serving traffic
        pr = project * len(self.regions) + self.cat_region_index[inst]
        size = len(fleet.accounts) * len(self.regions)
        egress_gb = np.bincount(pr, weights=vcpu_hours * 0.04, minlength=size) * traffic
        egress_gb = np.round(egress_gb * rng.lognormal(0, 0.2, size), 3)
        keep = np.flatnonzero(egress_gb > 0)
        eproject = (keep // len(self.regions)).astype(np.int64)
        eregion = (keep % len(self.regions)).astype(np.int64)
        yield (*self._part(len(keep), {
            **base, **self._service("networking"), **self._project(eproject), **self._regional(eregion),
            "sku_id": ak.take(self.egress_sku[0], eregion), "sku_description": ak.take(self.egress_sku[1], eregion),
            "cost": egress_gb[keep] * EGRESS_GB, "usage_amount": egress_gb[keep] * GIB, "usage_unit": "bytes",
            "usage_amount_in_pricing_units": egress_gb[keep], "usage_pricing_unit": "gibibyte",
        }), eproject)

    def _promotion(self, open_: bool, net: np.ndarray) -> np.ndarray:
        """The promotion's credit on each row (negative), from what is left of its budget."""
        if not open_ or len(net) == 0:
            return np.zeros(len(net))
        wanted = np.round(np.maximum(net, 0) * PROMOTION_SHARE, 6)
        granted = np.clip(self.promotion_left - (np.cumsum(wanted) - wanted), 0.0, wanted)
        granted = np.floor(granted * 1e6) / 1e6
        self.promotion_left = max(0.0, round(self.promotion_left - float(granted.sum()), 6))
        return -granted

    def tax_table(self, month: date, invoice: str, month_end: datetime, net: np.ndarray) -> tuple[pa.Table, np.ndarray]:
        projects = np.flatnonzero(np.round(net, 2) > 0).astype(np.int64)
        tax = np.round(net[projects] * SALES_TAX, 2)
        start = datetime.combine(month, datetime.min.time())
        table, cost, _ = self._part(len(projects), {
            "usage_start_time": start, "usage_end_time": month_end, "export_time": month_end + timedelta(hours=30),
            "invoice_month": invoice, **self._service("invoice"), **self._project(projects),
            "sku_id": _sku_id("invoice", "Tax: US Sales Tax"), "sku_description": "Tax: US Sales Tax",
            "cost": tax, "cost_type": "tax", "transaction_type": None, "seller_name": None,
            "usage_amount": np.zeros(len(projects)), "usage_amount_in_pricing_units": np.zeros(len(projects)),
        })
        return table, cost

    # ------------------------------------------------------------------ files
    def write(self) -> None:
        est = self.estate
        for month, first, stop in est.window.months():
            invoice = f"{month:%Y%m}"
            following = (month + timedelta(days=32)).replace(day=1)
            days_in_month = (following - month).days
            path = self.root / f"{month:%Y-%m}" / f"{self.table_name}-000000000000.jsonl"
            select = SELECT_SQL.replace("billing_account_id,", f"'{self.account}' AS billing_account_id,", 1) \
                .replace("cost, currency,", "cost, 'USD' AS currency,", 1)
            sink = JsonLinesSink(path, select)
            net = np.zeros(len(self.fleet.accounts))
            billed = 0.0
            pending: list[pa.Table] = []  # whole days, flushed once FLUSH_ROWS are held (one COPY each)
            for day in range(first, stop):
                for table, cost, credits, project in self.day_parts(day, invoice, days_in_month, first):
                    if table.num_rows:
                        pending.append(table)
                        net += np.bincount(project, weights=cost + credits, minlength=len(net))
                        billed += float(cost.sum() + credits.sum())
                if sum(t.num_rows for t in pending) >= FLUSH_ROWS:
                    sink.write(pa.concat_tables(pending))
                    pending = []
            month_end = datetime.combine(est.window.date(stop - 1) + timedelta(days=1), datetime.min.time())
            tax, tax_cost = self.tax_table(month, invoice, month_end, net)
            pending.append(tax)
            billed += float(tax_cost.sum())
            sink.write(pa.concat_tables(pending))
            sink.close(mtime=(month_end + timedelta(hours=30)).timestamp())
            self.ledger.max_rows_in_memory = max(self.ledger.max_rows_in_memory, sink.max_rows_in_memory)
            self.ledger.files.append(str(sink.path))
            self.ledger.add_rows(EXPORT, sink.rows, round(billed, 6))


def est_months_day(estate: Estate, months: int) -> int:
    """The first day index after the window's first `months` months."""
    spans = estate.window.months()
    return spans[min(months, len(spans)) - 1][2]

