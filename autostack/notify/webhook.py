"""Generic JSON webhooks, signed with HMAC-SHA256 the way Stripe signs its events.

Header: `X-AutoStack-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(key, "<t>.<raw body>")>`.
A receiver recomputes the HMAC over the exact bytes it received, compares in constant time and
rejects timestamps older than its tolerance (replay protection); `verify_signature` does all
three. `X-AutoStack-Event` carries the alert's idempotency key for de-duplication.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from autostack.notify.http import post_json
from autostack.notify.message import AlertMessage

SIGNATURE_HEADER = "X-AutoStack-Signature"
EVENT_HEADER = "X-AutoStack-Event"


class SignatureError(Exception):
    pass


def sign(body: bytes, key: str, timestamp: int) -> str:
    digest = hmac.new(key.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(header: str | None, body: bytes, key: str, *, tolerance_seconds: int = 300,
                     now: float | None = None) -> int:
    """The signed timestamp when `header` is a valid signature of `body`; SignatureError otherwise."""
    if not header:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        raise SignatureError(f"{SIGNATURE_HEADER} must look like t=<unix>,v1=<hex>") from None
    expected = sign(body, key, timestamp).split("v1=", 1)[1]
    if not hmac.compare_digest(expected, given):
        raise SignatureError("signature does not match the body")
    if abs((time.time() if now is None else now) - timestamp) > tolerance_seconds:
        raise SignatureError(f"timestamp {timestamp} is outside the {tolerance_seconds} s tolerance")
    return timestamp


def webhook_body(alert: AlertMessage, event_type: str = "budget.threshold_breached") -> dict:
    return {"type": event_type, "id": alert.event_key, "summary": alert.title, "data": alert.payload()}


def send_webhook(url: str, key: str | None, alert: AlertMessage, *, event_type: str = "budget.threshold_breached",
                 timeout: float = 10.0) -> None:
    body = json.dumps(webhook_body(alert, event_type), separators=(",", ":"), sort_keys=True).encode()
    headers = {EVENT_HEADER: alert.event_key}
    if key:
        headers[SIGNATURE_HEADER] = sign(body, key, int(time.time()))
    post_json(url, {}, headers=headers, timeout=timeout, body=body)
