"""POST JSON with the standard library; errors carry the status and a short body, never the URL."""

from __future__ import annotations

import json
import urllib.error
import urllib.request


class DeliveryError(Exception):
    """A channel refused or could not be reached; the message is safe to log after redaction."""


def post_json(url: str, payload: dict, *, headers: dict[str, str] | None = None, timeout: float = 10.0,
              body: bytes | None = None) -> int:
    data = body if body is not None else json.dumps(payload, separators=(",", ":")).encode()
    if not url.lower().startswith(("https://", "http://")):
        raise DeliveryError("the webhook URL must start with https:// or http://")
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "AutoStack-Budgets",
                                              **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (scheme checked above)
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        detail = exc.read(300).decode("utf-8", "replace").strip()
        raise DeliveryError(f"HTTP {exc.code} {exc.reason}" + (f": {detail}" if detail else "")) from None
    except urllib.error.URLError as exc:
        raise DeliveryError(f"cannot reach the receiver: {exc.reason}") from None
    except (TimeoutError, OSError) as exc:
        raise DeliveryError(f"cannot reach the receiver: {exc}") from None
