"""Agents' SIP secrets: generated from the operating system's generator with 144 bits, by the
very function `switchboard agents add` uses (db.acd_store.add_agent); a secret somebody
chooses is refused when a guesser would find it; endpoint names Asterisk already uses are
not agent names."""

from __future__ import annotations

import base64
import secrets
import string
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy.dialects import postgresql

from callcenter.security import sip_secrets
from callcenter.security.sip_secrets import WeakSecret, new_secret, require_strong, weakness
from db import acd_store

URLSAFE = set(string.ascii_letters + string.digits + "-_")


def test_generated_secrets_carry_at_least_128_random_bits() -> None:
    assert sip_secrets.GENERATED_BYTES * 8 >= sip_secrets.MIN_BITS >= 128
    made = [new_secret() for _ in range(500)]
    assert len(set(made)) == len(made)
    for secret in made:
        assert set(secret) <= URLSAFE
        raw = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
        assert len(raw) == sip_secrets.GENERATED_BYTES
        assert weakness(secret) is None


def test_generated_secrets_come_from_the_secrets_module(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[int] = []
    real = secrets.token_urlsafe

    def spy(nbytes: int | None = None) -> str:
        asked.append(nbytes or 0)
        made: str = real(nbytes)
        return made

    # The module sip_secrets draws from is the standard library's own.
    monkeypatch.setattr(secrets, "token_urlsafe", spy)
    new_secret()
    assert asked and all(n * 8 >= 128 for n in asked)


def test_generated_secrets_never_start_like_hexadecimal(monkeypatch: pytest.MonkeyPatch) -> None:
    """sipp reads a password "0x..." as hex bytes: two agents of the load benchmark (of 967
    registered that day) could not register with their right secret, 0x-kazHDa8t... and
    0x1NKLSlV6.... Such a draw is drawn again."""
    draws = iter(
        ["0x-kazHDa8tE8t48cucbjLfW", "0X1NKLSlV6VkcfP4tKQhiKXU", "x01NKLSlV6VkcfP4tKQhiKXU"]
    )
    monkeypatch.setattr(secrets, "token_urlsafe", lambda nbytes=None: next(draws))
    assert new_secret() == "x01NKLSlV6VkcfP4tKQhiKXU"


@pytest.mark.parametrize(
    ("secret", "user", "why"),
    [
        ("", "alice", "empty"),
        ("short1A!", "alice", "at least 16"),
        ("12345678901234567890123456", "alice", "all digits"),
        ("alice", "alice", "user name"),
        ("ALICE", "alice", "user name"),
        ("alice-alice-alice-alice-1", "alice", "user name"),
        ("asterisk", "bob", "well-known default"),
        ("changeme", "bob", "well-known default"),
        ("secret", "bob", "well-known default"),
        ("Asterisk2024!Asterisk2024!", "bob", "well-known default"),
        ("aaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bob", "different characters"),
        ("abcdefghijklmnopqrstu", "bob", "bits"),
        ("Correct horse battery staple 9", "bob", "printable ASCII"),
        ('with"quote-and-more-Chars-123', "bob", "printable ASCII"),
        ("semi;colon-and-more-Chars-123", "bob", "printable ASCII"),
    ],
)
def test_weak_secrets_are_refused_with_the_reason(secret: str, user: str, why: str) -> None:
    problem = weakness(secret, user)
    assert problem is not None and why in problem, problem
    with pytest.raises(WeakSecret, match=why):
        require_strong(secret, user)


@pytest.mark.parametrize(
    "secret",
    [
        "correct-horse-battery-staple-sip-Zebra9",
        "T7!qLm2@vR9%wX4$kP8&nB3z",
        "kq3Vd9Xr2Lp7Wn4Tz8Hb6Jc",
    ],
)
def test_strong_chosen_secrets_are_accepted(secret: str) -> None:
    assert weakness(secret, "alice") is None
    assert require_strong(secret, "alice") == secret


@pytest.mark.parametrize("name", ["anonymous", "trunk-in", "trunk-out", "default"])
def test_endpoint_names_asterisk_uses_are_not_agent_names(name: str) -> None:
    assert sip_secrets.name_problem(name) is not None
    with pytest.raises(acd_store.AcdError, match="reserved"):
        acd_store.add_agent(_NoDatabase(), name, None, {})  # type: ignore[arg-type]


def test_agents_add_stores_a_strong_generated_secret() -> None:
    engine = _Recorder()
    made = acd_store.add_agent(engine, "alice", "Alice", {})  # type: ignore[arg-type]
    (values,) = [v for v in engine.inserted if "sip_secret" in v]
    assert values["sip_secret"] == made.secret
    assert weakness(made.secret, "alice") is None
    assert len(made.secret) == 24
    second = acd_store.add_agent(_Recorder(), "alice", "Alice", {})  # type: ignore[arg-type]
    assert second.secret != made.secret


class _NoDatabase:
    def begin(self) -> Any:
        raise AssertionError("the database must not be reached")


class _Result:
    def first(self) -> tuple[str]:
        return ("alice",)


class _Connection:
    def __init__(self, recorder: _Recorder) -> None:
        self.recorder = recorder

    def execute(self, statement: Any, parameters: Any = None) -> _Result:
        if getattr(statement, "is_insert", False):
            compiled = statement.compile(dialect=postgresql.dialect())  # type: ignore[no-untyped-call]
            self.recorder.inserted.append(dict(compiled.params))
        return _Result()


class _Recorder:
    """Just enough of an Engine for add_agent: it keeps what would be inserted."""

    def __init__(self) -> None:
        self.inserted: list[dict[str, Any]] = []

    @contextmanager
    def begin(self) -> Iterator[_Connection]:
        yield _Connection(self)
