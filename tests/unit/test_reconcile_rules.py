from __future__ import annotations

from datetime import UTC, datetime, timedelta

from callcenter.calls.reconcile import settle

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SEEN = NOW - timedelta(seconds=30)


def test_a_call_still_handled_here_is_kept() -> None:
    assert (
        settle(
            handled_here=True,
            channel_alive=True,
            last_seen_at=SEEN,
            asterisk_started_at=None,
            now=NOW,
        ).action
        == "keep"
    )


def test_a_stranded_channel_is_hung_up_and_closed() -> None:
    verdict = settle(
        handled_here=False,
        channel_alive=True,
        last_seen_at=SEEN,
        asterisk_started_at=NOW - timedelta(hours=1),
        now=NOW,
    )
    assert verdict.action == "hangup_and_close"
    assert verdict.party == "system" and verdict.outcome == "interrupted"


def test_a_call_cut_by_an_asterisk_restart_ends_when_asterisk_restarted() -> None:
    restart = NOW - timedelta(seconds=10)
    verdict = settle(
        handled_here=False,
        channel_alive=False,
        last_seen_at=SEEN,
        asterisk_started_at=restart,
        now=NOW,
    )
    assert verdict.action == "close"
    assert verdict.ended_at == restart
    assert verdict.cause == 38


def test_a_call_that_ended_while_nobody_listened_ends_now_with_no_cause() -> None:
    verdict = settle(
        handled_here=False,
        channel_alive=False,
        last_seen_at=SEEN,
        asterisk_started_at=NOW - timedelta(hours=2),
        now=NOW,
    )
    assert verdict.action == "close"
    assert verdict.ended_at == NOW and verdict.cause is None
