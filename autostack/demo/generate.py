"""Builds the estate once, then has each writer stream its files; returns what was written."""

from __future__ import annotations

import importlib
import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path

from autostack.demo import ground_truth
from autostack.demo.aws_cur2 import AwsCur2Writer
from autostack.demo.estate import Window, build_estate
from autostack.demo.ledger import Ledger
from autostack.demo.metrics import MetricsWriter

EXPORTS, METRICS, GROUND_TRUTH = "exports", "metrics", "ground-truth"


@dataclass(frozen=True)
class DemoConfig:
    out: Path
    months: int = 13
    end: date = field(default_factory=lambda: date.today() - timedelta(days=1))
    seed: int = 42
    scale: float = 1.0
    # Where the exports go (default out/exports) and where metrics/ground-truth go (default out):
    # the quick start puts the exports in the landing folder and the rest outside it.
    exports_dir: Path | None = None
    truth_dir: Path | None = None


# (provider, module, writer class): the export writers, in the order they run.
WRITERS = (
    ("aws", "autostack.demo.aws_cur2", "AwsCur2Writer"),
    ("azure", "autostack.demo.azure_exports", "AzureExportsWriter"),
    ("gcp", "autostack.demo.gcp_billing", "GcpBillingWriter"),
    ("oci", "autostack.demo.focus_oci", "FocusOciWriter"),
)


def available_writers() -> list[tuple[str, type]]:
    """The export writers whose modules exist (a writer still being built is left out)."""
    out = [("aws", AwsCur2Writer)]
    for provider, module, name in WRITERS[1:]:
        try:
            loaded = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        out.append((provider, getattr(loaded, name)))
    return out


@dataclass
class DemoSummary:
    out: str
    start: str
    end: str
    seed: int
    scale: float
    rows: dict[str, int]
    providers: list[str]
    metric_rows: int
    files: int
    anomalies: int
    waste_items: int
    seconds: float
    max_rows_in_memory: int

    @property
    def billing_rows(self) -> int:
        return sum(self.rows.values())


def generate(config: DemoConfig) -> DemoSummary:
    """Write the whole demo estate under config.out (its exports, metrics and ground-truth folders
    are replaced; nothing else there is touched)."""
    started = time.monotonic()
    out = Path(config.out)
    window = Window.months_to(config.end, config.months)
    estate = build_estate(config.seed, config.scale, window)
    exports = Path(config.exports_dir) if config.exports_dir is not None else out / EXPORTS
    truth = Path(config.truth_dir) if config.truth_dir is not None else out
    for folder in (exports, truth / METRICS, truth / GROUND_TRUTH):
        if folder.exists():
            shutil.rmtree(folder)
    ledger = Ledger()
    providers = []
    for provider, writer in available_writers():
        writer(estate, exports, ledger).write()
        providers.append(provider)
    written = set(providers)
    metric_rows = MetricsWriter(estate, truth / METRICS, ledger,
                                tuple(p for p in ("aws", "azure", "gcp", "oci") if p in written)).write()
    anomalies, waste = ground_truth.write(truth / GROUND_TRUTH, estate, ledger, written)
    files = sum(1 for folder in (exports, truth / METRICS, truth / GROUND_TRUTH)
                for p in folder.rglob("*") if p.is_file()) + 1  # + summary.json
    summary = DemoSummary(
        out=str(out), start=window.start.isoformat(), end=window.end.isoformat(), seed=config.seed,
        scale=config.scale, rows=dict(sorted(ledger.rows.items())), providers=providers, metric_rows=metric_rows,
        files=files, anomalies=anomalies, waste_items=waste, seconds=round(time.monotonic() - started, 1),
        max_rows_in_memory=ledger.max_rows_in_memory,
    )
    (truth / GROUND_TRUTH / "summary.json").write_text(json.dumps(
        {k: v for k, v in asdict(summary).items() if k not in ("seconds", "out")}, indent=2, sort_keys=True) + "\n")
    return summary
