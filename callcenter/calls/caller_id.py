"""Caller names as the caller sent them.

A SIP display name is a quoted-string in which ``\\"`` and ``\\\\`` are escapes (RFC 3261
quoted-pair); Asterisk's PJSIP channels hand the name over with the escapes still in it.
Records keep what the caller meant: ``O'Brien "Bobby"``, not ``O'Brien \\"Bobby\\"``.
"""

from __future__ import annotations

import re

_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)


def sip_display_name(name: str | None) -> str | None:
    if not name:
        return None
    return _QUOTED_PAIR.sub(r"\1", name)
