"""A change made with the CLI while the app runs reaches it at once (PostgreSQL's NOTIFY on
the ACD's LISTEN connection, which now waits on its socket): an agent added to a queue of a
running app gets a softphone account in Asterisk, registers and answers that queue's next
call, on real calls with the row in PostgreSQL."""

from __future__ import annotations

import urllib.error

import pytest

from db.acd_store import add_member
from tests.integration.test_acd_calls import Center, ari_get, call_in_background, calls, center
from tests.support import wait_until

pytestmark = pytest.mark.integration
__all__ = ["center"]  # the fixture, used by name


def _pushed(center: Center, agent: str) -> bool:
    try:
        ari_get(center, f"/endpoints/PJSIP/{agent}")
    except urllib.error.HTTPError:
        return False
    return True


def test_an_agent_added_while_the_app_runs_takes_calls(center: Center, database_url: str) -> None:
    center.agent("rhea")
    center.queue("late", ["rhea"])
    center.start("late")
    assert not _pushed(center, "otto")

    center.agent("otto")  # the CLI's own function: the row and NOTIFY in one transaction
    add_member(center.engine, "late", "otto", 0)
    wait_until(lambda: _pushed(center, "otto"), 5, what="otto's account in Asterisk")
    center.phone("otto")
    center.login("otto")

    caller = "+15558590001"
    done = call_in_background(center, caller, 1500)
    (row,) = calls(database_url, caller, 1)
    assert done.result(timeout=30).ok
    assert row["agent"] == "otto" and row["queue"] == "late"
