"""Asterisk's own dialplan reaches our FastAGI service and gets its answers."""

from __future__ import annotations

import pytest

from pbx.instance import AsteriskInstance
from tests.support import AppProcess, wait_until

pytestmark = pytest.mark.integration


def test_dialplan_agi_call_is_answered_by_the_running_app(
    app: AppProcess, asterisk: AsteriskInstance
) -> None:
    asterisk.cli("database deltree switchboard-selftest")
    asterisk.cli("channel originate Local/agi@switchboard-selftest application Wait 1")

    def stored() -> str | None:
        out = asterisk.cli("database get switchboard-selftest agi")
        return out if "Value:" in out else None

    value = wait_until(stored, 10, what="the AGI self-test result in AstDB")
    assert f"SUCCESS:ok::{asterisk.params.node_id}" in value
