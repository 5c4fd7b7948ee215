"""Real list prices and instance sizes: the compute catalog the demo estate is priced from.

The reference files are parsed by `autostack.pricing` (shared with the `pricing.*` tables and the
recommendations); this module only arranges the chosen regions and families as aligned arrays.
An instance type is offered only when both the prices and the specs have it, in the region asked
for. See data/reference/README.md for provenance.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autostack.pricing import PRICES_CSV, SPECS_DIR, family_of, iter_instance_prices, load_specs

__all__ = ["InstanceCatalog", "family_of", "load_catalog", "load_specs", "PRICES_CSV", "SPECS_DIR"]


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


def load_catalog(provider: str, regions: tuple[str, ...], families: tuple[str, ...],
                 prices_csv: Path = PRICES_CSV, specs_dir: Path = SPECS_DIR) -> InstanceCatalog:
    """The provider's instance types of the given families, priced in the given regions and sized."""
    rows = [(r["instance_type"], r["region"], r["vcpu"], r["memory_gb"], r["on_demand"], r["spot"], r["family"])
            for r in iter_instance_prices(provider, regions, families, prices_csv, specs_dir)]
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
