"""The API's roles: every role x action x own/other agent against the permission table of
docs/api.md (written out here, not derived from the code), and the token authenticator
(operator token without the database, cache of known and of unknown tokens, revoke, database
outage)."""

from __future__ import annotations

import hashlib
import itertools
import re

import pytest

from callcenter.security.roles import (
    OPERATOR,
    RULES,
    Action,
    Principal,
    Role,
    Scope,
    allowed,
    must_own_call,
    refusal,
)
from callcenter.security.tokens import (
    NEGATIVE_CACHE_LIMIT,
    NEGATIVE_CACHE_SECONDS,
    Authenticator,
    LookupFailed,
    hash_token,
    new_token,
    same_secret,
)

A = Action
AGENT = Principal("ann", Role.AGENT, "ann")
SUPERVISOR = Principal("sue", Role.SUPERVISOR, "sam")  # her softphone is agent "sam"
PRINCIPALS = {"agent": AGENT, "supervisor": SUPERVISOR, "operator": OPERATOR}

# Routes about no agent in particular.
GLOBAL = (A.STATE, A.WALLBOARD, A.METRICS, A.CONSOLE, A.RECORDS)
# Routes about one agent: /api/agents/{name}/... and /api/supervisors/{name}/join.
PER_AGENT = tuple(a for a in Action if a not in GLOBAL)

# The permission table of docs/api.md: (role, action, whose) that are allowed; anything
# else is refused. "own" is the principal's own agent, "other" anyone else's.
ALLOWED = {("operator", a, "-") for a in GLOBAL}
ALLOWED |= {("operator", a, w) for a in PER_AGENT for w in ("own", "other")}
ALLOWED |= {
    ("supervisor", A.STATE, "-"),
    ("supervisor", A.WALLBOARD, "-"),
    ("supervisor", A.METRICS, "-"),
    ("supervisor", A.CONSOLE, "-"),  # the console: every queue and agent, moving callers
    ("supervisor", A.RECORDS, "-"),  # the read API: calls, segments, codes, recordings
    ("supervisor", A.AGENT_READ, "own"),
    ("supervisor", A.AGENT_READ, "other"),
    ("supervisor", A.AGENT_STATE, "own"),
    ("supervisor", A.AGENT_STATE, "other"),
    ("supervisor", A.DISPOSITION, "own"),
    ("supervisor", A.DISPOSITION, "other"),
    ("supervisor", A.CALL_CONTROL, "own"),
    ("supervisor", A.PREVIEW, "own"),
    ("supervisor", A.SUPERVISE, "own"),
    ("agent", A.AGENT_READ, "own"),
    ("agent", A.AGENT_STATE, "own"),
    ("agent", A.CALL_CONTROL, "own"),
    ("agent", A.DISPOSITION, "own"),
    ("agent", A.PREVIEW, "own"),
    # The browser phone's account holds the SIP password: one's own only.
    ("supervisor", A.PHONE, "own"),
    ("agent", A.PHONE, "own"),
}

CASES = [(r, a, "-") for r, a in itertools.product(PRINCIPALS, GLOBAL)] + [
    (r, a, w) for r, a, w in itertools.product(PRINCIPALS, PER_AGENT, ("own", "other"))
]


def target(principal: Principal, whose: str) -> str | None:
    if whose == "-":
        return None
    return (principal.own_agent or principal.name) if whose == "own" else "zed"


def test_every_case_is_covered() -> None:
    assert len(CASES) == 3 * (len(GLOBAL) + 2 * len(PER_AGENT))
    assert set(CASES) >= ALLOWED


@pytest.mark.parametrize(("role", "action", "whose"), CASES)
def test_the_permission_table(role: str, action: Action, whose: str) -> None:
    principal = PRINCIPALS[role]
    expected = (role, action, whose) in ALLOWED
    assert allowed(principal, action, target(principal, whose)) is expected
    why = refusal(principal, action, target(principal, whose))
    assert (why is None) is expected
    if why is not None:
        assert principal.name in why and role in why


@pytest.mark.parametrize("action", PER_AGENT)
def test_no_agent_named_is_never_someones_own(action: Action) -> None:
    for role, principal in PRINCIPALS.items():
        assert allowed(principal, action, None) is ((role, action, "other") in ALLOWED)


def test_own_is_the_agent_the_credential_names_else_its_name() -> None:
    assert SUPERVISOR.own_agent == "sam"
    assert not allowed(SUPERVISOR, A.SUPERVISE, "sue")  # joins from sam's softphone only
    assert allowed(SUPERVISOR, A.SUPERVISE, "sam")
    # An agent credential acts as its agent, whatever the credential is called.
    desk = Principal("ann-desk", Role.AGENT, "ann")
    assert allowed(desk, A.CALL_CONTROL, "ann") and not allowed(desk, A.CALL_CONTROL, "ann-desk")
    # One naming no agent acts as the agent of its name.
    assert Principal("ann", Role.AGENT).own_agent == "ann"
    assert allowed(Principal("ann", Role.AGENT), A.CALL_CONTROL, "ann")


OWN_ONLY = [a for a in Action if RULES[a][Role.SUPERVISOR] is Scope.OWN]


@pytest.mark.parametrize("action", OWN_ONLY)
def test_a_supervisor_named_like_an_agent_is_not_that_agent(action: Action) -> None:
    """A supervisor's own agent is only the one given with --agent, never its name."""
    kay = Principal("kay", Role.SUPERVISOR)  # no --agent; agent "kay" exists
    assert kay.own_agent is None
    assert not allowed(kay, action, "kay")
    why = refusal(kay, action, "kay")
    assert why is not None and "acts as no agent" in why and "--agent" in why
    # Given --agent, that agent is theirs, and their name still is not.
    assert allowed(Principal("kay", Role.SUPERVISOR, "kay-phone"), action, "kay-phone")
    assert not allowed(Principal("kay", Role.SUPERVISOR, "kay-phone"), action, "kay")
    assert Principal("ops", Role.OPERATOR).own_agent is None
    assert allowed(Principal("ops", Role.OPERATOR), action, "kay")  # operators: any agent


def test_call_control_supervise_preview_and_phone_are_the_supervisors_own_only() -> None:
    assert set(OWN_ONLY) == {A.CALL_CONTROL, A.PREVIEW, A.SUPERVISE, A.PHONE}


def test_refusals_say_what_is_allowed() -> None:
    why = refusal(SUPERVISOR, A.SUPERVISE, "bob")
    assert why is not None and "/api/supervisors/sam/join" in why
    why = refusal(AGENT, A.CALL_CONTROL, "bob")
    assert why is not None and "only for agent 'ann'" in why
    why = refusal(AGENT, A.STATE, None)
    assert why is not None and "may not use state" in why


def test_only_agents_must_have_handled_the_call_they_code() -> None:
    assert must_own_call(AGENT, A.DISPOSITION)
    assert not must_own_call(SUPERVISOR, A.DISPOSITION)
    assert not must_own_call(OPERATOR, A.DISPOSITION)
    assert not any(must_own_call(AGENT, a) for a in Action if a is not A.DISPOSITION)


# --- tokens ---------------------------------------------------------------------------------

OPERATOR_TOKEN = "operator-token-0123456789"


class Store:
    """A credential store by token hash, counting its look-ups; can be made unreachable."""

    def __init__(self, **tokens: Principal) -> None:
        self.by_hash = {hash_token(t): p for t, p in tokens.items()}
        self.lookups = 0
        self.down = False

    async def lookup(self, token_hash: str) -> Principal | None:
        self.lookups += 1
        if self.down:
            raise LookupFailed("connection refused")
        return self.by_hash.get(token_hash)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def authenticator(store: Store, clock: Clock | None = None) -> Authenticator:
    return Authenticator(OPERATOR_TOKEN, store.lookup, cache_seconds=3.0, clock=clock or Clock())


def test_tokens_are_random_and_stored_as_sha256_hex() -> None:
    token = new_token()
    assert len(token) >= 40 and token != new_token()
    assert hash_token(token) == hashlib.sha256(token.encode()).hexdigest()
    assert len(hash_token(token)) == 64 and token not in hash_token(token)
    assert same_secret("é-token", "é-token") and not same_secret("é-token", "e-token")


async def test_the_operator_token_needs_no_database() -> None:
    store = Store()
    store.down = True
    auth = authenticator(store)
    assert await auth.identify(OPERATOR_TOKEN) is OPERATOR
    assert store.lookups == 0
    with pytest.raises(LookupFailed):
        await auth.identify("someone-elses-token")  # only the store could tell


async def test_no_token_and_unknown_tokens_are_nobody() -> None:
    store = Store(ann_token=AGENT)
    auth = authenticator(store)
    assert await auth.identify("") is None
    assert store.lookups == 0
    assert await auth.identify(OPERATOR_TOKEN[:-1]) is None
    assert await auth.identify("ann_token") is AGENT
    assert await auth.identify("ñot a tøken") is None  # any text, never a crash


async def test_found_credentials_are_remembered_briefly() -> None:
    store = Store(ann_token=AGENT)
    clock = Clock()
    auth = authenticator(store, clock)
    assert await auth.identify("ann_token") is AGENT
    assert await auth.identify("ann_token") is AGENT
    assert store.lookups == 1
    # Revoked in the store: still let in until the cache entry ages out, then not.
    store.by_hash.clear()
    clock.now += 2.9
    assert await auth.identify("ann_token") is AGENT
    clock.now += 0.2
    assert await auth.identify("ann_token") is None
    assert store.lookups == 2


async def test_unknown_tokens_are_remembered_briefly_by_their_hash() -> None:
    assert 0 < NEGATIVE_CACHE_SECONDS <= 5
    store = Store(ann_token=AGENT)
    clock = Clock()
    auth = authenticator(store, clock)
    for _ in range(5):
        assert await auth.identify("wrong-token-xyz") is None
    assert store.lookups == 1  # one query, not one per request
    # The token itself is kept nowhere; its hash is.
    assert "wrong-token-xyz" not in repr(vars(auth))
    assert hash_token("wrong-token-xyz") in repr(vars(auth))
    clock.now += NEGATIVE_CACHE_SECONDS
    assert await auth.identify("wrong-token-xyz") is None
    assert store.lookups == 2  # asked again once the entry aged out
    assert await auth.identify("ann_token") is AGENT  # others are not held up


async def test_a_new_credential_waits_at_most_the_negative_cache() -> None:
    store = Store()
    clock = Clock()
    auth = authenticator(store, clock)
    assert await auth.identify("new_token") is None  # tried before it was made
    store.by_hash[hash_token("new_token")] = AGENT
    assert await auth.identify("new_token") is None
    clock.now += NEGATIVE_CACHE_SECONDS - 0.1
    assert await auth.identify("new_token") is None
    clock.now += 0.1
    assert await auth.identify("new_token") is AGENT
    # Never tried before: usable at once.
    store.by_hash[hash_token("newer_token")] = AGENT
    assert await auth.identify("newer_token") is AGENT


async def test_the_negative_cache_is_bounded_oldest_out_first() -> None:
    store = Store()
    clock = Clock()
    auth = authenticator(store, clock)
    for n in range(NEGATIVE_CACHE_LIMIT + 10):
        assert await auth.identify(f"wrong-{n}") is None
    assert store.lookups == NEGATIVE_CACHE_LIMIT + 10
    assert len(re.findall(r"[0-9a-f]{64}", repr(vars(auth)))) == NEGATIVE_CACHE_LIMIT
    await auth.identify(f"wrong-{NEGATIVE_CACHE_LIMIT + 9}")  # the newest: still remembered
    assert store.lookups == NEGATIVE_CACHE_LIMIT + 10
    await auth.identify("wrong-0")  # the oldest: forgotten, asked again
    assert store.lookups == NEGATIVE_CACHE_LIMIT + 11


async def test_an_outage_is_not_remembered_as_unknown() -> None:
    store = Store()
    store.down = True
    auth = authenticator(store)
    with pytest.raises(LookupFailed):
        await auth.identify("ann_token")
    store.down = False
    store.by_hash[hash_token("ann_token")] = AGENT
    assert await auth.identify("ann_token") is AGENT


@pytest.mark.parametrize(
    "token", ["\udcff", "ann_token\udcff", "é" * 10, "with space", "tab\tx", "x" * 513]
)
async def test_tokens_no_one_can_hold_are_nobody_without_the_store(token: str) -> None:
    """Text from a request may hold lone surrogates (bytes that are not UTF-8): no crash."""
    store = Store(ann_token=AGENT)
    store.down = True  # not asked at all
    auth = authenticator(store)
    assert await auth.identify(token) is None
    assert store.lookups == 0
    assert len(hash_token(token)) == 64 and not same_secret(token, OPERATOR_TOKEN)


async def test_a_database_outage_lets_nobody_in_once_the_cache_is_stale() -> None:
    store = Store(ann_token=AGENT)
    clock = Clock()
    auth = authenticator(store, clock)
    assert await auth.identify("ann_token") is AGENT
    store.down = True
    clock.now += 5
    with pytest.raises(LookupFailed):
        await auth.identify("ann_token")
    assert await auth.identify(OPERATOR_TOKEN) is OPERATOR


async def test_forget_drops_the_cache() -> None:
    store = Store(ann_token=AGENT)
    auth = authenticator(store)
    await auth.identify("ann_token")
    await auth.identify("wrong")
    auth.forget()
    await auth.identify("ann_token")
    await auth.identify("wrong")
    assert store.lookups == 4


def test_an_empty_operator_token_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        Authenticator("", Store().lookup)


# --- the operator token in the settings -------------------------------------------------------


def test_the_settings_token_is_trimmed_and_must_be_a_bearer_token() -> None:
    from pydantic import ValidationError

    from callcenter.config import Settings

    assert Settings(api_token="  abc-DEF_123~  ").api_token == "abc-DEF_123~"
    for bad in ("two words", "tab\there", "ünïcode"):
        with pytest.raises(ValidationError, match="visible ASCII"):
            Settings(api_token=bad)


def test_run_needs_an_operator_token_of_some_length() -> None:
    from ari_app.app import StartupError, check_api_token
    from callcenter.config import Settings

    with pytest.raises(StartupError, match=r"SWITCHBOARD_API_TOKEN is empty.*switchboard init"):
        check_api_token(Settings(api_token=""))
    with pytest.raises(StartupError, match="too short"):
        check_api_token(Settings(api_token="short"))
    check_api_token(Settings(api_token=new_token()))
