"""The safety net under the agent states: no agent stays "ringing" or "on a call" for a call
that is not there any more.

Agents' states follow the calls' handlers, which follow Asterisk's events. An event lost
in a websocket reconnect, or a handler that ends on an error before it tidies up, would
leave an agent ringing or on a call forever, and they would get no further calls. Two rules
put such an agent back, whatever the cause:

- an offer never outlives its ring time (``Agent.offer_deadline``: the ring timeout plus a
  margin);
- an agent busy for us (ringing, on a call, on hold) has a channel of ours on their phone in
  Asterisk; one seen without it on checks at least ``grace`` seconds apart is stuck.

Plain logic: the ACD feeds it the agents and what Asterisk's endpoint list says, and carries
out the repairs.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from callcenter.acd.agents import BUSY, Agent, AgentState

# How long an agent may be seen busy with no channel of ours before they are put back:
# long enough for an offer's originate to reach Asterisk, short enough that the agent
# misses no more than a few seconds of calls.
NO_CHANNEL_GRACE_SECONDS = 3.0

RING_TIMEOUT = "offer outlived its ring timeout"
NO_CHANNEL = "no channel of ours on the agent's phone in Asterisk"


@dataclass(frozen=True)
class Repair:
    agent: str
    state: AgentState  # the state found
    call_id: str | None
    reason: str


class StuckAgentWatch:
    """Remembers since when each busy agent has been seen without a channel."""

    def __init__(self, grace_seconds: float = NO_CHANNEL_GRACE_SECONDS) -> None:
        self.grace_seconds = grace_seconds
        # agent: (the call they were busy with, when first seen without a channel)
        self._missing: dict[str, tuple[str | None, datetime]] = {}

    def check(
        self,
        agents: Iterable[Agent],
        now: datetime,
        channels: Mapping[str, Collection[str]] | None = None,
    ) -> list[Repair]:
        """The agents to put back. ``channels``: our channels on each agent's phone, from
        Asterisk; None when Asterisk could not be asked (only deadlines apply then)."""
        repairs: list[Repair] = []
        busy_now: set[str] = set()
        for agent in agents:
            if agent.state not in BUSY:
                continue
            busy_now.add(agent.name)
            if (
                agent.state is AgentState.RINGING
                and agent.offer_deadline is not None
                and now >= agent.offer_deadline
            ):
                repairs.append(Repair(agent.name, agent.state, agent.call_id, RING_TIMEOUT))
                self._missing.pop(agent.name, None)
                continue
            if channels is None:
                continue
            if channels.get(agent.name):
                self._missing.pop(agent.name, None)
                continue
            seen = self._missing.get(agent.name)
            if seen is None or seen[0] != agent.call_id:
                self._missing[agent.name] = (agent.call_id, now)
                seen = self._missing[agent.name]
            if (now - seen[1]).total_seconds() >= self.grace_seconds:
                repairs.append(Repair(agent.name, agent.state, agent.call_id, NO_CHANNEL))
                self._missing.pop(agent.name, None)
        for name in set(self._missing) - busy_now:
            del self._missing[name]
        return repairs
