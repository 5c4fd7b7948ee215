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


def is_canary_region(provider: str, region: str) -> bool:
    return provider == "azure" and region.lower().endswith("euap")


def iter_instance_prices(provider: str, regions: tuple[str, ...] | None = None, families: tuple[str, ...] | None = None,
                         prices_csv: Path = PRICES_CSV, specs_dir: Path = SPECS_DIR) -> Iterator[dict]:
    """The provider's priced and sized instance types (on-demand price > 0), optionally of some regions/families.

    Each: provider, region, instance_type, family, vcpu, memory_gb, on_demand (USD/h), spot (USD/h, 0 = none).
    Azure's EUAP regions (centraluseuap, eastus2euap) are left out: they are canary regions for testing
    platform updates, not places to run a workload, so no price from them may be recommended.
    """
    specs = load_specs(provider, specs_dir)
    with open(prices_csv, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not set(PRICE_COLUMNS) <= set(reader.fieldnames or ()):
            raise ValueError(f"{prices_csv}: expected columns {list(PRICE_COLUMNS)}, got {reader.fieldnames}")
        for line, row in enumerate(reader, start=2):
            if row["provider"] != provider or (regions is not None and row["region"] not in regions):
                continue
            if is_canary_region(provider, row["region"]):
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


_AMERICAS_AZURE = ("eastus", "westus", "centralus", "canada", "brazil", "mexico")
_EUROPE_WORDS = ("europe", "uk", "france", "germany", "switzerland", "norway", "sweden", "poland", "italy", "spain")


def geography(region: str) -> str:
    """A coarse geography of any cloud's region name (americas, europe, other), for like-for-like comparisons."""
    r = region.lower().replace("-", "")
    if r.startswith(("us", "ca", "sa", "northamerica", "southamerica")) or any(w in r for w in _AMERICAS_AZURE):
        return "americas"
    if r.startswith("eu") or any(w in r for w in _EUROPE_WORDS):
        return "europe"
    return "other"


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
