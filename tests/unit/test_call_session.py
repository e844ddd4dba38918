"""The walking-skeleton flow driven through a call session with a fake ARI transport."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from ari_app.client import AriHttpError, AriNotFound
from ari_app.events import Channel, Event, parse_event
from ari_app.flows import walking_skeleton
from ari_app.session import CallSession, CallSink, ChannelGone, ShutdownRequested
from callcenter.calls.record import CallEventRecord, CallRecord

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


class Sink(CallSink):
    def __init__(self) -> None:
        self.snapshots: list[dict[str, Any]] = []
        self.events: list[CallEventRecord] = []
        self.order: list[str] = []

    def save(self, record: CallRecord, channel_name: str | None) -> None:
        self.snapshots.append(record.row())
        self.order.append("row(ended)" if record.ended_at else "row")

    def log_event(self, event: CallEventRecord) -> None:
        self.events.append(event)
        self.order.append(event.type)


class FakeAri:
    """Answers like Asterisk would: playbacks finish after a moment, hangups are confirmed."""

    app = "switchboard"

    def __init__(self, playback_s: float = 0.05) -> None:
        self.session: CallSession | None = None
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.playback_s = playback_s
        self.stopped: set[str] = set()
        self.hung_up = False

    def emit(self, message: dict[str, Any]) -> None:
        assert self.session is not None
        message.setdefault("timestamp", datetime.now(UTC).isoformat())
        message.setdefault("channel", {"id": "c1", "state": "Up"})
        self.session.deliver(parse_event(message))

    async def post(self, path: str, body: Any = None, **params: Any) -> Any:
        self.calls.append(("POST", path, params))
        if "/play/" in path:
            playback_id = path.rsplit("/", 1)[1]
            asyncio.get_running_loop().call_later(self.playback_s, self._finish, playback_id)
        if path.endswith("/answer"):
            self.emit({"type": "ChannelStateChange"})
        return None

    def _finish(self, playback_id: str) -> None:
        self.emit(
            {
                "type": "PlaybackFinished",
                "playback": {"id": playback_id, "target_uri": "channel:c1"},
            }
        )

    async def delete(self, path: str, **params: Any) -> Any:
        self.calls.append(("DELETE", path, params))
        if path.startswith("/channels/"):
            if self.hung_up:
                raise AriNotFound(404, "DELETE", path, "Channel not found")
            self.hung_up = True
            self.emit({"type": "ChannelHangupRequest", "soft": True, "cause": 32})
            self.emit({"type": "StasisEnd"})
            self.emit({"type": "ChannelDestroyed", "cause": 16, "cause_txt": "Normal Clearing"})
        return None

    def media(self) -> list[str]:
        return [p["media"] for m, path, p in self.calls if "/play/" in path]


def new_session(ari: FakeAri) -> tuple[CallSession, Sink]:
    sink = Sink()
    record = CallRecord(
        node_id="n1",
        channel_id="c1",
        direction="inbound",
        arrived_at=T0,
        caller_number="5551234",
        dialed_number="100",
    )
    session = CallSession(Channel(id="c1", name="PJSIP/x"), record, ari, sink, destroyed_wait=1)  # type: ignore[arg-type]
    ari.session = session
    return session, sink


async def test_key_during_greeting_stops_it_and_is_said_back() -> None:
    ari = FakeAri(playback_s=0.3)
    session, sink = new_session(ari)
    task = asyncio.create_task(session.run(walking_skeleton))
    await asyncio.sleep(0.1)
    ari.emit({"type": "ChannelDtmfReceived", "digit": "5"})
    await asyncio.wait_for(task, 5)

    assert ari.media() == ["sound:hello-world", "sound:you-entered,digits:5", "sound:vm-goodbye"]
    assert any(m == "DELETE" and p.startswith("/playbacks/") for m, p, _ in ari.calls)
    final = sink.snapshots[-1]
    assert final["digits"] == "5"
    assert final["hangup_party"] == "system"
    assert final["hangup_cause"] == 16
    assert [e.type for e in sink.events] == ["ARRIVE", "ANSWER", "DTMF", "HANGUP"]
    # The row exists before its first event; the last event is stored before the row says
    # the call ended, so a reader who sees an ended call sees its whole log.
    assert sink.order[:2] == ["row", "ARRIVE"]
    assert sink.order[-2:] == ["HANGUP", "row(ended)"]


async def test_no_key_hears_sorry_and_goodbye() -> None:
    ari = FakeAri()
    session, sink = new_session(ari)
    import ari_app.flows as flows

    original = flows.DIGIT_TIMEOUT_S
    flows.DIGIT_TIMEOUT_S = 0.2
    try:
        await asyncio.wait_for(session.run(walking_skeleton), 5)
    finally:
        flows.DIGIT_TIMEOUT_S = original
    assert ari.media() == ["sound:hello-world", "sound:vm-sorry", "sound:vm-goodbye"]
    assert sink.snapshots[-1]["digits"] is None


async def test_caller_hanging_up_mid_greeting_is_the_caller() -> None:
    ari = FakeAri(playback_s=5)
    session, sink = new_session(ari)
    task = asyncio.create_task(session.run(walking_skeleton))
    await asyncio.sleep(0.1)
    ari.emit({"type": "ChannelHangupRequest", "soft": False})
    ari.emit({"type": "StasisEnd"})
    ari.emit({"type": "ChannelDestroyed", "cause": 0, "cause_txt": "Unknown"})
    await asyncio.wait_for(task, 5)
    final = sink.snapshots[-1]
    assert final["hangup_party"] == "caller"
    assert final["hangup_cause"] == 16  # a BYE is normal clearing
    assert not any(m == "DELETE" and p.startswith("/channels/") for m, p, _ in ari.calls)


async def test_asterisk_shutting_down_marks_the_call_lost() -> None:
    ari = FakeAri(playback_s=5)
    session, sink = new_session(ari)
    task = asyncio.create_task(session.run(walking_skeleton))
    await asyncio.sleep(0.1)
    ari.emit({"type": "ChannelHangupRequest", "soft": True, "cause": 4})
    ari.emit({"type": "ChannelDestroyed", "cause": 16, "cause_txt": "Normal Clearing"})
    await asyncio.wait_for(task, 5)
    final = sink.snapshots[-1]
    assert (final["hangup_cause"], final["outcome"]) == (38, "lost")


async def test_reconciliation_closes_a_call_whose_channel_vanished() -> None:
    ari = FakeAri(playback_s=5)
    session, sink = new_session(ari)
    task = asyncio.create_task(session.run(walking_skeleton))
    await asyncio.sleep(0.1)
    session.deliver(
        ChannelGone(type="ChannelGone", cause=38, cause_text="Asterisk restarted during the call")
    )
    await asyncio.wait_for(task, 5)
    final = sink.snapshots[-1]
    assert final["outcome"] == "lost" and final["hangup_cause"] == 38


async def test_shutdown_hangs_up_and_closes_the_record() -> None:
    ari = FakeAri(playback_s=5)
    session, sink = new_session(ari)
    task = asyncio.create_task(session.run(walking_skeleton))
    await asyncio.sleep(0.1)
    session.deliver(ShutdownRequested(type="ShutdownRequested"))
    await asyncio.wait_for(task, 5)
    final = sink.snapshots[-1]
    assert final["hangup_party"] == "system"
    assert final["ended_at"] is not None
    assert ("DELETE", "/channels/c1", {"reason": "normal"}) in ari.calls


def test_unknown_events_stay_raw_and_never_fail() -> None:
    event = parse_event({"type": "SomethingNew", "x": 1})
    assert type(event) is Event and event.raw["x"] == 1
    broken = parse_event({"type": "ChannelDtmfReceived"})  # no channel, no digit
    assert type(broken) is Event


async def test_a_call_arriving_during_shutdown_is_refused_and_still_recorded() -> None:
    from ari_app.registry import CallRegistry

    ari = FakeAri()
    made: list[tuple[CallSession, Sink]] = []

    def factory(_event: Any) -> tuple[CallSession, Any]:
        session, sink = new_session(ari)
        made.append((session, sink))
        return session, walking_skeleton

    registry = CallRegistry(factory)
    await registry.shutdown(grace=0)
    registry.dispatch(parse_event({"type": "StasisStart", "channel": {"id": "c1"}}))
    assert await registry.wait_idle(5)
    _session, sink = made[0]
    final = sink.snapshots[-1]
    assert final["outcome"] == "refused" and final["answered_at"] is None
    assert ("DELETE", "/channels/c1", {"reason": "congestion"}) in ari.calls
    assert not any("/answer" in path for _m, path, _p in ari.calls)


class GoneBeforeSubscribe(FakeAri):
    """The far end hung up as it answered: Asterisk sent the channel's hang-up request and
    StasisEnd, and the subscription to it fails (HTTP 422, no such event source)."""

    async def post(self, path: str, body: Any = None, **params: Any) -> Any:
        if path.endswith("/subscription"):
            self.emit({"type": "ChannelHangupRequest", "soft": False})
            self.emit({"type": "StasisEnd"})
            raise AriHttpError(422, "POST", path, "Event source does not exist")
        return await super().post(path, body, **params)


async def test_channel_gone_before_the_subscription_ends_the_call_at_once() -> None:
    ari = GoneBeforeSubscribe()
    session, sink = new_session(ari)
    session._destroyed_wait = 30  # the ChannelDestroyed will never come: not waited for
    started = asyncio.get_running_loop().time()
    await asyncio.wait_for(session.run(walking_skeleton), 5)
    assert asyncio.get_running_loop().time() - started < 1
    final = sink.snapshots[-1]
    assert final["ended_at"] is not None
    assert final["hangup_party"] == "caller"
    assert final["hangup_cause"] == 16
    assert final["hangup_cause_text"] == "Normal Clearing"
    assert [e.type for e in sink.events] == ["ARRIVE", "HANGUP"]
    assert ari.media() == []  # the flow never ran on a channel already gone
