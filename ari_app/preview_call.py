"""Preview dialing: the agent sees the next lead (claimed for them through the compliance
gate), then dials it or skips it.

Dialing rings the agent's own softphone first; once the agent answers, the customer is dialed
(an ordinary campaign dial, ``ari_app/dialer.py``) and the agent hears the ring. When the
customer answers, their call takes the agent's leg and the conversation goes on as any queue
call (hold, transfer, wrap-up codes). Nobody waits without an agent, so nothing is dropped.
"""

from __future__ import annotations

import contextlib
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from ari_app.acd import CommandRefused
from ari_app.client import AriError, AriNotFound
from ari_app.events import ChannelDestroyed, Event, StasisEnd, StasisStart
from ari_app.session import utcnow
from db.campaign_store import CampaignConfig, Claimed

if TYPE_CHECKING:
    from ari_app.acd import AcdRuntime
    from ari_app.attempt import Attempt
    from ari_app.client import AriClient
    from ari_app.registry import CallRegistry
    from ari_app.session import CallSession

log = structlog.get_logger(__name__)


class PreviewDialer(Protocol):
    """What a preview uses of the dialer (``ari_app/dialer.py``)."""

    acd: AcdRuntime
    ari: AriClient
    registry: CallRegistry
    previews: dict[str, Preview]

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None: ...

    async def dial(
        self, campaign: CampaignConfig, claimed: Claimed, preview: Preview | None = None
    ) -> Attempt: ...

    async def hang_up_strays(self, channel_id: str) -> None: ...

    async def release_preview(self, preview: Preview, why: str) -> None: ...


@dataclass
class Preview:
    """A lead shown to one agent; dialed or skipped by them."""

    dialer: PreviewDialer
    agent: str
    campaign: CampaignConfig
    claimed: Claimed
    shown_at: datetime = field(default_factory=utcnow)
    agent_channel: str | None = None
    agent_answered: datetime | None = None
    attempt: Attempt | None = None
    talking: bool = False

    @property
    def call_id(self) -> str:
        return str(self.claimed.call_id)

    def describe(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign.name,
            "lead": {
                "id": self.claimed.lead_id,
                "number": self.claimed.number,
                "name": self.claimed.name,
                "data": self.claimed.data,
                "attempt": self.claimed.attempts,
            },
            "call": self.call_id,
            "dialing": self.agent_channel is not None,
        }

    # --- ringing the agent, then the customer ---------------------------------------------

    async def dial(self) -> None:
        acd = self.dialer.acd
        # raises CommandRefused when not free
        acd.direct_offer(self.call_id, self.agent, self.deliver, self.campaign.queue)
        self.agent_channel = f"prev-{self.claimed.attempt_id}"
        self.dialer.registry.attach_target(self.agent_channel, self)
        try:
            await self.dialer.ari.post(
                "/channels",
                body={"variables": {"SB_CALL_ID": self.call_id}},
                endpoint=f"PJSIP/{self.agent}",
                app=self.dialer.ari.app,
                appArgs=f"agent,{self.call_id}",
                channelId=self.agent_channel,
                callerId=f'"Preview" <{self.claimed.number}>',
                timeout=30,
            )
        except AriError as exc:
            self.dialer.registry.detach_target(self.agent_channel)
            acd.withdraw(self.call_id, self.agent)
            self.agent_channel = None
            raise CommandRefused(502, f"could not ring {self.agent}'s phone: {exc}") from exc

    def deliver(self, event: Event) -> None:
        self.dialer.spawn(self._handle(event))

    async def _handle(self, event: Event) -> None:
        acd = self.dialer.acd
        if isinstance(event, StasisStart) and event.channel.id == self.agent_channel:
            if not acd.answered(self.call_id, self.agent, self.campaign.queue, self.deliver):
                await self._drop_agent()
                return
            self.agent_answered = utcnow()
            with contextlib.suppress(AriError):
                await self.dialer.ari.post(f"/channels/{self.agent_channel}/ring")
            self.attempt = await self.dialer.dial(self.campaign, self.claimed, preview=self)
        elif (
            isinstance(event, ChannelDestroyed | StasisEnd)
            and event.channel.id == self.agent_channel
            and not self.talking
        ):
            # The agent gave up (or never answered) before the customer did.
            self.dialer.registry.detach_target(self.agent_channel)
            if self.agent_answered is None:
                acd.withdraw(self.call_id, self.agent)
                if self.attempt is None:
                    await self.dialer.release_preview(self, "the agent did not answer")
                return
            acd.call_over(self.agent, self.campaign.queue, self.call_id)
            if self.attempt is not None:
                await self.dialer.hang_up_strays(self.attempt.claimed.channel_id)
            self.dialer.previews.pop(self.agent, None)

    async def customer_failed(self) -> None:
        """The customer's dial ended unanswered (the attempt is written): free the agent."""
        self.dialer.previews.pop(self.agent, None)
        await self._drop_agent()
        self.dialer.acd.call_over(self.agent, self.campaign.queue, self.call_id)

    def take_agent(self, session: CallSession) -> tuple[str, str, datetime] | None:
        """The customer answered: their call takes the agent's leg from here on."""
        if self.agent_channel is None or self.agent_answered is None:
            return None
        self.talking = True
        registry = self.dialer.registry
        registry.detach_target(self.agent_channel)
        registry.attach(self.agent_channel, session)
        self.dialer.acd.hand_over(self.agent, str(session.record.id), session.deliver)
        self.dialer.previews.pop(self.agent, None)
        return self.agent, self.agent_channel, self.agent_answered

    async def _drop_agent(self) -> None:
        if self.agent_channel is None:
            return
        with contextlib.suppress(AriNotFound, AriError):
            await self.dialer.ari.delete(f"/channels/{self.agent_channel}")
        self.dialer.registry.detach_target(self.agent_channel)
