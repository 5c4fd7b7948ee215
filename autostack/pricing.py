"""The price catalog: list prices and sizes of compute instances, cross-cloud equivalents, egress.

One parser for the shipped reference data, used by the `pricing.*` warehouse tables (the Dagster
asset in orchestration/defs/pricing.py), the recommendations and the demo estate's generator.

Prices: coroot/cloud-pricing's flat compute table (Linux on-demand and spot USD per hour, a snapshot
of 2024-08-09 built from the Infracost pricing database; spot 0 means no spot price). Sizes: Cloud
Carbon Footprint's instance specs (vCPU, memory; decimal commas in some cells). An instance type is
in the catalog only when it is in both. Egress: `data/reference/egress-prices` (public list prices,
with their source pages). Provenance: data/reference/README.md.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path

from autostack.settings import REFERENCE_DIR

PRICES_CSV = REFERENCE_DIR / "coroot-cloud-pricing" / "compute_prices_flat_2024-08-09.csv"
SPECS_DIR = REFERENCE_DIR / "ccf-instance-specs"
EGRESS_CSV = REFERENCE_DIR / "egress-prices" / "internet_egress_prices.csv"
PROVIDERS = ("aws", "azure", "gcp")
HOURS_PER_MONTH = 730.0

# Per provider: the specs file, its instance-type, vCPU and memory columns.
_SPECS = {
    "aws": ("aws-instances.csv", "Instance type", "Instance vCPU", "Instance Memory (in GB)"),
    "azure": ("azure-instances.csv", "Virtual Machine", "Instance vCPUs", "Instance Memory"),
    "gcp": ("gcp-instances.csv", "Machine type", "Instance vCPUs", "Instance Memory"),
}
PRICE_COLUMNS = ("provider", "region", "instance_type", "on_demand_usd_per_hour", "spot_usd_per_hour")
EGRESS_COLUMNS = ("provider", "tier_start_gb", "tier_end_gb", "usd_per_gb", "applies_to", "source_url")


def parse_number(text: str, where: str) -> float:
    """A spec or price cell: `2`, `0,29` (decimal comma) or `3.75`."""
    try:
        return float(text.strip().replace(",", "."))
    except (ValueError, AttributeError) as exc:
        raise ValueError(f"{where}: expected a number, got {text!r}") from exc


def _price_name(provider: str, spec_name: str) -> str:
    """The price table's spelling of a specs name, lower case (Azure `D2s v4` is `standard_d2s_v4`)."""
    if provider == "azure":
        return "standard_" + spec_name.strip().replace(" ", "_").lower()
    return spec_name.strip().lower()


def load_specs(provider: str, specs_dir: Path = SPECS_DIR) -> dict[str, tuple[float, float]]:
    """Price-table instance name (lower case) -> (vCPU, memory GB)."""
    file_name, name_col, cpu_col, mem_col = _SPECS[provider]
    path = specs_dir / file_name
    specs: dict[str, tuple[float, float]] = {}
    with open(path, newline="", encoding="utf-8-sig") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            for column in (name_col, cpu_col, mem_col):
                if column not in row:
                    raise ValueError(f"{path}: no column {column!r}; expected the CCF instance specs layout")
            name = _price_name(provider, row[name_col])
            if name and name not in specs:
                where = f"{path}, line {line}"
                specs[name] = (parse_number(row[cpu_col], f"{where}, column {cpu_col}"),
                               parse_number(row[mem_col], f"{where}, column {mem_col}"))
    return specs


def family_of(provider: str, name: str) -> str:
    """The size family of an instance type: m5.xlarge -> m5, Standard_D4s_v4 -> Ds_v4, n2-standard-4 -> n2-standard."""
    if provider == "aws":
        return name.split(".")[0]
    if provider == "azure":  # Standard_D4s_v4 -> Ds_v4 (size digits removed)
        parts = name.split("_")
        if len(parts) < 2:
            return name
        return re.sub(r"\d+", "", parts[1]) + ("_" + "_".join(parts[2:]) if len(parts) > 2 else "")
    return name.rsplit("-", 1)[0]


# Azure regions that a subscription can use only after an access request (Microsoft's "Azure regions
# list", learn.microsoft.com/azure/reliability/regions-list: "access to this region is restricted to
# support specific customer scenarios, such as disaster recovery"), and names in the price data that
# are not public regions at all.
_AZURE_RESTRICTED = frozenset({
    "australiacentral2", "brazilsoutheast", "francesouth", "germanynorth", "jioindiacentral", "jioindiawest",
    "norwaywest", "southafricawest", "swedensouth", "switzerlandwest", "uaecentral",
})
_AZURE_NOT_PUBLIC = frozenset({"global", "eastusslv", "uknorth", "uksouth2"})


def is_general_access_region(provider: str, region: str) -> bool:
    """Whether any customer of the provider's public cloud can run a workload in `region` without asking.

    False for Azure's EUAP canary regions (centraluseuap, eastus2euap: for testing platform updates),
    staging regions (…stg), restricted-access regions (`_AZURE_RESTRICTED`), the sovereign clouds
    (Azure Government usgov…/usdod…, Azure China china…, AWS GovCloud us-gov-…, AWS China cn-…),
    operator edge sites (Azure att…, sgx…) and AWS Local Zones (us-west-2-lax-1: a zone of a region,
    opted into per account). The catalog keeps their prices (a resource running there is still
    priced); no recommendation proposes moving a workload to one.
    """
    r = region.lower()
    if provider == "azure":
        return not (r in _AZURE_RESTRICTED or r in _AZURE_NOT_PUBLIC or r.endswith(("euap", "stg", "stage"))
                    or r.startswith(("usgov", "usdod", "china", "att", "sgx")))
    if provider == "aws":
        return not (r.startswith(("us-gov-", "cn-")) or r.count("-") > 2)
    return True


def cpu_architecture(provider: str, instance_type: str) -> str:
    """"arm64" for Arm-based types (AWS Graviton: a1 and families with a g after the generation, m6g,
    c7gn, t4g; Azure sizes with p among their feature letters, Standard_D4ps_v5; Google's t2a and
    c4a), else "x86_64". A workload moves between the two only after a rebuild for the other one."""
    family = family_of(provider, instance_type)
    if provider == "aws":
        match = re.fullmatch(r"([a-z-]+?)(\d+)([a-z-]*)", family)
        apple_silicon = family.startswith("mac") and family != "mac1"  # mac2…: M1/M2 hosts
        return "arm64" if family == "a1" or apple_silicon or (match is not None and "g" in match.group(3)) else "x86_64"
    if provider == "azure":
        match = re.match(r"[A-Z]+([a-z]*)", family)
        return "arm64" if match is not None and "p" in match.group(1) else "x86_64"
    return "arm64" if family.split("-")[0] in ("t2a", "c4a") else "x86_64"


def is_burstable(provider: str, instance_type: str) -> bool:
    """Types that run on CPU credits or a shared core (AWS t2/t3/t3a/t4g, Azure B-series, Google's
    e2-micro/small/medium, f1-micro, g1-small): not an equivalent of a type with dedicated cores."""
    family = family_of(provider, instance_type)
    if provider == "aws":
        return re.fullmatch(r"t\d+[a-z]*", family) is not None
    if provider == "azure":
        return family.startswith("B")
    name = instance_type.lower()
    return name.split("-")[0] in ("f1", "g1") or (name.startswith("e2-") and name.rsplit("-", 1)[-1] in ("micro", "small", "medium"))


def iter_instance_prices(provider: str, regions: tuple[str, ...] | None = None, families: tuple[str, ...] | None = None,
                         prices_csv: Path = PRICES_CSV, specs_dir: Path = SPECS_DIR) -> Iterator[dict]:
    """The provider's priced and sized instance types (on-demand price > 0), optionally of some regions/families.

    Each: provider, region, instance_type, family, vcpu, memory_gb, on_demand (USD/h), spot (USD/h, 0 = none).
    Every region of the price data is here, also those no recommendation may propose (see
    `is_general_access_region`).
    """
    specs = load_specs(provider, specs_dir)
    with open(prices_csv, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not set(PRICE_COLUMNS) <= set(reader.fieldnames or ()):
            raise ValueError(f"{prices_csv}: expected columns {list(PRICE_COLUMNS)}, got {reader.fieldnames}")
        for line, row in enumerate(reader, start=2):
            if row["provider"] != provider or (regions is not None and row["region"] not in regions):
                continue
            name = row["instance_type"]
            family = family_of(provider, name)
            if name.lower() not in specs or (families is not None and family not in families):
                continue
            on_demand = parse_number(row["on_demand_usd_per_hour"], f"{prices_csv}, line {line}, column on_demand_usd_per_hour")
            if on_demand <= 0:
                continue
            vcpu, memory = specs[name.lower()]
            spot = parse_number(row["spot_usd_per_hour"], f"{prices_csv}, line {line}, column spot_usd_per_hour")
            yield {"provider": provider, "region": row["region"], "instance_type": name, "family": family,
                   "vcpu": vcpu, "memory_gb": memory, "on_demand": on_demand, "spot": spot}


def memory_class(vcpu: float, memory_gb: float) -> str:
    """The vCPU/memory class used to match sizes across clouds: GB of memory per vCPU, rounded to a class."""
    ratio = memory_gb / vcpu if vcpu else 0.0
    if ratio < 3.0:
        return "compute"  # ~2 GB/vCPU: c5, F, n2-highcpu
    if ratio < 6.0:
        return "general"  # ~4 GB/vCPU: m5, D, n2-standard
    if ratio < 12.0:
        return "memory"  # ~8 GB/vCPU: r5, E, n2-highmem
    return "memory-xl"


# AWS and Google name a region's geography in its first part (us-east-1, europe-west4); Azure in words.
_GEOGRAPHY_PREFIXES = {
    "americas": ("us", "ca", "sa", "mx", "northamerica", "southamerica"),
    "europe": ("eu", "europe"),
    "asia-pacific": ("ap", "asia", "australia"),
    "middle-east": ("me", "il"),
    "africa": ("af", "africa"),
}
_AZURE_GEOGRAPHY_WORDS = {
    "americas": ("eastus", "westus", "centralus", "canada", "brazil", "mexico", "chile", "usgov", "usdod"),
    "europe": ("europe", "uk", "france", "germany", "switzerland", "norway", "sweden", "poland", "italy", "spain",
               "austria", "belgium", "denmark", "finland", "greece"),
    "asia-pacific": ("asia", "australia", "japan", "korea", "india", "taiwan", "newzealand", "malaysia", "indonesia",
                     "china", "sgx"),
    "middle-east": ("uae", "qatar", "israel", "saudi"),
    "africa": ("southafrica",),
}


def geography(region: str) -> str:
    """The geography of any cloud's region name (americas, europe, asia-pacific, middle-east, africa;
    other when unknown), for like-for-like comparisons: a workload is only ever proposed to move within
    its geography (Sydney is not offered Tel Aviv)."""
    r = region.lower()
    if "-" in r:
        first = r.split("-", 1)[0]
        return next((geo for geo, prefixes in _GEOGRAPHY_PREFIXES.items() if first in prefixes), "other")
    return next((geo for geo, words in _AZURE_GEOGRAPHY_WORDS.items() if any(w in r for w in words)), "other")


def load_egress_prices(path: Path = EGRESS_CSV) -> list[dict]:
    """Internet egress list prices per provider and volume tier (USD per GB)."""
    rows = []
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not set(EGRESS_COLUMNS) <= set(reader.fieldnames or ()):
            raise ValueError(f"{path}: expected columns {list(EGRESS_COLUMNS)}, got {reader.fieldnames}")
        for line, row in enumerate(reader, start=2):
            where = f"{path}, line {line}"
            end = row["tier_end_gb"].strip()
            rows.append({
                "provider": row["provider"], "applies_to": row["applies_to"], "source_url": row["source_url"],
                "tier_start_gb": parse_number(row["tier_start_gb"], f"{where}, column tier_start_gb"),
                "tier_end_gb": parse_number(end, f"{where}, column tier_end_gb") if end else None,
                "usd_per_gb": parse_number(row["usd_per_gb"], f"{where}, column usd_per_gb"),
            })
    return rows
