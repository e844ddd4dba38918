"""The HTTP API against any request (hypothesis): random methods, paths (percent-encoded,
double and trailing slashes, dot segments, very long, non-ASCII, raw bytes), query strings,
headers (Authorization with any scheme, whitespace, non-ASCII, very long) and bodies (random
bytes, random JSON, deep nesting), sent as raw bytes over TCP to build_api with the fakes of
test_api_roles_http (and a fake dialer). The server never answers 5xx (nor leaves a request
unanswered), never answers 2xx without a valid token (but for the public pages), and an
agent's token never reaches another agent's route, a route about every agent, or another
agent's call, codes or leads."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import quote

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ari_app.acd import AcdRuntime, CommandRefused
from ari_app.api import build_api
from ari_app.dialer import Dialer
from ari_app.live_figures import LiveFigures
from ari_app.wrap_up import WrapUpDesk
from callcenter.security.tokens import Authenticator
from tests.unit.test_api_roles_http import (
    ANN_TOKEN,
    BOB_TOKEN,
    OPERATOR_TOKEN,
    SUE_TOKEN,
    FakeAcd,
    FakeDesk,
    FakeFigures,
    Record,
    Store,
)

SOME = settings(
    deadline=None,
    max_examples=300,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

VALID = (OPERATOR_TOKEN, ANN_TOKEN, BOB_TOKEN, SUE_TOKEN)
AGENT_TOKENS = {ANN_TOKEN: "ann", BOB_TOKEN: "bob"}
PUBLIC = {"/agent", "/wallboard"}
ABOUT_EVERY_AGENT = {"/api/state", "/api/wallboard", "/api/wallboard/events", "/metrics"}


class FakeDialer:
    """Preview dialing, recording whose leads were asked for or dialed."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def preview_next(self, agent: str) -> dict[str, Any]:
        self.asked.append(agent)
        return {"lead": None, "why": "no campaign"}

    async def preview_dial(self, agent: str) -> dict[str, Any]:
        self.asked.append(agent)
        raise CommandRefused(409, f"{agent} has no lead in preview")

    async def preview_skip(self, agent: str) -> dict[str, Any]:
        self.asked.append(agent)
        return {"skipped": True}


@dataclass
class Answer:
    status: int | None  # None: the connection closed without an answer
    head: bytes
    # The server cut the connection while we still sent (it answered a request it could not
    # parse and closed with the body unread): its answer may be lost with the connection.
    reset: bool = False
    # The routes whose handlers the request reached past authentication: (canonical, name).
    reached: list[tuple[str | None, str | None]] = field(default_factory=list)


class Harness:
    """build_api with the fakes on its own event loop, a recorder of which handlers run
    (inside the authentication middleware), and a raw HTTP/1.1 client."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.acd, self.desk, self.dialer = FakeAcd(), FakeDesk(), FakeDialer()
        self.reached: list[tuple[str | None, str | None]] = []
        app = build_api(
            cast(AcdRuntime, self.acd),
            Authenticator(OPERATOR_TOKEN, Store().lookup),
            desk=cast(WrapUpDesk, self.desk),
            dialer=cast(Dialer, self.dialer),
            figures=cast(LiveFigures, FakeFigures()),
            handled_call=Record(),
        )
        app.middlewares.append(self._record)
        self.server = TestServer(app)
        self.loop.run_until_complete(self.server.start_server())

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        resource = request.match_info.route.resource
        canonical = resource.canonical if resource is not None else None
        self.reached.append((canonical, request.match_info.get("name")))
        response: web.StreamResponse = await handler(request)
        return response

    async def _send(self, raw: bytes) -> Answer:
        reader, writer = await asyncio.open_connection(self.server.host, self.server.port)
        head, reset = b"", False
        try:
            writer.write(raw)
            await writer.drain()
        except (ConnectionResetError, BrokenPipeError):
            reset = True
        try:  # the answer's head (an event stream's body never ends)
            while b"\r\n\r\n" not in head:
                chunk = await asyncio.wait_for(reader.read(65536), 5)
                if not chunk:
                    break
                head += chunk
        except ConnectionResetError:
            reset = True
        finally:
            writer.close()
        status = None
        if head[:9] in (b"HTTP/1.1 ", b"HTTP/1.0 "):  # 1.0: a request aiohttp cannot parse
            status = int(head[9:12])
        return Answer(status, head[:2000], reset)

    def send(self, raw: bytes) -> Answer:
        self.reached.clear()
        self.acd.commands.clear()
        self.desk.coded.clear()
        self.dialer.asked.clear()
        answer = self.loop.run_until_complete(self._send(raw))
        answer.reached = list(self.reached)
        return answer

    def close(self) -> None:
        self.loop.run_until_complete(self.server.close())
        self.loop.close()


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    harness = Harness()
    yield harness
    harness.close()


# --- requests -------------------------------------------------------------------------------

# A request is plausible (what a desk, the wallboard or the CLI could send: any token, route,
# agent and JSON body) or hostile (each part, by a coin's toss, anything at all).

ODD_METHODS = st.one_of(
    st.sampled_from(["GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"]),
    st.sampled_from(["GET", "POST", "get", "PROPFIND", "BREW"]),
    st.from_regex(r"[A-Za-z]{1,12}", fullmatch=True),
)
PLAIN_NAMES = st.sampled_from(["ann", "bob", "sam", "sue"])
ODD_NAMES = st.one_of(
    st.sampled_from(["operator", "Ann", "ann ", "ann.", "ann%2Fbob", "", "é" * 40]),
    st.text(max_size=12),
)
PLAIN_ACTIONS = st.sampled_from(
    [
        "login",
        "logout",
        "pause",
        "resume",
        "hold",
        "unhold",
        "transfer",
        "complete",
        "cancel",
        "supervise",
        "dial",
        "skip",
    ]
)
ODD_ACTIONS = st.one_of(
    st.sampled_from(["join", "events", "codes", "HOLD", "hold "]), st.text(max_size=12)
)
# The routes, each with the method it takes (GET also answers HEAD).
ROUTES = [
    ("GET", "/api/agents/{name}"),
    ("GET", "/api/agents/{name}/events"),
    ("POST", "/api/agents/{name}/{action}"),
    ("POST", "/api/agents/{name}/call/{action}"),
    ("POST", "/api/agents/{name}/disposition"),
    ("GET", "/api/agents/{name}/codes"),
    ("GET", "/api/agents/{name}/preview"),
    ("POST", "/api/agents/{name}/preview/{action}"),
    ("POST", "/api/supervisors/{name}/join"),
    ("GET", "/api/state"),
    ("GET", "/api/wallboard"),
    ("GET", "/api/wallboard/events"),
    ("GET", "/metrics"),
    ("GET", "/agent"),
    ("GET", "/wallboard"),
    ("GET", "/api"),
    ("GET", "/"),
]
VALID_TOKENS = st.sampled_from(VALID)
WRONG_TOKENS = st.sampled_from([OPERATOR_TOKEN + "x", ANN_TOKEN[:-1], ANN_TOKEN.upper(), "null"])
ODD_TOKENS = st.one_of(
    st.none(),
    st.sampled_from([" ", "Bearer", ANN_TOKEN + " " + BOB_TOKEN]),
    st.text(max_size=40),
    st.binary(max_size=20).map(lambda b: b.decode("utf-8", "surrogateescape")),
    st.text(min_size=1, max_size=4).map(lambda s: s * 3000),  # very long
)
PLAIN_SCHEMES = st.sampled_from(["Bearer", "bearer", "BEARER"])
ODD_SCHEMES = st.one_of(
    st.sampled_from(["Basic", "Token", "Digest", "", "Bearer:", "Bearer=", "Bearer\u00e9"]),
    st.text(max_size=10),
)
ODD_SEPARATORS = st.sampled_from(["  ", "\t", " \t ", "", "\u00a0", ","])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
OBJECTS = st.fixed_dictionaries(
    {},
    optional={
        "agent": st.one_of(PLAIN_NAMES, ODD_NAMES),
        "target": st.one_of(PLAIN_NAMES, ODD_NAMES).flatmap(
            lambda n: st.sampled_from([n, f"agent:{n}", f"queue:{n}"])
        ),
        "attended": JSON,
        "reason": JSON,
        "code": st.one_of(st.sampled_from(["sold", "resolved", ""]), JSON),
        "call": st.one_of(st.uuids().map(str), JSON),
        "note": JSON,
        "callback_at": st.one_of(st.sampled_from(["2026-11-23T10:00:00+01:00", "x"]), JSON),
    },
)
PLAIN_BODIES = st.one_of(
    st.just(b""),
    OBJECTS.map(lambda v: json.dumps(v).encode()),
    JSON.map(lambda v: json.dumps(v).encode()),
)
ODD_BODIES = st.one_of(
    st.binary(max_size=200),
    st.integers(1, 200_000).map(lambda n: b"[" * n + b"]" * n),  # deep nesting
    st.integers(1, 50_000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    OBJECTS.map(lambda v: json.dumps(v).encode()[:-1]),  # cut short
)
HEADER_NAMES = st.sampled_from(
    ["Content-Type", "X-Forwarded-For", "Cookie", "Accept", "X-Api-Token", "Origin", "Expect"]
)
HEADER_VALUES = st.one_of(
    st.sampled_from(["application/json", "text/plain; charset=utf-8", "*/*", "multipart/x"]),
    st.text(max_size=30),
    st.text(min_size=1, max_size=3).map(lambda s: s * 2000),
)
QUERIES = st.lists(st.tuples(st.text(max_size=8), st.text(max_size=20)), min_size=1, max_size=3)


def _quote(text: str, safe: str = "") -> str:
    return quote(text.encode("utf-8", "surrogateescape"), safe=safe)


def _encode(segment: str, how: str) -> str:
    if how == "all":  # every byte as %XX
        return "".join(f"%{b:02X}" for b in segment.encode("utf-8", "surrogateescape"))
    if how == "quote":
        return _quote(segment)
    return segment  # raw (non-ASCII goes out as UTF-8 bytes)


def _bytes(text: str) -> bytes:
    """Text as it goes on the wire: UTF-8 (lone surrogates: the raw bytes they stand for),
    line breaks and NULs left out (which would make another request of it)."""
    raw = text.encode("utf-8", "surrogateescape")
    return bytes(b for b in raw if b not in b"\r\n\x00")


@dataclass
class Request:
    method: str
    target: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    token: str | None  # the one token the request carries anywhere (None: none)
    hostile: bool = False


@st.composite
def requests(draw: st.DrawFn) -> Request:
    hostile = draw(st.booleans())

    def pick(plain: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> Any:
        return draw(odd if hostile and draw(st.booleans()) else plain)

    method, template = draw(st.sampled_from(ROUTES))
    method = pick(st.just(method), ODD_METHODS)
    path = draw(paths(template, hostile))
    token = pick(st.one_of(VALID_TOKENS, VALID_TOKENS, WRONG_TOKENS), ODD_TOKENS)
    headers: list[tuple[bytes, bytes]] = [(b"Host", b"localhost")]
    query: list[tuple[str, str]] = list(pick(st.just([]), QUERIES))
    where = draw(
        st.sampled_from(
            ["header", "query", "both"]
            if hostile
            else ["header", "query"]
            if method == "GET"
            else ["header"]
        )
    )
    if token is not None and where in ("header", "both"):
        scheme = pick(PLAIN_SCHEMES, ODD_SCHEMES)
        end = pick(st.just(""), st.sampled_from([" ", "\t"]))
        value = scheme + pick(st.just(" "), ODD_SEPARATORS) + token + end
        headers.append((b"Authorization", _bytes(value)))
    elif hostile and draw(st.booleans()):  # an Authorization header without a token in it
        headers.append((b"Authorization", _bytes(draw(ODD_SCHEMES) + draw(ODD_SEPARATORS))))
    if token is not None and where in ("query", "both"):
        query.append(
            (pick(st.just("token"), st.sampled_from(["Token", "token[]", "tok%65n"])), token)
        )
    target = path
    if query:
        encode = pick(st.just(True), st.booleans())
        joined = "&".join(f"{_quote(k, safe='%[]')}={_quote(v) if encode else v}" for k, v in query)
        target += ("&" if "?" in path else "?") + joined
    if draw(st.booleans()):
        headers.append((b"Content-Type", b"application/json"))
    if hostile:
        for _ in range(draw(st.integers(0, 3))):
            headers.append((draw(HEADER_NAMES).encode(), _bytes(draw(HEADER_VALUES))))
    body = pick(PLAIN_BODIES, ODD_BODIES)
    target_bytes = _bytes(target).replace(b" ", b"%20") or b"/"
    return Request(method, target_bytes, headers, body, token, hostile)


@st.composite
def paths(draw: st.DrawFn, template: str, hostile: bool) -> str:
    def pick(plain: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> Any:
        return draw(odd if hostile and draw(st.booleans()) else plain)

    if hostile and draw(st.integers(0, 9)) == 0:  # anything at all
        return "/" + draw(st.text(max_size=60))
    encodings = st.sampled_from(["raw", "quote", "all"])
    path = template.format(
        name=_encode(pick(PLAIN_NAMES, ODD_NAMES), draw(encodings)),
        action=_encode(pick(PLAIN_ACTIONS, ODD_ACTIONS), draw(encodings)),
    )
    if not hostile:
        return path
    if draw(st.booleans()):  # odd slashes and dots
        segments = path.split("/")
        for _ in range(draw(st.integers(1, 3))):
            at = draw(st.integers(1, len(segments)))
            odd = ["", ".", "..", "%2e%2e", "%2E", "x/..", "%2F", "bob/..", "ann", "ann/.."]
            segments.insert(at, draw(st.sampled_from(odd)))
        path = "/".join(segments)
    if draw(st.booleans()):
        path += draw(st.sampled_from(["/", "//", "/.", "/..", "%2F", "?", "#x", ";x=1"]))
    if draw(st.integers(0, 9)) == 0:  # very long
        path += "/" + "a" * draw(st.sampled_from([300, 5000, 9000]))
    if draw(st.integers(0, 4)) == 0:
        path = draw(st.sampled_from(["//", "/./", "/../", "/%2e/", "*"])) + path.lstrip("/")
    return path


def raw(request: Request) -> bytes:
    lines = [request.method.encode() + b" " + request.target + b" HTTP/1.1"]
    lines += [name + b": " + value for name, value in request.headers]
    lines += [b"Content-Length: " + str(len(request.body)).encode(), b"Connection: close"]
    return b"\r\n".join(lines) + b"\r\n\r\n" + request.body


# --- the properties ------------------------------------------------------------------------

seen: dict[str, int] = {}


def check(harness: Harness, request: Request) -> None:
    answer = harness.send(raw(request))
    status = answer.status
    if status is None:
        assert answer.reset and request.hostile, f"no answer: {answer.head!r}"
        seen["reset"] = seen.get("reset", 0) + 1
        status = 400  # (whatever it was, nothing reached a route: checked below)
    assert status < 500, answer.head
    seen[f"{status // 100}xx"] = seen.get(f"{status // 100}xx", 0) + 1
    reached = answer.reached
    # Routes past authentication (not the public pages, not the 404 of no route).
    past_auth = [c for c, _ in reached if c is not None and c not in PUBLIC]
    if request.token not in VALID:
        assert not past_auth, (reached, answer.head)
        if 200 <= status < 300:
            assert reached and all(canonical in PUBLIC for canonical, _ in reached)
    agent = AGENT_TOKENS.get(request.token or "")
    if agent is not None:
        for canonical, name in reached:
            assert canonical not in ABOUT_EVERY_AGENT, (reached, answer.head)
            assert name in (None, agent), (reached, answer.head)
        if 200 <= status < 300:
            assert reached and all(
                canonical in PUBLIC or name == agent for canonical, name in reached
            ), (reached, answer.head)
        assert all(a == agent and c != "supervise" for a, c, _ in harness.acd.commands)
        assert all(a == agent for a, _, _ in harness.desk.coded)
        assert all(a == agent for a in harness.dialer.asked)
        if 200 <= status < 300:
            seen["agent 2xx"] = seen.get("agent 2xx", 0) + 1


def _request(method: str, target: str, token: str | None, body: Any = None) -> Request:
    headers = [(b"Host", b"localhost")]
    if token is not None:  # (a lone surrogate: the byte that is not UTF-8)
        headers.append((b"Authorization", b"Bearer " + token.encode("utf-8", "surrogateescape")))
    data = body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
    return Request(method, target.encode(), headers, data, token)


DEEP = b"[" * 5000 + b"]" * 5000


def test_any_request_no_5xx_no_2xx_without_a_token_and_agents_stay_home(
    harness: Harness,
) -> None:
    seen.clear()

    # What the review and the fuzzing found (each failed before its fix), then any request.
    @SOME
    @given(request=requests())
    @example(_request("POST", "/api/agents/ann/call/supervise", ANN_TOKEN, {"target": "bob"}))
    @example(_request("GET", "/api/state", "\udcff"))  # 500: the token was not UTF-8
    @example(_request("POST", "/api/agents/ann/login", ANN_TOKEN, DEEP))  # 500: RecursionError
    @example(_request("POST", "/api/supervisors/sam/join", SUE_TOKEN, DEEP))
    @example(_request("POST", "/api/agents/%62ob/call/hold", ANN_TOKEN))
    @example(_request("POST", "/api/agents/ann/../bob/login", ANN_TOKEN))
    @example(_request("GET", "/api/agents/ann//events", ANN_TOKEN))
    @example(_request("POST", "/api/agents/ann/login", ANN_TOKEN))
    # (Agents' own successful requests, whatever the draw: the count below asks for three.)
    @example(_request("GET", "/api/agents/ann", ANN_TOKEN))
    @example(_request("GET", "/api/agents/bob/codes", BOB_TOKEN))
    def any_request(request: Request) -> None:
        check(harness, request)

    any_request()
    # Not all refused at the door: some reached the routes, some as an agent.
    assert seen.get("2xx", 0) >= 10 and seen.get("4xx", 0) >= 10, seen
    assert seen.get("agent 2xx", 0) >= 3, seen
