"""The dialer dials a campaign that may drop calls only while Asterisk has its message (the
seller's recording): the check asks the real Asterisk 22, through ARI, for sounds (in
subfolders too, as custom recordings are kept) and stored recordings."""

from __future__ import annotations

import asyncio

import pytest

from ari_app.client import AriClient
from ari_app.dialer import message_in_asterisk
from pbx.instance import AsteriskInstance

pytestmark = pytest.mark.integration


def test_asterisk_says_which_messages_it_has(asterisk: AsteriskInstance) -> None:
    p = asterisk.params

    async def check(prompts: list[str]) -> list[bool | None]:
        async with AriClient(f"http://127.0.0.1:{p.http_port}", p.ari_user, p.ari_password,
                             p.ari_app) as ari:  # fmt: skip
            return [await message_in_asterisk(ari, prompt) for prompt in prompts]

    prompts = [
        "sound:vm-goodbye",  # a stock sound
        "sound:digits/1",  # in a subfolder, as sound:custom/acme-sorry would be
        "sound:custom/acme-sorry",  # not recorded here
        "recording:acme-sorry",  # no stored recording of that name
        "tone:ring",  # not a recording at all
        "sound:",
    ]
    assert asyncio.run(check(prompts)) == [True, True, False, False, False, False]

    async def unreachable() -> bool | None:
        async with AriClient("http://127.0.0.1:9", p.ari_user, p.ari_password, p.ari_app) as ari:
            return await message_in_asterisk(ari, "sound:vm-goodbye")

    assert asyncio.run(unreachable()) is None  # Asterisk cannot say: not a "missing"
