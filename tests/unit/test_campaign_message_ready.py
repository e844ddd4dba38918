"""A campaign that may drop calls is dialed only while Asterisk has its message: a missing
recording stops the dialing (logged when it goes missing), Asterisk's silence keeps what was
known, and the check is repeated every minute, not on every tick."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from types import SimpleNamespace
from typing import Any, cast

import pytest

from ari_app.client import AriError, AriNotFound
from ari_app.dialer import Dialer
from ari_app.session import utcnow
from tests.unit.test_blended_reserve import campaign


class FakeAri:
    def __init__(self) -> None:
        self.sounds = {"custom/acme-sorry"}
        self.down = False
        self.asked: list[str] = []

    async def get(self, path: str, **_: Any) -> Any:
        self.asked.append(path)
        if self.down:
            raise AriError("Asterisk is not answering")
        name = path.removeprefix("/sounds/").replace("%2F", "/")
        if name not in self.sounds:
            raise AriNotFound(404, "GET", path, "not found")
        return {"id": name}


def make(ari: FakeAri) -> Dialer:
    acd = SimpleNamespace(agents={}, queues={}, outbound_uri="sip:trunk")
    none = cast(Any, None)
    return Dialer(
        cast(Any, acd), none, cast(Any, ari), none, none, none, node_id="n", clock=utcnow
    )  # fmt: skip


def test_a_missing_message_stops_the_dialing(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    ari = FakeAri()
    dialer = make(ari)
    ready = dataclasses.replace(campaign(), message_prompt="sound:custom/acme-sorry")
    missing = dataclasses.replace(campaign(), message_prompt="sound:custom/gone")

    async def main() -> list[bool]:
        seen = [await dialer._message_ready(ready), await dialer._message_ready(missing)]
        assert await dialer._pace(missing) == 0  # refused before any pacing
        clock[0] += 30  # within the minute: no new question to Asterisk
        seen.append(await dialer._message_ready(missing))
        assert ari.asked == ["/sounds/custom%2Facme-sorry", "/sounds/custom%2Fgone"]
        ari.sounds.add("custom/gone")  # the operator copies the recording
        clock[0] += 31
        seen.append(await dialer._message_ready(missing))
        ari.down = True  # Asterisk cannot say: what was known holds
        clock[0] += 61
        seen.append(await dialer._message_ready(missing))
        return seen

    assert asyncio.run(main()) == [True, False, False, True, True]


def test_preview_campaigns_need_no_message() -> None:
    ari = FakeAri()
    preview = dataclasses.replace(campaign(), mode="preview", message_prompt="sound:none")
    assert asyncio.run(make(ari)._message_ready(preview)) is True
    assert ari.asked == []
