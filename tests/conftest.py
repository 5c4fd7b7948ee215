"""Shared fixtures: every test gets its own AUTOSTACK_HOME, so tests never share state."""

from __future__ import annotations

import ast
import os
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from autostack.settings import DBT_PROJECT_DIR, PROJECT_ROOT, Settings, get_settings

SAMPLES = PROJECT_ROOT / "data" / "samples"
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def autostack_home(tmp_path, monkeypatch) -> Settings:
    home = tmp_path / "autostack-home"
    monkeypatch.setenv("AUTOSTACK_HOME", str(home))
    monkeypatch.delenv("AUTOSTACK_LANDING_DIRS", raising=False)
    monkeypatch.delenv("AUTOSTACK_S3_SOURCES", raising=False)
    settings = get_settings()
    settings.ensure_dirs()
    return settings


@pytest.fixture
def warehouse(autostack_home):
    con = duckdb.connect(str(autostack_home.warehouse_path))
    yield con
    con.close()


@contextmanager
def environ(values: dict[str, str]):
    """Set environment variables for the block, then restore exactly what was there."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_dbt(settings: Settings, *args: str, unit_tests: bool = False):
    """Run dbt for real against the settings' warehouse (e.g. run_dbt(s, "build")); fail loudly.

    A `build` leaves out the project's unit tests (fixed rows in, expected rows out: the loaded rows do
    not change their outcome) unless unit_tests=True: test_dbt_unit_tests.py runs each of them once."""
    from dbt.cli.main import dbtRunner

    from orchestration.defs.transform import dbt_environment

    if args[:1] == ("build",) and not unit_tests and "--exclude-resource-type" not in args:
        args = (*args, "--exclude-resource-type", "unit_test")
    with environ(dbt_environment(settings)):
        result = dbtRunner().invoke(
            [*args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
        )
    if not result.success:
        failures = []
        if result.result is not None:
            for r in getattr(result.result, "results", []) or []:
                if str(getattr(r, "status", "")) not in ("success", "pass", "RunStatus.Success", "TestStatus.Pass"):
                    failures.append(f"{r.node.unique_id}: {r.status}: {r.message}")
        raise AssertionError(f"dbt {' '.join(args)} failed: {result.exception}\n" + "\n".join(failures))
    return result


# --------------------------------------------------------------------------- the demo estate, loaded once
DEMO_END = "2026-11-20"  # fixed, so the history (and every number derived from it) never moves


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory, worker_id) -> Settings:
    """An AUTOSTACK_HOME holding 13 months of the demo estate (scale 0.15), loaded by the real
    ingest job (everything downstream of the raw tables ran: dbt, checks, ML, publish).

    Built once per test session and shared by all xdist workers (a file lock guards the build).
    Treat it as read-only: tests that change state copy what they need into their own home.
    Its demo folder (metrics, ground truth) is `demo_home.home / "demo"`.
    """
    from filelock import FileLock

    root = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        root = root.parent
    home = root / "demo-home"
    with FileLock(str(root / "demo-home.lock")):
        done = home / ".built"
        settings = get_settings({"AUTOSTACK_HOME": str(home)})
        if not done.exists():
            _build_demo_home(settings)
            done.write_text("ok")
    return settings


def _build_demo_home(settings: Settings) -> None:
    from datetime import date

    from autostack.cli import prepare_dagster_home, run_ingest
    from autostack.demo.generate import DemoConfig, generate

    settings.ensure_dirs()
    demo = settings.home / "demo"
    generate(DemoConfig(out=demo, months=13, end=date.fromisoformat(DEMO_END), seed=7, scale=0.15))
    env = {"AUTOSTACK_HOME": str(settings.home), "DAGSTER_HOME": str(settings.dagster_home),
           "AUTOSTACK_METRICS_DIRS": str(demo / "metrics")}  # the estate's utilization, for ml.recommendations
    with environ(env):
        prepare_dagster_home(settings)
        code = run_ingest(settings, [str(demo / "exports")])
    assert code == 0, f"loading the demo estate failed (exit {code}); see {settings.home}"


# --------------------------------------------------------------------------- placing tests on xdist workers
def pytest_xdist_make_scheduler(config, log):
    """Tests that share a costly fixture run on one worker, so it is built once (scripts/test).

    xdist's own `--dist loadgroup` does not group under pytest 9.2 (pytest-xdist issue #1386), so the
    units come from the test files: every test that takes the demo estate is in one unit (one worker
    builds it while the other goes on with the rest instead of waiting for it), the tests of a
    module-scoped fixture are one unit, and any other test is a unit alone. Units go out biggest
    first (xdist's loadscope order). Another `--dist` given on the command line is left to xdist."""
    if config.getoption("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    scopes: dict[tuple[str, str], str] = {}
    for path in Path(__file__).parent.glob("test_*.py"):
        file = path.relative_to(config.rootpath).as_posix()
        scopes.update({(file, test): scope for test, scope in _shared_fixture_scopes(path).items()})

    class SharedFixtureScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            file, *_, test = nodeid.split("::")
            return scopes.get((file, test.split("[", 1)[0]), nodeid)

    return SharedFixtureScheduling(config, log)


def _shared_fixture_scopes(path: Path) -> dict[str, str]:
    """Each test of the file that takes, itself or through the file's fixtures, the demo estate
    ("demo_home") or a module-scoped fixture of the file ("<file>::<fixture>")."""
    functions = {n.name: n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.FunctionDef)}
    module_fixtures = {
        name for name, f in functions.items() for d in f.decorator_list
        if isinstance(d, ast.Call) and any(k.arg == "scope" and getattr(k.value, "value", None) == "module" for k in d.keywords)
    }

    def shared(name: str, seen: frozenset[str]) -> set[str]:
        found = set()
        for arg in (a.arg for a in functions[name].args.args):
            if arg == "demo_home":
                found.add("demo_home")
            elif arg in module_fixtures:
                found.add(f"{path.name}::{arg}")
            if arg in functions and arg not in seen:
                found |= shared(arg, seen | {arg})
        return found

    scopes = {}
    for name in functions:
        if name.startswith("test") and (found := shared(name, frozenset({name}))):
            scopes[name] = "demo_home" if "demo_home" in found else min(found)
    return scopes


@pytest.fixture(autouse=True)
def _keep_main_module():
    """Streamlit's script runner (AppTest) installs the app script as sys.modules["__main__"] and
    leaves it there; a later "spawn" process pool in the same worker (the forecasts) would then
    re-run the app in every child. Put the real __main__ back after each test."""
    import sys

    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main


X_COLUMNS = {"x_SourceFormat": "VARCHAR", "x_Extras": "JSON"}


def write_focus_table(path: Path, rows: list[dict], table: str = "focus.costs") -> Path:
    """A DuckDB file with `table` typed as focus.costs is (FOCUS 1.2 columns, then x_ columns)."""
    from orchestration.ingest.focus_spec import FOCUS_1_2_COLUMNS

    columns = {**FOCUS_1_2_COLUMNS, **X_COLUMNS}
    with duckdb.connect(str(path)) as con:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {table.split('.')[0]}")
        con.execute(f"CREATE TABLE {table} ({', '.join(f'{c} {t}' for c, t in columns.items())})")
        placeholders = ", ".join("?" for _ in columns)
        for row in rows:
            values = {**row, "x_SourceFormat": "test", "x_Extras": '{"note": "custom column"}'}
            con.execute(f"INSERT INTO {table} VALUES ({placeholders})", [values.get(c) for c in columns])
    return path
