"""Real list prices and instance sizes: the compute catalog the demo estate is priced from.

Prices: coroot/cloud-pricing's flat compute table (Linux on-demand and spot USD per hour, a snapshot
of 2024-08-09 built from the Infracost pricing database). Sizes: Cloud Carbon Footprint's instance
specs (vCPU, memory; decimal commas in some cells). An instance type is offered only when it is in
both, in the region asked for. See data/reference/README.md for provenance.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autostack.settings import REFERENCE_DIR

PRICES_CSV = REFERENCE_DIR / "coroot-cloud-pricing" / "compute_prices_flat_2024-08-09.csv"
SPECS_DIR = REFERENCE_DIR / "ccf-instance-specs"

# Per provider: the specs file, its instance-type, vCPU and memory columns.
_SPECS = {
    "aws": ("aws-instances.csv", "Instance type", "Instance vCPU", "Instance Memory (in GB)"),
    "azure": ("azure-instances.csv", "Virtual Machine", "Instance vCPUs", "Instance Memory"),
    "gcp": ("gcp-instances.csv", "Machine type", "Instance vCPUs", "Instance Memory"),
}


def _number(text: str, where: str) -> float:
    """A spec cell: `2`, `0,29` (decimal comma) or `3.75`."""
    try:
        return float(text.strip().replace(",", "."))
    except ValueError as exc:
        raise ValueError(f"{where}: expected a number, got {text!r}") from exc


def _price_name(provider: str, spec_name: str) -> str:
    """The price table's spelling of a specs name (Azure `D2s v4` is `Standard_D2s_v4` there)."""
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
                specs[name] = (_number(row[cpu_col], f"{where}, column {cpu_col}"),
                               _number(row[mem_col], f"{where}, column {mem_col}"))
    return specs


@dataclass(frozen=True)
class InstanceCatalog:
    """Instance types of one provider offered in the chosen regions: aligned arrays."""

    provider: str
    name: np.ndarray  # price-table spelling, e.g. m5.xlarge, Standard_D4s_v4, n2-standard-4
    region: np.ndarray
    vcpu: np.ndarray
    memory_gb: np.ndarray
    on_demand: np.ndarray  # USD per hour
    spot: np.ndarray  # USD per hour, 0 when the catalog has no spot price
    family: np.ndarray

    def __len__(self) -> int:
        return len(self.name)

    def find(self, name: str, region: str) -> int:
        hits = np.flatnonzero((np.char.lower(self.name.astype(str)) == name.lower()) & (self.region == region))
        if len(hits) == 0:
            raise KeyError(f"{self.provider} instance type {name} is not priced in {region} in {PRICES_CSV.name}")
        return int(hits[0])

    def in_region(self, region: str, families: tuple[str, ...] | None = None) -> np.ndarray:
        mask = self.region == region
        if families is not None:
            mask &= np.isin(self.family, families)
        return np.flatnonzero(mask)

    def smaller(self, index: int) -> int:
        """The next smaller size of the same family in the same region (-1 when none)."""
        same = np.flatnonzero((self.family == self.family[index]) & (self.region == self.region[index])
                              & (self.vcpu < self.vcpu[index]))
        if len(same) == 0:
            return -1
        return int(same[np.argmax(self.vcpu[same])])


def family_of(provider: str, name: str) -> str:
    if provider == "aws":
        return name.split(".")[0]
    if provider == "azure":  # Standard_D4s_v4 -> D s v4 (size digits removed)
        parts = name.split("_")
        return re.sub(r"\d+", "", parts[1]) + ("_" + "_".join(parts[2:]) if len(parts) > 2 else "")
    return name.rsplit("-", 1)[0]  # n2-standard-4 -> n2-standard


def load_catalog(provider: str, regions: tuple[str, ...], families: tuple[str, ...],
                 prices_csv: Path = PRICES_CSV, specs_dir: Path = SPECS_DIR) -> InstanceCatalog:
    """The provider's instance types of the given families, priced in the given regions and sized."""
    specs = load_specs(provider, specs_dir)
    rows = []
    with open(prices_csv, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        expected = {"provider", "region", "instance_type", "on_demand_usd_per_hour", "spot_usd_per_hour"}
        if not expected <= set(reader.fieldnames or ()):
            raise ValueError(f"{prices_csv}: expected columns {sorted(expected)}, got {reader.fieldnames}")
        for line, row in enumerate(reader, start=2):
            if row["provider"] != provider or row["region"] not in regions:
                continue
            name = row["instance_type"]
            if name.lower() not in specs or family_of(provider, name) not in families:
                continue
            on_demand = _number(row["on_demand_usd_per_hour"], f"{prices_csv}, line {line}")
            if on_demand <= 0:
                continue
            vcpu, memory = specs[name.lower()]
            spot = _number(row["spot_usd_per_hour"], f"{prices_csv}, line {line}")
            rows.append((name, row["region"], vcpu, memory, on_demand, spot, family_of(provider, name)))
    if not rows:
        raise ValueError(f"{prices_csv}: no {provider} instance types of {families} in {regions} that "
                         f"{specs_dir} also sizes")
    rows.sort(key=lambda r: (r[1], r[6], r[2], r[0]))
    columns = list(zip(*rows))
    return InstanceCatalog(
        provider=provider,
        name=np.array(columns[0], dtype=object),
        region=np.array(columns[1]),
        vcpu=np.array(columns[2], dtype=float),
        memory_gb=np.array(columns[3], dtype=float),
        on_demand=np.array(columns[4], dtype=float),
        spot=np.array(columns[5], dtype=float),
        family=np.array(columns[6]),
    )
