"""Secrets by name: from the environment first, then the secrets file (`AUTOSTACK_SECRETS_FILE`).

The secrets file is outside the repository and holds `NAME=value` lines (blank lines and `#`
comments ignored; values may be quoted) or, when it ends in `.json`, one JSON object of names to
strings. A channel stores only the names, so the app store, the warehouse and the CLI never hold
a value; `mask` is the only way a value is ever shown back.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

SECRET_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,199}$")


class SecretError(Exception):
    """A secret name that cannot be resolved, or a secrets file that cannot be read (never the value)."""


def check_secret_name(name: str, role: str) -> str | None:
    """An error message when `name` is not a usable secret *name* (e.g. someone pasted the URL itself)."""
    if not isinstance(name, str) or not name:
        return f"{role}: give the name of an environment variable or secrets-file entry"
    if "://" in name or not SECRET_NAME.match(name):
        return (f"{role}: expected the name of an environment variable or secrets-file entry holding the secret "
                f"(letters, digits, _ . -), not the secret itself")
    return None


def _read_secrets_file(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SecretError(f"secrets file {path}: cannot be read ({exc.strerror or exc})") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise SecretError(f"secrets file {path}: not valid JSON (line {exc.lineno})") from None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise SecretError(f"secrets file {path}: expected one JSON object of names to string values")
        return {str(k): v for k, v in data.items()}
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if "=" not in stripped:
            raise SecretError(f"secrets file {path}, line {number}: expected NAME=value")
        name, value = stripped.split("=", 1)
        name, value = name.strip().removeprefix("export ").strip(), value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name] = value
    return values


class SecretStore:
    """Resolves secret names; remembers every value it handed out so that errors can be redacted."""

    def __init__(self, environ: Mapping[str, str] | None = None, secrets_file: Path | None = None):
        self._environ = os.environ if environ is None else environ
        self._file = secrets_file
        self._file_values: dict[str, str] | None = None
        self.resolved: set[str] = set()

    @classmethod
    def from_settings(cls, settings) -> SecretStore:
        return cls(secrets_file=settings.secrets_file)

    def _from_file(self) -> dict[str, str]:
        if self._file is None:
            return {}
        if self._file_values is None:
            self._file_values = _read_secrets_file(self._file)
        return self._file_values

    def has(self, name: str) -> bool:
        try:
            self.get(name)
        except SecretError:
            return False
        return True

    def get(self, name: str) -> str:
        value = self._environ.get(name)
        if not value:
            value = self._from_file().get(name)
        if not value:
            where = "the environment" + (f" or the secrets file {self._file}" if self._file else
                                         " (no AUTOSTACK_SECRETS_FILE is set)")
            raise SecretError(f"secret {name!r} is not set in {where}")
        self.resolved.update(secret_fragments(value))
        return value

    def redact(self, text: str) -> str:
        return redact(text, self.resolved)


def secret_fragments(value: str) -> set[str]:
    """The value and, for a URL, the parts a server may echo on its own (path, query, long path segments,
    password): a receiver answering "no such hook /services/T0/B0/xyz" must not leak the token either."""
    fragments = {value}
    if "://" in value:
        parts = urlsplit(value)
        fragments |= {p for p in (parts.path, parts.query, parts.password) if p and len(p) >= 8}
        fragments |= {segment for segment in parts.path.split("/") if len(segment) >= 12}
    return fragments


def mask(value: str | None) -> str:
    """How a secret may be shown back: never more than its last 4 characters, and only if long."""
    if not value:
        return "(not set)"
    return "****" + value[-4:] if len(value) >= 16 else "****"


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of each secret (longest first) replaced by its mask."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, mask(secret))
    return text
