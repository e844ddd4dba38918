"""Our own ARI client on aiohttp: REST plus the events websocket.

The published Python ARI libraries were each tried against Asterisk 22: ari-py does not run
on Python 3, and aioari, asyncari and ari-client each fail when Asterisk restarts (silent
stop, process death, or an endless error loop). This client reconnects with backoff,
re-registers the application on every connect, notices a half-open socket with a heartbeat,
and never awaits application code inside the websocket reader.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import random
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

import aiohttp
import structlog

from ari_app.events import Event, parse_event

log = structlog.get_logger(__name__)


class AriError(Exception):
    """An ARI request failed."""


class AriUnavailable(AriError):
    """Nothing answers at the ARI address (Asterisk down, wrong port)."""


class AriAuthError(AriError):
    """Asterisk refused our ARI user name or password."""


class AriHttpError(AriError):
    def __init__(self, status: int, method: str, path: str, message: str) -> None:
        super().__init__(f"{method} {path}: HTTP {status} {message}".strip())
        self.status = status


class AriNotFound(AriHttpError):
    """The channel, bridge or playback is gone (a hangup won the race): usually harmless."""


def auth_header(user: str, password: str) -> str:
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


EventSink = Callable[[Event], None]
ConnectHook = Callable[[], Coroutine[Any, Any, None]]


class AriClient:
    """REST requests and a self-healing event stream for one Stasis application."""

    def __init__(
        self,
        base_url: str,
        user: str,
        password: str,
        app: str,
        *,
        heartbeat: float = 5.0,
        request_timeout: float = 10.0,
        max_backoff: float = 10.0,
        event_types: Iterable[str] = (),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.app = app
        self._headers = {"Authorization": auth_header(user, password)}
        self._heartbeat = heartbeat
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)
        self._max_backoff = max_backoff
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._stopping = False
        self.connected = asyncio.Event()
        self.connections = 0
        self.requests = 0  # REST requests sent (for /metrics and the benchmarks)
        self.events = 0  # events received on the websocket
        # Only these event types are sent to us (all when empty): Asterisk then neither
        # encodes nor sends the dozens per call we would only parse and drop.
        self.event_types = tuple(sorted(event_types))

    @property
    def ws_url(self) -> str:
        if self.base_url.startswith("https://"):
            return "wss://" + self.base_url.removeprefix("https://") + "/ari/events"
        return "ws://" + self.base_url.removeprefix("http://") + "/ari/events"

    async def __aenter__(self) -> AriClient:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=100, keepalive_timeout=30)
            self._session = aiohttp.ClientSession(
                headers=self._headers, timeout=self._timeout, connector=connector
            )

    async def close(self) -> None:
        self._stopping = True
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()
        if self._session is not None and not self._session.closed:
            await self._session.close()

    def _require_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            raise AriError("the ARI client is not open")
        return self._session

    # --- REST -----------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str | int] | None = None,
        body: dict[str, Any] | None = None,
    ) -> Any:
        """Call ``/ari<path>`` and return the decoded JSON body (``None`` when empty)."""
        data = await self._exchange(method, path, params, body)
        return json.loads(data) if data else None

    async def _exchange(
        self,
        method: str,
        path: str,
        params: dict[str, str | int] | None,
        body: dict[str, Any] | None,
    ) -> bytes:
        """Call ``/ari<path>``; the body as sent (a 4xx or 5xx raised as its AriError)."""
        session = self._require_session()
        url = f"{self.base_url}/ari{path}"
        self.requests += 1
        try:
            async with session.request(method, url, params=params, json=body) as response:
                data = await response.read()
                if response.status == 401:
                    raise AriAuthError("Asterisk refused the ARI user name or password")
                if response.status >= 400:
                    message = _error_message(data.decode("utf-8", "replace"))
                    if response.status == 404:
                        raise AriNotFound(response.status, method, path, message)
                    raise AriHttpError(response.status, method, path, message)
                return data
        except aiohttp.ClientConnectionError as exc:
            raise AriUnavailable(f"nothing answers ARI at {self.base_url}: {exc}") from exc
        except TimeoutError as exc:
            raise AriUnavailable(f"ARI at {self.base_url} did not answer in time") from exc

    async def get(self, path: str, **params: str | int) -> Any:
        return await self.request("GET", path, params=params or None)

    async def get_bytes(self, path: str) -> bytes:
        """A binary resource (a stored recording's file), whole."""
        return await self._exchange("GET", path, None, None)

    async def post(self, path: str, body: dict[str, Any] | None = None, **params: str | int) -> Any:
        return await self.request("POST", path, params=params or None, body=body)

    async def put(self, path: str, body: dict[str, Any] | None = None, **params: str | int) -> Any:
        return await self.request("PUT", path, params=params or None, body=body)

    async def delete(self, path: str, **params: str | int) -> Any:
        return await self.request("DELETE", path, params=params or None)

    # --- events -----------------------------------------------------------------------

    async def run(self, on_event: EventSink, on_connect: ConnectHook | None = None) -> None:
        """Keep the events websocket up until ``close()``; reconnect with backoff.

        ``on_event`` is called synchronously in the reader and must only enqueue; the
        reader never waits for application code. ``on_connect`` runs as a task after each
        (re)connect, for reconciliation. Wrong credentials end the loop with
        ``AriAuthError``: retrying would never help.
        """
        await self.open()
        attempt = 0
        self._stopping = False
        while not self._stopping:
            try:
                await self._listen(on_event, on_connect)
                attempt = 0
                if not self._stopping:
                    log.warning("ari.disconnected", url=self.base_url)
            except AriAuthError:
                raise
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                if self._stopping:
                    break
                attempt += 1
                delay = min(self._max_backoff, 0.5 * 2 ** min(attempt - 1, 6))
                delay *= 0.8 + 0.4 * random.random()
                log.warning(
                    "ari.unreachable",
                    url=self.base_url,
                    error=str(exc) or type(exc).__name__,
                    attempt=attempt,
                    retry_in_s=round(delay, 2),
                )
                await asyncio.sleep(delay)
                continue
            if not self._stopping:
                await asyncio.sleep(0.2)

    async def _listen(self, on_event: EventSink, on_connect: ConnectHook | None) -> None:
        session = self._require_session()
        params = {"app": self.app, "subscribeAll": "false"}
        try:
            ws = await session.ws_connect(
                self.ws_url,
                params=params,
                heartbeat=self._heartbeat,
                timeout=aiohttp.ClientWSTimeout(ws_close=2.0),
                autoping=True,
            )
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status == 401:
                raise AriAuthError("Asterisk refused the ARI user name or password") from exc
            raise
        self._ws = ws
        self.connections += 1
        self.connected.set()
        log.info("ari.connected", url=self.base_url, app=self.app, connection=self.connections)
        await self._filter_events()
        hook: asyncio.Task[None] | None = None
        if on_connect is not None:
            hook = asyncio.create_task(on_connect(), name="ari-on-connect")
        try:
            async for message in ws:
                if message.type == aiohttp.WSMsgType.TEXT:
                    try:
                        payload = json.loads(message.data)
                    except ValueError:
                        log.warning("ari.bad_message", data=str(message.data)[:200])
                        continue
                    if isinstance(payload, dict):
                        self.events += 1
                        try:
                            on_event(parse_event(payload))
                        except Exception:
                            # A bug in one event's handling must not cut every call off.
                            log.exception("ari.event_handler_failed", type=payload.get("type"))
                elif message.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE):
                    break
        finally:
            self.connected.clear()
            self._ws = None
            if hook is not None and not hook.done():
                hook.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await hook

    async def _filter_events(self) -> None:
        """Ask Asterisk for only the event types we act on (again on every connect: a
        restarted Asterisk forgot). Without it (an old Asterisk) every event still works."""
        if not self.event_types:
            return
        allowed = [{"type": kind} for kind in self.event_types]
        try:
            await self.put(f"/applications/{self.app}/eventFilter", {"allowed": allowed})
        except AriError as exc:
            log.warning("ari.event_filter_refused", error=str(exc))


def _error_message(text: str) -> str:
    try:
        payload = json.loads(text)
    except ValueError:
        return text[:200]
    if isinstance(payload, dict) and "message" in payload:
        return str(payload["message"])
    return text[:200]


async def live_channel_ids(ari: AriClient) -> set[str]:
    """The ids of every channel Asterisk has now (raises AriError when it cannot say)."""
    channels = await ari.get("/channels")
    if not isinstance(channels, list):
        return set()
    return {c["id"] for c in channels if isinstance(c, dict) and "id" in c}
