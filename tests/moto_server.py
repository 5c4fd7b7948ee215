"""A real S3-compatible HTTP server (moto) on 127.0.0.1, for tests that talk to S3 over the wire.

Use: `from tests.moto_server import moto_server  # noqa: F401` in a test module, then take
`moto_server` (the endpoint URL) as a fixture argument. Each test gets its own server on a
free port, and moto's backends (global to the process) are reset before and after, so state
never leaks between tests and xdist workers never collide.
"""

from __future__ import annotations

import urllib.request

import pytest
from moto.server import ThreadedMotoServer

DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",  # never ask an instance metadata service for credentials
    "NO_PROXY": "127.0.0.1,localhost",  # a configured HTTP proxy must not see the local server
    "no_proxy": "127.0.0.1,localhost",
}


@pytest.fixture
def moto_server(monkeypatch, tmp_path) -> str:
    """Start moto's server, point the AWS credential chain at dummy values, yield the endpoint URL."""
    for name, value in DUMMY_AWS_ENV.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    # A developer's ~/.aws must not leak into tests (profiles, SSO, real endpoints).
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    _reset(endpoint)
    try:
        yield endpoint
    finally:
        _reset(endpoint)
        server.stop()


def _reset(endpoint: str) -> None:
    """moto keeps every backend in module globals: wipe them so each test starts empty."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()
