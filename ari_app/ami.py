"""A direct AMI log-in check, and short AMI sessions for a few actions.

panoramisk, given a wrong secret, raises nothing and loops reconnecting while actions never
resolve; so before anything relies on AMI we log in ourselves and fail clearly. The few
actions the application needs (Asterisk's database, which ARI cannot read) run in a session
of their own, opened and closed around them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator


class AmiError(Exception):
    pass


class AmiUnavailable(AmiError):
    pass


class AmiAuthError(AmiError):
    pass


async def check_login(host: str, port: int, user: str, secret: str, timeout: float = 5.0) -> str:
    """Log in and off; return the AMI banner. Raise AmiAuthError or AmiUnavailable."""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError) as exc:
        raise AmiUnavailable(f"nothing answers AMI at {host}:{port} ({exc})") from exc
    try:
        async with asyncio.timeout(timeout):
            banner = (await reader.readline()).decode("utf-8", "replace").strip()
            if not banner.startswith("Asterisk Call Manager"):
                raise AmiUnavailable(f"{host}:{port} is not AMI (it said {banner[:60]!r})")
            writer.write(
                (
                    f"Action: Login\r\nUsername: {user}\r\nSecret: {secret}\r\nEvents: off\r\n\r\n"
                ).encode()
            )
            await writer.drain()
            response: dict[str, str] = {}
            while True:
                line = (await reader.readline()).decode("utf-8", "replace")
                if not line:
                    raise AmiUnavailable("AMI closed the connection during log-in")
                line = line.strip()
                if not line:
                    if response:
                        break
                    continue
                key, _, value = line.partition(":")
                response[key.strip().lower()] = value.strip()
            if response.get("response", "").lower() != "success":
                raise AmiAuthError(
                    f"Asterisk refused the AMI user {user!r}: "
                    f"{response.get('message', 'authentication failed')}"
                )
            writer.write(b"Action: Logoff\r\n\r\n")
            await writer.drain()
            return banner
    except TimeoutError as exc:
        raise AmiUnavailable(f"AMI at {host}:{port} did not answer in time") from exc
    finally:
        writer.close()
        with contextlib.suppress(OSError, ConnectionError):
            await writer.wait_closed()


Message = dict[str, str]


async def _read_message(reader: asyncio.StreamReader) -> Message:
    message: Message = {}
    while True:
        line = (await reader.readline()).decode("utf-8", "replace")
        if not line:
            raise AmiUnavailable("AMI closed the connection")
        line = line.rstrip("\r\n")
        if not line:
            if message:
                return message
            continue
        key, _, value = line.partition(":")
        message[key.strip().lower()] = value.strip()


class AmiSession:
    """One logged-in AMI connection: actions one at a time, each with its own ActionID."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._ids = itertools.count(1)

    async def action(self, name: str, **fields: str) -> list[Message]:
        """Send ``name`` with ``fields``; return its response and, for an action that
        answers with a list of events, those events (up to the list's completion).
        Raises AmiError when Asterisk answers with an error."""
        action_id = f"sb-{next(self._ids)}"
        lines = [f"Action: {name}", f"ActionID: {action_id}"]
        for key, value in fields.items():
            if "\r" in value or "\n" in value:
                raise ValueError(f"AMI field {key} holds a line break")
            lines.append(f"{key}: {value}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self.writer.drain()
        out: list[Message] = []
        listing = False
        while True:
            message = await _read_message(self.reader)
            if message.get("actionid") != action_id:
                continue  # an event of nobody's asking
            if not out:
                if message.get("response", "").lower() == "error":
                    raise AmiError(f"{name}: {message.get('message', 'refused')}")
                listing = message.get("eventlist", "").lower() == "start"
                out.append(message)
                if not listing:
                    return out
                continue
            if message.get("eventlist", "").lower() == "complete":
                return out
            out.append(message)


@contextlib.asynccontextmanager
async def ami_session(
    host: str, port: int, user: str, secret: str, timeout: float = 10.0
) -> AsyncIterator[AmiSession]:
    """Log in, hand over the session, log off. Raises AmiUnavailable or AmiAuthError; the
    whole session must be over within ``timeout`` seconds."""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError) as exc:
        raise AmiUnavailable(f"nothing answers AMI at {host}:{port} ({exc})") from exc
    try:
        async with asyncio.timeout(timeout):
            await reader.readline()  # the banner
            session = AmiSession(reader, writer)
            try:
                await session.action("Login", Username=user, Secret=secret, Events="off")
            except AmiError as exc:
                raise AmiAuthError(f"Asterisk refused the AMI user {user!r}: {exc}") from exc
            yield session
            with contextlib.suppress(AmiError, OSError):
                await session.action("Logoff")
    except TimeoutError as exc:
        raise AmiUnavailable(f"AMI at {host}:{port} did not answer in time") from exc
    finally:
        writer.close()
        with contextlib.suppress(OSError, ConnectionError):
            await writer.wait_closed()
