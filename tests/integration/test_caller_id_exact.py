"""A real sipp caller whose From header carries SQL, quotes, a backslash, a terminal escape
sequence and Unicode, properly SIP-escaped (a quoted-string display name, a percent-encoded
user part), through a real Asterisk 22 into PostgreSQL: the call row holds exactly what
Asterisk reported for the channel (ARI's caller fields and CALLERID() while the call is up,
its CDR afterwards), which is exactly what the caller sent, and the record is complete."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from callcenter.calls.caller_id import sip_display_name
from pbx.instance import AsteriskInstance
from testkit import runner
from testkit.dtmf import write_pcap
from testkit.runner import place_calls
from testkit.scenario import CallerScript, key_offsets, render
from tests.support import AppProcess, query, wait_until

pytestmark = pytest.mark.integration

DIALED = "800777"
# What the caller means: no SIP escapes in here.
NAME = "O'Brien \"Bobby\" \\ '; DROP TABLE calls;-- \x1b[31mred\x1b[0m 東京 ☎ 😀 é"
NUMBER = "+1555' OR '1'='1'--\"\x1b[2J東京\\x;DROP TABLE calls"
# Asterisk ends a SIP user part at its first ";" (what follows would be user options, such as
# RFC 3966's ;isub=), even when the ";" was percent-encoded: the number it reports is this.
REPORTED_NUMBER = NUMBER.split(";", 1)[0]

# Characters a user part may hold as they are (RFC 3261 unreserved); everything else is
# percent-encoded (escaped), which a user part may always hold.
URI_PLAIN = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!~*'()+")


def sip_quoted_string(text: str) -> bytes:
    """A display name as an RFC 3261 quoted-string: " and \\ and control characters as
    quoted-pairs (backslash, then the character), UTF-8 as it is."""
    out = bytearray(b'"')
    for char in text:
        if char in '"\\' or ord(char) < 0x20 or ord(char) == 0x7F:
            if char in "\r\n":
                raise ValueError("a quoted-pair cannot hold CR or LF")
            out += b"\\"
        out += char.encode("utf-8")
    return bytes(out + b'"')


def sip_user(text: str) -> bytes:
    """A SIP URI's user part: UTF-8, percent-encoded but for unreserved characters."""
    return b"".join(
        char.encode() if char in URI_PLAIN else "".join(f"%{b:02X}" for b in char.encode()).encode()
        for char in text
    )


def sipp_literal(data: bytes) -> str:
    """Bytes for a sipp message: anything but plain ASCII letters, digits and a few marks as
    sipp's \\xHH escape, so that neither sipp's keywords ([...]) nor the XML file see them."""
    safe = set(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789%+-_.!~*()' ")
    return "".join(chr(b) if b in safe else f"\\x{b:02X}" for b in data)


def write_scenario(script: CallerScript, folder: Path, name: str) -> Path:
    """runner.write, with the From display name and user part SIP-escaped by us."""
    offsets = key_offsets(script)
    keys_pcap = write_pcap(offsets, folder / f"{name}-keys.pcap") if offsets else None
    text = render(
        CallerScript(
            caller="SBUSERSLOT", caller_name="SBNAMESLOT", keys=script.keys, bye_timeout_ms=30000
        ),
        keys_pcap,
    )
    # The template quotes the name itself: the quoted-string replaces the quotes too.
    assert text.count('"SBNAMESLOT"') == text.count("SBNAMESLOT") >= 2
    text = text.replace('"SBNAMESLOT"', sipp_literal(sip_quoted_string(NAME)))
    text = text.replace("SBUSERSLOT", sipp_literal(sip_user(NUMBER)))
    path = folder / f"{name}.xml"
    path.write_text(text, encoding="ascii")
    return path


async def asterisk_view(asterisk: AsteriskInstance, timeout: float = 20) -> dict[str, Any]:
    """The caller as Asterisk reports it for our channel, while the call is up: ARI's channel
    fields and the CALLERID() dialplan functions."""
    p = asterisk.params
    base = f"http://127.0.0.1:{p.http_port}/ari"
    token = base64.b64encode(f"{p.ari_user}:{p.ari_password}".encode()).decode()
    async with aiohttp.ClientSession(headers={"Authorization": f"Basic {token}"}) as http:
        async with asyncio.timeout(timeout):
            while True:
                async with http.get(f"{base}/channels") as response:
                    channels = await response.json()
                ours = [c for c in channels if c["dialplan"]["exten"] == DIALED]
                if ours:
                    break
                await asyncio.sleep(0.05)
        channel = ours[0]
        view: dict[str, Any] = {"id": channel["id"], "caller": channel["caller"]}
        for function in ("CALLERID(name)", "CALLERID(num)"):
            async with http.get(
                f"{base}/channels/{channel['id']}/variable", params={"variable": function}
            ) as response:
                assert response.status == 200, await response.text()
                view[function] = (await response.json())["value"]
        return view


def test_a_hostile_caller_id_is_recorded_exactly_as_asterisk_reported_it(
    app: AppProcess,
    asterisk: AsteriskInstance,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runner, "write", write_scenario)

    async def call() -> tuple[Any, dict[str, Any]]:
        placing = asyncio.create_task(
            place_calls(asterisk.params.sip_port, DIALED, CallerScript(keys=((1500, "7"),)))
        )
        try:
            view = await asterisk_view(asterisk)
        except BaseException:
            result = await placing
            raise AssertionError(f"no channel for the call; sipp said:\n{result.output}") from None
        return await placing, view

    result, view = asyncio.run(call())
    assert result.ok, result.output

    # What Asterisk passed through: the percent-encoding undone, the display name with its
    # quoted-pairs still in it (as PJSIP hands it over), everything else byte for byte.
    assert view["caller"]["number"] == view["CALLERID(num)"] == REPORTED_NUMBER
    assert view["caller"]["name"] == view["CALLERID(name)"]
    assert sip_display_name(view["caller"]["name"]) == NAME

    def ended() -> dict[str, Any] | None:
        rows = query(
            database_url,
            "SELECT * FROM calls WHERE channel_id = %s AND ended_at IS NOT NULL",
            view["id"],
        )
        return rows[0] if rows else None

    call_row = wait_until(ended, 20, what="the call's row, ended")
    # Exactly what Asterisk reported (the name's quoted-pairs undone, as for every caller).
    assert call_row["caller_number"] == view["caller"]["number"] == REPORTED_NUMBER
    assert call_row["caller_name"] == sip_display_name(view["caller"]["name"]) == NAME
    assert call_row["dialed_number"] == DIALED
    assert call_row["direction"] == "inbound"
    assert call_row["digits"] == "7"
    assert call_row["outcome"] == "completed"
    assert (call_row["hangup_party"], call_row["hangup_cause"]) == ("system", 16)
    assert call_row["arrived_at"] <= call_row["answered_at"] <= call_row["ended_at"]

    events = query(
        database_url,
        "SELECT type, data FROM call_events WHERE call_id = %s ORDER BY occurred_at, id",
        call_row["id"],
    )
    assert [e["type"] for e in events] == ["ARRIVE", "ANSWER", "DTMF", "HANGUP"]
    assert events[0]["data"]["caller"] == REPORTED_NUMBER
    legs = query(database_url, "SELECT * FROM call_legs WHERE call_id = %s", call_row["id"])
    assert [(leg["channel_id"], leg["role"]) for leg in legs] == [(view["id"], "caller")]
    codes = query(
        database_url,
        "SELECT code_set, set_by FROM call_dispositions WHERE call_id = %s",
        call_row["id"],
    )
    assert [(c["code_set"], c["set_by"]) for c in codes] == [("system", "system")]

    # Asterisk's own CDR has the same number.
    cdr = wait_until(
        lambda: [r for r in asterisk.cdr_rows() if r.uniqueid == view["id"]],
        10,
        what="Asterisk's CDR line",
    )[0]
    assert cdr.src == REPORTED_NUMBER
    assert cdr.dst == DIALED
    assert cdr.disposition == "ANSWERED"
