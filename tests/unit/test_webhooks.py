"""Webhook logic without a network: signatures, the retry schedule, topics, the body."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from callcenter.webhooks.payloads import body, shape
from callcenter.webhooks.retry import Backoff, after_attempt
from callcenter.webhooks.signing import SignatureError, sign, verify
from callcenter.webhooks.topics import TopicError, parse_topics

BODY = b'{"type":"call.ended"}'
# Known answer, from `printf '%s' '1700000000.{"type":"call.ended"}' |
# openssl dgst -sha256 -hmac whsec_test`.
KNOWN = "413712fd341af8a158348ace10d30682b2aec368c23370f902dc487652f41111"
NOW = datetime(2026, 12, 6, 21, 0, tzinfo=UTC)


def test_the_signature_is_hmac_sha256_over_the_timestamp_and_the_body() -> None:
    assert sign("whsec_test", BODY, 1700000000) == f"t=1700000000,v1={KNOWN}"


def test_a_good_signature_within_the_window_is_accepted() -> None:
    header = sign("whsec_test", BODY, 1700000000)
    assert verify("whsec_test", header, BODY, now=1700000000 + 299) == 1700000000
    # While a secret is rotated, one of several v1 values matching is enough.
    both = f"t=1700000000,v1={'0' * 64},v1={KNOWN}"
    assert verify("whsec_test", both, BODY, now=1700000000)


@pytest.mark.parametrize(
    ("header", "body_sent", "now", "why"),
    [
        (f"t=1700000000,v1={KNOWN}", b'{"type":"call.coded"}', 1700000000, "does not match"),
        (f"t=1700000001,v1={KNOWN}", BODY, 1700000001, "does not match"),  # timestamp moved
        (f"t=1700000000,v1={KNOWN}", BODY, 1700000000 + 301, "replay window"),  # replayed
        (f"v1={KNOWN}", BODY, 1700000000, "no timestamp"),
        ("t=1700000000", BODY, 1700000000, "no v1"),
        ("garbage", BODY, 1700000000, "no timestamp"),
    ],
)
def test_a_forged_changed_or_replayed_request_is_refused(
    header: str, body_sent: bytes, now: float, why: str
) -> None:
    with pytest.raises(SignatureError, match=why):
        verify("whsec_test", header, body_sent, now)


def test_another_secret_does_not_verify() -> None:
    header = sign("whsec_other", BODY, 1700000000)
    with pytest.raises(SignatureError, match="does not match"):
        verify("whsec_test", header, BODY, 1700000000)


def test_retries_double_from_the_base_up_to_the_cap_with_at_most_a_fifth_off() -> None:
    backoff = Backoff(base=1.0, cap=600.0)
    # Without jitter (a generator whose uniform() gives 0): 1, 2, 4 ... 512, then 600.
    no_jitter = random.Random()
    no_jitter.uniform = lambda a, b: 0.0  # type: ignore[method-assign]
    delays = [backoff.delay(n, no_jitter) for n in range(1, 13)]
    assert delays == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]
    rng = random.Random(7)
    for attempt in range(1, 13):
        full = min(600.0, 2.0 ** (attempt - 1))
        assert 0.8 * full <= backoff.delay(attempt, rng) <= full


def test_after_an_attempt_delivered_retried_or_dead() -> None:
    backoff = Backoff(base=2.0, cap=60.0)
    no_jitter = random.Random()
    no_jitter.uniform = lambda a, b: 0.0  # type: ignore[method-assign]
    assert after_attempt(204, 1, 5, NOW, backoff).status == "delivered"
    # A 500 on the 3rd of 5 tries: again after 2 * 2^2 = 8 s.
    again = after_attempt(500, 3, 5, NOW, backoff, no_jitter)
    assert again.status == "pending" and again.next_attempt_at == NOW + timedelta(seconds=8)
    # No answer at all counts as a failed try too; a redirect is not followed (not a 2xx).
    assert after_attempt(None, 1, 5, NOW, backoff).status == "pending"
    assert after_attempt(301, 1, 5, NOW, backoff).status == "pending"
    # The 5th failed try of 5: dead-lettered, never tried again by itself.
    dead = after_attempt(503, 5, 5, NOW, backoff)
    assert dead.status == "dead" and dead.next_attempt_at is None


def test_topics_are_checked_and_put_in_order() -> None:
    assert parse_topics(" call.coded , call.ended,call.coded") == ("call.ended", "call.coded")
    with pytest.raises(TopicError, match=r"unknown event call\.started"):
        parse_topics("call.ended,call.started")
    with pytest.raises(TopicError, match="at least one"):
        parse_topics(" , ")


def test_the_body_carries_the_id_the_type_and_only_the_public_fields() -> None:
    event_id = str(uuid.uuid4())
    row = {
        "id": "c1",
        "caller_number": "+15551234567",
        "talk_seconds": 42.5,
        "agent": "ann",
        "ended_at": "2026-12-06T21:00:00+00:00",
        "caller_e164": "internal key, not sent",
        "ivr_path": ["menu"],
    }
    document = json.loads(body(event_id, "call.ended", NOW, row))
    assert document["id"] == event_id and document["type"] == "call.ended"
    assert document["occurred_at"] == "2026-12-06T21:00:00+00:00"
    data = document["data"]
    assert data["caller_number"] == "+15551234567" and data["talk_seconds"] == 42.5
    assert "caller_e164" not in data and "ivr_path" not in data
    assert data["queue"] is None  # every field present, null when unset
    assert shape("agent.state", {"agent": "ann", "state": "paused", "reason": "lunch"}) == {
        "agent": "ann",
        "type": None,
        "state": "paused",
        "reason": "lunch",
        "queue": None,
        "call_id": None,
        "occurred_at": None,
    }
