"""Real receivers on 127.0.0.1 for the notification tests: an HTTP endpoint (Slack-format or signed
webhook) that can fail on purpose, and an SMTP server (aiosmtpd). Import the fixtures with
`from tests.test_notify_receivers import http_receivers, smtp_server  # noqa: F401`.
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Receiver:
    """Answers 500 (echoing the request path, as some proxies do) to the first `fail_first` POSTs, then 200 ok."""

    fail_first: int = 0
    requests: list[dict] = field(default_factory=list)  # every POST, failed or not
    accepted: list[dict] = field(default_factory=list)  # the POSTs answered 200
    server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def json_bodies(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.accepted]


def _handler(receiver: Receiver, lock: threading.Lock):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            entry = {"path": self.path, "headers": self.headers, "body": body}  # case-insensitive
            with lock:
                receiver.requests.append(entry)
                failing = len(receiver.requests) <= receiver.fail_first
                if not failing:
                    receiver.accepted.append(entry)
            reply = f"failing on purpose for {self.path}" if failing else "ok"
            self.send_response(500 if failing else 200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(reply.encode())

        def log_message(self, *args):  # keep test output quiet
            pass

    return Handler


@pytest.fixture
def http_receivers():
    """A factory: http_receivers(fail_first=0) starts a receiver; all are stopped at teardown."""
    started: list[Receiver] = []

    def start(fail_first: int = 0) -> Receiver:
        receiver = Receiver(fail_first=fail_first)
        receiver.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver, threading.Lock()))
        threading.Thread(target=receiver.server.serve_forever, daemon=True).start()
        started.append(receiver)
        return receiver

    try:
        yield start
    finally:
        for receiver in started:
            receiver.server.shutdown()
            receiver.server.server_close()


@dataclass
class SmtpServer:
    host: str
    port: int
    messages: list = field(default_factory=list)  # email.message.EmailMessage
    envelopes: list = field(default_factory=list)


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller

    server = SmtpServer("127.0.0.1", free_port())

    class Handler:
        async def handle_DATA(self, _server, _session, envelope):  # noqa: N802 (aiosmtpd's name)
            server.envelopes.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos)})
            server.messages.append(message_from_bytes(envelope.content, policy=policy.default))
            return "250 Message accepted for delivery"

    controller = Controller(Handler(), hostname=server.host, port=server.port)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


def test_receiver_fails_then_accepts(http_receivers):
    import urllib.error
    import urllib.request

    receiver = http_receivers(fail_first=1)
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(urllib.request.Request(receiver.base_url + "/x", data=b"{}", method="POST"), timeout=5)
    with urllib.request.urlopen(urllib.request.Request(receiver.base_url + "/x", data=b"{}", method="POST"), timeout=5) as r:
        assert r.status == 200
    assert len(receiver.requests) == 2 and len(receiver.accepted) == 1
