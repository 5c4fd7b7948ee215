"""What the benchmarks share: measuring a child process, the machine and versions, the results file.

Every measured tool runs in a process of its own, so its peak resident memory is its own:
`/usr/bin/time -v` reports the child's maximum RSS (on Linux, the largest of the process and the
descendants it waited for — a maximum, not a sum of processes alive at once). Without GNU time,
this module re-runs itself as a small wrapper that reads `getrusage(RUSAGE_CHILDREN).ru_maxrss`.
"""

from __future__ import annotations

import json
import os
import platform
import re
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
DATA_DIR = BENCH_DIR / ".data"  # git-ignored: generated inputs and scratch warehouses
DOCS_RESULTS = PROJECT_ROOT / "docs" / "benchmarks.md"
GNU_TIME = Path("/usr/bin/time")

# The result table every benchmark writes; tests check these columns.
RESULT_COLUMNS = ("tool", "stage", "rows", "seconds", "rows/s", "peak RSS (MB)", "notes")


@dataclass
class Measurement:
    """One child process: wall time, peak RSS, exit status and what it printed."""

    label: str
    command: list[str]
    seconds: float
    peak_rss_bytes: int | None
    returncode: int | None
    timed_out: bool = False
    stdout: str = ""
    stderr: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    @property
    def peak_rss_mb(self) -> float | None:
        return None if self.peak_rss_bytes is None else self.peak_rss_bytes / 1e6

    def failure(self) -> str:
        if self.timed_out:
            return f"{self.label}: timed out after {self.seconds:.0f} s"
        tail = (self.stderr or self.stdout).strip().splitlines()[-15:]
        return f"{self.label}: exit {self.returncode}: " + "\n".join(tail)


def _gnu_time_max_rss(report: str) -> int | None:
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", report)
    return int(match.group(1)) * 1024 if match else None


def _gnu_time_cpu_seconds(report: str) -> float | None:
    """User + system CPU seconds of the process and its children (GNU time -v)."""
    user = re.search(r"User time \(seconds\): ([0-9.]+)", report)
    system = re.search(r"System time \(seconds\): ([0-9.]+)", report)
    return float(user.group(1)) + float(system.group(1)) if user and system else None


def group_rss_bytes(pgid: int) -> int:
    """Resident memory of every process in a process group, added up (read from /proc)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[2]) != pgid:
                continue
            total += int(fields[21]) * resource.getpagesize()
        except (OSError, ValueError, IndexError):
            continue
    return total


class _GroupWatcher(threading.Thread):
    """Samples a process group's summed RSS; kills the group when it passes `cap_bytes`."""

    def __init__(self, pgid: int, cap_bytes: int | None, interval: float = 0.25):
        super().__init__(daemon=True)
        self.pgid, self.cap_bytes, self.interval = pgid, cap_bytes, interval
        self.peak_bytes = 0
        self.capped = False
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            rss = group_rss_bytes(self.pgid)
            self.peak_bytes = max(self.peak_bytes, rss)
            if self.cap_bytes and rss > self.cap_bytes:
                self.capped = True
                try:
                    os.killpg(self.pgid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                return
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()


def measure(label: str, command: list[str], *, timeout: float | None = None, env: dict | None = None,
            cwd: Path | None = None, rss_cap_bytes: int | None = None) -> Measurement:
    """Run `command` in its own process group; wall time and peak RSS.

    A timeout, or the group's summed RSS passing `rss_cap_bytes` (so that a tool that would exhaust
    the machine's memory is stopped before the kernel's OOM killer picks a victim), kills the group.
    """
    with tempfile.TemporaryDirectory(prefix="autostack-bench-") as tmp:
        report = Path(tmp) / "rusage.txt"
        if GNU_TIME.exists():
            wrapped = [str(GNU_TIME), "-v", "-o", str(report), *command]
        else:
            wrapped = [sys.executable, str(Path(__file__)), "--rusage-wrapper", str(report), "--", *command]
        started = time.perf_counter()
        proc = subprocess.Popen(wrapped, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env, cwd=cwd, start_new_session=True)
        watcher = _GroupWatcher(proc.pid, rss_cap_bytes)
        watcher.start()
        timed_out = False
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
        seconds = time.perf_counter() - started
        watcher.stop()
        text = report.read_text() if report.exists() else ""
        if GNU_TIME.exists():
            rss = _gnu_time_max_rss(text)
            # GNU time's own stderr line "Command exited with non-zero status N" goes to -o, not stderr.
            returncode = proc.returncode
        else:
            data = json.loads(text) if text else {}
            rss, returncode = data.get("max_rss_bytes"), data.get("returncode", proc.returncode)
    result = Measurement(label, command, seconds, rss, None if timed_out else returncode, timed_out, stdout, stderr)
    result.extra["sampled_group_peak_rss_bytes"] = watcher.peak_bytes
    # CPU time moves far less than wall time when other work shares the machine.
    cpu = _gnu_time_cpu_seconds(text) if GNU_TIME.exists() else None
    if cpu is not None:
        result.extra["cpu_seconds"] = cpu
    result.extra["load_average_1m_after"] = os.getloadavg()[0]
    if watcher.capped:
        result.extra["killed_at_rss_cap_bytes"] = rss_cap_bytes
        result.stderr += f"\n{label}: killed: its processes' memory passed the cap of {rss_cap_bytes / 1e9:.1f} GB"
    return result


def _rusage_wrapper(report: str, command: list[str]) -> int:
    code = subprocess.call(command)
    max_rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # kilobytes on Linux
    Path(report).write_text(json.dumps({"max_rss_bytes": max_rss_kb * 1024, "returncode": code}))
    return code


# --------------------------------------------------------------------------- machine and versions
def machine_info() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    return {"cpus (nproc)": str(os.cpu_count()), "memory": memory, "cpu": cpu,
            "os": f"{platform.system()} {platform.release()}", "python": platform.python_version()}


def code_version() -> str:
    """The commit measured, and whether the code the benchmarks exercise had uncommitted changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "orchestration", "dbt_project", "autostack"],
                               cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return (head or "unknown") + (" with uncommitted changes in orchestration/, dbt_project/ or autostack/" if dirty else "")


def package_versions(names: list[str]) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


# --------------------------------------------------------------------------- results
@dataclass
class ResultRow:
    tool: str
    stage: str
    rows: int
    seconds: float
    peak_rss_bytes: int | None
    notes: str = ""
    completed: bool = True  # False: failed, timed out or killed; its rows/s mean nothing
    killed_at_bytes: int | None = None  # the memory cap it was killed at

    @classmethod
    def from_dict(cls, data: dict) -> ResultRow:
        data = dict(data)
        if "completed" not in data:  # written before the field existed: read the notes
            data["completed"] = not str(data.get("notes", "")).startswith(("FAILED", "timed out", "killed")) \
                and "INCOMPLETE" not in str(data.get("notes", ""))
        return cls(**data)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("nan")

    def cells(self) -> list[str]:
        if self.killed_at_bytes:
            rss = f"> {self.killed_at_bytes / 1e6:,.0f} (killed)"
        else:
            rss = "" if self.peak_rss_bytes is None else f"{self.peak_rss_bytes / 1e6:,.0f}"
        rate = f"{self.rows_per_second:,.0f}" if self.completed else "— (did not finish)"
        return [self.tool, self.stage, f"{self.rows:,}", f"{self.seconds:.2f}", rate, rss, self.notes]


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    def esc(cell: str) -> str:
        return str(cell).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def results_section(title: str, command: str, rows: list[ResultRow], extra_tables: list[tuple[str, str]],
                    versions: dict[str, str], notes: list[str]) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = machine_info()
    parts = [
        f"## {title} — {now}",
        "",
        f"Command: `{command}`",
        "",
        f"AutoStack code: {code_version()}",
        "",
        "Machine: " + "; ".join(f"{k} {v}" for k, v in machine.items()),
        "",
        "Versions: " + "; ".join(f"{k} {v}" for k, v in versions.items()),
        "",
        markdown_table(list(RESULT_COLUMNS), [r.cells() for r in rows]),
        "",
    ]
    for heading, body in extra_tables:
        parts += [f"**{heading}**", "", body, ""]
    if notes:
        parts += [f"- {n}" for n in notes] + [""]
    return "\n".join(parts)


DOC_HEADER = """# Benchmarks

Each section named after a benchmark was appended by its script in `benchmarks/` (newest last); the
numbers are measured, never edited by hand. The first section is the hand-written reading of them.
Peak RSS is the maximum resident set size of the measured process (GNU `time -v`), in MB (10^6 bytes). See `benchmarks/README.md` for what each stage does.
"""


def append_results(path: Path, section: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = path.read_text() if path.exists() else DOC_HEADER
    if not existing.endswith("\n"):
        existing += "\n"
    path.write_text(existing + "\n" + section.rstrip() + "\n")


def report(path: Path, section: str) -> None:
    """Append a results section to the results file and show it."""
    append_results(path, section)
    print(section)


def load_average() -> str:
    """The machine's load now, as the sections quote it."""
    return " ".join(f"{x:.1f}" for x in os.getloadavg()) + f" (1/5/15 min) on {os.cpu_count()} cores"


def published_focus_rows(serving_path: Path) -> int:
    """Rows of focus.costs in a serving snapshot (opened read-only)."""
    import duckdb

    con = duckdb.connect(str(serving_path), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM focus.costs").fetchall()[0][0]
    finally:
        con.close()


def write_json(path: Path, payload) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str))


def as_dict(obj) -> dict:
    return asdict(obj)


if __name__ == "__main__" and len(sys.argv) > 3 and sys.argv[1] == "--rusage-wrapper":
    separator = sys.argv.index("--")
    sys.exit(_rusage_wrapper(sys.argv[2], sys.argv[separator + 1:]))
