"""A caller in an ACD queue, from joining to the end of their talk with an agent.

Runs inside the caller's own handler (``CallSession``), so the caller's channel, the agents'
channels and the ACD's commands are handled one at a time. Every step is a call event named
like Asterisk's queue_log (ENTERQUEUE, RINGNOANSWER, RINGCANCELED, CONNECT, ABANDON,
COMPLETECALLER, COMPLETEAGENT, EXITWITHTIMEOUT, EXITWITHKEY, ...).

The parts, each a class over the one before: ``queue_offers.py`` (the shared state and the
agents' phones rung), ``queue_waiting.py`` (the wait), ``connected_call.py`` (the talk),
``transfers.py``; ``QueueCall`` here serves a caller through them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import structlog

from ari_app.acd import (
    JoinRefused,
    utcnow,
)
from ari_app.client import AriError
from ari_app.connected_call import Talk, _Rejoin
from ari_app.queue_offers import AUTO_ANSWER_HEADERS, QueueVisit, Ringing
from ari_app.session import CallEnded
from ari_app.transfers import TransferringCall

log = structlog.get_logger(__name__)

__all__ = ["AUTO_ANSWER_HEADERS", "QueueCall", "QueueVisit", "Ringing", "Talk"]


class QueueCall(TransferringCall):
    """Serves a caller in a queue: joins, waits, talks, and joins again after a transfer to
    a queue."""

    async def serve(
        self,
        queue: str,
        priority: int,
        skills: dict[str, int],
        arrived: datetime | None = None,
        *,
        connect_within: float | None = None,
        music: bool = True,
        on_connect: Callable[[], None] | None = None,
    ) -> bool:
        """The caller waits in ``queue`` until an agent talks to them (True), or the queue
        refuses them at once (False: the IVR goes on). Raises CallEnded when the call ends.

        ``connect_within``: seconds an agent has to answer (an outbound call's live answer
        has 2); past them the caller leaves the queue with exit ``timeout``, still on the
        line, and ``serve`` returns True with no agent on the record."""
        record = self.call.record
        try:
            position = self.acd.join(
                self.call_id,
                queue,
                priority,
                skills,
                self.call.deliver,
                arrived=arrived,
                caller=record.caller_number,
            )
        except JoinRefused as exc:
            self._event("JOINREFUSED", queue=queue, reason=exc.reason, detail=str(exc))
            return False
        now = utcnow()
        if record.queued_at is None:
            record.queued_at = now
            record.queue_position = position
        record.queue = queue
        self._save()
        self._event("ENTERQUEUE", now, queue=queue, position=position, priority=priority)
        visit = QueueVisit(queue, now, position)
        if connect_within is not None:
            visit.deadline = now + timedelta(seconds=connect_within)
        try:
            try:
                if music:
                    await self._hold_music(queue)
            except AriError as exc:
                # No music is better than no queue: the caller keeps their place (and if
                # their channel is gone, the hangup arrives next).
                self.call.log.warning("queue.no_music", queue=queue, error=str(exc))
            connected = await self._wait(visit)
        except CallEnded:
            await self._abandon(visit)
            raise
        finally:
            if not self._kept_place:
                self.acd.leave(self.call_id)
        if connected is None:
            return True
        await self._stop_announcing(visit)
        if on_connect is not None:
            on_connect()
        try:
            await self._talk(visit, connected)
        except _Rejoin as again:
            # Transferred to a queue, or a blind transfer nobody took: wait again, in the
            # place the caller's first arrival gives them.
            return await self.serve(again.queue, priority, skills, arrived=again.arrived)
        return True
