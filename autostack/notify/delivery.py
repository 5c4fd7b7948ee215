"""Send one alert to one channel, retrying with exponential backoff; failures are returned, not raised.

A failing channel must never block the others or the evaluation run, so `deliver_with_retries`
catches every error, redacts secrets from it and reports it in a `DeliveryResult`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from autostack.notify.email import send_email
from autostack.notify.http import DeliveryError
from autostack.notify.message import AlertMessage
from autostack.notify.secrets import SecretError, SecretStore
from autostack.notify.slack import send_slack
from autostack.notify.webhook import send_webhook

log = logging.getLogger("autostack.notify")

CHANNEL_KINDS = ("slack", "webhook", "email")
# Which secret roles each kind takes, and which are required.
SECRET_ROLES = {"slack": {"url": True}, "webhook": {"url": True, "signing_key": False}, "email": {"password": False}}


@dataclass(frozen=True)
class DeliveryResult:
    ok: bool
    attempts: int
    error: str | None = None


def send_to_channel(kind: str, options: dict, secret_refs: dict, secrets: SecretStore, alert: AlertMessage,
                    *, purpose: str = "notify") -> None:
    """One attempt. Secrets are resolved here, at send time, and only passed to the transport."""
    if kind == "slack":
        send_slack(secrets.get(secret_refs["url"]), alert)
    elif kind == "webhook":
        key = secrets.get(secret_refs["signing_key"]) if secret_refs.get("signing_key") else None
        event = "budget.action.call_webhook" if purpose == "action" else "budget.threshold_breached"
        send_webhook(secrets.get(secret_refs["url"]), key, alert, event_type=event)
    elif kind == "email":
        password = secrets.get(secret_refs["password"]) if secret_refs.get("password") else None
        send_email(options, password, alert)
    else:
        raise DeliveryError(f"unknown channel kind {kind!r} (expected one of {', '.join(CHANNEL_KINDS)})")


def deliver_with_retries(attempt: Callable[[], None], *, attempts: int, backoff_seconds: float,
                         secrets: SecretStore, label: str, sleep: Callable[[float], None] = time.sleep,
                         logger=None) -> DeliveryResult:
    """Call `attempt` up to `attempts` times (delays backoff, 2×backoff, …); never raises."""
    log_ = logger or log
    error = None
    for number in range(1, max(attempts, 1) + 1):
        try:
            attempt()
            if number > 1:
                log_.info(f"{label}: delivered on attempt {number}")
            return DeliveryResult(True, number)
        except SecretError as exc:  # retrying cannot help: the configuration is missing a secret
            error = secrets.redact(str(exc))
            log_.warning(f"{label}: not sent: {error}")
            return DeliveryResult(False, number, error)
        except Exception as exc:  # any channel failure is reported, never propagated
            error = secrets.redact(f"{exc.__class__.__name__}: {exc}" if not isinstance(exc, DeliveryError) else str(exc))
            log_.warning(f"{label}: attempt {number} of {attempts} failed: {error}")
            if number < attempts:
                sleep(backoff_seconds * 2 ** (number - 1))
    return DeliveryResult(False, max(attempts, 1), error)
