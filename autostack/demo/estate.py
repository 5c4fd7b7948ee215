"""The fictitious company: teams, products, accounts, and every resource it runs, with lifecycles.

Kestrel Commerce runs a storefront, search, analytics and recommendations on AWS (a payer account
with prod/staging/dev linked accounts), Azure (one Microsoft Customer Agreement billing account with
a prod and a non-prod subscription) and Google Cloud (one billing account, three projects).

Everything here is decided once, up front, from the seed: per provider, aligned numpy arrays of
virtual machines, block volumes, object storage and managed databases (each with the account, team,
product, environment, region, launch day and decommission day), the commitments bought, and the
planted anomalies and waste (kept in fields the export writers never read). The writers turn this
into daily line items; nothing here grows with the number of days or billing rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np

from autostack.demo.catalog import InstanceCatalog, load_catalog

COMPANY = "Kestrel Commerce"
TEAMS = ("checkout", "search", "data-platform", "ml", "mobile", "identity", "platform")
PRODUCTS = ("storefront", "search", "analytics", "recommendations", "mobile-app", "accounts", "shared")
ENVIRONMENTS = ("prod", "staging", "dev")

# Schedules: how a machine runs.
ALWAYS_ON, BUSINESS_HOURS, MONTH_START_BATCH = 0, 1, 2
# Pricing of a machine: on-demand or spot.
ON_DEMAND, SPOT = 0, 1
# Commitment cohort a machine belongs to (bought for it, it may still outgrow it).
NO_COMMITMENT, RESERVATION, SAVINGS_PLAN, COMMITTED_USE = 0, 1, 2, 3
# Tag quality of a resource: tagged as the policy says, untagged, or a mis-spelled key (`Team`).
TAGGED, UNTAGGED, MIS_TAGGED = 0, 1, 2
# Planted utilization profiles (ground truth only).
NORMAL, IDLE, OVERSIZED = 0, 1, 2


@dataclass(frozen=True)
class Account:
    """An AWS linked account, an Azure subscription or a GCP project."""

    id: str
    name: str
    environment: str  # prod | staging | dev | nonprod (Azure: staging and dev share a subscription)
    number: str = ""  # GCP project number


@dataclass(frozen=True)
class Window:
    """The days the history covers: from the first day of the first month to `end` inclusive."""

    start: date
    end: date

    @classmethod
    def months_to(cls, end: date, months: int) -> Window:
        if months < 1:
            raise ValueError(f"months must be at least 1, got {months}")
        year, month = end.year, end.month - (months - 1)
        while month < 1:
            month += 12
            year -= 1
        return cls(date(year, month, 1), end)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def date(self, day: int) -> date:
        return self.start + timedelta(days=day)

    def months(self) -> list[tuple[date, int, int]]:
        """(first day of month, first day index, day index after the last day in the window)."""
        out, day = [], 0
        while day < self.days:
            first = self.date(day)
            following = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
            stop = min((following - self.start).days, self.days)
            out.append((first.replace(day=1), day, stop))
            day = stop
        return out


def month_deliveries(window: Window, current: bool, first: int, stop: int, hour: int) -> list[tuple[int, datetime]]:
    """When a month's export is delivered, as (first day index not included, delivery time): the
    morning after its last day; for the current month also an earlier month-to-date delivery three
    days before, which the final one restates (as AWS and Azure re-deliver month-to-date data)."""
    delivered = datetime.combine(window.date(stop - 1) + timedelta(days=1), datetime.min.time()) + timedelta(hours=hour)
    deliveries = [(stop, delivered)]
    if current and stop - first > 3:
        deliveries.insert(0, (stop - 3, delivered - timedelta(days=3)))
    return deliveries


@dataclass
class Machines:
    """Virtual machines of one provider (aligned arrays, one entry per machine)."""

    id: list[str]  # the provider's resource id as its export writes it
    name: list[str]
    account: np.ndarray
    team: np.ndarray
    product: np.ndarray
    environment: np.ndarray  # index into ENVIRONMENTS
    region: np.ndarray  # region name
    zone: list[str]
    instance: np.ndarray  # index into the provider's InstanceCatalog
    launch_day: np.ndarray
    end_day: np.ndarray  # exclusive
    launch_hour: np.ndarray
    schedule: np.ndarray
    pricing: np.ndarray
    commitment: np.ndarray
    tag_quality: np.ndarray
    cpu_mean: np.ndarray  # % of the machine's vCPUs, a typical day
    memory_p95: np.ndarray
    profile: np.ndarray  # NORMAL | IDLE | OVERSIZED (ground truth only)
    anomaly: np.ndarray  # index of the planted anomaly that launched it, -1 for none (ground truth only)

    def __len__(self) -> int:
        return len(self.id)


@dataclass
class Volumes:
    """Block storage (EBS volumes, managed disks, persistent disks)."""

    id: list[str]
    name: list[str]
    machine: np.ndarray  # the machine it is attached to, -1 for none (ground truth: unattached)
    account: np.ndarray
    team: np.ndarray
    product: np.ndarray
    environment: np.ndarray
    region: np.ndarray
    zone: list[str]
    size_gb: np.ndarray
    launch_day: np.ndarray
    end_day: np.ndarray
    tag_quality: np.ndarray

    def __len__(self) -> int:
        return len(self.id)


@dataclass
class Buckets:
    """Object storage (S3 buckets, storage accounts, Cloud Storage buckets) that grows."""

    id: list[str]
    account: np.ndarray
    team: np.ndarray
    product: np.ndarray
    environment: np.ndarray
    region: np.ndarray
    gb_at_start: np.ndarray
    gb_growth_per_day: np.ndarray
    requests_per_day: np.ndarray  # thousands of write requests on a weekday
    tag_quality: np.ndarray

    def __len__(self) -> int:
        return len(self.id)


@dataclass
class Databases:
    """Managed databases (RDS, Azure SQL Database, Cloud SQL), priced per vCPU-sized instance."""

    id: list[str]
    name: list[str]
    account: np.ndarray
    team: np.ndarray
    product: np.ndarray
    environment: np.ndarray
    region: np.ndarray
    instance: np.ndarray  # the same-size compute type in the catalog
    storage_gb: np.ndarray
    launch_day: np.ndarray
    end_day: np.ndarray
    tag_quality: np.ndarray

    def __len__(self) -> int:
        return len(self.id)


@dataclass(frozen=True)
class Commitment:
    """A commitment bought for a cohort of machines."""

    id: str
    name: str
    kind: str  # reserved-instance | savings-plan | reservation | committed-use
    region: str
    instance: int  # catalog index it is for (-1 for a Savings Plan)
    quantity: float  # instances reserved, USD/hour committed, or vCPUs committed
    hourly_rate: float  # USD per instance-hour (RI, reservation), per vCPU-hour (CUD); SP: commitment/hour
    discount: float  # fraction off on-demand for covered usage
    start_day: int  # first day it covers (may be before the window: negative)
    upfront_fraction: float = 0.0  # of the total cost paid upfront (AWS partial upfront RI)
    term_hours: int = 8760


@dataclass(frozen=True)
class Anomaly:
    """A planted anomaly. Resource anomalies launch machines; usage anomalies multiply a usage."""

    id: str
    provider: str
    kind: str  # runaway-instances | egress-spike | query-spike | scale-out
    account: int
    team: int
    first_day: int
    last_day: int  # inclusive
    factor: float = 1.0  # usage multiplier (usage anomalies)
    description: str = ""


@dataclass
class Fleet:
    """One provider's estate."""

    provider: str
    catalog: InstanceCatalog
    accounts: list[Account]
    regions: tuple[str, ...]
    machines: Machines
    volumes: Volumes
    buckets: Buckets
    databases: Databases
    commitments: list[Commitment] = field(default_factory=list)


@dataclass
class Estate:
    seed: int
    scale: float
    window: Window
    aws: Fleet
    azure: Fleet
    gcp: Fleet
    anomalies: list[Anomaly]
    # Ids written by the exports: billing accounts and names.
    aws_payer: Account = field(default=Account("", "", ""))
    azure_billing_account: Account = field(default=Account("", "", ""))
    azure_billing_profile: Account = field(default=Account("", "", ""))
    gcp_billing_account: str = ""
    oci_tenancy: Account = field(default=Account("", "", ""))

    def fleets(self) -> tuple[Fleet, Fleet, Fleet]:
        return (self.aws, self.azure, self.gcp)


# ------------------------------------------------------------------------------------------ helpers
def _hex(rng: np.random.Generator, digits: int) -> str:
    return "".join(rng.choice(list("0123456789abcdef"), size=digits))


def _guid(rng: np.random.Generator) -> str:
    h = _hex(rng, 32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:32]}"


def _digits(rng: np.random.Generator, n: int) -> str:
    return str(rng.integers(1, 10)) + "".join(str(d) for d in rng.integers(0, 10, size=n - 1))


def _count(base: float, scale: float) -> int:
    return max(1, int(round(base * scale)))


def _lifecycles(rng, n: int, days: int, existing_share: float = 0.6, decommission_share: float = 0.2):
    """Launch and end days: most exist before the window; launches lean late (growth); some end."""
    existing = rng.random(n) < existing_share
    launch = np.where(existing, 0, (days * np.sqrt(rng.random(n))).astype(int))
    launch = np.minimum(launch, days - 1)
    ends = rng.random(n) < decommission_share
    end = np.where(ends, launch + 1 + (rng.random(n) * (days - launch)).astype(int), days)
    return launch.astype(np.int32), np.minimum(end, days).astype(np.int32)


def _tag_quality(rng, n: int) -> np.ndarray:
    return rng.choice([TAGGED, UNTAGGED, MIS_TAGGED], size=n, p=[0.8, 0.12, 0.08]).astype(np.int8)


# ------------------------------------------------------------------------------------------ provider layouts
AWS_REGIONS = ("us-east-1", "eu-west-1")
AZURE_REGIONS = ("eastus", "westeurope")
GCP_REGIONS = ("us-central1", "europe-west1")
AWS_FAMILIES = ("m5", "c5", "r5", "t3", "m6g")
AZURE_FAMILIES = ("Ds_v4", "Es_v4", "Bs")
GCP_FAMILIES = ("e2-standard", "n2-standard", "n2-highmem")
MAX_VCPU = 16  # a typical business estate: nothing bigger than 16 vCPUs except planted anomalies


def _account_choice(rng, accounts: list[Account], n: int, weights: list[float]) -> np.ndarray:
    return rng.choice(len(accounts), size=n, p=np.array(weights) / sum(weights)).astype(np.int16)


def _environment_of(accounts: list[Account], account: np.ndarray, rng) -> np.ndarray:
    env = np.empty(len(account), dtype=np.int8)
    for i, acct in enumerate(accounts):
        mask = account == i
        if acct.environment == "nonprod":
            env[mask] = rng.choice([1, 2], size=int(mask.sum()), p=[0.4, 0.6])
        else:
            env[mask] = ENVIRONMENTS.index(acct.environment)
    return env


def _pick_instances(rng, catalog: InstanceCatalog, region: np.ndarray, profile: np.ndarray) -> np.ndarray:
    """A catalog size per machine in its region, small sizes likelier; oversized ones have a smaller size."""
    out = np.empty(len(region), dtype=np.int32)
    for reg in np.unique(region):
        candidates = catalog.in_region(str(reg))
        candidates = candidates[catalog.vcpu[candidates] <= MAX_VCPU]
        weights = 1.0 / np.sqrt(catalog.vcpu[candidates])
        mask = region == reg
        out[mask] = rng.choice(candidates, size=int(mask.sum()), p=weights / weights.sum())
        big = candidates[catalog.vcpu[candidates] >= 4]
        over = mask & (profile == OVERSIZED)
        out[over] = rng.choice(big, size=int(over.sum()))
    return out


def _machines(rng, fleet_name: str, catalog: InstanceCatalog, accounts: list[Account], weights: list[float],
              regions: tuple[str, ...], n: int, days: int) -> dict:
    account = _account_choice(rng, accounts, n, weights)
    env = _environment_of(accounts, account, rng)
    region = np.where(rng.random(n) < 0.8, regions[0], regions[1])
    profile = rng.choice([NORMAL, IDLE, OVERSIZED], size=n, p=[0.88, 0.04, 0.08]).astype(np.int8)
    instance = _pick_instances(rng, catalog, region, profile)
    launch, end = _lifecycles(rng, n, days)
    nonprod = env > 0
    schedule = np.where(nonprod & (rng.random(n) < 0.6), BUSINESS_HOURS, ALWAYS_ON).astype(np.int8)
    batch = (~nonprod) & (rng.random(n) < 0.08)
    schedule[batch] = MONTH_START_BATCH
    pricing = np.where(batch | (nonprod & (rng.random(n) < 0.15)), SPOT, ON_DEMAND).astype(np.int8)
    pricing[catalog.spot[instance] <= 0] = ON_DEMAND
    profile[schedule == MONTH_START_BATCH] = NORMAL
    cpu = np.select([profile == IDLE, profile == OVERSIZED], [rng.uniform(0.4, 2.0, n), rng.uniform(4, 9, n)],
                    rng.uniform(24, 58, n))
    mem = np.select([profile == IDLE, profile == OVERSIZED], [rng.uniform(5, 14, n), rng.uniform(14, 30, n)],
                    rng.uniform(45, 86, n))
    return dict(account=account, team=rng.integers(0, len(TEAMS), n).astype(np.int8), environment=env,
                region=region, instance=instance, launch_day=launch, end_day=end,
                launch_hour=rng.integers(0, 24, n).astype(np.int8), schedule=schedule, pricing=pricing,
                commitment=np.zeros(n, dtype=np.int8), tag_quality=_tag_quality(rng, n), cpu_mean=cpu,
                memory_p95=mem, profile=profile, anomaly=np.full(n, -1, dtype=np.int16))


def _cohort(rng, catalog: InstanceCatalog, accounts: list[Account], prod_account: int, region: str,
            instance_name: str, count: int, days: int) -> dict:
    """Steady production machines that a commitment was bought for; one leaves late in the window."""
    inst = catalog.find(instance_name, region)
    end = np.full(count, days, dtype=np.int32)
    if count >= 2 and days > 20:
        end[-1] = int(days * 0.7)
    return dict(account=np.full(count, prod_account, dtype=np.int16),
                team=rng.integers(0, len(TEAMS), count).astype(np.int8),
                environment=np.zeros(count, dtype=np.int8), region=np.full(count, region),
                instance=np.full(count, inst, dtype=np.int32), launch_day=np.zeros(count, dtype=np.int32),
                end_day=end, launch_hour=np.zeros(count, dtype=np.int8),
                schedule=np.full(count, ALWAYS_ON, dtype=np.int8), pricing=np.zeros(count, dtype=np.int8),
                commitment=np.zeros(count, dtype=np.int8), tag_quality=_tag_quality(rng, count),
                cpu_mean=rng.uniform(35, 60, count), memory_p95=rng.uniform(50, 80, count),
                profile=np.zeros(count, dtype=np.int8), anomaly=np.full(count, -1, dtype=np.int16))


def _concat(parts: list[dict]) -> dict:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _product_of(team: np.ndarray) -> np.ndarray:
    return team.copy()  # each team owns one product (PRODUCTS[i] belongs to TEAMS[i])


# ------------------------------------------------------------------------------------------ the estate
def build_estate(seed: int, scale: float, window: Window) -> Estate:
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    rng = np.random.default_rng([seed, 1])
    days = window.days
    anomalies: list[Anomaly] = []

    def day_at(fraction: float) -> int:
        return min(days - 1, max(0, int(days * fraction)))

    # ---- accounts
    payer = Account(_digits(rng, 12), "kestrel-payer", "prod")
    aws_accounts = [Account(_digits(rng, 12), f"kestrel-{env}", env) for env in ENVIRONMENTS]
    mca = Account(f"{_guid(rng)}:{_guid(rng)}_2019-05-31", "Kestrel Commerce Ltd", "prod")
    profile = Account("-".join(_hex(rng, 4).upper() for _ in range(4)), "Kestrel Commerce USD", "prod")
    azure_accounts = [Account(_guid(rng), "kestrel-prod", "prod"), Account(_guid(rng), "kestrel-nonprod", "nonprod")]
    gcp_billing = "-".join(_hex(rng, 6).upper() for _ in range(3))
    gcp_accounts = [Account("kestrel-analytics-prod", "Kestrel Analytics Prod", "prod", _digits(rng, 12)),
                    Account("kestrel-web-staging", "Kestrel Web Staging", "staging", _digits(rng, 12)),
                    Account("kestrel-ml-dev", "Kestrel ML Dev", "dev", _digits(rng, 12))]
    tenancy = Account(f"ocid1.tenancy.oc1..aaaaaaaa{_hex(rng, 52)}", "kestrel", "prod")

    # ---- AWS
    aws_catalog = load_catalog("aws", AWS_REGIONS, AWS_FAMILIES)
    parts = [_machines(rng, "aws", aws_catalog, aws_accounts, [0.55, 0.2, 0.25], AWS_REGIONS, _count(64, scale), days)]
    ri = _cohort(rng, aws_catalog, aws_accounts, 0, "us-east-1", "m5.xlarge", _count(4, scale), days)
    ri["commitment"][:] = RESERVATION
    parts.append(ri)
    runaway = Anomaly("anomaly-01", "aws", "runaway-instances", 2, TEAMS.index("ml"), day_at(0.62),
                      day_at(0.62) + 4, description="compute instances launched in the dev account and left running")
    anomalies.append(runaway)
    burst = _cohort(rng, aws_catalog, aws_accounts, 2, "us-east-1", "c5.4xlarge", _count(6, scale), days)
    burst.update(account=np.full(len(burst["account"]), 2, dtype=np.int16), environment=np.full(len(burst["account"]), 2, dtype=np.int8),
                 team=np.full(len(burst["account"]), runaway.team, dtype=np.int8),
                 launch_day=np.full(len(burst["account"]), runaway.first_day, dtype=np.int32),
                 end_day=np.full(len(burst["account"]), runaway.last_day + 1, dtype=np.int32),
                 launch_hour=np.full(len(burst["account"]), 9, dtype=np.int8),
                 cpu_mean=rng.uniform(85, 97, len(burst["account"])), anomaly=np.full(len(burst["account"]), 0, dtype=np.int16))
    parts.append(burst)
    m = _concat(parts)
    prod_steady = ((m["environment"] == 0) & (m["schedule"] == ALWAYS_ON) & (m["pricing"] == ON_DEMAND)
                   & (m["commitment"] == NO_COMMITMENT) & (m["anomaly"] < 0) & (m["profile"] == NORMAL))
    sp_members = np.flatnonzero(prod_steady)[: max(1, int(prod_steady.sum() * 0.35))]
    m["commitment"][sp_members] = SAVINGS_PLAN
    aws_machines = _finish_machines(rng, "aws", m, aws_catalog, aws_accounts)
    anomalies.append(Anomaly("anomaly-02", "aws", "egress-spike", 0, TEAMS.index("checkout"), day_at(0.78),
                             day_at(0.78) + 2, factor=7.0, description="data transfer out of the prod account"))
    ri_inst = aws_catalog.find("m5.xlarge", "us-east-1")
    ri_rate = float(aws_catalog.on_demand[ri_inst]) * 0.62
    sp_od = float((aws_catalog.on_demand[aws_machines_instance(aws_machines, sp_members)]).sum())
    aws_commitments = [
        Commitment(f"arn:aws:ec2:us-east-1:{aws_accounts[0].id}:reserved-instances/{_guid(rng)}",
                   "m5.xlarge RI", "reserved-instance", "us-east-1", ri_inst, float(len(ri["account"])), ri_rate,
                   1 - 0.62, start_day=window.months()[min(1, len(window.months()) - 1)][1], upfront_fraction=0.5),
        Commitment(f"arn:aws:savingsplans::{payer.id}:savingsplan/{_guid(rng)}", "Compute Savings Plan",
                   "savings-plan", "", -1, round(sp_od * 0.72 * 0.93, 3), round(sp_od * 0.72 * 0.93, 3), 1 - 0.72,
                   start_day=-200),
    ]
    aws = Fleet("aws", aws_catalog, aws_accounts, AWS_REGIONS, aws_machines,
                *_storage_and_databases(rng, "aws", aws_machines, aws_accounts, AWS_REGIONS, aws_catalog, scale, days),
                commitments=aws_commitments)

    # ---- Azure
    az_catalog = load_catalog("azure", AZURE_REGIONS, AZURE_FAMILIES)
    parts = [_machines(rng, "azure", az_catalog, azure_accounts, [0.6, 0.4], AZURE_REGIONS, _count(30, scale), days)]
    reserved = _cohort(rng, az_catalog, azure_accounts, 0, "eastus", "Standard_D4s_v4", _count(3, scale), days)
    reserved["commitment"][:] = RESERVATION
    parts.append(reserved)
    scale_out = Anomaly("anomaly-03", "azure", "scale-out", 1, TEAMS.index("search"), day_at(0.45),
                        day_at(0.45) + 6, description="a non-prod scale set scaled out and did not scale back")
    anomalies.append(scale_out)
    extra = _cohort(rng, az_catalog, azure_accounts, 1, "eastus", "Standard_D8s_v4", _count(8, scale), days)
    k = len(extra["account"])
    extra.update(environment=np.full(k, 1, dtype=np.int8), team=np.full(k, scale_out.team, dtype=np.int8),
                 launch_day=np.full(k, scale_out.first_day, dtype=np.int32),
                 end_day=np.full(k, scale_out.last_day + 1, dtype=np.int32), anomaly=np.full(k, 2, dtype=np.int16),
                 cpu_mean=rng.uniform(3, 8, k))
    parts.append(extra)
    az_m = _finish_machines(rng, "azure", _concat(parts), az_catalog, azure_accounts)
    res_inst = az_catalog.find("Standard_D4s_v4", "eastus")
    azure = Fleet("azure", az_catalog, azure_accounts, AZURE_REGIONS, az_m,
                  *_storage_and_databases(rng, "azure", az_m, azure_accounts, AZURE_REGIONS, az_catalog, scale, days),
                  commitments=[Commitment(
                      f"/providers/Microsoft.Capacity/reservationOrders/{_guid(rng)}/reservations/{_guid(rng)}",
                      "vm-d4s-v4-reservation", "reservation", "eastus", res_inst, float(len(reserved["account"])),
                      float(az_catalog.on_demand[res_inst]) * 0.59, 1 - 0.59, start_day=-90)])

    # ---- Google Cloud
    g_catalog = load_catalog("gcp", GCP_REGIONS, GCP_FAMILIES)
    parts = [_machines(rng, "gcp", g_catalog, gcp_accounts, [0.5, 0.2, 0.3], GCP_REGIONS, _count(30, scale), days)]
    cud = _cohort(rng, g_catalog, gcp_accounts, 0, "us-central1", "n2-standard-4", _count(5, scale), days)
    cud["commitment"][:] = COMMITTED_USE
    parts.append(cud)
    g_m = _finish_machines(rng, "gcp", _concat(parts), g_catalog, gcp_accounts)
    anomalies.append(Anomaly("anomaly-04", "gcp", "query-spike", 0, TEAMS.index("data-platform"), day_at(0.9),
                             day_at(0.9), factor=14.0, description="BigQuery analysis bytes scanned"))
    n2_core = _gcp_core_rate(g_catalog, g_catalog.find("n2-standard-4", "us-central1"))
    gcp = Fleet("gcp", g_catalog, gcp_accounts, GCP_REGIONS, g_m,
                *_storage_and_databases(rng, "gcp", g_m, gcp_accounts, GCP_REGIONS, g_catalog, scale, days),
                commitments=[Commitment(
                    f"projects/{gcp_accounts[0].id}/regions/us-central1/commitments/n2-cpu-1y-{_hex(rng, 6)}",
                    "n2-cpu-1y", "committed-use", "us-central1", -1, float(4 * len(cud["account"]) * 0.9),
                    n2_core * 0.63, 1 - 0.63, start_day=-120)])
    return Estate(seed, scale, window, aws, azure, gcp, anomalies, aws_payer=payer, azure_billing_account=mca,
                  azure_billing_profile=profile, gcp_billing_account=gcp_billing, oci_tenancy=tenancy)


def aws_machines_instance(machines: Machines, members: np.ndarray) -> np.ndarray:
    return machines.instance[members]


GCP_CORE_SHARE = 0.033  # USD per vCPU-hour vs per GB-hour weight: splits a machine price into core and RAM
GCP_RAM_SHARE = 0.0045


def gcp_core_fraction(catalog: InstanceCatalog, instance: np.ndarray | int) -> np.ndarray:
    """Share of a machine type's price that Google bills as cores (the rest is RAM)."""
    cpu = catalog.vcpu[instance] * GCP_CORE_SHARE
    return cpu / (cpu + catalog.memory_gb[instance] * GCP_RAM_SHARE)


def _gcp_core_rate(catalog: InstanceCatalog, instance: int) -> float:
    return float(catalog.on_demand[instance] * gcp_core_fraction(catalog, instance) / catalog.vcpu[instance])


def _finish_machines(rng, provider: str, m: dict, catalog: InstanceCatalog, accounts: list[Account]) -> Machines:
    n = len(m["account"])
    ids, names, zones = [], [], []
    counters: dict[tuple, int] = {}
    for i in range(n):
        product = PRODUCTS[m["team"][i]]
        env = ENVIRONMENTS[m["environment"][i]]
        key = (product, env)
        counters[key] = counters.get(key, 0) + 1
        name = f"{product}-{env}-{counters[key]:03d}"
        region = str(m["region"][i])
        acct = accounts[m["account"][i]]
        if provider == "aws":
            zone = region + "abc"[rng.integers(0, 3)]
            ids.append("i-" + _hex(rng, 17))
        elif provider == "azure":
            zone = str(rng.integers(1, 4))
            ids.append(f"/subscriptions/{acct.id}/resourceGroups/rg-{product}-{env}/providers/"
                       f"Microsoft.Compute/virtualMachines/vm-{name}")
        else:
            zone = f"{region}-{'abc'[rng.integers(0, 3)]}"
            ids.append(f"//compute.googleapis.com/projects/{acct.id}/zones/{zone}/instances/{_digits(rng, 19)}")
        names.append(name)
        zones.append(zone)
    return Machines(id=ids, name=names, product=_product_of(m["team"]), zone=zones,
                    **{k: v for k, v in m.items()})


def _storage_and_databases(rng, provider: str, machines: Machines, accounts: list[Account], regions: tuple[str, ...],
                           catalog: InstanceCatalog, scale: float, days: int) -> tuple[Volumes, Buckets, Databases]:
    # Volumes: one per machine (same lifecycle, a few outlive their machine), plus unattached ones.
    n_machines = len(machines)
    n_loose = _count(3, scale)
    attached = np.arange(n_machines)
    machine = np.concatenate([attached, np.full(n_loose, -1)])
    loose_acct = _account_choice(rng, accounts, n_loose, [1.0] * len(accounts))
    account = np.concatenate([machines.account, loose_acct])
    team = np.concatenate([machines.team, rng.integers(0, len(TEAMS), n_loose).astype(np.int8)])
    env = np.concatenate([machines.environment, _environment_of(accounts, loose_acct, rng)])
    region = np.concatenate([machines.region, np.full(n_loose, regions[0])])
    zone = list(machines.zone) + [
        (regions[0] + "a") if provider == "aws" else ("1" if provider == "azure" else f"{regions[0]}-a")
        for _ in range(n_loose)]
    size = np.concatenate([rng.choice([32, 64, 128, 256, 512], size=n_machines, p=[0.2, 0.3, 0.25, 0.15, 0.1]),
                           rng.choice([256, 512, 1024], size=n_loose)]).astype(float)
    launch = np.concatenate([machines.launch_day, np.zeros(n_loose, dtype=np.int32)])
    end = np.concatenate([machines.end_day, np.full(n_loose, days, dtype=np.int32)])
    tagq = np.concatenate([machines.tag_quality, _tag_quality(rng, n_loose)])
    ids, names = [], []
    for i in range(len(machine)):
        acct = accounts[account[i]]
        base = machines.name[machine[i]] if machine[i] >= 0 else f"{PRODUCTS[team[i]]}-snapshot-restore-{i:03d}"
        if provider == "aws":
            ids.append("vol-" + _hex(rng, 17))
            names.append(base)
        elif provider == "azure":
            disk = f"{base}_OsDisk_1_{_hex(rng, 32)}"
            ids.append(f"/subscriptions/{acct.id}/resourceGroups/rg-{PRODUCTS[team[i]]}-{ENVIRONMENTS[env[i]]}/"
                       f"providers/Microsoft.Compute/disks/{disk}")
            names.append(disk)
        else:
            ids.append(f"//compute.googleapis.com/projects/{acct.id}/zones/{zone[i]}/disks/{base}")
            names.append(base)
    volumes = Volumes(ids, names, machine.astype(np.int32), account, team, team.copy(), env, region, zone, size,
                      launch.astype(np.int32), end.astype(np.int32), tagq)

    n_b = _count(10 if provider == "aws" else 6, scale)
    b_acct = _account_choice(rng, accounts, n_b, [2.0] + [1.0] * (len(accounts) - 1))
    b_team = rng.integers(0, len(TEAMS), n_b).astype(np.int8)
    b_env = _environment_of(accounts, b_acct, rng)
    b_ids = []
    for i in range(n_b):
        product, envname = PRODUCTS[b_team[i]], ENVIRONMENTS[b_env[i]]
        if provider == "aws":
            b_ids.append(f"kestrel-{product}-{envname}-{i:03d}")
        elif provider == "azure":
            acct = accounts[b_acct[i]]
            short = (product.replace("-", "")[:10] + envname[:4] + f"{i:03d}")[:21]
            b_ids.append(f"/subscriptions/{acct.id}/resourceGroups/rg-{product}-{envname}/providers/"
                         f"Microsoft.Storage/storageAccounts/st{short}")
        else:
            b_ids.append(f"kestrel-{product}-{envname}-{i:03d}")
    buckets = Buckets(b_ids, b_acct, b_team, b_team.copy(), b_env,
                      np.where(rng.random(n_b) < 0.8, regions[0], regions[1]),
                      rng.lognormal(np.log(800), 1.0, n_b), rng.lognormal(np.log(6), 0.8, n_b),
                      rng.lognormal(np.log(40), 1.0, n_b), _tag_quality(rng, n_b))

    n_db = _count(5 if provider == "aws" else 3, scale)
    d_acct = _account_choice(rng, accounts, n_db, [3.0] + [1.0] * (len(accounts) - 1))
    d_team = rng.integers(0, len(TEAMS), n_db).astype(np.int8)
    d_env = _environment_of(accounts, d_acct, rng)
    d_region = np.full(n_db, regions[0])
    candidates = catalog.in_region(regions[0])
    candidates = candidates[(catalog.vcpu[candidates] >= 2) & (catalog.vcpu[candidates] <= 8)]
    d_inst = rng.choice(candidates, size=n_db)
    d_launch, d_end = _lifecycles(rng, n_db, days, existing_share=0.8, decommission_share=0.1)
    d_ids, d_names = [], []
    for i in range(n_db):
        acct = accounts[d_acct[i]]
        name = f"{PRODUCTS[d_team[i]]}-{ENVIRONMENTS[d_env[i]]}-db{i:02d}"
        if provider == "aws":
            d_ids.append(f"arn:aws:rds:{regions[0]}:{acct.id}:db:{name}")
        elif provider == "azure":
            d_ids.append(f"/subscriptions/{acct.id}/resourceGroups/rg-{PRODUCTS[d_team[i]]}-{ENVIRONMENTS[d_env[i]]}/"
                         f"providers/Microsoft.Sql/servers/sql-{name}/databases/{name}")
        else:
            d_ids.append(f"//cloudsql.googleapis.com/projects/{acct.id}/instances/{name}")
        d_names.append(name)
    databases = Databases(d_ids, d_names, d_acct, d_team, d_team.copy(), d_env, d_region, d_inst.astype(np.int32),
                          rng.choice([100.0, 250.0, 500.0], size=n_db), d_launch, d_end, _tag_quality(rng, n_db))
    return volumes, buckets, databases
