"""Who may call `recochat serve`, as whom, and how often: API keys, per-key user namespaces, rate limits.

Each key names its own namespace, and every user a request names is stored as `api:NAMESPACE:USER`: a key can
only ever reach the users of its own namespace, so key A asking for key B's user finds nobody (404), never data.
With no key configured there is one namespace, `local`, and the server listens on loopback only.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ...errors import SetupError

LOCAL = "local"
"""The namespace when no key is configured (a loopback-only server)."""
_NAMESPACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_USER = re.compile(r"^[^\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]{1,200}$")
"""A user name: 1-200 characters, no control, bidi or surrogate characters."""


@dataclass(frozen=True)
class ApiKey:
    namespace: str
    secret: str


def parse_keys(value: str) -> list[ApiKey]:
    """`NAME:KEY,NAME:KEY` or bare keys (namespace: the first 12 hex digits of the key's SHA-256)."""
    keys: list[ApiKey] = []
    for entry in (part.strip() for part in value.split(",")):
        if not entry:
            continue
        name, sep, secret = entry.partition(":")
        if not sep:
            name, secret = hashlib.sha256(entry.encode()).hexdigest()[:12], entry
        if not _NAMESPACE.match(name):
            raise SetupError(f"RECOCHAT_API_KEYS: namespace {name!r} must be 1-64 letters, digits, '.', '_' or '-'")
        if len(secret) < 8 or not secret.isascii() or not secret.isprintable() or " " in secret:
            raise SetupError(f"RECOCHAT_API_KEYS: the key of {name!r} must be 8 or more printable ASCII characters")
        if any(k.namespace == name for k in keys):
            raise SetupError(f"RECOCHAT_API_KEYS: namespace {name!r} is named twice")
        keys.append(ApiKey(name, secret))
    return keys


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, keys: list[ApiKey]) -> None:
    """No key, no network: without RECOCHAT_API_KEYS only this machine may connect."""
    if not keys and not is_loopback(host):
        raise SetupError(
            f"refusing to listen on {host} without an API key: set RECOCHAT_API_KEYS (NAME:KEY,…) "
            "or listen on 127.0.0.1"
        )


class AccessDenied(Exception):
    """No key or a wrong one (401)."""


class Keys:
    """Finds the namespace of a request's `Authorization: Bearer KEY` header (constant-time compare)."""

    def __init__(self, keys: list[ApiKey]) -> None:
        self.keys = keys

    @property
    def required(self) -> bool:
        return bool(self.keys)

    def namespace(self, authorization: str | None) -> str:
        if not self.keys:
            return LOCAL
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AccessDenied("missing API key: send 'Authorization: Bearer KEY'")
        given = token.strip().encode("utf-8", "replace")
        found = None
        for key in self.keys:  # every key is compared, so the time says nothing about which one is close
            if hmac.compare_digest(given, key.secret.encode()):
                found = key.namespace
        if found is None:
            raise AccessDenied("invalid API key")
        return found


def stored_user(namespace: str, user: str) -> str:
    """The profile store's id of a request's user; raises ValueError for a user name that cannot be one."""
    if not _USER.match(user) or user != user.strip():
        raise ValueError("user must be 1-200 characters, without control characters or surrounding spaces")
    return f"api:{namespace}:{user}"


class RateLimiter:
    """A token bucket per key: `per_minute` requests in a burst, refilled evenly over the minute."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def wait_s(self, namespace: str) -> float:
        """0 when the request may go (a token is taken), else the seconds until one is free."""
        if self.per_minute <= 0:
            return 0.0
        rate = self.per_minute / 60.0
        with self._lock:
            now = self.clock()
            tokens, last = self._buckets.get(namespace, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[namespace] = (tokens - 1.0, now)
                return 0.0
            self._buckets[namespace] = (tokens, now)
            return max(0.001, (1.0 - tokens) / rate)

    @staticmethod
    def retry_after(wait_s: float) -> str:
        return str(max(1, math.ceil(wait_s)))
