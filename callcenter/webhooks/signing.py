"""The signature on every delivery: HMAC-SHA256 over ``<timestamp>.<body>`` with the
subscription's secret, sent as ``Switchboard-Signature: t=<unix seconds>,v1=<hex>``.

The timestamp is signed with the body, so a receiver that refuses signatures older than its
replay window (five minutes by default) cannot be fed a captured request later. Each attempt
is signed afresh; the idempotency key (the event's id) stays the same across attempts.
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "Switchboard-Signature"
REPLAY_WINDOW_SECONDS = 300


class SignatureError(ValueError):
    """A request whose signature does not prove it came from us, now."""


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The header's value for ``body`` sent at ``timestamp`` (Unix seconds)."""
    return f"t={timestamp},v1={_digest(secret, timestamp, body)}"


def verify(
    secret: str,
    header: str,
    body: bytes,
    now: float,
    window: float = REPLAY_WINDOW_SECONDS,
) -> int:
    """Check a received signature; returns its timestamp or raises ``SignatureError``.

    Several ``v1`` values may be present (a secret being rotated): one must match.
    """
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if sep:
            fields.setdefault(key, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        raise SignatureError("no timestamp in the signature") from None
    signatures = fields.get("v1", [])
    if not signatures:
        raise SignatureError("no v1 signature")
    if abs(now - timestamp) > window:
        raise SignatureError(f"signed {now - timestamp:.0f} s ago: outside the replay window")
    expected = _digest(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise SignatureError("the signature does not match")
    return timestamp
