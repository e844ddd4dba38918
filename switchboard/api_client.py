"""The CLI's way to ask the running application for something (agent states, ...)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from callcenter.config import Settings


class ApiError(RuntimeError):
    pass


def call_api(
    settings: Settings, method: str, path: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    answer: dict[str, Any] = json.loads(_send(settings, method, path, body) or b"{}")
    return answer


def fetch_bytes(settings: Settings, path: str, timeout: float = 60) -> bytes:
    """A binary resource from the app (a recording's file)."""
    return _send(settings, "GET", path, None, timeout)


def _send(
    settings: Settings,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    timeout: float = 10,
) -> bytes:
    if not settings.api_token:
        raise ApiError(
            "SWITCHBOARD_API_TOKEN is not set: the CLI uses the token the app runs with "
            "(in .env, written by 'switchboard init')"
        )
    host = "127.0.0.1" if settings.api_host in ("0.0.0.0", "::", "") else settings.api_host
    url = f"http://{host}:{settings.api_port}{path}"
    sent = json.dumps({k: v for k, v in (body or {}).items() if v is not None}).encode()
    request = urllib.request.Request(url, data=sent if method != "GET" else None, method=method)
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", f"Bearer {settings.api_token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer: bytes = response.read()
            return answer
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read()).get("error", exc.reason)
        except ValueError:
            detail = exc.reason
        if exc.code == 401:
            detail = (
                f"{detail}: the app does not know this SWITCHBOARD_API_TOKEN "
                "(is the CLI using the same .env as `switchboard run`?)"
            )
        raise ApiError(str(detail)) from None
    except (urllib.error.URLError, OSError) as exc:
        raise ApiError(
            f"the Switchboard app is not answering at {url} ({exc}): is `switchboard run` up?"
        ) from None
