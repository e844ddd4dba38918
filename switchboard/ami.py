"""A direct AMI log-in check.

panoramisk, given a wrong secret, raises nothing and loops reconnecting while actions never
resolve; so before anything relies on AMI we log in ourselves and fail clearly.
"""

from __future__ import annotations

import asyncio
import contextlib


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
