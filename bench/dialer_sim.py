"""Outbound pacing in a discrete-event simulation: the real pacers, in virtual time.

The reference model of /work/shared/domain.md ("Outbound dialing"): agents dial an endless
list of leads; 15% of dials are answered live after a lognormal ring (mean 10 s); a live
answer must reach a free agent within 2 s or it is dropped (lost, and counted in the
abandonment = drops / live answers, limit 3%); talk is lognormal (mean 120 s), followed by
a 15 s wrap-up. Choices of this model where the reference says nothing:

- the other dials, for 15% live: 13% answered by a machine (lognormal ring, mean 10 s, then
  3 s of answering-machine detection), 60% no answer (rings until a 25 s timeout), 8% busy
  (after 2-4 s), 4% failed (after 0.5-2 s). Another live share scales these alike;
- the ring spread: sigma 0.4 (most live answers after 5-18 s); the talk spread: sigma 0.8
  (a coefficient of variation near 1, as handle times tend to have);
- a live answer waiting for an agent gets the first one released within 2 s;
- a pausing agent finishes the call first; paused time is not counted as available.

The pacers of ``callcenter.outbound.pacing`` are driven through their API only: a
``PacerView`` of the agents and dials, and the callbacks, after every event and on a 1 s
tick. A dial's outcome is drawn when it is placed but the pacer learns it when the dial
ends. Every dial's outcome and every call's talk time come from random streams taken in
dial and call order, the same for every policy (common random numbers).

"predictive" gets the view of the API as specified (busy agents: time since their call
began, wrap-up included). "predictive, wrap-up known" also gets the optional
``PacerView.wrap_up_left`` (when each agent in wrap-up becomes free: a wrap-up timer, as
the app's queues have) and ``wrap_seconds`` in ``on_agent_released``.

Occupancy = agents' handle time (talk + wrap-up) / their available time (logged in, not
paused); abandonment = drops / live answers over the shift (the rolling 24 h window at its
end; no history is seeded, a new campaign); "worst" = the highest value the running
abandonment took after the first hour; "at limit" = how long it was at or over 3%; dials
per available agent-hour. Compared: progressive; the best fixed lines-per-agent ratio (dials
in flight + busy agents <= ratio x agents), searched in the run by bisection on whole lines:
the highest that keeps the shift <= 3%; the predictive pacer, without and with wrap-up
timers. ``--frontier`` runs instead the base scenario with the predictive model under
constant risk ceilings and no online control: what it reaches when the ceiling is tuned in
hindsight, the yardstick of the online control.

``--shared`` runs instead two dialer instances on one campaign, each with its own agents
and random streams (the first instance's are the single run's), sharing one abandonment
budget the way the app does: each pacer counts its own live answers and drops and reads
every instance's from a fake of the database read (``db/abandonment_query.py``'s
``AttemptCounts``, through the same ``CampaignWindows`` as the app) every second; an
attempt's row shows its live answer ``LIVE_WRITE_LAG`` after the answer and its drop
``DROP_WRITE_LAG`` after the drop (the message is played before the row is written). It
reports the combined abandonment and occupancy next to the single pacer's.

    .venv/bin/python -m bench.dialer_sim [--hours 8] [--seed 1] [--seeds 5] [--quick]
    .venv/bin/python -m bench.dialer_sim --frontier
    .venv/bin/python -m bench.dialer_sim --shared [--instances 2] [--seeds 5]
"""

from __future__ import annotations

import argparse
import bisect
import heapq
import math
import multiprocessing
import os
import platform
import random
import time
from collections import deque
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from callcenter.outbound.pacing import (
    BUDGET_REFRESH_SECONDS,
    BUDGET_STALE_SECONDS,
    Abandonment,
    BudgetRead,
    DialResult,
    Pacer,
    PacerView,
    PredictivePacer,
    Tally,
    make_pacer,
)
from db.abandonment_query import CampaignWindows

T = TypeVar("T")

HOUR = 3600.0
LIMIT = 0.03
RING_MEAN, RING_SIGMA = 10.0, 0.4
TALK_MEAN, TALK_SIGMA = 120.0, 0.8
WRAP = 15.0
GRACE = 2.0
NO_ANSWER_TIMEOUT = 25.0
AMD_SECONDS = 3.0
TICK = 1.0  # the dialer's timer
BIN = 600.0  # s, accounting bins for occupancy by period
# the other dials, as shares of the non-live ones (13/60/8/4 of 100 at 15% live)
OTHERS: tuple[tuple[DialResult, float], ...] = (
    ("machine", 13 / 85),
    ("no_answer", 60 / 85),
    ("busy", 8 / 85),
    ("failed", 4 / 85),
)
POLICIES = ("progressive", "fixed", "predictive", "predictive+wrap")
EPOCH = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)  # the start of the shift, for the fake reads
CAMPAIGN = "shared"
LIVE_WRITE_LAG = 0.2  # s from a live answer to its row saying so
# s from a drop to its row saying so: the message (seller, number, "press 9") and the 5 s
# opt-out wait come first (ari_app/campaign_call.py)
DROP_WRITE_LAG = 20.0
LABELS = {
    "progressive": "progressive",
    "predictive": "predictive",
    "predictive+wrap": "predictive, wrap-up known",
}


@dataclass(frozen=True)
class Pause:
    agents: int
    start: float  # s into the shift
    end: float


@dataclass(frozen=True)
class Scenario:
    name: str
    agents: int = 20
    live: tuple[tuple[float, float], ...] = ((0.0, 0.15),)  # (from s, live share)
    pauses: tuple[Pause, ...] = ()
    change_at: float | None = None  # s: the moment of a dynamic scenario's change

    def live_share(self, at: float) -> float:
        share = self.live[0][1]
        for start, value in self.live:
            if at >= start:
                share = value
        return share


@dataclass
class Result:
    scenario: str
    policy: str
    hours: float
    agents: int
    dials: int = 0
    live: int = 0
    drops: int = 0
    waited: int = 0  # live answers connected after a wait (within the grace)
    busy_bins: list[float] = field(default_factory=list)  # agent-seconds busy per BIN
    available_bins: list[float] = field(default_factory=list)  # agent-seconds available
    outcomes: list[tuple[float, bool]] = field(default_factory=list)  # (time, dropped)
    seconds: float = 0.0  # wall time of the run

    def occupancy(self, start: float = 0.0, end: float = math.inf) -> float:
        last = len(self.busy_bins) if math.isinf(end) else math.ceil(end / BIN)
        first, last = int(start // BIN), min(len(self.busy_bins), last)
        busy = sum(self.busy_bins[first:last])
        available = sum(self.available_bins[first:last])
        return busy / available if available else 0.0

    def abandonment(self, start: float = 0.0, end: float = math.inf) -> tuple[int, int]:
        """(drops, live answers) whose outcome fell in [start, end)."""
        picked = [dropped for at, dropped in self.outcomes if start <= at < end]
        return sum(picked), len(picked)

    @property
    def rate(self) -> float:
        return self.drops / self.live if self.live else 0.0

    @property
    def minutes_at_limit(self) -> float:
        """Time during which the running abandonment (the rolling 24 h window, as the shift
        is shorter) was at or over the limit: the pacer falls back to progressive then."""
        over, drops, since = 0.0, 0, -1.0
        for n, (at, dropped) in enumerate(self.outcomes, 1):
            drops += dropped
            if drops >= LIMIT * n and since < 0:
                since = at
            elif drops < LIMIT * n and since >= 0:
                over, since = over + at - since, -1.0
        if since >= 0:
            over += self.hours * HOUR - since
        return over / 60

    @property
    def worst_after_first_hour(self) -> float:
        worst, drops = 0.0, 0
        for n, (at, dropped) in enumerate(self.outcomes, 1):
            drops += dropped
            if at >= HOUR:
                worst = max(worst, drops / n)
        return worst

    @property
    def dials_per_agent_hour(self) -> float:
        available = sum(self.available_bins)
        return self.dials / (available / HOUR) if available else 0.0


def _lognormal(mean: float, sigma: float, z: float) -> float:
    return mean * math.exp(sigma * z - sigma * sigma / 2)


class FixedRatio:
    """Lines per agent: dials in flight + busy agents + waiting live answers kept at
    ``ratio`` x (free + busy agents). 1.0 is progressive."""

    mode: str = "fixed"

    def __init__(self, ratio: float) -> None:
        self.ratio = ratio

    def seed(
        self, *, now: float, live_30d: int, drops_30d: int, live_24h: int, drops_24h: int
    ) -> None:
        pass

    def on_dial_ended(self, now: float, result: DialResult, ring_seconds: float) -> None:
        pass

    def on_connected(self, now: float, wait_seconds: float) -> None:
        pass

    def on_drop(self, now: float) -> None:
        pass

    def on_agent_released(
        self, now: float, handle_seconds: float, wrap_seconds: float | None = None
    ) -> None:
        pass

    def dials_to_place(self, now: float, view: PacerView) -> int:
        lines = math.floor(self.ratio * (view.free_agents + len(view.busy_agents)) + 1e-9)
        in_use = len(view.dials_in_progress) + len(view.busy_agents) + view.waiting_live
        return max(0, lines - in_use)

    def abandonment(self, now: float) -> tuple[float, float]:
        return 0.0, 0.0


class ConstantCeiling(PredictivePacer):
    """The predictive model with a constant ceiling on the modelled drop risk and no
    abandonment control (``--frontier``: what the model reaches with a ceiling tuned in
    hindsight, against which the online control is measured)."""

    def __init__(self, ceiling: float) -> None:
        super().__init__(abandon_limit=LIMIT)
        self.ceiling = ceiling

    def risk_threshold(self, now: float, pending: float = 0.0) -> float:
        return self.ceiling

    def over_limit(self, now: float, pending: float = 0.0) -> bool:
        return False


class _Fenwick:
    """Prefix sums over a growing array (one entry per dial of an instance)."""

    def __init__(self) -> None:
        self._tree = [0.0] * 1025

    def add(self, index: int, value: float) -> None:
        while index + 1 >= len(self._tree):
            self._grow()
        i = index + 1
        while i < len(self._tree):
            self._tree[i] += value
            i += i & -i

    def _grow(self) -> None:
        values = [self.total(i + 1) - self.total(i) for i in range(len(self._tree) - 1)]
        self._tree = [0.0] * (2 * len(self._tree) - 1)
        for i, value in enumerate(values):
            if value:
                self.add(i, value)

    def total(self, count: int) -> float:
        """Sum of the first ``count`` entries."""
        i, out = min(count, len(self._tree) - 1), 0.0
        while i > 0:
            out += self._tree[i]
            i -= i & -i
        return out


class FakeAttempts:
    """A fake of ``dial_attempts`` for one campaign and its ``AttemptCounts`` read
    (``db/abandonment_query.py``): the instances write their dials (placed at, node) and,
    later, what became of them; a read sees an outcome once its row has been written."""

    def __init__(self) -> None:
        self._placed: dict[str, list[float]] = {}  # node: placing times, in order
        self._sums: dict[str, tuple[_Fenwick, _Fenwick, _Fenwick]] = {}  # live, drops, machines
        self._writes: list[tuple[float, int, str, int, int]] = []  # (at, seq, node, row, kind)
        self._seq = 0
        self.clock = 0.0  # the simulated time of a read (set by the reader)

    def place(self, node: str, at: float) -> int:
        """A dial's row; returns its row number for ``write``."""
        placed = self._placed.setdefault(node, [])
        self._sums.setdefault(node, (_Fenwick(), _Fenwick(), _Fenwick()))
        placed.append(at)
        return len(placed) - 1

    def write(self, node: str, row: int, kind: int, at: float) -> None:
        """The row says it is live (kind 0), dropped (1) or a machine (2) from ``at`` on."""
        self._seq += 1
        heapq.heappush(self._writes, (at, self._seq, node, row, kind))

    def _apply(self, until: float) -> None:
        while self._writes and self._writes[0][0] <= until:
            _, _, node, row, kind = heapq.heappop(self._writes)
            self._sums[node][kind].add(row, 1.0)

    async def count(
        self,
        campaigns: Mapping[str, datetime],
        *,
        node_id: str,
        day_from: datetime,
        month_from: datetime,
        until: datetime | None,
    ) -> dict[str, BudgetRead]:
        def seconds(at: datetime) -> float:
            return (at - EPOCH).total_seconds()

        out: dict[str, BudgetRead] = {}
        for name, since in campaigns.items():
            if name != CAMPAIGN:
                out[name] = BudgetRead()
                continue
            end = math.inf if until is None else seconds(until)
            self._apply(self.clock)
            spans: list[list[float]] = [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
            others = 0
            for node, placed in self._placed.items():
                stop = min(end, seconds(since)) if node == node_id else end
                hi = bisect.bisect_left(placed, stop)
                for w, start in enumerate((seconds(day_from), seconds(month_from))):
                    lo = bisect.bisect_left(placed, start)
                    if hi <= lo:
                        continue
                    if w == 0 and node != node_id:
                        others += 1
                    for kind, tree in enumerate(self._sums[node]):
                        spans[w][kind] += tree.total(hi) - tree.total(lo)
            out[name] = BudgetRead(Tally(*spans[0]), Tally(*spans[1]), others)
        return out


def _at_once(coroutine: Coroutine[Any, Any, T]) -> T:
    """The result of a coroutine that never waits (the fake read), without an event loop."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise RuntimeError("the fake read waited for something")


@dataclass
class Shared:
    """What an instance of a shared run has beyond a single one: its node, the campaign's
    attempts, its budget and its reads."""

    node: str
    attempts: FakeAttempts
    budget: Abandonment
    windows: CampaignWindows
    read_at: float = -math.inf


@dataclass
class _Agent:
    ident: int
    busy_since: float = -1.0  # when the current call began (>= 0 while busy)
    talk_end: float = 0.0  # when its talk ends (then the wrap-up)
    pause_pending: bool = False  # pauses when the current call is over
    paused_since: float = -1.0  # >= 0 while paused


class Simulation:
    """One shift of one policy. Virtual time in seconds from the start of the shift."""

    def __init__(
        self,
        scenario: Scenario,
        pacer: Pacer,
        hours: float,
        seed: int,
        wrap_info: bool = False,
        shared: Shared | None = None,
        stream: str = "",
    ) -> None:
        self.scenario = scenario
        self.pacer = pacer
        self.wrap_info = wrap_info  # the view tells wrap-ups apart (PacerView.wrap_up_left)
        self.shared = shared
        self.end = hours * HOUR
        self.result = Result(scenario.name, pacer.mode, hours, scenario.agents)
        bins = math.ceil(self.end / BIN)
        self.result.busy_bins = [0.0] * bins
        self.result.available_bins = [0.0] * bins
        self._dial_rng = random.Random(f"dials-{seed}{stream}")
        self._talk_rng = random.Random(f"talk-{seed}{stream}")
        self._events: list[tuple[float, int, str, int]] = []  # (at, seq, kind, ref)
        self._seq = 0
        self.agents = [_Agent(i) for i in range(scenario.agents)]
        self.free: deque[_Agent] = deque(self.agents)  # longest idle first
        self.busy: dict[int, _Agent] = {}
        self.paused = 0
        self.in_flight: dict[int, float] = {}  # dial -> placed at
        self.outcomes: dict[int, DialResult] = {}  # drawn at placing, told at the end
        self.waiting: deque[tuple[int, float]] = deque()  # (live answer, answered at)
        self._next_dial = 0
        self._rows: dict[int, int] = {}  # dial: its row in the shared attempts
        self._tick = self._last = 0.0
        self._began = 0.0

    def _at(self, at: float, kind: str, ref: int = 0) -> None:
        self._seq += 1
        heapq.heappush(self._events, (at, self._seq, kind, ref))

    # --- the world ----------------------------------------------------------------------

    def _dial(self, now: float) -> None:
        rng = self._dial_rng
        u, z, v = rng.random(), rng.gauss(0.0, 1.0), rng.random()  # 3 draws for every dial
        live = self.scenario.live_share(now)
        ring = _lognormal(RING_MEAN, RING_SIGMA, z)
        result: DialResult = "live"
        seconds = ring
        if u >= live:
            w = (u - live) / (1.0 - live)
            result = OTHERS[-1][0]
            for name, share in OTHERS:
                if w < share:
                    result = name
                    break
                w -= share
            seconds = {
                "machine": ring + AMD_SECONDS,
                "no_answer": NO_ANSWER_TIMEOUT,
                "busy": 2.0 + 2.0 * v,
                "failed": 0.5 + 1.5 * v,
            }[result]
        ident = self._next_dial
        self._next_dial += 1
        if self.shared is not None:
            self._rows[ident] = self.shared.attempts.place(self.shared.node, now)
        self.in_flight[ident] = now
        self.outcomes[ident] = result
        self._at(now + seconds, "dial_end", ident)
        self.result.dials += 1

    def _connect(self, now: float, agent: _Agent, answered: float) -> None:
        agent.busy_since = now
        self.busy[agent.ident] = agent
        talk = _lognormal(TALK_MEAN, TALK_SIGMA, self._talk_rng.gauss(0.0, 1.0))
        agent.talk_end = now + talk
        self._at(now + talk + WRAP, "release", agent.ident)
        self.pacer.on_connected(now, now - answered)
        self.result.outcomes.append((now, False))

    def _dial_end(self, now: float, ident: int) -> None:
        placed = self.in_flight.pop(ident)
        result = self.outcomes.pop(ident)
        self.pacer.on_dial_ended(now, result, now - placed)
        if self.shared is not None and result in ("live", "machine"):
            kind = 0 if result == "live" else 2
            self.shared.attempts.write(
                self.shared.node, self._rows[ident], kind, now + LIVE_WRITE_LAG
            )
        if result != "live":
            return
        self.result.live += 1
        if self.free:
            self._connect(now, self.free.popleft(), now)
        else:
            self.waiting.append((ident, now))
            self._at(now + GRACE, "grace_over", ident)

    def _release(self, now: float, ident: int) -> None:
        agent = self.busy.pop(ident)
        self.pacer.on_agent_released(now, now - agent.busy_since, WRAP if self.wrap_info else None)
        agent.busy_since = -1.0
        if agent.pause_pending:
            agent.pause_pending = False
            agent.paused_since = now
            self.paused += 1
        elif self.waiting:
            _, answered = self.waiting.popleft()
            self.result.waited += 1
            self._connect(now, agent, answered)
        else:
            self.free.append(agent)

    def _grace_over(self, now: float, ident: int) -> None:
        for i, (waiting, _) in enumerate(self.waiting):
            if waiting == ident:
                del self.waiting[i]
                self.result.drops += 1
                self.result.outcomes.append((now, True))
                self.pacer.on_drop(now)
                if self.shared is not None:
                    row = self._rows[ident]
                    self.shared.attempts.write(self.shared.node, row, 1, now + DROP_WRITE_LAG)
                return

    def _pause(self, now: float, count: int) -> None:
        for _ in range(count):
            if self.free:
                self.free.pop().paused_since = now
                self.paused += 1
            else:
                talking = [a for a in self.busy.values() if not a.pause_pending]
                if talking:
                    min(talking, key=lambda a: a.ident).pause_pending = True

    def _resume(self, now: float, count: int) -> None:
        for agent in self.agents:
            if count == 0:
                return
            if agent.paused_since >= 0:
                agent.paused_since = -1.0
                self.paused -= 1
                self.free.append(agent)
                count -= 1
            elif agent.pause_pending:
                agent.pause_pending = False
                count -= 1

    # --- the run ------------------------------------------------------------------------

    def _view(self, now: float) -> PacerView:
        busy = self.busy.values()
        return PacerView(
            free_agents=len(self.free),
            busy_agents=[now - a.busy_since for a in busy],
            dials_in_progress=[now - placed for placed in self.in_flight.values()],
            waiting_live=len(self.waiting),
            wrap_up_left=[a.talk_end + WRAP - now if now >= a.talk_end else None for a in busy]
            if self.wrap_info
            else (),
        )

    def _read_budget(self, now: float) -> None:
        """The campaign's windows from the fake database, as the app's dialer reads them."""
        shared = self.shared
        assert shared is not None
        shared.attempts.clock = now
        at = EPOCH + timedelta(seconds=now)
        since = shared.budget.since or EPOCH
        reads = _at_once(shared.windows.read({CAMPAIGN: since}, at))
        shared.budget.sync(now, reads[CAMPAIGN])
        shared.read_at = now

    def start(self) -> None:
        self._began = time.perf_counter()
        for i, pause in enumerate(self.scenario.pauses):
            self._at(pause.start, "pause", i)
            self._at(pause.end, "resume", i)
        self._tick = self._last = 0.0

    def next_at(self) -> float:
        """The time of this shift's next step (an event or its timer), at most its end."""
        at = self._events[0][0] if self._events else math.inf
        return min(at, self._tick, self.end)

    def step(self, now: float) -> bool:
        """Everything due at ``now`` (``next_at()``); False once the shift is over."""
        result, scenario, events = self.result, self.scenario, self._events
        last = self._last
        b = min(len(result.busy_bins) - 1, int(last // BIN))  # since the last step
        result.busy_bins[b] += len(self.busy) * (now - last)
        result.available_bins[b] += (scenario.agents - self.paused) * (now - last)
        self._last = now
        if now >= self.end:
            result.seconds = time.perf_counter() - self._began
            return False
        if self._tick <= now:
            self._tick += TICK
            shared = self.shared
            if shared is not None and now - shared.read_at >= BUDGET_REFRESH_SECONDS - 1e-9:
                self._read_budget(now)
        while events and events[0][0] == now:
            _, _, kind, ref = heapq.heappop(events)
            if kind == "dial_end":
                self._dial_end(now, ref)
            elif kind == "release":
                self._release(now, ref)
            elif kind == "grace_over":
                self._grace_over(now, ref)
            elif kind == "pause":
                self._pause(now, scenario.pauses[ref].agents)
            else:
                self._resume(now, scenario.pauses[ref].agents)
        for _ in range(self.pacer.dials_to_place(now, self._view(now))):
            self._dial(now)
        return True

    def run(self) -> Result:
        self.start()
        while self.step(self.next_at()):
            pass
        return self.result


def run_together(simulations: list[Simulation]) -> list[Result]:
    """Shifts of several instances in one virtual time (they share the fake database)."""
    for simulation in simulations:
        simulation.start()
    going = list(simulations)
    while going:
        now = min(s.next_at() for s in going)
        going = [s for s in going if s.next_at() > now or s.step(now)]
    return [s.result for s in simulations]


# --- the runs -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    scenario: Scenario
    # "progressive", "predictive", "predictive+wrap", "fixed" (the search), "ratio=<x>",
    # "ceiling=<x>", "ceiling+wrap=<x>" (--frontier)
    policy: str
    hours: float
    seed: int


def run_job(job: Job) -> Result:
    wrap_info = job.policy.startswith("predictive+wrap") or job.policy.startswith("ceiling+wrap")
    pacer: Pacer
    if job.policy.startswith("ceiling"):
        ceiling = job.policy.split("=")[1]
        pacer, label = ConstantCeiling(float(ceiling)), job.policy
    elif job.policy.startswith("ratio="):
        ratio = job.policy.removeprefix("ratio=")
        pacer, label = FixedRatio(float(ratio)), f"fixed {ratio} lines/agent"
    elif job.policy == "progressive":
        pacer, label = make_pacer("progressive", abandon_limit=LIMIT), LABELS[job.policy]
    else:
        pacer, label = make_pacer("predictive", abandon_limit=LIMIT), LABELS[job.policy]
    result = Simulation(job.scenario, pacer, job.hours, job.seed, wrap_info).run()
    result.policy = label
    return result


def best_ratio(job: Job) -> Result:
    """The highest fixed ratio whose shift stays <= 3%: bisection on whole lines between 1
    and 3 lines per agent (the abandonment grows with the lines); the result of its run."""
    agents = job.scenario.agents
    lo, hi = agents, 3 * agents  # lines: lo is progressive (no drops), hi is too many
    best: Result | None = None
    runs, seconds = 0, 0.0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        result = run_job(replace_policy(job, f"ratio={mid / agents:.2f}"))
        runs, seconds = runs + 1, seconds + result.seconds
        if result.rate <= LIMIT:
            lo, best = mid, result
        else:
            hi = mid
    if best is None:
        best = run_job(replace_policy(job, "ratio=1.00"))
        runs, seconds = runs + 1, seconds + best.seconds
    best.policy += f" (best of {runs})"
    best.seconds = seconds
    return best


def replace_policy(job: Job, policy: str) -> Job:
    return Job(job.scenario, policy, job.hours, job.seed)


def run_any(job: Job) -> Result:
    return best_ratio(job) if job.policy == "fixed" else run_job(job)


def run_shared(
    scenario: Scenario, policy: str, hours: float, seed: int, instances: int, share: bool = True
) -> list[Result]:
    """``instances`` dialers on one campaign, each with ``scenario.agents`` agents of its own
    and its own random streams (the first one's are the single run's). ``share``: their
    budgets read every instance's attempts (as the app does); else each counts only its own
    (as before)."""
    attempts = FakeAttempts()
    simulations = []
    for k in range(instances):
        node = f"node-{k + 1}"
        budget = Abandonment(stale_after=BUDGET_STALE_SECONDS if share else None, since=EPOCH)
        pacer = make_pacer(
            "progressive" if policy == "progressive" else "predictive",
            abandon_limit=LIMIT,
            abandonment=budget,
        )
        windows = CampaignWindows(attempts, node_id=node)
        simulations.append(
            Simulation(
                scenario,
                pacer,
                hours,
                seed,
                wrap_info=policy == "predictive+wrap",
                shared=Shared(node, attempts, budget, windows) if share else None,
                stream="" if k == 0 else f"-instance-{k + 1}",
            )
        )
    began = time.perf_counter()
    results = run_together(simulations)
    for result in results:
        result.seconds = time.perf_counter() - began
    return results


def combine(results: list[Result]) -> Result:
    """The campaign's figures over its instances."""
    first = results[0]
    out = Result(first.scenario, first.policy, first.hours, sum(r.agents for r in results))
    out.dials = sum(r.dials for r in results)
    out.live = sum(r.live for r in results)
    out.drops = sum(r.drops for r in results)
    out.waited = sum(r.waited for r in results)
    out.busy_bins = [sum(b) for b in zip(*(r.busy_bins for r in results), strict=True)]
    out.available_bins = [sum(b) for b in zip(*(r.available_bins for r in results), strict=True)]
    out.outcomes = sorted(o for r in results for o in r.outcomes)
    out.seconds = max(r.seconds for r in results)
    return out


@dataclass(frozen=True)
class SharedJob:
    scenario: Scenario
    policy: str  # "predictive", "predictive+wrap"
    hours: float
    seed: int
    instances: int  # 1: the single pacer
    share: bool = True


def run_shared_job(job: SharedJob) -> list[Result]:
    if job.instances == 1:
        return [run_job(Job(job.scenario, job.policy, job.hours, job.seed))]
    return run_shared(job.scenario, job.policy, job.hours, job.seed, job.instances, job.share)


def shared_runs(hours: float, first_seed: int, seeds: int, instances: int, jobs: int) -> None:
    """Two (or more) pacers sharing one campaign's budget, against the single pacer."""
    began = time.perf_counter()
    bases = [Scenario("20 agents, 15% live"), Scenario("10 agents, 15% live", agents=10)]
    seed_list = list(range(first_seed, first_seed + max(1, seeds)))
    setups = [(1, True), (instances, True), (instances, False)]
    runs = [
        SharedJob(base, policy, hours, seed, n, share)
        for base in bases
        for policy in ("predictive+wrap", "predictive")
        for n, share in setups
        for seed in seed_list
    ]
    runs.sort(key=lambda j: -j.scenario.agents * j.instances)
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        done = dict(zip(runs, pool.map(run_shared_job, runs), strict=True))
    print(
        f"{os.cpu_count()} CPUs ({cpu_model()}), Python {platform.python_version()}; "
        f"{hours:g} h shifts, seeds {seed_list[0]}..{seed_list[-1]}, limit {LIMIT:.0%}; "
        f"{instances} instances on one campaign, each with the scenario's agents"
    )
    names = {
        (1, True): "single pacer",
        (instances, True): f"{instances} pacers, one shared budget (read every "
        f"{BUDGET_REFRESH_SECONDS:g} s)",
        (instances, False): f"{instances} pacers, each counting only its own (before)",
    }
    for base in bases:
        for policy in ("predictive+wrap", "predictive"):
            print(f"\n{base.name} per instance, {LABELS[policy]}")
            print(
                "| setup | occupancy mean (min..max) | campaign abandonment mean (min..max) "
                "| worst after 1st hour | instances' own rates (min..max) | live answers |"
            )
            print("|---|---|---|---|---|---|")
            for n, share in setups:
                per_seed = [
                    done[SharedJob(base, policy, hours, seed, n, share)] for seed in seed_list
                ]
                campaign = [combine(r) for r in per_seed]
                occupancy = [c.occupancy() for c in campaign]
                rates = [c.rate for c in campaign]
                own = [r.rate for results in per_seed for r in results]
                print(
                    f"| {names[n, share]} | {sum(occupancy) / len(occupancy):.1%} "
                    f"({min(occupancy):.1%}..{max(occupancy):.1%}) "
                    f"| {sum(rates) / len(rates):.2%} ({min(rates):.2%}..{max(rates):.2%}) "
                    f"| {max(c.worst_after_first_hour for c in campaign):.2%} "
                    f"| {min(own):.2%}..{max(own):.2%} "
                    f"| {sum(c.live for c in campaign) // len(campaign)} |"
                )
            print("per seed (shared budget): occupancy / campaign abandonment (drops/live)")
            for seed in seed_list:
                c = combine(done[SharedJob(base, policy, hours, seed, instances, True)])
                print(
                    f"- seed {seed}: {c.occupancy():.1%} / {c.rate:.2%} ({c.drops}/{c.live}),"
                    f" worst {c.worst_after_first_hour:.2%}"
                )
    print(
        "\noccupancy: handle time / available agent time over every instance's agents;"
        " campaign abandonment: every instance's drops / live answers of the shift (the"
        " rolling 24 h window at its end); worst: the highest running campaign abandonment"
        " after the first hour."
    )
    print(f"wall time {time.perf_counter() - began:.0f} s")


def scenarios(hours: float) -> tuple[list[Scenario], list[tuple[Scenario, str]]]:
    """The static scenarios, and the dynamic ones with the static one whose best fixed
    ratio they reuse (tuned before the change, as an operator would have)."""
    mid = hours * HOUR / 2
    static = [
        Scenario("20 agents, 15% live"),
        Scenario("10 agents, 15% live", agents=10),
        Scenario("50 agents, 15% live", agents=50),
        Scenario("20 agents, 30% live", live=((0.0, 0.30),)),
    ]
    dynamic = [
        (
            Scenario(
                "20 agents, live 30% -> 15% at mid-shift",
                live=((0.0, 0.30), (mid, 0.15)),
                change_at=mid,
            ),
            static[3].name,
        ),
        (
            Scenario(
                "20 agents, 15% live, 5 pause for 1 h at mid-shift",
                pauses=(Pause(5, mid, mid + HOUR),),
                change_at=mid,
            ),
            static[0].name,
        ),
    ]
    return static, dynamic


# --- the report ---------------------------------------------------------------------------


def static_table(results: list[Result]) -> list[str]:
    lines = [
        "| scenario | policy | occupancy | after 1st hour | abandonment (24 h) | worst "
        "| at limit | dials/agent-h | waited | run |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.scenario} | {r.policy} | {r.occupancy():.1%} | {r.occupancy(HOUR):.1%} "
            f"| {r.rate:.2%} ({r.drops}/{r.live}) | {r.worst_after_first_hour:.2%} "
            f"| {r.minutes_at_limit:.0f} min | {r.dials_per_agent_hour:.0f} "
            f"| {r.waited / max(1, r.live):.1%} "
            f"| {r.seconds:.1f} s |"
        )
    return lines


def dynamic_table(results: list[Result], change: float) -> list[str]:
    lines = [
        "| scenario | policy | occupancy | abandonment (24 h) | worst | at limit "
        "| before the change | 1st hour after | rest of the shift |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def period(r: Result, start: float, end: float) -> str:
        drops, live = r.abandonment(start, end)
        rate = drops / live if live else 0.0
        return f"{r.occupancy(start, end):.1%} / {rate:.2%}"

    for r in results:
        end = r.hours * HOUR
        lines.append(
            f"| {r.scenario} | {r.policy} | {r.occupancy():.1%} "
            f"| {r.rate:.2%} ({r.drops}/{r.live}) | {r.worst_after_first_hour:.2%} "
            f"| {r.minutes_at_limit:.0f} min "
            f"| {period(r, HOUR, change)} | {period(r, change, change + HOUR)} "
            f"| {period(r, change + HOUR, end)} |"
        )
    return lines


def frontier(hours: float, seed: int, jobs: int) -> None:
    """Occupancy against abandonment of the predictive model with constant ceilings."""
    began = time.perf_counter()
    base = scenarios(hours)[0][0]
    ceilings = (0.02, 0.03, 0.05, 0.07, 0.1)
    runs = [
        Job(base, f"{kind}={c}", hours, seed)
        for c in ceilings
        for kind in ("ceiling", "ceiling+wrap")
    ]
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        results = dict(zip((j.policy for j in runs), pool.map(run_job, runs), strict=True))
    print(f"{base.name}, {hours:g} h, seed {seed}: constant ceilings, no online control")
    print("| ceiling | predictive | predictive, wrap-up known |")
    print("|---|---|---|")
    for c in ceilings:
        cells = [results[f"{kind}={c}"] for kind in ("ceiling", "ceiling+wrap")]
        print(
            f"| {c} | " + " | ".join(f"{r.occupancy():.1%} at {r.rate:.2%}" for r in cells) + " |"
        )
    print(f"wall time {time.perf_counter() - began:.0f} s")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=8.0, help="length of a shift")
    parser.add_argument("--seed", type=int, default=1, help="the random streams")
    parser.add_argument("--seeds", type=int, default=5, help="seeds for the base scenario")
    parser.add_argument("--quick", action="store_true", help="2 h, the base scenario only")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--frontier",
        action="store_true",
        help="instead: the base scenario with constant risk ceilings, no online control",
    )
    parser.add_argument(
        "--shared",
        action="store_true",
        help="instead: several pacers sharing one campaign's budget, against one",
    )
    parser.add_argument("--instances", type=int, default=2, help="pacers with --shared")
    args = parser.parse_args()
    if args.frontier:
        frontier(args.hours, args.seed, args.jobs)
        return
    if args.shared:
        shared_runs(args.hours, args.seed, args.seeds, max(2, args.instances), args.jobs)
        return
    hours = 2.0 if args.quick else args.hours
    began = time.perf_counter()
    static, dynamic = scenarios(hours)
    seeds = range(args.seed, args.seed + (1 if args.quick else max(1, args.seeds)))
    if args.quick:
        static, dynamic = static[:1], []
    print(
        f"{os.cpu_count()} CPUs ({cpu_model()}), Python {platform.python_version()}; "
        f"{hours:g} h shifts, seed {args.seed}, limit {LIMIT:.0%}"
    )
    first = [Job(s, policy, hours, args.seed) for s in static for policy in POLICIES]
    repeats = [
        Job(static[0], policy, hours, seed)
        for seed in seeds[1:]
        for policy in ("predictive", "predictive+wrap")
    ]
    # the longest first (50 agents, the ratio searches), so that the workers end together
    first.sort(key=lambda j: -j.scenario.agents * (8 if j.policy == "fixed" else 3))
    with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
        pending = pool.map_async(run_any, first)
        extra = pool.map_async(run_job, repeats)
        done = {(r.scenario, j.policy): r for j, r in zip(first, pending.get(), strict=True)}
        moving = [
            Job(
                scenario,
                "ratio=" + done[reference, "fixed"].policy.split()[1] if p == "fixed" else p,
                hours,
                args.seed,
            )
            for scenario, reference in dynamic
            for p in POLICIES
        ]
        changed = pool.map(run_job, moving)
        again = extra.get()

    print(f"\nStatic scenarios, {hours:g} h shift, seed {args.seed}")
    print("\n".join(static_table([done[s.name, p] for s in static for p in POLICIES])))
    for scenario, _ in dynamic:
        change = scenario.change_at or 0.0
        print(f"\n{scenario.name} (change at {change / HOUR:g} h; fixed ratio: the best before)")
        print("periods: occupancy / abandonment over [1 h, change), the hour after, the rest")
        print("\n".join(dynamic_table([r for r in changed if r.scenario == scenario.name], change)))
    if again:
        print(f"\n{static[0].name}, seeds {seeds[0]}..{seeds[-1]}")
        rows = []
        for policy in ("predictive", "predictive+wrap"):
            runs = [done[static[0].name, policy]] + [r for r in again if r.policy == LABELS[policy]]
            occupancy = [r.occupancy() for r in runs]
            rates = [r.rate for r in runs]
            rows.append(
                f"| {LABELS[policy]} | {sum(occupancy) / len(occupancy):.1%} "
                f"({min(occupancy):.1%}..{max(occupancy):.1%}) | "
                f"{sum(rates) / len(rates):.2%} ({min(rates):.2%}..{max(rates):.2%}) "
                f"| {max(r.worst_after_first_hour for r in runs):.2%} "
                f"| {sum(r.minutes_at_limit > 0 for r in runs)} of {len(runs)} "
                f"({max(r.minutes_at_limit for r in runs):.0f} min at most) |"
            )
        print(
            "| policy | occupancy mean (min..max) | abandonment mean (min..max) | worst "
            "| shifts at the limit for a while |"
        )
        print("|---|---|---|---|---|")
        print("\n".join(rows))
    print(
        "\noccupancy: handle time / available agent time; after 1st hour: from 1 h to the end;"
        " abandonment (24 h): drops / live answers of the shift; worst: the highest running"
        " abandonment after the first hour; at limit: time with the running abandonment at or"
        " over the limit (then the pacer dials as progressive); waited: live answers that got"
        " an agent within the"
        " 2 s grace; run: wall time of the simulation (all runs of the search for the fixed"
        " ratio)."
    )
    print(f"wall time {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
