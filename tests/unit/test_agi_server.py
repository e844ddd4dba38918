"""The FastAGI server against raw sockets: bad clients never delay good ones."""

from __future__ import annotations

import asyncio
import time

from agi.handlers import build_registry
from agi.server import AgiRegistry, AgiSession, FastAgiServer


def request_block(script: str, **extra: str) -> bytes:
    lines = [
        "agi_network: yes",
        f"agi_network_script: {script}",
        f"agi_request: agi://127.0.0.1/{script}",
        "agi_channel: PJSIP/trunk-in-00000001",
        "agi_uniqueid: 1700000000.1",
        "agi_callerid: 5551234",
        "agi_extension: 100",
    ] + [f"agi_{k}: {v}" for k, v in extra.items()]
    return ("\n".join(lines) + "\n\n").encode()


async def play_asterisk(port: int, script: str) -> list[str]:
    """Act as Asterisk: send the request, answer every command with success."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request_block(script))
    await writer.drain()
    commands = []
    while True:
        line = await reader.readline()
        if not line:
            break
        commands.append(line.decode().strip())
        writer.write(b"200 result=1\n")
        await writer.drain()
    writer.close()
    return commands


async def started(registry: AgiRegistry, header_timeout: float = 1.0) -> FastAgiServer:
    server = FastAgiServer(registry, "127.0.0.1", 0, header_timeout=header_timeout)
    await server.start()
    return server


async def test_script_is_routed_without_its_query_and_params_are_parsed() -> None:
    server = await started(build_registry("node-x"))
    try:
        commands = await play_asterisk(server.port, "health?echo=hello%20there&x=1")
    finally:
        await server.close()
    assert commands == [
        'SET VARIABLE SB_AGI "ok"',
        'SET VARIABLE SB_NODE "node-x"',
        'SET VARIABLE SB_ECHO "hello there"',
    ]
    assert server.requests_served == 1


async def test_half_sent_request_does_not_delay_a_concurrent_valid_one() -> None:
    server = await started(build_registry("n"), header_timeout=3.0)
    try:
        stalled_reader, stalled = await asyncio.open_connection("127.0.0.1", server.port)
        stalled.write(b"agi_network: yes\nagi_network_scr")  # half a request, then silence
        await stalled.drain()
        begun = time.monotonic()
        commands = await asyncio.wait_for(play_asterisk(server.port, "health"), 2.0)
        took = time.monotonic() - begun
        assert commands[0] == 'SET VARIABLE SB_AGI "ok"'
        assert took < 1.0, f"the valid request waited {took:.2f} s"
        # The stalled client is cut off when its header deadline passes.
        assert await asyncio.wait_for(stalled_reader.read(), 5.0) == b""
        assert server.requests_rejected == 1
        stalled.close()
    finally:
        await server.close()


async def test_half_request_then_disconnect_does_not_spin_the_loop() -> None:
    server = await started(build_registry("n"))
    try:
        for _ in range(20):
            _r, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"agi_network: yes\nagi_netw")
            await writer.drain()
            writer.close()
        begun = time.monotonic()
        await asyncio.sleep(0.2)
        # If a dead connection spun the loop, this sleep would overrun badly.
        assert time.monotonic() - begun < 0.5
        commands = await asyncio.wait_for(play_asterisk(server.port, "health"), 2.0)
        assert commands
        await asyncio.sleep(0.1)
        assert server.requests_rejected == 20
    finally:
        await server.close()


async def test_garbage_and_oversized_lines_are_closed() -> None:
    server = await started(build_registry("n"))
    try:
        for payload in (b"GET / HTTP/1.1\r\n\r\n", b"agi_x: " + b"a" * 10000 + b"\n\n"):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(payload)
            await writer.drain()
            assert await asyncio.wait_for(reader.read(), 2.0) == b""
            writer.close()
        assert server.requests_rejected == 2
    finally:
        await server.close()


async def test_unknown_script_is_refused_and_handler_errors_are_contained() -> None:
    registry = AgiRegistry()

    @registry.route("boom")
    async def boom(agi: AgiSession) -> None:
        raise RuntimeError("handler bug")

    server = await started(registry)
    try:
        assert await play_asterisk(server.port, "nope") == []
        assert await play_asterisk(server.port, "boom") == []
        assert server.requests_rejected == 1
    finally:
        await server.close()


def test_a_script_name_can_be_registered_once() -> None:
    registry = AgiRegistry()

    async def handler(agi: AgiSession) -> None:
        return None

    registry.add("x", handler)
    try:
        registry.add("x", handler)
    except ValueError as exc:
        assert "exists already" in str(exc)
    else:
        raise AssertionError("a duplicate name was accepted")
