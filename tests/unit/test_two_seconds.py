"""The 2-second rule's clock starts at the end of the callee's greeting."""

from __future__ import annotations

import re

import pytest

from callcenter.outbound.two_seconds import (
    AMD_AFTER_GREETING_SILENCE_MS,
    abandoned,
    greeting_ended,
    seconds_left,
)
from dialplan.render import render_all
from tests.unit.test_dialplan_render import PARAMS


def test_the_issue_example_is_a_drop() -> None:
    """Greeting ends at t=0; AMD says HUMAN at 0.8 s; an agent is connected at 2.6 s. Timed
    from the verdict it would be 1.8 s (connected); from the greeting's end it is 2.6 s."""
    end = greeting_ended(0.8, "HUMAN", "HUMAN-800-800")
    assert end == pytest.approx(0.0)
    assert abandoned(end, 2.6)
    assert not abandoned(end, 2.0)  # exactly 2 s: in time
    assert seconds_left(end, 0.8) == pytest.approx(1.2)  # what is left at the verdict
    assert seconds_left(end, 2.5) == 0.0


@pytest.mark.parametrize(
    ("status", "cause", "end"),
    [
        ("HUMAN", "HUMAN-800-800", 9.2),
        ("HUMAN", "HUMAN-1000-800", 9.0),  # AMD measured a longer silence: earlier end
        ("HUMAN", "", 9.2),  # no cause: the configured silence
        ("NOTSURE", "TOOLONG-5000", 9.2),  # treated as a person
        ("MACHINE", "LONGGREETING-1600-1500", 10.0),  # a machine: not a live answer
        (None, None, 10.0),  # no AMD: the answer starts the clock
    ],
)
def test_greeting_end_by_verdict(status: str | None, cause: str | None, end: float) -> None:
    assert greeting_ended(10.0, status, cause) == pytest.approx(end)


def test_no_agent_is_a_drop() -> None:
    assert abandoned(0.0, None)


def test_dialplan_gives_amd_the_silence_the_clock_counts_on() -> None:
    extensions = render_all(PARAMS)["extensions.conf"]
    (args,) = re.findall(r"AMD\(([^)]*)\)", extensions)
    assert int(args.split(",")[2]) == AMD_AFTER_GREETING_SILENCE_MS
