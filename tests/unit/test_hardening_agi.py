"""FastAGI against any input (hypothesis): any bytes as a request header give a request or
AgiProtocolError; what Asterisk sends round-trips through our parsers and what we send
round-trips through Asterisk's; the real server closes every bad connection within its
deadline, serves good ones meanwhile, and never blocks its event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from agi.protocol import AgiProtocolError, AgiRequest, parse_header_line, parse_response, quote
from agi.server import MAX_HEADERS, MAX_LINE, AgiRegistry, AgiSession, FastAgiServer, read_request

SOME = settings(
    deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow], database=None
)


async def _read(data: bytes, eof: bool = True) -> AgiRequest:
    reader = asyncio.StreamReader(limit=MAX_LINE)
    reader.feed_data(data)
    if eof:
        reader.feed_eof()
    return await read_request(reader, timeout=5)


def read(data: bytes) -> AgiRequest | AgiProtocolError:
    """The request in ``data`` (then EOF), or the protocol error; nothing else, never hangs."""
    started = time.monotonic()
    try:
        return asyncio.run(_read(data))
    except AgiProtocolError as exc:
        return exc
    finally:
        assert time.monotonic() - started < 2


# --- any bytes as a header ------------------------------------------------------------

LINE_ENDS = st.sampled_from([b"\n", b"\r\n", b"\r", b"\n\r", b"\r\r\n", b""])
PIECES = st.one_of(
    st.sampled_from(
        [
            b"agi_network: yes",
            b"agi_network_script: health",
            b"agi_network_script: ",
            b"agi_request: agi://127.0.0.1/health?x=1",
            b"agi_request: agi://[::1",
            b"agi_request: http://[x/",
            b"agi_arg_1: a b",
            b"agi_callerid: '; DROP TABLE calls;--",
            b"AGI_NETWORK: yes",
            b"agi_: x",
            b"agi_x:",
            b"agi_x:\x85y",
            b"GET / HTTP/1.1",
            b"\xff\xfe\x00",
            b"\xc3\x28",
            b"\x00",
            b"\x1b[2J",
            b" ",
            b"agi_x: " + b"a" * (MAX_LINE + 10),
        ]
    ),
    st.binary(max_size=40),
)
HEADERISH = st.lists(st.tuples(PIECES, LINE_ENDS), max_size=12).map(
    lambda parts: b"".join(piece + end for piece, end in parts)
)


@SOME
@given(data=st.one_of(HEADERISH, st.binary(max_size=600)), blank=LINE_ENDS)
@example(data=b"agi_network: yes\nagi_request: agi://[::1\n", blank=b"\n")
@example(data=b"agi_x: y\n" * (MAX_HEADERS + 1), blank=b"\n")
@example(data=b"agi_network_script: a\n", blank=b"")
def test_any_bytes_give_a_request_or_the_protocol_error(data: bytes, blank: bytes) -> None:
    result = read(data + blank)
    if isinstance(result, AgiRequest):
        assert result.script and result.script == result.script.strip("/")
        assert "?" not in result.script
        assert all(isinstance(v, str) for v in result.headers.values())


def test_the_same_header_sent_forever_is_cut_off() -> None:
    result = read(b"agi_x: y\n" * (MAX_HEADERS + 1) + b"\n")
    assert isinstance(result, AgiProtocolError)
    assert "too many header lines" in str(result)


def test_an_ipv6_url_that_does_not_close_is_a_protocol_error() -> None:
    result = read(b"agi_network: yes\nagi_request: agi://[::1\n\n")
    assert isinstance(result, AgiProtocolError), result
    assert "not a URL" in str(result)


# --- round trips ----------------------------------------------------------------------

NAMES = st.text("abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=12)
# Anything Asterisk can put on one header line: no line end inside, no CR at the end (a CRLF
# line end is read as one).
VALUES = st.text(max_size=60).filter(lambda v: "\n" not in v and not v.endswith("\r"))


@SOME
@given(
    script=st.text("abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=20).filter(
        lambda s: s.strip(".") != "" and not s.startswith(".")
    ),
    params=st.dictionaries(NAMES, st.text(max_size=20), max_size=4),
    headers=st.dictionaries(
        NAMES.filter(lambda n: not n.startswith(("network", "request", "arg_"))), VALUES
    ),
    args=st.lists(VALUES, max_size=5),
    end=st.sampled_from([b"\n", b"\r\n"]),
)
def test_headers_round_trip(
    script: str, params: dict[str, str], headers: dict[str, str], args: list[str], end: bytes
) -> None:
    query = urlencode(params)
    sent = {"network": "yes", "network_script": f"{script}?{query}" if query else script}
    sent |= headers
    sent |= {f"arg_{i}": a for i, a in enumerate(args, start=1)}
    block = b"".join(f"agi_{k}: {v}".encode() + end for k, v in sent.items()) + end
    request = read(block)
    assert isinstance(request, AgiRequest), request
    assert request.headers == sent
    assert request.script == script
    assert request.params == params
    assert request.args == tuple(args)


@SOME
@given(value=st.binary(max_size=60).filter(lambda b: b"\n" not in b and not b.endswith(b"\r")))
def test_header_bytes_that_are_not_utf8_become_replacement_characters(value: bytes) -> None:
    request = read(b"agi_network_script: s\nagi_callerid: " + value + b"\n\n")
    assert isinstance(request, AgiRequest)
    assert request.caller_number == value.decode("utf-8", "replace")


@SOME
@given(
    code=st.integers(100, 599),
    result=st.from_regex(r"-?[0-9A-Za-z*#]{1,8}", fullmatch=True),
    data=st.none() | st.text(max_size=40).filter(lambda d: "\n" not in d and "\r" not in d),
)
@example(code=200, result="1", data="a) (b")
@example(code=200, result="1", data="")
def test_responses_as_asterisk_writes_them_round_trip(
    code: int, result: str, data: str | None
) -> None:
    line = f"{code} result={result}" + (f" ({data})" if data is not None else "")
    response = parse_response(line + "\n")
    assert (response.code, response.result, response.data) == (code, result, data or "")


@SOME
@given(line=st.text(max_size=80))
@example(line="٢٠٠ result=1")  # Arabic-Indic digits are \d, not a response code
def test_any_response_line_is_parsed_or_refused(line: str) -> None:
    try:
        response = parse_response(line)
    except AgiProtocolError:
        return
    assert 100 <= response.code <= 999
    assert line.strip()[:3] == str(response.code)


def asterisk_parse_args(command: str) -> list[str]:
    """Asterisk's own reading of an AGI command line (res_agi.c, parse_args), in Python. The
    line is a C string: it ends at the first NUL."""
    command = command.split("\x00", 1)[0]
    args: list[str] = []
    current: list[str] | None = None
    quoted = escaped = False
    for char in command:
        if char == '"' and not escaped:
            quoted = not quoted
            if quoted and current is None:
                current = []
                args.append("")
            continue
        if char in " \t" and not quoted and not escaped:
            if current is not None:
                args[-1] = "".join(current)
            current = None
            continue
        if char == "\\" and not escaped:
            escaped = True
            continue
        if current is None:
            current = []
            args.append("")
        current.append(char)
        escaped = False
    if current is not None:
        args[-1] = "".join(current)
    return args


def test_the_model_of_asterisks_parser() -> None:
    assert asterisk_parse_args('SET VARIABLE X "a b"') == ["SET", "VARIABLE", "X", "a b"]
    assert asterisk_parse_args('VERBOSE "" 1') == ["VERBOSE", "", "1"]
    assert asterisk_parse_args('X "a\\"b\\\\c"') == ["X", 'a"b\\c']
    assert asterisk_parse_args("X a\\ b") == ["X", "a b"]
    assert asterisk_parse_args('X "a\x00b" 1') == ["X", "a"]


@SOME
@given(value=st.text(max_size=80))
@example(value='"; HANGUP\n200 result=1 "')
@example(value="a\x00b")
@example(value="\\")
def test_quoted_arguments_reach_asterisk_as_they_were(value: str) -> None:
    sent = value.replace("\r", " ").replace("\n", " ").replace("\x00", " ")
    assert asterisk_parse_args(f"SET VARIABLE SB_X {quote(value)}") == [
        "SET",
        "VARIABLE",
        "SB_X",
        sent,
    ]
    assert asterisk_parse_args(f"VERBOSE {quote(value)} 3") == ["VERBOSE", sent, "3"]


@SOME
@given(name=NAMES, value=VALUES)
def test_header_lines_round_trip(name: str, value: str) -> None:
    assert parse_header_line(f"agi_{name}: {value}") == (name, value)


# --- the real server ------------------------------------------------------------------

HEADER_TIMEOUT = 1.0  # generous: a loaded CI machine may not schedule us for a while
SLACK = 0.6  # scheduling on a busy CI machine


@dataclass
class Client:
    payload: bytes
    then: str  # "close": send, then EOF; "hold": send, then silence; "reset": send, then RST
    closed_after: float | None = None
    received: bytes = b""


@dataclass
class Watch:
    """Measures how late the event loop runs a 10 ms timer: a blocked loop shows at once."""

    worst: float = 0.0
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    async def _run(self) -> None:
        while True:
            started = time.monotonic()
            await asyncio.sleep(0.01)
            self.worst = max(self.worst, time.monotonic() - started - 0.01)

    def __enter__(self) -> Watch:
        self.task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()


async def play(port: int, client: Client) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    with contextlib.suppress(ConnectionError):
        writer.write(client.payload)
        await writer.drain()
    if client.then == "close":
        writer.write_eof()
    elif client.then == "reset":
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
        return
    try:
        async with asyncio.timeout(HEADER_TIMEOUT + 5):
            client.received = await reader.read()  # until the server closes
    except ConnectionError:
        pass
    client.closed_after = time.monotonic() - started
    writer.close()


def good_request(script: str, caller: str) -> bytes:
    return (
        "agi_network: yes\n"
        f"agi_network_script: {script}\n"
        f"agi_callerid: {caller}\n"
        "agi_channel: PJSIP/trunk-in-00000001\n\n"
    ).encode()


CLIENTS = st.lists(
    st.builds(
        Client,
        payload=st.one_of(HEADERISH, st.binary(max_size=200), st.just(good_request("ok", "x"))),
        then=st.sampled_from(["close", "hold", "reset"]),
    ),
    min_size=1,
    max_size=6,
)


async def exercise(clients: list[Client]) -> None:
    served: list[AgiRequest] = []
    registry = AgiRegistry()

    @registry.route("ok")
    async def ok(agi: AgiSession) -> None:
        served.append(agi.request)

    problems: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: problems.append(context))
    server = FastAgiServer(registry, "127.0.0.1", 0, header_timeout=HEADER_TIMEOUT)
    await server.start()
    try:
        with Watch() as watch:
            bad = [asyncio.create_task(play(server.port, c)) for c in clients]
            await asyncio.sleep(0.05)
            # A good request while the others are stuck: served at once, well before their
            # deadline (HEADER_TIMEOUT after they began, 50 ms before it).
            begun = time.monotonic()
            good = Client(good_request("ok", "good caller"), "hold")
            await play(server.port, good)
            assert good.closed_after is not None
            assert time.monotonic() - begun < HEADER_TIMEOUT - 0.1
            await asyncio.gather(*bad)
        assert watch.worst < 0.5, f"the event loop was blocked for {watch.worst:.2f} s"
        await asyncio.sleep(0.05)  # the server's side of the last closes
    finally:
        await server.close()
    assert "good caller" in [r.caller_number for r in served]
    for client in clients:
        if client.then != "reset":
            # Closed by the server within its deadline; nothing ever sent to a bad client.
            assert client.closed_after is not None
            assert client.closed_after < HEADER_TIMEOUT + SLACK, client
            assert client.received == b"", client
    # Every connection was either served or refused, and counted.
    assert server.requests_served + server.requests_rejected == len(clients) + 1
    assert server.requests_served == len(served)
    assert problems == [], problems


@settings(deadline=None, max_examples=12, suppress_health_check=list(HealthCheck), database=None)
@given(clients=CLIENTS)
@example(clients=[Client(b"agi_network: yes\nagi_netw", "reset")])
@example(clients=[Client(b"agi_network: yes\nagi_request: agi://[::1\n\n", "hold")])
@example(clients=[Client(b"agi_x: " + b"a" * 10_000, "hold")])
def test_the_server_closes_bad_connections_in_time_and_serves_good_ones(
    clients: list[Client],
) -> None:
    asyncio.run(exercise(clients))
