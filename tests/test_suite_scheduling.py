"""The xdist units of conftest.pytest_xdist_make_scheduler, read from the test files' source, agree
with the fixtures pytest itself resolves for each test: no test of the demo estate or of a
module-scoped fixture is left to build it again on the other worker."""

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import _shared_fixture_scopes

ROOT = Path(__file__).resolve().parent.parent

PLUGIN = '''
import json, os, pytest

@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    shared = {}
    for item in items:
        names = []
        for name, (*_, fixture) in item._fixtureinfo.name2fixturedefs.items():
            if name == "demo_home" or (fixture.scope == "module" and fixture.baseid == item.nodeid.split("::")[0]):
                names.append(name)
        shared[item.nodeid] = sorted(names)
    with open(os.environ["SHARED_FIXTURES_OUT"], "w") as fh:
        json.dump(shared, fh)
'''


def test_scheduler_units_match_the_fixtures_pytest_resolves(tmp_path):
    (tmp_path / "shared_fixtures_plugin.py").write_text(PLUGIN)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-p", "shared_fixtures_plugin",
         "--basetemp", str(tmp_path / "base")],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(tmp_path), "SHARED_FIXTURES_OUT": str(tmp_path / "shared.json")},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    resolved = json.loads((tmp_path / "shared.json").read_text())
    assert len(resolved) > 300

    scopes = {}
    for path in (ROOT / "tests").glob("test_*.py"):
        for test, scope in _shared_fixture_scopes(path).items():
            scopes[(f"tests/{path.name}", test)] = scope
    for nodeid, names in resolved.items():
        file, *_, test = nodeid.split("::")
        scope = scopes.get((file, test.split("[", 1)[0]))
        if "demo_home" in names:
            assert scope == "demo_home", nodeid
        elif names:
            assert scope == f"{Path(file).name}::{names[0]}", nodeid
        else:
            assert scope is None, nodeid
    assert sum(scope == "demo_home" for scope in scopes.values()) >= 30
