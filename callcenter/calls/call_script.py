"""A queue's call script as the agent reads it: the queue's text with the caller's fields
and what the IVR collected filled in (``${name}``, as in the IVR's prompts)."""

from __future__ import annotations

from collections.abc import Mapping

from callcenter.ivr.prompts import substitute

MAX_LENGTH = 4000  # a script is read on a call, not a manual


def render_script(
    template: str,
    *,
    caller_number: str | None,
    caller_name: str | None,
    queue: str,
    agent: str,
    collected: Mapping[str, str],
) -> str:
    """The script for this call; a field nobody knows becomes empty, as in the IVR. The
    call's own fields win over IVR variables of the same name."""
    fields = dict(collected)
    fields.update(
        caller_number=caller_number or "",
        caller_name=caller_name or "",
        queue=queue,
        agent=agent,
    )
    return substitute(template, fields)
