"""The API's authentication and roles over HTTP: aiohttp's test client against build_api with
a fake ACD, wrap-up desk and live figures. 401 without a known token, 403 (JSON) outside the
role, and a refused request never reaches the ACD."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from aiohttp.test_utils import TestClient, TestServer

from ari_app.acd import AcdRuntime, CommandRefused
from ari_app.api import build_api
from ari_app.live_figures import LiveFigures
from ari_app.wrap_up import WrapUpDesk
from callcenter.acd.agents import Agent
from callcenter.calls.dispositions import DispositionError
from callcenter.security.roles import Principal, Role
from callcenter.security.tokens import Authenticator, LookupFailed, hash_token
from db.disposition_store import SetDisposition

OPERATOR_TOKEN = "operator-token-0123456789"
ANN_TOKEN = "ann-token-abcdefghijklmnop"  # agent ann
BOB_TOKEN = "bob-token-abcdefghijklmnop"  # agent bob
SUE_TOKEN = "sue-token-abcdefghijklmnop"  # supervisor, her softphone is agent sam
ANN_CALL = str(uuid.uuid4())  # a call ann talked on (per the record)
BOB_CALL = str(uuid.uuid4())  # one she did not


class FakeAcd:
    """What the API asks of the ACD, recording the commands that reach it."""

    def __init__(self) -> None:
        self.agents = {n: Agent(n) for n in ("ann", "bob", "sam")}
        self.wrapping: dict[str, str] = {}
        self.screen: dict[str, dict[str, Any]] = {}
        self.commands: list[tuple[str, str, str | None]] = []
        self.secrets = {n: f"secret-of-{n}" for n in self.agents}
        self.phones = {n: "softphone" for n in self.agents}
        self.queues: dict[str, Any] = {}
        self.calls: dict[str, Any] = {}
        self.supervised: dict[str, tuple[str, str]] = {}

    def snapshot(self) -> dict[str, Any]:
        return {"agents": [{"name": n} for n in sorted(self.agents)], "queues": []}

    def agent(self, name: str) -> Agent:
        if name not in self.agents:
            raise KeyError(f"no agent {name!r}")
        return self.agents[name]

    def login(self, name: str, paused_reason: str | None = None) -> Agent:
        agent = self.agent(name)
        agent.log_in(datetime.now(UTC), paused_reason)
        return agent

    def logout(self, name: str) -> Agent:
        agent = self.agent(name)
        agent.log_out(datetime.now(UTC))
        return agent

    def pause(self, name: str, reason: str) -> Agent:
        agent = self.agent(name)
        agent.pause(datetime.now(UTC), reason)
        return agent

    def resume(self, name: str) -> Agent:
        agent = self.agent(name)
        agent.resume(datetime.now(UTC))
        return agent

    async def command(
        self,
        agent_name: str,
        action: str,
        target: str | None = None,
        attended: bool = False,
        mode: str | None = None,
    ) -> dict[str, Any]:
        if agent_name not in self.agents:
            raise CommandRefused(404, f"no agent {agent_name!r}")
        self.commands.append((agent_name, action, target))
        return {"held": True} if action == "hold" else {"ringing": target}

    def watch(self, agent: str) -> asyncio.Queue[dict[str, Any]]:
        return asyncio.Queue()

    def unwatch(self, agent: str, queue: Any) -> None:
        pass


class FakeDesk:
    def __init__(self) -> None:
        self.coded: list[tuple[str, str, str | None]] = []

    async def code(
        self, agent: str, *, code: str, call_id: str | None, **_: Any
    ) -> tuple[SetDisposition, bool]:
        if call_id is not None and call_id.startswith("x"):
            raise DispositionError(f"not a call id: {call_id!r}")
        self.coded.append((agent, code, call_id))
        uid = uuid.uuid4()
        call = uuid.UUID(call_id) if call_id else uuid.uuid4()
        return SetDisposition(uid, call, code, "sales", code, True, agent, []), True

    async def choices(self, agent: str) -> dict[str, Any]:
        return {"call": None, "set": None, "codes": []}


class FakeFigures:
    def snapshot(self) -> dict[str, Any]:
        return {"agents": {"available": 1}, "queues": [], "campaigns": []}


class Store:
    def __init__(self) -> None:
        self.by_hash = {
            hash_token(ANN_TOKEN): Principal("ann", Role.AGENT, "ann"),
            hash_token(BOB_TOKEN): Principal("bob", Role.AGENT, "bob"),
            hash_token(SUE_TOKEN): Principal("sue", Role.SUPERVISOR, "sam"),
        }
        self.down = False

    async def lookup(self, token_hash: str) -> Principal | None:
        if self.down:
            raise LookupFailed("connection refused")
        return self.by_hash.get(token_hash)


class Record:
    """Which agent talked on which call; can fail like an unreachable database."""

    def __init__(self) -> None:
        self.handled = {("ann", ANN_CALL), ("bob", BOB_CALL)}
        self.asked = 0
        self.fail = False

    async def __call__(self, agent: str, call_id: str) -> bool:
        self.asked += 1
        if self.fail:
            raise OSError("connection refused")
        return (agent, call_id) in self.handled


class Api:
    def __init__(self, client: TestClient[Any, Any], acd: FakeAcd, desk: FakeDesk) -> None:
        self.client = client
        self.acd = acd
        self.desk = desk

    async def call(
        self,
        method: str,
        path: str,
        token: str | None = None,
        body: dict[str, Any] | None = None,
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.client.request(
            method, path, headers=headers, data=json.dumps(body or {}) if body else None
        ) as response:
            text = await response.text()
            try:
                return response.status, json.loads(text)
            except ValueError:
                return response.status, text


@pytest.fixture
def store() -> Store:
    return Store()


@pytest.fixture
def record() -> Record:
    return Record()


@pytest.fixture
async def api(store: Store, record: Record) -> AsyncIterator[Api]:
    acd, desk = FakeAcd(), FakeDesk()
    app = build_api(
        cast(AcdRuntime, acd),
        Authenticator(OPERATOR_TOKEN, store.lookup, cache_seconds=0),
        desk=cast(WrapUpDesk, desk),
        figures=cast(LiveFigures, FakeFigures()),
        handled_call=record,
    )
    async with TestClient(TestServer(app)) as client:
        yield Api(client, acd, desk)


PROTECTED = [
    ("GET", "/metrics"),
    ("GET", "/api/state"),
    ("GET", "/api/wallboard"),
    ("GET", "/api/agents/ann"),
    ("GET", "/api/agents/ann/codes"),
    ("GET", "/api/agents/ann/preview"),
    ("POST", "/api/agents/ann/login"),
    ("POST", "/api/agents/ann/call/hold"),
    ("POST", "/api/agents/ann/disposition"),
    ("POST", "/api/agents/ann/preview/dial"),
    ("POST", "/api/supervisors/sam/join"),
    ("GET", "/api/agents/ann/phone"),
    ("GET", "/api/console"),
    ("POST", "/api/queues/line/calls/c1/move"),
    ("GET", "/api/me"),
    ("GET", "/api/nothing-here"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
@pytest.mark.parametrize("token", [None, "not-a-token", OPERATOR_TOKEN + "x"])
async def test_no_known_token_is_401(api: Api, method: str, path: str, token: str | None) -> None:
    status, answer = await api.call(method, path, token)
    assert status == 401 and "valid API token" in answer["error"]
    assert api.acd.commands == [] and api.desk.coded == []


async def test_401_asks_for_a_bearer_token(api: Api) -> None:
    async with api.client.get("/api/state") as response:
        assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("page", ["/agent", "/wallboard", "/console"])
async def test_the_pages_are_public(api: Api, page: str) -> None:
    async with api.client.get(page) as response:
        assert response.status == 200
        assert "<html" in await response.text()


@pytest.mark.parametrize("page", ["/agent", "/console", "/wallboard"])
async def test_the_pages_run_no_inline_script(api: Api, page: str) -> None:
    async with api.client.get(page) as response:
        policy = response.headers["Content-Security-Policy"]
        html = await response.text()
    assert "script-src 'self'" in policy and "unsafe" not in policy
    assert "<script>" not in html and " on" + "click=" not in html  # scripts come as files
    async with api.client.get("/static/vendor/jssip.min.js") as response:
        assert response.status == 200  # served by the app, never from a CDN
    async with api.client.get(f"/static{page}.html") as response:
        assert response.status == 404  # a page only comes with its policy


async def test_the_operator_may_do_everything(api: Api) -> None:
    assert (await api.call("GET", "/api/state", OPERATOR_TOKEN))[0] == 200
    assert (await api.call("GET", "/api/wallboard", OPERATOR_TOKEN))[0] == 200
    status, text = await api.call("GET", "/metrics", OPERATOR_TOKEN)
    assert status == 200 and "switchboard_agents" in text
    assert (await api.call("POST", "/api/agents/bob/login", OPERATOR_TOKEN))[0] == 200
    assert await api.call("POST", "/api/agents/bob/call/hold", OPERATOR_TOKEN) == (
        200,
        {"held": True},
    )
    status, _ = await api.call(
        "POST", "/api/supervisors/sam/join", OPERATOR_TOKEN, {"agent": "bob"}
    )
    assert status == 200
    # An operator codes any call; whether the agent may is the desk's to say.
    status, _ = await api.call(
        "POST", "/api/agents/ann/disposition", OPERATOR_TOKEN, {"code": "sold", "call": BOB_CALL}
    )
    assert status == 200
    assert (await api.call("GET", "/api/nothing-here", OPERATOR_TOKEN))[0] == 404


async def test_an_agent_has_their_own_desk_and_nothing_else(api: Api) -> None:
    assert (await api.call("GET", "/api/agents/ann", ANN_TOKEN))[0] == 200
    assert (await api.call("POST", "/api/agents/ann/login", ANN_TOKEN))[0] == 200
    assert await api.call("POST", "/api/agents/ann/call/hold", ANN_TOKEN) == (200, {"held": True})
    assert (await api.call("GET", "/api/agents/ann/codes", ANN_TOKEN))[0] == 200
    for method, path in [
        ("GET", "/api/state"),
        ("GET", "/api/wallboard"),
        ("GET", "/api/wallboard/events"),
        ("GET", "/metrics"),
        ("GET", "/api/agents/bob"),
        ("GET", "/api/agents/bob/events"),
        ("GET", "/api/agents/bob/codes"),
        ("POST", "/api/agents/bob/login"),
        ("POST", "/api/agents/bob/call/hold"),
        ("POST", "/api/agents/bob/call/transfer"),
        ("POST", "/api/agents/bob/disposition"),
        ("POST", "/api/agents/bob/preview/dial"),
        ("POST", "/api/supervisors/ann/join"),
        ("GET", "/api/agents/bob/phone"),
        ("POST", "/api/agents/bob/phone"),
        ("GET", "/api/console"),
        ("GET", "/api/console/events"),
        ("POST", "/api/queues/line/calls/c1/move"),
    ]:
        status, answer = await api.call(method, path, ANN_TOKEN, {"agent": "bob"})
        assert status == 403, (method, path, status, answer)
        assert "agent credential 'ann'" in answer["error"]
    assert api.acd.commands == [("ann", "hold", None)]
    assert api.acd.agents["bob"].state.value == "logged_out"


async def test_the_phone_account_is_the_agents_own(api: Api) -> None:
    status, answer = await api.call("GET", "/api/agents/ann/phone", ANN_TOKEN)
    assert status == 200 and answer["password"] == "secret-of-ann"
    assert answer["uri"].startswith("sip:ann@") and answer["phone"] == "softphone"
    status, _ = await api.call("GET", "/api/agents/bob/phone", SUE_TOKEN)
    assert status == 403  # a supervisor reads any agent, but not their SIP password
    status, answer = await api.call(
        "POST", "/api/agents/ann/phone", ANN_TOKEN, {"phone": "browser"}
    )
    assert status == 409 and "browser phones are off" in answer["error"]  # no wss configured


async def test_who_am_i_and_the_console(api: Api) -> None:
    assert await api.call("GET", "/api/me", SUE_TOKEN) == (
        200,
        {"name": "sue", "role": "supervisor", "agent": "sam"},
    )
    status, view = await api.call("GET", "/api/console", SUE_TOKEN)
    assert status == 200 and [a["name"] for a in view["agents"]] == ["ann", "bob", "sam"]
    status, answer = await api.call(
        "POST", "/api/queues/line/calls/c1/move", SUE_TOKEN, {"to": "x"}
    )
    assert status == 404 and "no caller c1 waiting" in answer["error"]


async def test_a_supervisor_reads_all_changes_states_and_joins_as_herself(api: Api) -> None:
    assert (await api.call("GET", "/api/state", SUE_TOKEN))[0] == 200
    assert (await api.call("GET", "/api/agents/bob", SUE_TOKEN))[0] == 200
    assert (await api.call("GET", "/metrics", SUE_TOKEN))[0] == 200
    assert (await api.call("GET", "/api/wallboard", SUE_TOKEN))[0] == 200
    status, answer = await api.call("POST", "/api/agents/bob/login", SUE_TOKEN)
    assert status == 200 and answer["state"] == "available"
    status, _ = await api.call("POST", "/api/supervisors/sam/join", SUE_TOKEN, {"agent": "bob"})
    assert status == 200
    join_as_ann = await api.call("POST", "/api/supervisors/ann/join", SUE_TOKEN, {"agent": "bob"})
    status, answer = join_as_ann
    assert status == 403 and "/api/supervisors/sam/join" in answer["error"]
    status, _ = await api.call("POST", "/api/agents/bob/call/hold", SUE_TOKEN)
    assert status == 403  # she listens in; the agent holds their own call
    status, _ = await api.call(
        "POST", "/api/agents/bob/disposition", SUE_TOKEN, {"code": "sold", "call": ANN_CALL}
    )
    assert status == 200  # a supervisor codes any call
    assert api.acd.commands == [("bob", "supervise", "sam")]


async def test_an_agent_codes_only_calls_they_handled(api: Api, record: Record) -> None:
    path = "/api/agents/ann/disposition"
    status, answer = await api.call("POST", path, ANN_TOKEN, {"code": "sold", "call": BOB_CALL})
    assert status == 403 and "not one agent 'ann' handled" in answer["error"]
    assert api.desk.coded == []
    status, answer = await api.call("POST", path, ANN_TOKEN, {"code": "sold", "call": ANN_CALL})
    assert status == 200 and answer["call"] == ANN_CALL
    # Without naming a call: their latest (the desk picks it).
    assert (await api.call("POST", path, ANN_TOKEN, {"code": "sold"}))[0] == 200
    # Not a call id at all: the desk says so.
    status, answer = await api.call("POST", path, ANN_TOKEN, {"code": "sold", "call": "x1"})
    assert status == 422 and "not a call id" in answer["error"]
    assert api.desk.coded == [("ann", "sold", ANN_CALL), ("ann", "sold", None)]


async def test_the_call_in_wrap_up_needs_no_database(api: Api, record: Record) -> None:
    wrapping = str(uuid.uuid4())
    api.acd.wrapping["ann"] = wrapping
    record.fail = True
    status, _ = await api.call(
        "POST", "/api/agents/ann/disposition", ANN_TOKEN, {"code": "sold", "call": wrapping}
    )
    assert status == 200 and record.asked == 0
    # Any other call must be checked, and cannot be while the record is away.
    status, answer = await api.call(
        "POST", "/api/agents/ann/disposition", ANN_TOKEN, {"code": "sold", "call": ANN_CALL}
    )
    assert status == 503 and "cannot check the call" in answer["error"]
    assert api.desk.coded == [("ann", "sold", wrapping)]


async def test_revoked_and_unknown_after_the_cache_are_401(api: Api, store: Store) -> None:
    assert (await api.call("GET", "/api/agents/bob", BOB_TOKEN))[0] == 200
    store.by_hash.pop(hash_token(BOB_TOKEN))
    assert (await api.call("GET", "/api/agents/bob", BOB_TOKEN))[0] == 401


async def test_a_database_outage_lets_only_the_operator_in(api: Api, store: Store) -> None:
    store.down = True
    status, answer = await api.call("GET", "/api/agents/ann", ANN_TOKEN)
    assert status == 503 and "cannot check the API token" in answer["error"]
    assert (await api.call("GET", "/api/state", OPERATOR_TOKEN))[0] == 200


async def test_query_tokens_are_for_gets_only(api: Api) -> None:
    async with api.client.get(f"/api/state?token={OPERATOR_TOKEN}") as response:
        assert response.status == 200
    async with api.client.post(f"/api/agents/ann/login?token={OPERATOR_TOKEN}") as response:
        assert response.status == 401
    assert api.acd.agents["ann"].state.value == "logged_out"


async def test_an_agents_event_stream_with_a_query_token(api: Api) -> None:
    async with api.client.get(f"/api/agents/ann/events?token={ANN_TOKEN}") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/event-stream"
        hello = json.loads((await response.content.readline()).decode().removeprefix("data: "))
        assert hello["type"] == "hello" and hello["name"] == "ann"
    async with api.client.get(f"/api/agents/bob/events?token={ANN_TOKEN}") as response:
        assert response.status == 403


async def test_the_scheme_is_case_insensitive_and_basic_is_not_bearer(api: Api) -> None:
    headers = {"Authorization": f"bearer {OPERATOR_TOKEN}"}
    async with api.client.get("/api/state", headers=headers) as response:
        assert response.status == 200
    headers = {"Authorization": f"Basic {OPERATOR_TOKEN}"}
    async with api.client.get("/api/state", headers=headers) as response:
        assert response.status == 401


# --- call actions ----------------------------------------------------------------------------


@pytest.mark.parametrize("token", [ANN_TOKEN, OPERATOR_TOKEN])
@pytest.mark.parametrize("action", ["supervise", "SUPERVISE", "barge", "hold ", "login"])
async def test_only_the_five_call_actions_reach_the_call(api: Api, token: str, action: str) -> None:
    """The ACD carries out "supervise" too: through .../call/ an agent could ring a
    supervisor (or anyone) into their call. Only /api/supervisors/{name}/join does that."""
    status, answer = await api.call(
        "POST", f"/api/agents/ann/call/{action}", token, {"target": "sam"}
    )
    assert status == 400, answer
    assert "hold, unhold, transfer, complete, cancel" in answer["error"]
    assert api.acd.commands == []


async def test_the_five_call_actions_reach_the_call(api: Api) -> None:
    for action in ("hold", "unhold", "transfer", "complete", "cancel"):
        status, _ = await api.call(
            "POST", f"/api/agents/ann/call/{action}", ANN_TOKEN, {"target": "agent:bob"}
        )
        assert status == 200, action
    assert [c[1] for c in api.acd.commands] == ["hold", "unhold", "transfer", "complete", "cancel"]


# --- a supervisor named like an agent ----------------------------------------------------------


async def test_a_supervisor_named_like_an_agent_gets_nothing_of_that_agents_own(
    api: Api, store: Store
) -> None:
    token = "sam-supervisor-token-abcdefgh"
    store.by_hash[hash_token(token)] = Principal("sam", Role.SUPERVISOR)  # no --agent
    assert (await api.call("GET", "/api/agents/sam", token))[0] == 200  # reads any agent
    for method, path, body in [
        ("POST", "/api/agents/sam/call/hold", None),
        ("POST", "/api/agents/sam/call/transfer", {"target": "agent:bob"}),
        ("GET", "/api/agents/sam/preview", None),
        ("POST", "/api/agents/sam/preview/dial", None),
        ("POST", "/api/supervisors/sam/join", {"agent": "bob"}),
    ]:
        status, answer = await api.call(method, path, token, body)
        assert status == 403, (method, path, answer)
        assert "acts as no agent" in answer["error"] and "--agent" in answer["error"]
    assert api.acd.commands == []


# --- bodies ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/agents/ann/login", "/api/supervisors/sam/join", "/api/agents/ann/call/hold"]
)
async def test_a_body_nested_too_deep_is_400_not_500(api: Api, path: str) -> None:
    body = "[" * 100_000 + "]" * 100_000
    headers = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    async with api.client.post(path, data=body, headers=headers) as response:
        assert response.status == 400
        assert "not JSON" in (await response.json())["error"]
    assert api.acd.commands == []


# --- open event streams are authorised again ---------------------------------------------------


class CountingStore(Store):
    def __init__(self) -> None:
        super().__init__()
        self.lookups = 0

    async def lookup(self, token_hash: str) -> Principal | None:
        self.lookups += 1
        return await super().lookup(token_hash)


@pytest.fixture
async def streams(store: Store, record: Record) -> AsyncIterator[Api]:
    """The API with event streams checked again every 50 ms (no credential cache)."""
    acd, desk = FakeAcd(), FakeDesk()
    app = build_api(
        cast(AcdRuntime, acd),
        Authenticator(OPERATOR_TOKEN, store.lookup, cache_seconds=0, negative_seconds=0),
        desk=cast(WrapUpDesk, desk),
        figures=cast(LiveFigures, FakeFigures()),
        handled_call=record,
        recheck_seconds=0.05,
    )
    async with TestClient(TestServer(app)) as client:
        yield Api(client, acd, desk)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _line(response: Any) -> bytes:
    line: bytes = await asyncio.wait_for(response.content.readline(), 2)
    return line


async def _rest(response: Any) -> bytes:
    """What the stream sends until it ends (fails if it does not end within 2 s)."""
    rest: bytes = await asyncio.wait_for(response.content.read(), 2)
    return rest


def test_streams_are_checked_at_least_every_15_seconds() -> None:
    from ari_app.api import RECHECK_SECONDS

    assert 0 < RECHECK_SECONDS <= 15


async def test_an_agent_stream_ends_once_its_token_is_revoked(streams: Api, store: Store) -> None:
    async with streams.client.get("/api/agents/ann/events", headers=bearer(ANN_TOKEN)) as response:
        assert response.status == 200
        assert (await _line(response)).startswith(b"data: ")  # hello
        assert await _line(response) == b"\n"
        assert await _line(response) == b": keep-alive\n"  # checked, still allowed
        store.by_hash.pop(hash_token(ANN_TOKEN))
        assert b"data:" not in await _rest(response)


async def test_a_busy_agent_stream_is_checked_too(streams: Api, store: Store) -> None:
    """Events never leave the stream quiet long enough for a keep-alive: it is checked
    all the same."""
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    streams.acd.watch = lambda agent: queue  # type: ignore[method-assign]

    async def busy() -> None:
        while True:
            queue.put_nowait({"type": "state", "state": "available"})
            await asyncio.sleep(0.005)

    feeder = asyncio.create_task(busy())
    try:
        async with streams.client.get(
            "/api/agents/ann/events", headers=bearer(ANN_TOKEN)
        ) as response:
            for _ in range(60):  # 30 events, 5 ms apart: checks came due meanwhile
                await _line(response)
            store.by_hash.pop(hash_token(ANN_TOKEN))
            await _rest(response)
    finally:
        feeder.cancel()


async def test_the_wallboard_stream_ends_once_its_token_is_revoked(
    streams: Api, store: Store
) -> None:
    async with streams.client.get("/api/wallboard/events", headers=bearer(SUE_TOKEN)) as response:
        assert response.status == 200
        assert (await _line(response)).startswith(b"data: ")
        await asyncio.sleep(0.2)  # checked a few times, still allowed
        store.by_hash.pop(hash_token(SUE_TOKEN))
        await _rest(response)


async def test_a_stream_ends_once_its_credential_loses_the_permission(
    streams: Api, store: Store
) -> None:
    async with (
        streams.client.get(f"/api/wallboard/events?token={SUE_TOKEN}") as wallboard,
        streams.client.get(f"/api/agents/bob/events?token={SUE_TOKEN}") as desk,
    ):
        assert wallboard.status == 200 and desk.status == 200
        await _line(wallboard)
        await _line(desk)
        # Her token now belongs to an agent credential: neither is hers any more.
        store.by_hash[hash_token(SUE_TOKEN)] = Principal("sue", Role.AGENT, "sue")
        await _rest(wallboard)
        await _rest(desk)


async def test_a_stream_ends_when_the_credentials_cannot_be_checked(
    streams: Api, store: Store
) -> None:
    async with streams.client.get("/api/agents/ann/events", headers=bearer(ANN_TOKEN)) as response:
        await _line(response)
        store.down = True
        await _rest(response)


async def test_the_operators_stream_stays(streams: Api, store: Store) -> None:
    async with streams.client.get(
        "/api/agents/ann/events", headers=bearer(OPERATOR_TOKEN)
    ) as response:
        await _line(response)
        store.down = True  # the operator token needs no database
        for _ in range(6):
            await _line(response)
        assert not response.content.at_eof()


async def test_stream_checks_go_through_the_credential_cache(record: Record) -> None:
    store = CountingStore()
    app = build_api(
        cast(AcdRuntime, FakeAcd()),
        Authenticator(OPERATOR_TOKEN, store.lookup, cache_seconds=60),
        figures=cast(LiveFigures, FakeFigures()),
        handled_call=record,
        recheck_seconds=0.02,
    )
    async with (
        TestClient(TestServer(app)) as client,
        client.get("/api/agents/ann/events", headers=bearer(ANN_TOKEN)) as response,
    ):
        await _line(response)
        for _ in range(20):  # 10 keep-alives, 10 checks
            await _line(response)
    assert store.lookups == 1  # the opening's; every check after it was the cache's
