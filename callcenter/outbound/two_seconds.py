"""The 2-second rule for a live answer (US TSR 16 CFR 310.4(b)(4)(i), FCC 47 CFR
64.1200(a)(7)(i); Ofcom: the information message within 2 s): the called person must be
connected to a live agent within 2 s of the end of their greeting, or the call is abandoned.

The clock starts at the end of the greeting, not when answering-machine detection says
HUMAN: AMD says so only after the silence that follows the greeting (``afterGreetingSilence``,
800 ms here, given to AMD() in dialplan), so the verdict comes that much after the greeting
ended. Without AMD the greeting's end is unknown and the answer starts the clock.
"""

from __future__ import annotations

import re

CONNECT_WITHIN_SECONDS = 2.0
# AMD()'s afterGreetingSilence, as dialplan/templates/extensions.conf passes it (ms).
AMD_AFTER_GREETING_SILENCE_MS = 800

_HUMAN_CAUSE = re.compile(r"^HUMAN-(\d+)-(\d+)$")


def greeting_ended(verdict_at: float, amd_status: str | None, amd_cause: str | None) -> float:
    """When the callee's greeting ended (same clock as ``verdict_at``, the moment the call
    came back from AMD, or the answer without AMD). A person's verdict (HUMAN, or NOTSURE:
    treated as a person) came after the silence AMD waited for; AMD's cause
    (``HUMAN-<silence>-<afterGreetingSilence>``) gives it, never less than the configured
    silence: of two readings, the earlier end (the stricter clock) is taken."""
    if amd_status is None or amd_status.upper() not in ("HUMAN", "NOTSURE"):
        return verdict_at
    waited = AMD_AFTER_GREETING_SILENCE_MS
    match = _HUMAN_CAUSE.match((amd_cause or "").strip().upper())
    if match:
        waited = max(waited, int(match.group(1)), int(match.group(2)))
    return verdict_at - waited / 1000


def seconds_left(greeting_end: float, now: float) -> float:
    """How long an agent still has to connect (0 when the 2 s are spent)."""
    return max(0.0, CONNECT_WITHIN_SECONDS - (now - greeting_end))


def abandoned(greeting_end: float, connected_at: float | None) -> bool:
    """By the rule: no agent, or an agent later than 2 s after the greeting's end."""
    return connected_at is None or connected_at - greeting_end > CONNECT_WITHIN_SECONDS
