"""Transfers of a connected call: blind or attended, to an agent, a number or a queue (the
caller joins it again), with the consultation leg and its failure."""

from __future__ import annotations

import contextlib
from typing import Any

import structlog

from ari_app.acd import (
    CommandRefused,
    utcnow,
)
from ari_app.client import AriError
from ari_app.connected_call import ConnectedCall, Talk, _Rejoin
from ari_app.queue_offers import QueueVisit, Ringing, _ms
from callcenter.config import get_settings
from callcenter.security.toll_fraud import callback_refusal

log = structlog.get_logger(__name__)


class TransferringCall(ConnectedCall):
    """The connected call's transfers."""

    async def _transfer(self, talk: Talk, target: str, attended: bool) -> dict[str, Any]:
        kind, _, name = target.partition(":")
        if kind == "queue":
            if attended:
                raise CommandRefused(400, "an attended transfer goes to an agent")
            if name not in self.acd.settings:
                raise CommandRefused(404, f"no queue {name!r}")
            await self._blind_to_queue(talk, name)
            return {"transferred_to": target}
        if kind == "agent":
            if name == talk.agent.agent:
                raise CommandRefused(400, "an agent cannot transfer a call to themselves")
            if talk.consult is not None:
                raise CommandRefused(409, "a consultation is already going on")
            # raises CommandRefused
            self.acd.direct_offer(self.call_id, name, self.call.deliver, talk.visit.queue)
            await self._ring_transfer(talk, target, attended, name)
            return {"ringing": name, "attended": attended}
        if kind == "number":
            number = name.strip()
            if not (number.lstrip("+").isdigit() and 3 <= len(number.lstrip("+")) <= 20):
                raise CommandRefused(400, f"{number!r} is not a phone number")
            # The same toll-fraud guard as callbacks: a stolen agent token must not be a way
            # to bridge callers to international or premium numbers (docs/security.md).
            refusal = callback_refusal(number, get_settings().default_region)
            if refusal is not None:
                raise CommandRefused(403, f"transfers to {number} are not allowed: {refusal}")
            if not self.acd.outbound_uri:
                raise CommandRefused(
                    409, "no outbound trunk is configured (SWITCHBOARD_OUTBOUND_URI)"
                )
            if talk.consult is not None:
                raise CommandRefused(409, "a consultation is already going on")
            await self._ring_transfer(
                talk, target, attended, target, endpoint=f"PJSIP/{number}@trunk-out"
            )
            return {"ringing": target, "attended": attended}
        raise CommandRefused(
            400, f"unknown transfer target {target!r} (agent:NAME, queue:NAME or number:+...)"
        )

    async def _ring_transfer(
        self,
        talk: Talk,
        target: str,
        attended: bool,
        who: str,
        endpoint: str | None = None,
    ) -> None:
        """Ring the transfer's target with the caller on hold. Blind: the first agent is
        done at once, and the caller hears music until the target answers."""
        if talk.held_since is None:
            await self._hold(talk)
        talk.consult = await self._ring_direct(
            who, endpoint=endpoint, external=endpoint is not None
        )
        talk.attended = attended
        if not attended:
            self._event("BLINDTRANSFER", target=target, **self._summary(talk, utcnow()))
            talk.agent_done = True
            self.acd.call_over(talk.agent.agent, talk.visit.queue, self.call_id)
            await self._drop(talk.agent.channel_id)

    async def _ring_direct(
        self,
        agent: str,
        endpoint: str | None = None,
        external: bool = False,
        supervisor: bool = False,
    ) -> Ringing:
        self._direct += 1
        label = "ext" if external else agent
        channel_id = f"{self.call_id}-{label}-t{self._direct}"
        now = utcnow()
        try:
            await self._originate(channel_id, endpoint or f"PJSIP/{agent}", 30, {})
        except AriError as exc:
            if not external:
                self.acd.withdraw(self.call_id, agent)
            raise CommandRefused(502, f"could not ring {agent}: {exc}") from None
        if supervisor:
            self._event("RINGING", now, agent=agent, channel=channel_id, supervisor=True)
        else:
            self._event("RINGING", now, agent=agent, channel=channel_id, transfer=True)
        return Ringing(agent, channel_id, now, external=external)

    async def _consult_answered(self, talk: Talk) -> None:
        leg = talk.consult
        assert leg is not None
        now = utcnow()
        if not leg.external and not self.acd.answered(
            self.call_id, leg.agent, talk.visit.queue, self.call.deliver
        ):
            await self._drop(leg.channel_id)
            talk.consult = None
            await self._unhold(talk)
            return
        if talk.agent_done:
            # A blind transfer: the caller meets the new agent at once.
            talk.agent = leg
            talk.consult = None
            talk.agent_done = False
            talk.connected = now
            await self.call.ari.post(f"/bridges/{talk.bridge}/addChannel", channel=leg.channel_id)
            await self._unhold(talk)
            self._event("CONNECT", now, queue=talk.visit.queue, agent=leg.agent, transfer=True)
            return
        talk.consult_up = True
        await self.call.ari.post(f"/bridges/{talk.bridge}/addChannel", channel=leg.channel_id)
        self._event("CONSULT", now, agent=talk.agent.agent, target=leg.agent)

    async def _consult_failed(self, talk: Talk, cause: int | None) -> None:
        leg = talk.consult
        assert leg is not None
        now = utcnow()
        self.acd.rang_out(self.call_id, leg.agent, talk.visit.queue)
        self._event(
            "RINGNOANSWER", now, agent=leg.agent, ringtime_ms=_ms(leg.started, now), cause=cause
        )
        self.registry.detach(leg.channel_id, self.call)
        talk.consult = None
        if talk.agent_done:
            # Nobody took the blind transfer: the caller goes back to the queue, first.
            talk.agent_done = False
            await self._rejoin(talk)
            return
        await self._unhold(talk)

    async def _complete(self, talk: Talk) -> None:
        leg = talk.consult
        assert leg is not None
        now = utcnow()
        self._event(
            "ATTENDEDTRANSFER", now, target=f"agent:{leg.agent}", **self._summary(talk, now)
        )
        self.acd.call_over(talk.agent.agent, talk.visit.queue, self.call_id)
        await self._drop(talk.agent.channel_id)
        talk.agent = leg
        talk.consult = None
        talk.consult_up = False
        talk.connected = now
        await self._unhold(talk)

    async def _blind_to_queue(self, talk: Talk, queue: str) -> None:
        now = utcnow()
        self._close_hold(talk, now)
        self._event("BLINDTRANSFER", now, target=f"queue:{queue}", **self._summary(talk, now))
        talk.agent_done = True
        self.acd.call_over(talk.agent.agent, talk.visit.queue, self.call_id)
        await self._drop(talk.agent.channel_id)
        talk.visit = QueueVisit(queue, now, 0)
        await self._rejoin(talk)

    async def _rejoin(self, talk: Talk) -> None:
        """Back into a queue (after a transfer), keeping the caller's first arrival."""
        with contextlib.suppress(AriError):
            await self.call.ari.post(
                f"/bridges/{talk.bridge}/removeChannel", channel=self.call.channel_id
            )
        talk.held_since = None
        arrived = self.call.record.queued_at
        raise _Rejoin(talk.visit.queue, arrived)
