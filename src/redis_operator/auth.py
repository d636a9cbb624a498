"""A Redis' password: the Secret the operator generates, and reading one without leaking it.

The password lives in one Secret only (the generated `<name>-auth` or the user's own), which
the pods mount; the operator reads it to talk to Redis and holds it in a `Password`, whose
`repr` and `str` hide it so that no log line, Event or traceback can carry it by accident.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from typing import Any

from redis_operator.api import DEFAULT_AUTH_KEY, Redis
from redis_operator.children import (
    AUTH_SECRET_LABEL,
    auth_secret_name,
    labels,
    owner_reference,
)

PASSWORD_BYTES = 32
"""Random bytes per generated password (256 bits; `secrets.token_urlsafe` encodes them as
43 URL-safe characters, none of which needs quoting in redis.conf)."""

UNSAFE_CHARACTERS = frozenset('\r\n"\\')
"""What a password may not hold: the pod writes it into redis.conf as one double-quoted
value with shell builtins, which cannot escape these."""

_HIDDEN = "Password(<hidden>)"


class Password:
    """A password that does not show itself: `reveal()` is the one way to its value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not value:
            raise ValueError("a password must not be empty")
        self._value = value

    def reveal(self) -> str:
        """The value, for the Redis client and the Secret body only."""
        return self._value

    def __repr__(self) -> str:
        return _HIDDEN

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Password) and secrets.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(Password)


def new_password() -> Password:
    """A fresh random password from the operating system's CSPRNG."""
    return Password(secrets.token_urlsafe(PASSWORD_BYTES))


def generated_secret(redis: Redis, password: Password) -> dict[str, Any]:
    """The Secret `<name>-auth` holding a generated password, owned by the Redis.

    Created once and never overwritten: a new password on every pass would lock the pods
    (which read it at start) out of each other.
    """
    encoded = base64.b64encode(password.reveal().encode()).decode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": auth_secret_name(redis.name),
            "namespace": redis.namespace,
            "labels": labels(redis.name) | {AUTH_SECRET_LABEL: redis.name},
            "ownerReferences": [owner_reference(redis)],
        },
        "type": "Opaque",
        "data": {DEFAULT_AUTH_KEY: encoded},
    }


def password_from_secret(secret: Mapping[str, Any], key: str) -> Password:
    """The password under `key` of a Secret as the apiserver returns it (base64 `data`).

    A missing key, bad base64 or an empty value is a ValueError naming the Secret and the key,
    never the value.
    """
    name = str((secret.get("metadata") or {}).get("name", ""))
    data: Mapping[str, Any] = secret.get("data") or {}
    if key not in data:
        raise ValueError(f"Secret {name} has no key {key!r}")
    try:
        value = base64.b64decode(str(data[key]), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError(f"Secret {name} key {key!r} is not base64 of UTF-8 text") from None
    if not value or any(c in value for c in UNSAFE_CHARACTERS):
        raise ValueError(
            f"Secret {name} key {key!r} must be one non-empty line without '\"' or '\\'"
        )
    return Password(value)


DIGEST_LENGTH = 16
"""Hex characters of `password_digest` kept (64 bits: enough to tell two passwords apart)."""


def password_digest(secret: Mapping[str, Any], key: str) -> str | None:
    """A digest of the Secret's value under `key` for the pods' annotation, or None when the
    key is absent.

    HMAC-SHA256 keyed by the Secret's uid, which only those who may read the Secret (and so the
    password itself) know: a user-chosen password cannot be guessed offline from a pod. A
    Secret recreated under the same name has a new uid, so its pods are replaced whatever it
    holds.
    """
    data: Mapping[str, Any] = secret.get("data") or {}
    if key not in data:
        return None
    uid = str((secret.get("metadata") or {}).get("uid", ""))
    mac = hmac.new(uid.encode(), str(data[key]).encode(), hashlib.sha256)
    return mac.hexdigest()[:DIGEST_LENGTH]
