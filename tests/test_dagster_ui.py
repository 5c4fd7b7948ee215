"""The Dagster UI serves AutoStack's code location: assets, checks, the sensor (real dagster-webserver)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from autostack.cli import prepare_dagster_home
from autostack.settings import PROJECT_ROOT

pytestmark = pytest.mark.slow

QUERY = """
{
  assetNodes { assetKey { path } groupName hasAssetChecks }
  repositoriesOrError { ... on RepositoryConnection { nodes { name sensors { name sensorState { status } } } } }
}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_webserver_loads_the_code_location(autostack_home):
    prepare_dagster_home(autostack_home)
    port = free_port()
    env = {**os.environ, "AUTOSTACK_HOME": str(autostack_home.home), "DAGSTER_HOME": str(autostack_home.dagster_home)}
    webserver = Path(sys.executable).parent / "dagster-webserver"
    log = open(autostack_home.home / "webserver.log", "w")
    proc = subprocess.Popen(
        [str(webserver), "-w", str(PROJECT_ROOT / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
        env=env, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        data = None
        while time.monotonic() < deadline:
            assert proc.poll() is None, (autostack_home.home / "webserver.log").read_text()[-3000:]
            try:
                data = graphql(port, QUERY)["data"]
                if data["assetNodes"]:
                    break
            except (OSError, KeyError, TypeError):
                pass
            time.sleep(1)
        assert data and data["assetNodes"], (autostack_home.home / "webserver.log").read_text()[-3000:]
        keys = {"/".join(node["assetKey"]["path"]) for node in data["assetNodes"]}
        assert {"raw/focus_costs", "ingest/file_loads", "focus/costs_v1_2", "focus/costs", "marts/daily_costs", "serving_snapshot"} <= keys
        checks = {"/".join(n["assetKey"]["path"]) for n in data["assetNodes"] if n["hasAssetChecks"]}
        assert "focus/costs_v1_2" in checks
        sensors = {
            s["name"]: s["sensorState"]["status"]
            for repo in data["repositoriesOrError"]["nodes"] for s in repo["sensors"]
        }
        assert sensors.get("new_export_files") == "RUNNING"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
