"""What the writers report back while they write: rows and billed totals per export, and the extra
cost each planted anomaly caused (the ground truth's anomaly sizes)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field


@dataclass
class Ledger:
    rows: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    billed: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    files: list[str] = field(default_factory=list)
    anomaly_cost: dict[int, float] = field(default_factory=lambda: defaultdict(float))
    max_rows_in_memory: int = 0

    def add_rows(self, export: str, rows: int, billed: float) -> None:
        self.rows[export] += rows
        self.billed[export] += billed

    def add_anomaly(self, index: int, cost: float) -> None:
        if index >= 0:
            self.anomaly_cost[index] += cost
