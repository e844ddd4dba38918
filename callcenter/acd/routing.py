"""Who talks to whom: waiting callers in order, members by strategy, skills that widen.

Callers wait in priority order, then by arrival (a callback keeps the arrival of the call
that asked for it). On every change (a caller arrives, an agent frees up, a timer passes)
``dispatch`` pairs callers with agents: for each caller in order, the eligible agents are the
queue's members who can take a call now, in the lowest penalty tier that has any, with the
skill levels the caller needs, widened as the caller waits; the strategy picks among them.
A caller nobody can serve yet does not hold up a later caller someone can serve.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from callcenter.acd.agents import Agent


class Strategy(StrEnum):
    RINGALL = "ringall"
    LEASTRECENT = "leastrecent"  # the longest idle agent
    FEWESTCALLS = "fewestcalls"
    RANDOM = "random"
    RRMEMORY = "rrmemory"  # round robin, starting after the last agent offered a call
    LINEAR = "linear"  # always in the members' listed order
    SKILLS = "skills"  # best proficiency first, widening with the wait; ties: longest idle


@dataclass(frozen=True)
class Widening:
    """After ``after`` seconds of waiting, accept skill levels ``relax`` lower and members up
    to ``max_penalty``."""

    after: float
    relax: int = 0
    max_penalty: int | None = None


@dataclass
class Member:
    agent: str
    penalty: int = 0
    order: int = 0  # position in the queue's member list (linear, rrmemory)
    calls: int = 0  # calls answered in this queue


@dataclass
class Waiting:
    """One caller (or a callback holding a caller's place) waiting in a queue."""

    call_id: str
    arrived: datetime
    priority: int = 0
    skills: Mapping[str, int] = field(default_factory=dict)
    sequence: int = 0  # arrival order among equal timestamps
    callback: bool = False
    only_agent: str | None = None  # a callback kept for one agent: offered to them only

    def sort_key(self) -> tuple[int, datetime, int]:
        return (-self.priority, self.arrived, self.sequence)


@dataclass
class QueueState:
    """What routing needs of one queue."""

    name: str
    strategy: Strategy = Strategy.LEASTRECENT
    members: dict[str, Member] = field(default_factory=dict)
    widening: Sequence[Widening] = ()
    waiting: list[Waiting] = field(default_factory=list)
    last_offered: str | None = None  # round robin memory

    def ordered(self) -> list[Waiting]:
        return sorted(self.waiting, key=Waiting.sort_key)

    def position(self, call_id: str) -> int | None:
        for index, caller in enumerate(self.ordered(), start=1):
            if caller.call_id == call_id:
                return index
        return None

    def add_member(self, agent: str, penalty: int = 0) -> Member:
        member = Member(agent, penalty, order=len(self.members))
        self.members[agent] = member
        return member


def widened(queue: QueueState, waited: float) -> tuple[int, int | None]:
    """(how much skill levels are relaxed, the highest penalty allowed) after ``waited`` s."""
    relax, max_penalty = 0, None
    for step in sorted(queue.widening, key=lambda w: w.after):
        if waited >= step.after:
            relax = step.relax
            max_penalty = step.max_penalty if step.max_penalty is not None else max_penalty
    return relax, max_penalty


def qualified(agent: Agent, needs: Mapping[str, int], relax: int) -> bool:
    return all(agent.skills.get(skill, -1) >= level - relax for skill, level in needs.items())


def eligible(
    queue: QueueState,
    caller: Waiting,
    agents: Mapping[str, Agent],
    now: datetime,
    taken: Collection[str] = (),
    free: Collection[str] | None = None,
) -> list[Member]:
    """The members who could be offered this caller now: free, qualified, lowest tier.
    ``free``, when given, is every agent who can take a call now (a shortcut for many
    members and few free agents)."""
    relax, max_penalty = widened(queue, (now - caller.arrived).total_seconds())
    if free is not None and len(free) < len(queue.members):
        pool = [queue.members[name] for name in free if name in queue.members]
    else:
        pool = list(queue.members.values())
    found = [
        m
        for m in pool
        if m.agent not in taken
        and (caller.only_agent is None or m.agent == caller.only_agent)
        and m.agent in agents
        and agents[m.agent].can_take_calls(now)
        and (max_penalty is None or m.penalty <= max_penalty)
        and qualified(agents[m.agent], caller.skills, relax)
    ]
    if not found:
        return []
    best_tier = min(m.penalty for m in found)
    return [m for m in found if m.penalty == best_tier]


NEVER = datetime.min.replace(tzinfo=UTC)


def _idle_key(agents: Mapping[str, Agent]) -> Callable[[Member], tuple[datetime, int]]:
    """Longest idle first: the earliest end of a last call; never idle counts as longest."""

    def key(member: Member) -> tuple[datetime, int]:
        return agents[member.agent].idle_since or NEVER, member.order

    return key


def choose(
    queue: QueueState,
    caller: Waiting,
    candidates: Sequence[Member],
    agents: Mapping[str, Agent],
    rng: random.Random | None = None,
) -> list[Member]:
    """The member(s) to ring for this caller, by the queue's strategy."""
    if not candidates:
        return []
    strategy = queue.strategy
    if strategy is Strategy.RINGALL:
        return sorted(candidates, key=lambda m: m.order)
    if strategy is Strategy.LEASTRECENT:
        return [min(candidates, key=_idle_key(agents))]
    if strategy is Strategy.FEWESTCALLS:
        idle = _idle_key(agents)
        return [min(candidates, key=lambda m: (m.calls, idle(m)))]
    if strategy is Strategy.RANDOM:
        return [(rng or random.Random()).choice(list(candidates))]
    if strategy is Strategy.LINEAR:
        return [min(candidates, key=lambda m: m.order)]
    if strategy is Strategy.RRMEMORY:
        last = queue.members.get(queue.last_offered) if queue.last_offered else None
        after = last.order if last is not None else -1
        ordered = sorted(candidates, key=lambda m: m.order)
        later = [m for m in ordered if m.order > after]
        return [later[0] if later else ordered[0]]
    if strategy is Strategy.SKILLS:
        idle = _idle_key(agents)

        def fit(member: Member) -> tuple[int, tuple[datetime, int]]:
            skills = agents[member.agent].skills
            score = sum(skills.get(s, 0) for s in caller.skills)
            return -score, idle(member)

        return [min(candidates, key=fit)]
    raise ValueError(f"unknown strategy {strategy!r}")  # pragma: no cover


@dataclass(frozen=True)
class Offer:
    queue: str
    call_id: str
    agents: tuple[str, ...]


def dispatch(
    queues: Iterable[QueueState],
    agents: Mapping[str, Agent],
    now: datetime,
    busy_callers: Collection[str] = (),
    rng: random.Random | None = None,
) -> list[Offer]:
    """Pair waiting callers with free agents. Callers already being offered
    (``busy_callers``) keep waiting for that offer's outcome.

    Only queues with a free member are looked at, their callers in order (merged across
    queues: the highest priority, then the longest waiting, first), and the work stops as
    soon as no free agent is left: one agent freeing up costs about what its own queues'
    waiting callers cost, not every caller times every member.
    """
    free = {name for name, agent in agents.items() if agent.can_take_calls(now)}
    if not free:
        return []
    offers: list[Offer] = []
    lines = []
    for queue in queues:
        if queue.waiting and any(name in queue.members for name in free):
            ordered = sorted(
                (c.sort_key(), index, c)
                for index, c in enumerate(queue.waiting)
                if c.call_id not in busy_callers
            )
            lines.append([(key, index, queue, caller) for key, index, caller in ordered])
    for _key, _index, queue, caller in heapq.merge(*lines, key=lambda item: item[0]):
        if not free:
            break
        if not any(name in queue.members for name in free):
            continue
        candidates = eligible(queue, caller, agents, now, free=free)
        chosen = choose(queue, caller, candidates, agents, rng)
        if not chosen:
            continue
        free.difference_update(m.agent for m in chosen)
        if queue.strategy is Strategy.RRMEMORY:
            queue.last_offered = chosen[0].agent
        offers.append(Offer(queue.name, caller.call_id, tuple(m.agent for m in chosen)))
    return offers


def estimated_wait(position: int, staffed: int, handle_seconds: float) -> float | None:
    """Seconds until a caller at ``position`` is likely answered; None if nobody is staffed."""
    if staffed <= 0:
        return None
    return position * handle_seconds / staffed
