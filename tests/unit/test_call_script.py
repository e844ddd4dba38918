"""A queue's call script filled in for the call the agent is on."""

from __future__ import annotations

from callcenter.calls.call_script import render_script


def test_the_callers_fields_and_the_ivrs_are_filled_in() -> None:
    text = render_script(
        "Hello ${caller_name}, this is ${agent} of ${queue}. Account ${acct}, balance "
        "${lookup.balance}; called from ${caller_number}.",
        caller_number="+15551230001",
        caller_name="Ann Lee",
        queue="billing",
        agent="zoe",
        collected={"acct": "5551", "lookup.balance": "12.50"},
    )
    assert text == (
        "Hello Ann Lee, this is zoe of billing. Account 5551, balance 12.50; "
        "called from +15551230001."
    )


def test_unknown_fields_are_empty_and_the_calls_own_fields_win() -> None:
    text = render_script(
        "[${caller_name}] [${nothing}] [${queue}]",
        caller_number=None,
        caller_name=None,
        queue="sales",
        agent="zoe",
        collected={"queue": "spoofed by a lookup"},
    )
    assert text == "[] [] [sales]"
