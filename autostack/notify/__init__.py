"""Notifications: Slack incoming webhooks, signed JSON webhooks and e-mail over SMTP.

Channels name their secrets (webhook URLs, signing keys, SMTP passwords); `secrets.SecretStore`
resolves the names from the environment or `AUTOSTACK_SECRETS_FILE` at send time. Secret values
are never logged, stored or shown: errors pass through `redact` before they go anywhere.
"""

from autostack.notify.delivery import DeliveryResult, deliver_with_retries, send_to_channel
from autostack.notify.message import AlertMessage
from autostack.notify.secrets import SecretError, SecretStore, mask, redact
from autostack.notify.webhook import SIGNATURE_HEADER, sign, verify_signature

__all__ = [
    "SIGNATURE_HEADER",
    "AlertMessage",
    "DeliveryResult",
    "SecretError",
    "SecretStore",
    "deliver_with_retries",
    "mask",
    "redact",
    "send_to_channel",
    "sign",
    "verify_signature",
]
