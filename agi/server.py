"""Our FastAGI server.

Panoramisk's FastAGI server freezes the whole event loop when a client sends half a request
and disconnects, and it routes ``script?x=y`` with the query in the name; this one reads
requests under a deadline and a size limit, closes anything that is not FastAGI, and routes
on the script name alone. One bad connection never delays another.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

from agi.protocol import (
    AgiProtocolError,
    AgiRequest,
    AgiResponse,
    parse_header_line,
    parse_response,
    quote,
)

log = structlog.get_logger(__name__)

MAX_LINE = 4096
MAX_HEADERS = 200


class AgiHangup(Exception):
    """The channel hung up while the handler was still talking to it."""


class AgiSession:
    """A handler's view of one AGI request: the headers and a command channel."""

    def __init__(
        self,
        request: AgiRequest,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        command_timeout: float,
    ) -> None:
        self.request = request
        self._reader = reader
        self._writer = writer
        self._timeout = command_timeout

    async def command(self, text: str) -> AgiResponse:
        if "\n" in text or "\r" in text:
            raise ValueError("an AGI command is one line")
        self._writer.write(text.encode() + b"\n")
        await self._writer.drain()
        async with asyncio.timeout(self._timeout):
            while True:
                line = await self._reader.readline()
                if not line:
                    raise AgiHangup("connection closed")
                decoded = line.decode("utf-8", "replace").strip()
                if decoded == "HANGUP":
                    continue  # AGISIGHUP notice; the next line is our answer
                response = parse_response(decoded)
                if response.code == 511:
                    raise AgiHangup("channel is dead")
                return response

    async def set_variable(self, name: str, value: str) -> AgiResponse:
        return await self.command(f"SET VARIABLE {name} {quote(value)}")

    async def get_variable(self, name: str) -> str | None:
        response = await self.command(f"GET VARIABLE {name}")
        return response.data if response.result == "1" else None

    async def verbose(self, message: str, level: int = 1) -> AgiResponse:
        return await self.command(f"VERBOSE {quote(message)} {level}")


Handler = Callable[[AgiSession], Awaitable[None]]


class AgiRegistry:
    """Handlers by script name: ``agi://host/dnc-check?list=x`` runs ``dnc-check``."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def route(self, name: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.add(name, handler)
            return handler

        return register

    def add(self, name: str, handler: Handler) -> None:
        if name in self._handlers:
            raise ValueError(f"an AGI handler named {name!r} exists already")
        self._handlers[name] = handler

    def get(self, name: str) -> Handler | None:
        return self._handlers.get(name)

    def names(self) -> list[str]:
        return sorted(self._handlers)


async def read_request(reader: asyncio.StreamReader, timeout: float) -> AgiRequest:
    """Read the header block within ``timeout`` seconds or fail."""
    headers: dict[str, str] = {}
    count = 0
    async with asyncio.timeout(timeout):
        while True:
            try:
                line = await reader.readline()
            except (asyncio.LimitOverrunError, ValueError) as exc:
                raise AgiProtocolError("header line too long") from exc
            if not line:
                raise AgiProtocolError("connection closed before the request was complete")
            if not line.endswith(b"\n"):
                raise AgiProtocolError("connection closed mid-line")
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            if text == "":
                break
            count += 1  # lines, not names: the same name sent forever is refused too
            if count > MAX_HEADERS:
                raise AgiProtocolError("too many header lines")
            key, value = parse_header_line(text)
            headers[key] = value
    return AgiRequest.from_headers(headers)


class FastAgiServer:
    def __init__(
        self,
        registry: AgiRegistry,
        host: str = "127.0.0.1",
        port: int = 4573,
        *,
        header_timeout: float = 5.0,
        command_timeout: float = 10.0,
        session_timeout: float = 300.0,
    ) -> None:
        self.registry = registry
        self.host = host
        self.port = port
        self.header_timeout = header_timeout
        self.command_timeout = command_timeout
        self.session_timeout = session_timeout
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.requests_served = 0
        self.requests_rejected = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._on_connection, self.host, self.port, limit=MAX_LINE
        )
        sockets = self._server.sockets or ()
        if sockets:
            self.port = sockets[0].getsockname()[1]
        log.info("agi.listening", host=self.host, port=self.port, scripts=self.registry.names())

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        # Cancel live sessions first: on Python 3.12+ wait_closed() waits for them.
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        peer = writer.get_extra_info("peername")
        try:
            await self._serve(reader, writer, peer)
        finally:
            if task is not None:
                self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: object
    ) -> None:
        try:
            request = await read_request(reader, self.header_timeout)
        except TimeoutError:
            self.requests_rejected += 1
            log.warning("agi.request_timeout", peer=str(peer))
            return
        except (AgiProtocolError, OSError) as exc:  # OSError: the peer reset the connection
            self.requests_rejected += 1
            log.warning("agi.bad_request", peer=str(peer), error=str(exc) or type(exc).__name__)
            return
        handler = self.registry.get(request.script)
        if handler is None:
            self.requests_rejected += 1
            log.warning("agi.unknown_script", script=request.script, peer=str(peer))
            return
        session = AgiSession(request, reader, writer, self.command_timeout)
        try:
            async with asyncio.timeout(self.session_timeout):
                await handler(session)
            self.requests_served += 1
        except AgiHangup:
            log.info("agi.hangup", script=request.script)
        except (TimeoutError, AgiProtocolError, ConnectionError) as exc:
            log.warning("agi.session_failed", script=request.script, error=str(exc))
        except Exception:
            log.exception("agi.handler_failed", script=request.script)
