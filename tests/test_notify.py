"""Notifications against real receivers on 127.0.0.1: Slack format, signed webhooks, SMTP, retries, secrets."""

from __future__ import annotations

import json
import logging
import time
from datetime import date
from decimal import Decimal

import pytest

from autostack.notify import SecretStore, deliver_with_retries, mask, send_to_channel, sign, verify_signature
from autostack.notify.message import AlertMessage
from autostack.notify.secrets import SecretError, check_secret_name
from autostack.notify.slack import slack_payload
from autostack.notify.webhook import SIGNATURE_HEADER, SignatureError
from tests.test_notify_receivers import http_receivers, smtp_server  # noqa: F401

TOKEN = "xoxb-PLANTED-SECRET-9f8e7d6c5b4a"


def alert(**overrides) -> AlertMessage:
    fields = dict(
        event_key="budget:1:2026-11-01:100:forecasted", budget_name="platform", scope="provider=AWS",
        period="monthly", period_start=date(2026, 11, 1), period_end=date(2026, 11, 30),
        threshold_percent=Decimal(100), threshold_basis="forecasted", amount=Decimal("4000"), currency="USD",
        cost_view="billed", spent=Decimal("3831.137195"), forecast=Decimal("5445.591454"),
        forecast_method="fallback: test", percent=Decimal("136.1398"), days_left=10, data_through=date(2026, 11, 20),
    )
    return AlertMessage(**{**fields, **overrides})


def test_slack_payload_has_blocks_and_text_fallback():
    payload = slack_payload(alert())
    assert payload["text"].startswith("Budget 'platform' forecast to reach 136.1% of 4,000.00 USD")
    assert [b["type"] for b in payload["blocks"]] == ["header", "section", "context"]
    fields = {f["text"].split("\n")[0]: f["text"].split("\n")[1] for f in payload["blocks"][1]["fields"]}
    assert fields["*Spent so far*"] == "3,831.14 USD"
    assert fields["*Forecast at period end*"] == "5,445.59 USD"
    assert fields["*Budget*"] == "4,000.00 USD"
    assert len(payload["blocks"][0]["text"]["text"]) <= 150  # Slack's header limit


def test_hmac_signature_round_trip_and_rejections():
    body = b'{"a":1}'
    header = sign(body, "k3y", 1_700_000_000)
    assert header.startswith("t=1700000000,v1=") and len(header.split("v1=")[1]) == 64
    assert verify_signature(header, body, "k3y", now=1_700_000_100) == 1_700_000_000
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature(header, b'{"a":2}', "k3y", now=1_700_000_100)
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature(header, body, "other", now=1_700_000_100)
    with pytest.raises(SignatureError, match="tolerance"):
        verify_signature(header, body, "k3y", now=1_700_000_000 + 301)
    with pytest.raises(SignatureError, match="missing"):
        verify_signature(None, body, "k3y")


def test_signed_webhook_is_verifiable_by_the_receiver(http_receivers):
    receiver = http_receivers()
    secrets = SecretStore({"HOOK_URL": receiver.base_url + "/hook", "HOOK_KEY": "whsec_test_key_123456"})
    send_to_channel("webhook", {}, {"url": "HOOK_URL", "signing_key": "HOOK_KEY"}, secrets, alert())
    (request,) = receiver.accepted
    assert verify_signature(request["headers"][SIGNATURE_HEADER], request["body"], "whsec_test_key_123456") <= time.time()
    body = json.loads(request["body"])
    assert body["type"] == "budget.threshold_breached" and body["id"] == alert().event_key
    assert body["data"]["spent"] == "3831.137195" and body["data"]["amount"] == "4000"
    assert request["headers"]["X-AutoStack-Event"] == alert().event_key


def test_email_over_plain_smtp(smtp_server):
    options = {"host": smtp_server.host, "port": smtp_server.port, "security": "none",
               "sender": "finops@example.com", "recipients": ["a@example.com", "b@example.com"]}
    send_to_channel("email", options, {}, SecretStore({}), alert())
    (message,) = smtp_server.messages
    assert message["Subject"].strip() == "[AutoStack] Budget 'platform' forecast to reach 136.1% of 4,000.00 USD"
    assert smtp_server.envelopes[0]["to"] == ["a@example.com", "b@example.com"]
    body = message.get_content()
    assert "Spent so far: 3,831.14 USD" in body and "Forecast at period end: 5,445.59 USD" in body


def test_starttls_against_a_plain_relay_fails_clearly(smtp_server):
    options = {"host": smtp_server.host, "port": smtp_server.port, "security": "starttls",
               "sender": "finops@example.com", "recipients": ["a@example.com"]}
    with pytest.raises(Exception, match="SMTP 127.0.0.1:.*STARTTLS|SMTPNotSupportedError"):
        send_to_channel("email", options, {}, SecretStore({}), alert())


def test_retries_with_backoff_deliver_exactly_once(http_receivers):
    receiver = http_receivers(fail_first=2)
    secrets = SecretStore({"SLACK_URL": f"{receiver.base_url}/services/T0/B0/{TOKEN}"})
    delays = []
    result = deliver_with_retries(lambda: send_to_channel("slack", {}, {"url": "SLACK_URL"}, secrets, alert()),
                                  attempts=3, backoff_seconds=0.5, secrets=secrets, label="t", sleep=delays.append)
    assert result.ok and result.attempts == 3
    assert delays == [0.5, 1.0]
    assert len(receiver.requests) == 3 and len(receiver.accepted) == 1


def test_a_failure_is_reported_redacted_and_never_raised(http_receivers, caplog):
    receiver = http_receivers(fail_first=99)  # echoes the URL path, which holds the secret, in its error body
    secrets = SecretStore({"SLACK_URL": f"{receiver.base_url}/services/T0/B0/{TOKEN}"})
    with caplog.at_level(logging.DEBUG):
        result = deliver_with_retries(lambda: send_to_channel("slack", {}, {"url": "SLACK_URL"}, secrets, alert()),
                                      attempts=2, backoff_seconds=0, secrets=secrets, label="t", sleep=lambda s: None)
    assert not result.ok and result.attempts == 2
    assert "HTTP 500" in result.error and "failing on purpose" in result.error
    assert TOKEN not in result.error and TOKEN not in caplog.text
    assert mask(f"{receiver.base_url}/services/T0/B0/{TOKEN}") in result.error


def test_secrets_from_environment_then_file(tmp_path):
    dotenv = tmp_path / "secrets.env"
    dotenv.write_text("# team secrets\nFROM_FILE='file-value-1234567890'\nexport BOTH=file\n")
    store = SecretStore({"BOTH": "env"}, dotenv)
    assert store.get("FROM_FILE") == "file-value-1234567890" and store.get("BOTH") == "env"
    with pytest.raises(SecretError, match="'MISSING' is not set") as err:
        store.get("MISSING")
    assert "file-value" not in str(err.value)
    as_json = tmp_path / "secrets.json"
    as_json.write_text(json.dumps({"K": "v" * 20}))
    assert SecretStore({}, as_json).get("K") == "v" * 20
    bad = tmp_path / "bad.env"
    bad.write_text("OK=1\nnot a pair\n")
    with pytest.raises(SecretError, match="bad.env, line 2: expected NAME=value"):
        SecretStore({}, bad).get("OK")


def test_masking_and_secret_names():
    assert mask("https://hooks.slack.com/services/T0/B0/abcdef") == "****cdef"
    assert mask("short") == "****" and mask(None) == "(not set)"
    assert check_secret_name("SLACK_WEBHOOK_URL", "url") is None
    assert "not the secret itself" in check_secret_name("https://hooks.slack.com/services/x", "url")
