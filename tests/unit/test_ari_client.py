"""Our ARI client against a small fake ARI server: errors, reconnects, half-open sockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import WSMsgType, web

from ari_app.client import (
    AriAuthError,
    AriClient,
    AriHttpError,
    AriNotFound,
    AriUnavailable,
    auth_header,
)
from ari_app.events import ChannelDtmfReceived, Event
from pbx.ports import free_port

USER, PASSWORD = "u", "p"


@dataclass
class FakeAri:
    port: int
    answer_pings: bool = True
    drop_after_events: bool = True
    connections: int = 0
    apps_seen: list[str] = field(default_factory=list)
    open_sockets: list[web.WebSocketResponse] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def authorized(request: web.Request) -> bool:
    return request.headers.get("Authorization") == auth_header(USER, PASSWORD)


@pytest.fixture
async def fake_ari() -> AsyncIterator[FakeAri]:
    state = FakeAri(port=free_port())

    async def info(request: web.Request) -> web.Response:
        if not authorized(request):
            return web.Response(status=401, text='{"message": "Authentication required"}')
        return web.json_response({"system": {"version": "22.0-fake"}})

    async def missing(request: web.Request) -> web.Response:
        return web.json_response({"message": "Channel not found"}, status=404)

    async def broken(request: web.Request) -> web.Response:
        return web.json_response({"message": "Allocation failed"}, status=500)

    async def events(request: web.Request) -> web.StreamResponse:
        if not authorized(request):
            return web.Response(status=401)
        ws = web.WebSocketResponse(autoping=state.answer_pings)
        await ws.prepare(request)
        state.connections += 1
        state.apps_seen.append(request.query.get("app", ""))
        state.open_sockets.append(ws)
        digit = {
            "type": "ChannelDtmfReceived",
            "digit": str(state.connections),
            "channel": {"id": "c1"},
        }
        await ws.send_str(json.dumps(digit))
        await ws.send_str("not json")
        if state.drop_after_events:
            await asyncio.sleep(0.1)  # long enough for the client's on-connect hook
            await ws.close()
            return ws
        async for message in ws:
            if message.type == WSMsgType.CLOSE:
                break
        return ws

    app = web.Application()
    app.router.add_get("/ari/asterisk/info", info)
    app.router.add_delete("/ari/channels/gone", missing)
    app.router.add_post("/ari/channels/broken/answer", broken)
    app.router.add_get("/ari/events", events)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", state.port)
    await site.start()
    yield state
    await runner.cleanup()


async def test_rest_answers_and_errors_are_typed(fake_ari: FakeAri) -> None:
    async with AriClient(fake_ari.url, USER, PASSWORD, "sb") as ari:
        assert (await ari.get("/asterisk/info"))["system"]["version"] == "22.0-fake"
        with pytest.raises(AriNotFound):
            await ari.delete("/channels/gone")
        with pytest.raises(AriHttpError) as error:
            await ari.post("/channels/broken/answer")
        assert error.value.status == 500 and "Allocation failed" in str(error.value)
    async with AriClient(fake_ari.url, USER, "wrong", "sb") as ari:
        with pytest.raises(AriAuthError):
            await ari.get("/asterisk/info")
    async with AriClient(f"http://127.0.0.1:{free_port()}", USER, PASSWORD, "sb") as ari:
        with pytest.raises(AriUnavailable):
            await ari.get("/asterisk/info")


async def test_password_never_appears_in_errors(fake_ari: FakeAri) -> None:
    async with AriClient(fake_ari.url, USER, "s3cr3t-value", "sb") as ari:
        with pytest.raises(AriAuthError) as error:
            await ari.get("/asterisk/info")
    assert "s3cr3t-value" not in str(error.value)


async def test_events_are_typed_and_every_reconnect_registers_the_app_again(
    fake_ari: FakeAri,
) -> None:
    received: list[Event] = []
    connects = 0

    async def on_connect() -> None:
        nonlocal connects
        connects += 1

    ari = AriClient(fake_ari.url, USER, PASSWORD, "switchboard", max_backoff=0.2)
    runner = asyncio.create_task(ari.run(received.append, on_connect))
    try:
        async with asyncio.timeout(10):
            while len([e for e in received if isinstance(e, ChannelDtmfReceived)]) < 3:
                await asyncio.sleep(0.02)
    finally:
        await ari.close()
        await asyncio.wait_for(runner, 5)
    digits = [e.digit for e in received if isinstance(e, ChannelDtmfReceived)]
    assert digits[:3] == ["1", "2", "3"]
    assert fake_ari.apps_seen[:3] == ["switchboard"] * 3
    assert connects >= 3


async def test_wrong_credentials_stop_the_event_loop_instead_of_retrying(
    fake_ari: FakeAri,
) -> None:
    ari = AriClient(fake_ari.url, USER, "wrong", "switchboard")
    with pytest.raises(AriAuthError):
        await asyncio.wait_for(ari.run(lambda _e: None), 5)
    await ari.close()
    assert fake_ari.connections == 0


async def test_heartbeat_notices_a_half_open_socket_and_reconnects(fake_ari: FakeAri) -> None:
    fake_ari.answer_pings = False
    fake_ari.drop_after_events = False
    ari = AriClient(fake_ari.url, USER, PASSWORD, "switchboard", heartbeat=0.3, max_backoff=0.2)
    runner = asyncio.create_task(ari.run(lambda _e: None))
    try:
        async with asyncio.timeout(10):
            while fake_ari.connections < 2:
                await asyncio.sleep(0.05)
    finally:
        await ari.close()
        await asyncio.wait_for(runner, 5)
    assert fake_ari.connections >= 2


async def test_asterisk_down_is_retried_until_it_comes_up() -> None:
    port = free_port()
    ari = AriClient(f"http://127.0.0.1:{port}", USER, PASSWORD, "switchboard", max_backoff=0.2)
    runner = asyncio.create_task(ari.run(lambda _e: None))
    await asyncio.sleep(0.6)
    assert not runner.done()
    assert not ari.connected.is_set()
    await ari.close()
    await asyncio.wait_for(runner, 5)


async def test_a_failing_event_handler_does_not_drop_the_connection(fake_ari: FakeAri) -> None:
    fake_ari.drop_after_events = False
    seen: list[Event] = []

    def handler(event: Event) -> None:
        seen.append(event)
        raise RuntimeError("bug in a handler")

    ari = AriClient(fake_ari.url, USER, PASSWORD, "switchboard", max_backoff=0.2)
    runner = asyncio.create_task(ari.run(handler))
    try:
        async with asyncio.timeout(5):
            while not seen:
                await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
        assert fake_ari.connections == 1
        assert not runner.done()
    finally:
        await ari.close()
        await asyncio.wait_for(runner, 5)
