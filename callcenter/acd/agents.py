"""Agent states and the moves between them, with no telephony in sight.

An agent is logged out, available, ringing (a call is offered), on a call, on hold (a call
they put on hold), in wrap-up (after a call, for a time set by the queue) or paused with a
reason. Only the moves in ``MOVES`` exist; anything else is refused with a clear error, so a
late or duplicated event can never put an agent in an impossible state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class AgentState(StrEnum):
    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    RINGING = "ringing"
    ON_CALL = "on_call"
    ON_HOLD = "on_hold"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"


S = AgentState
MOVES: dict[AgentState, frozenset[AgentState]] = {
    S.LOGGED_OUT: frozenset({S.AVAILABLE, S.PAUSED}),
    S.AVAILABLE: frozenset({S.RINGING, S.PAUSED, S.LOGGED_OUT}),
    S.RINGING: frozenset({S.ON_CALL, S.AVAILABLE, S.PAUSED, S.LOGGED_OUT}),
    S.ON_CALL: frozenset({S.ON_HOLD, S.WRAP_UP, S.AVAILABLE, S.PAUSED, S.LOGGED_OUT}),
    S.ON_HOLD: frozenset({S.ON_CALL, S.WRAP_UP, S.AVAILABLE, S.PAUSED, S.LOGGED_OUT}),
    S.WRAP_UP: frozenset({S.AVAILABLE, S.PAUSED, S.LOGGED_OUT}),
    S.PAUSED: frozenset({S.AVAILABLE, S.LOGGED_OUT, S.RINGING}),
}
BUSY = frozenset({S.RINGING, S.ON_CALL, S.ON_HOLD})

# A ring lasts the ring timeout; this much more and the offer is over whatever happened.
OFFER_MARGIN_SECONDS = 5.0


class AgentStateError(ValueError):
    """A move the state machine does not allow (the message says which and why)."""


@dataclass
class Agent:
    """What routing needs to know about one agent, kept in memory by the ACD."""

    name: str
    skills: dict[str, int] = field(default_factory=dict)
    state: AgentState = S.LOGGED_OUT
    since: datetime | None = None
    pause_reason: str | None = None
    registered: bool = True  # the softphone's registration, from Asterisk
    phone_busy: bool = False  # the softphone is on a call that is not one of ours
    idle_since: datetime | None = None  # end of the last call (or login): longest idle
    wrap_up_until: datetime | None = None
    missed_in_a_row: int = 0  # offers not answered since the last answered one
    call_id: str | None = None  # the call offered to or handled by the agent
    after_call: AgentState | None = None  # paused while busy: where to go after the call
    call_started: datetime | None = None  # when the current call was answered
    offer_deadline: datetime | None = None  # a ringing offer is over by then, whatever happens

    @property
    def busy(self) -> bool:
        return self.state in BUSY

    def can_take_calls(self, now: datetime) -> bool:
        if not self.registered or self.phone_busy:
            return False
        if self.state is S.AVAILABLE:
            return True
        return (
            self.state is S.WRAP_UP and self.wrap_up_until is not None and self.wrap_up_until <= now
        )

    def _move(self, to: AgentState, now: datetime) -> None:
        if to is self.state:
            return
        if to not in MOVES[self.state]:
            raise AgentStateError(f"agent {self.name}: cannot go from {self.state} to {to}")
        self.state = to
        self.since = now
        if to is not S.RINGING:
            self.offer_deadline = None

    # --- what agents and supervisors do ----------------------------------------------------

    def log_in(self, now: datetime, paused_reason: str | None = None) -> None:
        if self.state is not S.LOGGED_OUT:
            raise AgentStateError(f"agent {self.name} is already logged in ({self.state})")
        if paused_reason:
            self._move(S.PAUSED, now)
            self.pause_reason = paused_reason
        else:
            self._move(S.AVAILABLE, now)
        self.idle_since = now
        self.missed_in_a_row = 0

    def log_out(self, now: datetime) -> None:
        if self.busy:
            raise AgentStateError(
                f"agent {self.name} is {self.state}: log out after the call (or pause now)"
            )
        self._move(S.LOGGED_OUT, now)
        self.pause_reason = None
        self.wrap_up_until = None
        self.after_call = None

    def pause(self, now: datetime, reason: str) -> None:
        if self.state is S.LOGGED_OUT:
            raise AgentStateError(f"agent {self.name} is logged out: log in first")
        self.pause_reason = reason or "pause"
        if self.busy:
            # A pause asked for during a call starts when the call is over.
            self.after_call = S.PAUSED
            return
        self._move(S.PAUSED, now)
        self.wrap_up_until = None

    def resume(self, now: datetime) -> None:
        if self.state is S.LOGGED_OUT:
            raise AgentStateError(f"agent {self.name} is logged out: log in first")
        if self.busy:
            self.after_call = None
            self.pause_reason = None
            return
        if self.state is S.PAUSED:
            self._move(S.AVAILABLE, now)
            self.idle_since = now
        self.pause_reason = None
        self.missed_in_a_row = 0

    # --- what calls do --------------------------------------------------------------------

    def offer(self, now: datetime, call_id: str, ring_seconds: float | None = None) -> None:
        """Ring this agent for ``call_id``; with ``ring_seconds``, the offer is over by
        then plus a margin (``offer_deadline``), whatever becomes of the call."""
        if not self.can_take_calls(now):
            raise AgentStateError(f"agent {self.name} cannot take a call now ({self.state})")
        if self.state is S.WRAP_UP:
            self._move(S.AVAILABLE, now)
        self._move(S.RINGING, now)
        self.call_id = call_id
        if ring_seconds is not None:
            self.offer_deadline = now + timedelta(seconds=ring_seconds + OFFER_MARGIN_SECONDS)

    def no_answer(self, now: datetime, autopause_after: int) -> bool:
        """The offer rang out or was refused; True when the agent is paused for it."""
        self._expect(S.RINGING)
        self.missed_in_a_row += 1
        self.call_id = None
        if autopause_after and self.missed_in_a_row >= autopause_after:
            self._move(S.PAUSED, now)
            self.pause_reason = "autopause: no answer"
            return True
        self._finish_call(now, wrap_up=0)
        return False

    def offer_withdrawn(self, now: datetime) -> None:
        """The caller went away (or another agent answered) while this agent's phone rang."""
        self._expect(S.RINGING)
        self.call_id = None
        self._finish_call(now, wrap_up=0, idle_from=self.idle_since)

    def answer(self, now: datetime) -> None:
        self._expect(S.RINGING)
        self._move(S.ON_CALL, now)
        self.missed_in_a_row = 0
        self.call_started = now

    def hold(self, now: datetime) -> None:
        self._expect(S.ON_CALL)
        self._move(S.ON_HOLD, now)

    def unhold(self, now: datetime) -> None:
        self._expect(S.ON_HOLD)
        self._move(S.ON_CALL, now)

    def call_ended(self, now: datetime, wrap_up: float) -> None:
        if self.state not in (S.ON_CALL, S.ON_HOLD):
            raise AgentStateError(f"agent {self.name} has no call to end ({self.state})")
        self.call_id = None
        self._finish_call(now, wrap_up=wrap_up)

    def end_wrap_up(self, now: datetime) -> None:
        """Wrap-up ends early (a final disposition was set) or its time is up."""
        self._expect(S.WRAP_UP)
        self.wrap_up_until = None
        self._move(S.AVAILABLE, now)

    def put_back(self, now: datetime) -> None:
        """The call this agent was ringing for or talking on is gone without a word (the
        safety net found no channel): available again (or paused, if they asked), no
        wrap-up, as if the offer had been withdrawn or the call had ended."""
        if not self.busy:
            raise AgentStateError(f"agent {self.name} is {self.state}: nothing to put back")
        ringing = self.state is S.RINGING
        self.call_id = None
        self._finish_call(now, wrap_up=0, idle_from=self.idle_since if ringing else None)

    def unregistered(self, now: datetime) -> None:
        """The softphone is gone: no calls are offered until it registers again."""
        self.registered = False

    def _finish_call(
        self, now: datetime, wrap_up: float, idle_from: datetime | None = None
    ) -> None:
        if self.after_call is S.PAUSED:
            self.after_call = None
            self._move(S.PAUSED, now)
        elif wrap_up > 0:
            self._move(S.WRAP_UP, now)
            self.wrap_up_until = now + timedelta(seconds=wrap_up)
        else:
            self._move(S.AVAILABLE, now)
        self.idle_since = idle_from if idle_from is not None else now

    def _expect(self, state: AgentState) -> None:
        if self.state is not state:
            raise AgentStateError(f"agent {self.name} is {self.state}, not {state}")
