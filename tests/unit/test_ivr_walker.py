"""The flow walker, driven without Asterisk: a scripted caller in virtual time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from callcenter.ivr.walker import LookupResult, luhn_ok
from tests.unit.ivr_fakes import FakeServices, ScriptedCaller, flow, walk

MAIN = flow(
    """
flow: main
dids: ["100"]
default: true
start: welcome
schedules:
  office:
    timezone: Europe/London
    hours: {mon-fri: "08:00-18:00"}
    holidays: [2026-12-25]
lists:
  vip: ["+4420794609*"]
nodes:
  welcome: {type: play, prompts: [hello], next: hours}
  hours:
    type: condition
    branches:
      - {if: {closed: office}, goto: closed}
    else: top
  closed: {type: hangup, prompts: [sound:vm-nobodyavail]}
  top:
    type: menu
    prompts: [top-prompt]
    options: {1: level2, 2: account, 0: agents}
    repeat_key: "*"
    timeout: 4
    attempts: 3
    on_exhausted: bye
  level2:
    type: menu
    prompts: [level2-prompt]
    options: {1: level3, 9: top}
    on_exhausted: bye
  level3:
    type: menu
    prompts: [level3-prompt]
    options: {5: agents}
    on_exhausted: bye
  account:
    type: collect
    prompts: [enter-account]
    into: account
    min_digits: 4
    max_digits: 6
    attempts: 2
    next: lookup
    on_exhausted: bye
  lookup:
    type: lookup
    sql: SELECT status FROM accounts WHERE no = :no
    params: {no: "${account}"}
    into: acct
    next: said
    not_found: unknown
    on_error: sorry
  said:
    type: play
    prompts: ["digits:${account}", "number:${acct.balance}", "date:${acct.due}"]
    next: bye
  unknown: {type: play, prompts: [auth-incorrect], next: bye}
  sorry: {type: play, prompts: [im-sorry], next: agents}
  agents: {type: queue, queue: support, priority: 5, skills: {english: 50}, on_unavailable: bye}
  bye: {type: hangup, prompts: [goodbye]}
"""
)


async def test_three_levels_deep_to_a_queue() -> None:
    caller = ScriptedCaller(keys=[(5, "1"), (8, "1"), (11, "5")])
    state, trace, services = await walk(MAIN, caller, FakeServices(accept_queue=True))
    assert state.path == ["welcome", "hours", "top", "level2", "level3", "agents"]
    assert state.exit == "queue"
    assert services.queued[0].queue == "support"
    assert services.queued[0].priority == 5
    assert dict(services.queued[0].skills) == {"english": 50}
    assert [d["key"] for d in trace.of("IVR_KEY")] == ["1", "1", "5"]
    assert trace.kinds()[0] == "IVR_START" and trace.kinds()[-1] == "IVR_END"
    assert trace.of("IVR_END")[0]["exit"] == "queue"
    # The IVR ended when the caller entered the queue.
    assert state.ended_at is not None and state.ended_at > state.started_at


async def test_invalid_key_is_retried_with_the_invalid_prompt() -> None:
    caller = ScriptedCaller(keys=[(5, "7"), (12, "1"), (15, "9"), (18, "0")])
    state, trace, _ = await walk(MAIN, caller)
    assert state.path[:6] == ["welcome", "hours", "top", "level2", "top", "agents"]
    invalid = trace.of("IVR_INVALID")
    assert invalid == [{"node": "top", "attempt": 1, "reason": "invalid_key", "key": "7"}]
    assert "sound:pm-invalid-option" in caller.played
    # The queue could not take the call (no agents): the flow's fallback, then goodbye.
    assert trace.of("IVR_QUEUE_UNAVAILABLE")[0]["queue"] == "support"
    assert state.path[-1] == "bye" and state.exit == "hangup"


async def test_no_input_until_attempts_run_out() -> None:
    caller = ScriptedCaller()
    state, trace, _ = await walk(MAIN, caller)
    assert [d["attempt"] for d in trace.of("IVR_NO_INPUT")] == [1, 2, 3]
    assert trace.of("IVR_EXHAUSTED") == [{"node": "top", "attempts": 3}]
    assert caller.played.count("sound:please-try-again") == 2
    assert state.path[-1] == "bye" and state.exit == "hangup" and caller.hung_up


async def test_repeat_key_replays_without_using_an_attempt() -> None:
    caller = ScriptedCaller(keys=[(5, "*"), (7, "1"), (10, "9"), (13, "0")])
    state, trace, _ = await walk(MAIN, caller, FakeServices(accept_queue=True))
    assert trace.of("IVR_REPEAT") == [{"node": "top"}]
    assert caller.played.count("sound:top-prompt") == 3
    assert not trace.of("IVR_INVALID")
    assert state.exit == "queue"


async def test_caller_hanging_up_in_a_menu_is_recorded_where_it_happened() -> None:
    caller = ScriptedCaller(keys=[(5, "1")], hangup_at=7)
    state, trace, _ = await walk(MAIN, caller)
    assert state.exit == "caller_hangup"
    assert state.node == "level2"
    assert trace.of("IVR_END")[0]["node"] == "level2"


async def test_after_hours_goes_to_the_closed_branch() -> None:
    evening = datetime(2026, 11, 23, 19, 30, tzinfo=UTC)  # Monday 19:30 in London
    state, _, _ = await walk(MAIN, ScriptedCaller(), business_now=evening)
    assert state.path == ["welcome", "hours", "closed"]
    holiday = datetime(2026, 12, 25, 11, 0, tzinfo=UTC)
    state, _, _ = await walk(MAIN, ScriptedCaller(), business_now=holiday)
    assert state.path[-1] == "closed"
    saturday = datetime(2026, 11, 28, 11, 0, tzinfo=UTC)
    state, _, _ = await walk(MAIN, ScriptedCaller(), business_now=saturday)
    assert state.path[-1] == "closed"


async def test_business_hours_follow_the_schedule_time_zone() -> None:
    # 08:30 in London in summer is 07:30 UTC: open, although UTC says before opening.
    summer = datetime(2026, 7, 6, 7, 30, tzinfo=UTC)
    state, _, _ = await walk(MAIN, ScriptedCaller(), business_now=summer)
    assert state.path[2] == "top"


async def test_account_lookup_found_is_spoken() -> None:
    services = FakeServices(
        lookups={"acct": LookupResult("found", {"balance": "1250", "due": "2026-12-21"})}
    )
    caller = ScriptedCaller(keys=[(5, "2"), (8, "1"), (8.5, "2"), (9, "3"), (9.5, "4"), (10, "#")])
    state, trace, services = await walk(MAIN, caller, services)
    assert services.asked == [("acct", {"no": "1234"}, None)]
    assert trace.of("IVR_INPUT") == [{"node": "account", "var": "account", "value": "1234"}]
    assert trace.of("IVR_LOOKUP")[0]["status"] == "found"
    assert state.variables["acct.balance"] == "1250"
    said = caller.played[caller.played.index("digits:1234") :]
    assert said[:6] == [
        "digits:1234",
        "number:1250",
        "sound:digits/day-1",  # Monday
        "sound:digits/mon-11",  # December
        "sound:digits/20",
        "sound:digits/h-1",  # twenty-first
    ]
    assert said[6] == "number:2026"


@pytest.mark.parametrize(
    ("answer", "expected_path_end"),
    [
        (LookupResult("not_found"), ["unknown", "bye"]),
        (LookupResult("error", detail="connection refused"), ["sorry", "agents", "bye"]),
        (TimeoutError(), ["sorry", "agents", "bye"]),
        (RuntimeError("boom"), ["sorry", "agents", "bye"]),
    ],
)
async def test_lookup_failures_take_the_fallback(
    answer: LookupResult | Exception, expected_path_end: list[str]
) -> None:
    services = FakeServices(lookups={"acct": answer})
    caller = ScriptedCaller(keys=[(5, "2"), (8, "5"), (8.5, "5"), (9, "5"), (9.5, "5"), (10, "#")])
    state, trace, _ = await walk(MAIN, caller, services)
    assert state.path[-len(expected_path_end) :] == expected_path_end
    lookup = trace.of("IVR_LOOKUP")[0]
    assert lookup["status"] in ("not_found", "error")
    if lookup["status"] == "error":
        assert lookup["detail"]


async def test_garbage_digits_are_refused_and_flushed() -> None:
    # Too long: 10 keys for a 6-digit maximum, then a valid entry.
    keys = [(5, "2")] + [(8 + i * 0.1, "9") for i in range(10)]
    keys += [(15, "1"), (15.5, "2"), (16, "3"), (16.5, "4"), (17, "#")]
    caller = ScriptedCaller(keys=keys)
    state, trace, _ = await walk(MAIN, caller)
    assert trace.of("IVR_INVALID")[0]["reason"] == "too_long"
    assert trace.of("IVR_INPUT")[0]["value"] == "1234"
    assert "lookup" in state.path


async def test_short_and_non_digit_entries_exhaust_the_collect() -> None:
    keys = [(5, "2"), (8, "1"), (8.5, "#"), (14, "*"), (14.5, "1"), (15, "2"), (15.5, "3")]
    keys += [(16, "#")]
    caller = ScriptedCaller(keys=keys)
    state, trace, _ = await walk(MAIN, caller)
    assert [d["reason"] for d in trace.of("IVR_INVALID")] == ["too_short", "not_digits"]
    assert trace.of("IVR_EXHAUSTED") == [{"node": "account", "attempts": 2}]
    assert state.path[-1] == "bye"


CHECKS = flow(
    """
flow: checks
start: card
nodes:
  card:
    type: collect
    prompts: [enter]
    into: card
    min_digits: 4
    max_digits: 19
    check: luhn
    sensitive: true
    attempts: 1
    next: vip
    on_exhausted: bye
  vip:
    type: condition
    branches:
      - {if: {caller_in: ["+442079460001"]}, goto: fr}
    else: bye
  fr: {type: language, language: fr, next: other}
  other: {type: goto, flow: second}
  bye: {type: hangup}
"""
)
SECOND = flow(
    """
flow: second
start: hello
nodes:
  hello: {type: play, prompts: [bonjour], next: done}
  done: {type: hangup}
"""
)


async def test_luhn_masking_language_and_goto() -> None:
    card = "4539578763621486"
    keys = [(1 + i * 0.1, d) for i, d in enumerate(card)] + [(5, "#")]
    caller = ScriptedCaller(keys=keys)
    state, trace, _ = await walk(CHECKS, caller, others=(SECOND,))
    assert trace.of("IVR_INPUT")[0]["value"] == "*" * len(card)
    assert state.path == ["card", "vip", "fr", "other", "second/hello", "second/done"]
    assert state.language == "fr"
    assert caller.languages[-1] == "fr"
    assert trace.of("IVR_GOTO")[0]["flow"] == "second"
    assert luhn_ok(card) and not luhn_ok("4539578763621487")


async def test_a_missing_flow_plays_the_error_prompts_and_hangs_up() -> None:
    caller = ScriptedCaller(keys=[(1, "4"), (1.5, "2"), (2, "4"), (2.5, "1"), (3, "#")])
    caller.caller = "+442079460001"
    state, trace, _ = await walk(CHECKS, caller)  # flow "second" is not there
    # 4241 fails the Luhn check: the one attempt is used and the caller is let go.
    assert state.path[-1] == "bye"
    keys = [(1 + i * 0.1, d) for i, d in enumerate("4539578763621486")] + [(5, "#")]
    caller = ScriptedCaller(keys=keys)
    state, trace, _ = await walk(CHECKS, caller)
    assert state.exit == "error"
    assert "no flow 'second'" in trace.of("IVR_ERROR")[0]["error"]
    assert caller.played[-2:] == ["sound:sorry-youre-having-problems", "sound:goodbye"]
    assert caller.hung_up


CALLBACK = flow(
    """
flow: cb
start: offer
nodes:
  offer:
    type: callback
    prompts: [vm-tocallback]
    queue: billing
    next: bye
    on_declined: bye
  bye: {type: hangup}
"""
)


async def test_callback_on_the_callers_number() -> None:
    _state, trace, services = await walk(CALLBACK, ScriptedCaller(keys=[(1, "1")]))
    assert services.callbacks == [("+442079460001", "billing")]
    assert trace.of("IVR_CALLBACK")[0]["number"] == "+442079460001"


async def test_callback_on_another_number() -> None:
    keys = [(1, "2")] + [(6 + i * 0.2, d) for i, d in enumerate("02079460123")] + [(9, "#")]
    _state, _, services = await walk(CALLBACK, ScriptedCaller(keys=keys))
    assert services.callbacks == [("02079460123", "billing")]


async def test_callback_declined_after_garbage() -> None:
    caller = ScriptedCaller(keys=[(1, "7"), (6, "8"), (11, "9")])
    state, trace, services = await walk(CALLBACK, caller)
    assert services.callbacks == []
    assert trace.of("IVR_CALLBACK_DECLINED") == [{"node": "offer"}]
    assert state.exit == "hangup"


async def test_a_runaway_flow_is_stopped() -> None:
    loop = flow(
        """
flow: loop
start: a
nodes:
  a: {type: condition, branches: [{if: {var: caller, present: true}, goto: a}], else: b}
  b: {type: hangup}
"""
    )
    state, trace, _ = await walk(loop, ScriptedCaller())
    assert state.exit == "error"
    assert "steps" in trace.of("IVR_ERROR")[0]["error"]


async def test_prompts_with_nothing_to_say_are_skipped_not_played() -> None:
    services = FakeServices(lookups={"acct": LookupResult("found", {"balance": "lots"})})
    caller = ScriptedCaller(keys=[(5, "2"), (8, "1"), (8.5, "2"), (9, "3"), (9.5, "4"), (10, "#")])
    _, trace, _ = await walk(MAIN, caller, services)
    skipped = [d["detail"] for d in trace.of("IVR_PROMPT_SKIPPED")]
    assert any("cannot be said as number" in s for s in skipped)
    assert any("is not a date" in s for s in skipped)
    assert "digits:1234" in caller.played


SCREEN = flow(
    """
flow: screen
start: pin
nodes:
  pin: {type: collect, prompts: [enter-pin], into: pin, min_digits: 4, max_digits: 4,
        sensitive: true, next: account, on_exhausted: bye}
  account: {type: collect, prompts: [enter-account], into: account, min_digits: 4,
            max_digits: 6, next: lookup, on_exhausted: bye}
  lookup: {type: lookup, sql: "SELECT name FROM accounts WHERE no = :no",
           params: {no: "${account}"}, into: acct, next: agents, not_found: agents,
           on_error: agents}
  agents: {type: queue, queue: support, on_unavailable: bye}
  bye: {type: hangup}
"""
)


async def test_the_queue_gets_what_the_caller_gave_but_never_a_sensitive_entry() -> None:
    keys = [(1, "1"), (1.2, "2"), (1.4, "3"), (1.6, "4"), (1.8, "#")]  # the PIN: sensitive
    keys += [(3, "5"), (3.2, "5"), (3.4, "5"), (3.6, "1"), (3.8, "#")]  # the account
    services = FakeServices(
        accept_queue=True, lookups={"acct": LookupResult("found", {"name": "Ann"})}
    )
    state, _, _ = await walk(SCREEN, ScriptedCaller(keys=keys), services)
    assert state.exit == "queue"
    assert dict(services.queued[0].collected) == {
        "account": "5551",
        "acct": "found",
        "acct.name": "Ann",
    }  # no PIN, and not the caller's or the dialed number (the call has them)
    assert state.variables["pin"] == "1234"  # the flow itself still has it


AFTER_HOURS = flow(
    """
flow: late
dids: ["300"]
start: hours
schedules:
  office:
    timezone: Europe/London
    hours: {mon-fri: "08:00-18:00"}
nodes:
  hours:
    type: condition
    branches:
      - {if: {closed: office}, goto: message}
    else: to_queue
  to_queue: {type: queue, queue: billing, on_unavailable: message}
  message: {type: voicemail, queue: billing, max_seconds: 90}
"""
)


async def test_after_hours_the_caller_leaves_a_message_for_the_queue() -> None:
    # Saturday 2026-12-05 at 10:00 in London: closed.
    saturday = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
    caller = ScriptedCaller()
    state, trace, services = await walk(AFTER_HOURS, caller, business_now=saturday)
    assert services.messages == [("billing", 90.0)]
    assert trace.of("IVR_VOICEMAIL") == [{"node": "message", "queue": "billing"}]
    assert caller.played[:1] == ["sound:vm-intro"]
    assert caller.played[-2:] == ["sound:vm-msgsaved", "sound:vm-goodbye"]
    assert state.exit == "hangup" and services.queued == []


async def test_a_message_not_kept_is_not_thanked_for() -> None:
    saturday = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
    caller = ScriptedCaller()
    services = FakeServices(message_seconds=None)
    state, _, _ = await walk(AFTER_HOURS, caller, services, business_now=saturday)
    assert "sound:vm-msgsaved" not in caller.played and state.exit == "hangup"


async def test_when_the_queue_cannot_take_the_caller_they_leave_a_message() -> None:
    # Monday 2026-12-07 at 10:00 in London: open, but the queue refuses (no agents).
    monday = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    _state, trace, services = await walk(
        AFTER_HOURS, ScriptedCaller(), FakeServices(accept_queue=False), business_now=monday
    )
    assert [q.queue for q in services.queued] == ["billing"]
    assert services.messages == [("billing", 90.0)] and "IVR_QUEUE_UNAVAILABLE" in trace.kinds()
