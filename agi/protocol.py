"""The FastAGI wire format, as plain functions: request headers in, command text out.

Asterisk opens a TCP connection, sends ``agi_<name>: <value>`` lines ended by an empty line,
then reads one response line (``200 result=1 (data)``) for every command we send.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import SplitResult, parse_qs, urlsplit


class AgiProtocolError(ValueError):
    """The peer sent something that is not FastAGI."""


_HEADER = re.compile(r"^agi_([a-z0-9_]+):\s?(.*)$")
_RESPONSE = re.compile(r"^([0-9]{3})(?:[ -](.*))?$")  # ASCII digits only (not \d)
_RESULT = re.compile(r"result=(-?\S*)(?:\s+\((.*)\))?(?:\s+(.*))?$")


def parse_header_line(line: str) -> tuple[str, str]:
    match = _HEADER.match(line)
    if match is None:
        raise AgiProtocolError(f"not an AGI header line: {line[:80]!r}")
    return match.group(1), match.group(2)


def _split(url: str) -> SplitResult:
    try:
        return urlsplit(url)
    except ValueError as exc:  # "agi://[::1" is an invalid IPv6 URL, and more
        raise AgiProtocolError(f"the request is not a URL: {exc}") from None


def _url_path(url: str) -> str:
    return _split(url).path


@dataclass(frozen=True)
class AgiRequest:
    """What Asterisk told us about the call, and which script it asked for."""

    headers: dict[str, str]
    script: str
    params: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()

    @classmethod
    def from_headers(cls, headers: dict[str, str]) -> AgiRequest:
        raw = headers.get("network_script") or _url_path(headers.get("request", ""))
        if not raw:
            raise AgiProtocolError("the request names no script")
        parts = _split(raw if "://" not in raw else raw.split("://", 1)[1].split("/", 1)[-1])
        script = parts.path.strip("/")
        if not script:
            raise AgiProtocolError("the request names no script")
        params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        args = []
        index = 1
        while f"arg_{index}" in headers:
            args.append(headers[f"arg_{index}"])
            index += 1
        return cls(headers=headers, script=script, params=params, args=tuple(args))

    @property
    def channel(self) -> str:
        return self.headers.get("channel", "")

    @property
    def uniqueid(self) -> str:
        return self.headers.get("uniqueid", "")

    @property
    def caller_number(self) -> str:
        return self.headers.get("callerid", "")

    @property
    def dialed(self) -> str:
        return self.headers.get("extension", "")


@dataclass(frozen=True)
class AgiResponse:
    code: int
    result: str = ""
    data: str = ""
    text: str = ""

    @property
    def ok(self) -> bool:
        return self.code == 200 and not self.result.startswith("-")


def parse_response(line: str) -> AgiResponse:
    match = _RESPONSE.match(line.strip())
    if match is None:
        raise AgiProtocolError(f"not an AGI response: {line[:80]!r}")
    code = int(match.group(1))
    rest = match.group(2) or ""
    result = _RESULT.search(rest)
    if result is None:
        return AgiResponse(code=code, text=rest)
    return AgiResponse(code=code, result=result.group(1), data=result.group(2) or "", text=rest)


def quote(value: str) -> str:
    """A command argument, quoted so that spaces, quotes and newlines cannot break out.

    Asterisk reads it back exactly (res_agi.c's parse_args), except that line ends and NUL
    characters become spaces: a command is one line, and Asterisk's C strings end at a NUL
    (which would cut off the rest of the command)."""
    cleaned = value.replace("\\", "\\\\").replace('"', '\\"')
    cleaned = cleaned.replace("\r", " ").replace("\n", " ").replace("\x00", " ")
    return f'"{cleaned}"'
