"""How many calls the outbound dialer places now: progressive and predictive pacing.

Pure code: no I/O, no clock, no asyncio. Time is a float in seconds handed in by the caller
(any monotonic origin); every method takes ``now``.

The dialer tells the pacer what happened (``on_dial_ended``, ``on_connected``, ``on_drop``,
``on_agent_released``) and asks ``dials_to_place(now, view)`` whenever something changed
and on a timer (about once a second), with a ``PacerView`` of the campaign's agents and
dials. ``ring_seconds`` is the time from placing a dial to its end (for a live answer, to
the answer): the age the dial had in ``dials_in_progress`` when it left.

The abandonment budget (``Abandonment``): one per campaign and dialer instance
    Abandonment = drops / live answers per campaign over a rolling 24 h (Ofcom) and a rolling
    30 days (FTC, FCC), over every instance that dials the campaign, at most 3% whatever the
    campaign says (``LEGAL_ABANDON_LIMIT``). It is made of two parts that never overlap:

    - the database's part, replaced at every read (``sync``): the campaign's
      ``dial_attempts`` placed in each window (by ``placed_at``) by every instance, except
      this instance's own placed since its budget began (``db/abandonment_query.py``);
    - this instance's own live answers, drops and machine verdicts since then, counted here
      as they happen (``on_dial_ended``, ``on_drop``), so that its own burst of drops counts
      at once, not when the attempt row is written (a drop's row is written after its
      message, seconds later) and read.

    ``seed`` (a pacer without a database: tests, the simulator) is a read of the counts as
    of now; history is never spread over a window any more (its times are ``placed_at``).

    The dialer reads the database every ``BUDGET_REFRESH_SECONDS`` (1 s; a cheap read of the
    last ~15 minutes, the older part of the windows every minute). What another instance
    did reaches this one after at most that second plus its own write (a drop: once its
    message and the opt-out wait are over, ~10-20 s): each other instance seen dialing the
    campaign in the last 15 minutes counts as ``OTHER_NODE_MARGIN`` drop not seen yet. A
    read older than ``stale_after`` (the dialer: ``BUDGET_STALE_SECONDS``) means no
    over-dialing at all until the next one: N instances that cannot see each other must not
    each spend the budget.

    UK campaigns (``campaigns.uk_mode``, the Ofcom rules): AMD false positives (people
    taken for machines, so hung up on or played the message: abandoned calls) count, as
    Ofcom's formula asks: (drops + FP) / (live answers + FP) in both windows, FP estimated as
    ``false_positive_rate`` x machine verdicts (attempts ended ``machine``: not handed to an
    agent). Ofcom names no rate and leaves a reasoned estimate to the caller (who must be
    able to show how it was made); the default ``AMD_FALSE_POSITIVE_RATE`` = 5% of machine
    verdicts is an assumption, not measured here, to be replaced by a measured rate per
    campaign (listen to a sample of the calls classified MACHINE).

progressive
    One dial per free agent not already covered by a dial in progress or by a live answer
    waiting for an agent: never more dials in flight than free agents, so no drops.

predictive
    The drop risk of one more dial (answered live and no agent within the 2 s grace) is
    estimated from what is known now, and dials are added while it stays under a ceiling:

    - the live-answer probability of a fresh dial (decayed counts, prior 25%);
    - the distribution of the time to a live answer and of the duration of the other dials:
      a dial still ringing after ``a`` seconds has a posterior chance of turning live, and
      of doing so within any horizon (a dial ringing for 20 s is most likely a no-answer);
    - the handle-time distribution (talk + wrap-up), from which an agent busy for ``e``
      seconds has a chance of being released within any horizon (calls still going count
      as lasting at least that long, as in Kaplan-Meier: early in a shift, the calls that
      have ended are the short ones). When the dialer knows which busy agents are in
      wrap-up and when their wrap-up ends (``wrap_up_left``), those releases are certain,
      and agents still talking are predicted from the talk-time and wrap-up distributions
      (learnt from ``wrap_seconds`` in ``on_agent_released``);

    At a few points of the new dial's own time to answer (quantiles), agents available by
    then + grace (free + released, a sum of Bernoullis) are set against live answers by
    then (waiting + dials in flight + the other new dials + those the pacer will place in
    the meantime, at its present pace, that are answered sooner), in a normal
    approximation.

    The ceiling comes from the abandonment budget B = limit x live - drops of the tighter
    window (the drops left before it reaches the limit), less what is in flight and could
    still be dropped: the live answers waiting for an agent now (``waiting_live``: each may
    be dropped within 2 s) and the margin for other instances' drops not read yet. The
    pacer aims to drop limit x min(1, sqrt(B / 6)) of live answers from now on, less as the
    budget runs low; so B is held around a reserve of ~6 drops, and a burst of drops
    seldom takes the window over the limit. A calibration factor kappa, learnt online by
    stochastic approximation (per live answer: down when connected, up when dropped), turns
    that aim into the ceiling on the modelled risk (aim / kappa). Nothing is tuned per
    campaign. With no history the budget starts at zero: a new campaign starts as
    progressive and speeds up as live answers accumulate.

    While either window plus what is in flight is at or over the limit (every waiting live
    answer dropped would take it there), or the shared read is stale, it falls back to
    progressive (never more dials in flight than free agents). Never more dials in flight
    than ``max_ratio`` x (free + busy agents); nothing without agents; never a negative
    number.

Blended agents (``inbound_hold``)
    An agent who is a member of an inbound queue (a queue no campaign dials into) as well
    as of the campaign's queue is not counted as free by the pacer when the inbound queue
    needs them: every inbound queue keeps ``waiting callers + reserve`` agents for itself
    (``INBOUND_RESERVE`` = 1 by default: the next inbound caller finds someone at once). That
    need is covered first by its free members that are in no campaign queue, then by free
    blended agents (held back: not free for the pacer), then by busy blended agents (held
    back from the release model, those whose wrap-up ends first: the queue takes their
    next release). Queues are served in the order of fewest candidates first, each agent
    counted for one queue at most (a greedy cover: exact for queues that share no agent, an
    approximation where they do). The dialer (``ari_app/dialer.py``, ``Dialer.view``) takes
    for inbound every queue no campaign dials into, whatever the campaign's state, with its
    logged-in members and its waiting callers; ``INBOUND_RESERVE`` is its default.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

DialResult = Literal["live", "machine", "no_answer", "busy", "failed"]
Mode = Literal["progressive", "predictive"]
DIAL_RESULTS: tuple[DialResult, ...] = ("live", "machine", "no_answer", "busy", "failed")

DAY = 86_400.0
MONTH = 30 * DAY
GRACE_SECONDS = 2.0  # a live answer must reach an agent within this, or it is abandoned
# FTC TSR 16 CFR 310.4(b)(4)(i), FCC 47 CFR 64.1200(a)(7)(i), Ofcom: a campaign setting may
# be stricter, never looser.
LEGAL_ABANDON_LIMIT = 0.03
# UK: share of AMD machine verdicts taken to be people (false positives); an assumption
# (see the module docstring) until measured.
AMD_FALSE_POSITIVE_RATE = 0.05
BUDGET_REFRESH_SECONDS = 1.0  # the dialer reads the campaign's windows this often
BUDGET_STALE_SECONDS = 5.0  # a read older than this: no over-dialing until the next one
OTHER_NODE_MARGIN = 1.0  # drops per other instance dialing the campaign, not read yet
INBOUND_RESERVE = 1  # agents each inbound queue keeps beyond its waiting callers


@dataclass(frozen=True)
class PacerView:
    """What the dialer sees right now."""

    free_agents: int  # logged in, ready, not on a call, not in wrap-up
    # per busy agent: seconds since their current call (talk) began; wrap-up counts as busy
    busy_agents: Sequence[float]
    dials_in_progress: Sequence[float]  # per dial placed, not yet ended: seconds since placed
    waiting_live: int = 0  # live-answered customers not yet connected to an agent
    # Optional, aligned with busy_agents: for an agent in wrap-up, seconds until its wrap-up
    # ends (it is free then); None for an agent still talking. Empty when not known.
    wrap_up_left: Sequence[float | None] = ()
    # Information only: campaign agents left out of free_agents and busy_agents because
    # inbound queues need them (``inbound_hold``).
    held_for_inbound: int = 0

    def __post_init__(self) -> None:
        if self.wrap_up_left and len(self.wrap_up_left) != len(self.busy_agents):
            raise ValueError("wrap_up_left must be empty or have one entry per busy agent")


class Pacer(Protocol):
    """What the dialer calls. ``wrap_seconds`` (optional, beyond the first draft of this
    API): the wrap-up part of ``handle_seconds``, when the dialer knows it."""

    mode: str

    def seed(
        self, *, now: float, live_30d: int, drops_30d: int, live_24h: int, drops_24h: int
    ) -> None: ...

    def on_dial_ended(self, now: float, result: DialResult, ring_seconds: float) -> None: ...

    def on_connected(self, now: float, wait_seconds: float) -> None: ...

    def on_drop(self, now: float) -> None: ...

    def on_agent_released(
        self, now: float, handle_seconds: float, wrap_seconds: float | None = None
    ) -> None: ...

    def dials_to_place(self, now: float, view: PacerView) -> int: ...

    def abandonment(self, now: float) -> tuple[float, float]: ...


def make_pacer(
    mode: Mode,
    *,
    abandon_limit: float = 0.03,
    max_ratio: float = 5.0,
    abandonment: Abandonment | None = None,
) -> Pacer:
    """A pacer for a campaign; ``abandon_limit`` as a share of live answers (0.03 = 3%; more
    runs at 3%). ``abandonment``: the campaign's budget, kept by the dialer across pacers
    (a new one, this instance's own figures only, when not given)."""
    if mode == "progressive":
        return ProgressivePacer(
            abandon_limit=abandon_limit, max_ratio=max_ratio, abandonment=abandonment
        )
    if mode == "predictive":
        return PredictivePacer(
            abandon_limit=abandon_limit, max_ratio=max_ratio, abandonment=abandonment
        )
    raise ValueError(f"unknown pacing mode {mode!r}")


def _check(abandon_limit: float, max_ratio: float) -> float:
    """The limit the pacer runs at: the campaign's, never above the law's."""
    if not 0 < abandon_limit < 1:
        raise ValueError("abandon_limit is a share of live answers, between 0 and 1")
    if not max_ratio >= 1:
        raise ValueError("max_ratio must be at least 1")
    return min(abandon_limit, LEGAL_ABANDON_LIMIT)


# --- abandonment over rolling windows -----------------------------------------------------


class RollingCount:
    """Live answers, drops and machine verdicts over the last ``span`` seconds, in buckets
    of ``bucket`` s.

    An event stays counted until the end of its bucket is ``span`` seconds old: at least
    ``span`` seconds, at most ``span + bucket``.
    """

    def __init__(self, span: float, bucket: float) -> None:
        if span <= 0 or bucket <= 0 or bucket > span:
            raise ValueError("need 0 < bucket <= span")
        self.span = span
        self.bucket = bucket
        # [start, live, drops, machines], oldest first
        self._buckets: deque[list[float]] = deque()
        self._totals = [0.0, 0.0, 0.0]

    def _roll(self, now: float) -> None:
        horizon = now - self.span
        buckets = self._buckets
        while buckets and buckets[0][0] + self.bucket <= horizon:
            gone = buckets.popleft()
            for i in range(3):
                self._totals[i] -= gone[i + 1]
        if not buckets:
            self._totals = [0.0, 0.0, 0.0]

    def add(self, at: float, live: float = 0.0, drops: float = 0.0, machines: float = 0.0) -> None:
        start = math.floor(at / self.bucket) * self.bucket
        buckets = self._buckets
        values = (live, drops, machines)
        if not buckets or buckets[-1][0] < start:
            buckets.append([start, *values])
            entry = None
        elif buckets[-1][0] == start:
            entry = buckets[-1]
        else:  # an older bucket (a late event, usually by little): keep the order
            i = len(buckets) - 1
            while i >= 0 and buckets[i][0] > start:
                i -= 1
            if i >= 0 and buckets[i][0] == start:
                entry = buckets[i]
            else:
                buckets.insert(i + 1, [start, *values])
                entry = None
        for i, value in enumerate(values):
            if entry is not None:
                entry[i + 1] += value
            self._totals[i] += value

    def counts(self, now: float) -> tuple[float, float]:
        """(live answers, drops) in the window ending at ``now``."""
        live, drops, _ = self.tally(now)
        return live, drops

    def tally(self, now: float) -> tuple[float, float, float]:
        """(live answers, drops, machine verdicts) in the window ending at ``now``."""
        self._roll(now)
        live, drops, machines = self._totals
        return max(0.0, live), max(0.0, drops), max(0.0, machines)

    def rate(self, now: float) -> float:
        live, drops = self.counts(now)
        return drops / live if live > 0 else 0.0


@dataclass(frozen=True)
class Tally:
    """Counts of a campaign's attempts in one window."""

    live: float = 0.0  # answered by a person (AMD off, HUMAN or NOTSURE)
    drops: float = 0.0  # live answers no agent took within 2 s (abandoned)
    machines: float = 0.0  # AMD machine verdicts not handed to an agent

    def __post_init__(self) -> None:
        if min(self.live, self.drops, self.machines) < 0:
            raise ValueError("counts cannot be negative")

    def __add__(self, other: Tally) -> Tally:
        return Tally(
            self.live + other.live, self.drops + other.drops, self.machines + other.machines
        )


@dataclass(frozen=True)
class BudgetRead:
    """One read of a campaign's ``dial_attempts`` (``db/abandonment_query.py``): the rolling
    24 h and 30 d windows ending at the read, every instance's attempts except the reading
    instance's own placed since its budget began (it counts those itself)."""

    day: Tally = field(default_factory=Tally)
    month: Tally = field(default_factory=Tally)
    # other instances that placed a dial of the campaign in the last minutes
    other_nodes: int = 0

    def __add__(self, other: BudgetRead) -> BudgetRead:
        return BudgetRead(
            self.day + other.day, self.month + other.month, max(self.other_nodes, other.other_nodes)
        )


class Abandonment:
    """A campaign's rolling 24 h and 30 d abandonment (drops / live answers) across every
    instance: the last database read plus this instance's own events since ``since`` (see
    the module docstring). One per campaign, kept by the dialer across pacers.

    ``since``: the wall-clock time this budget began, handed to the database read (own
    attempts placed before it come from the database, later ones are counted here).
    ``stale_after``: seconds after which a read no longer allows over-dialing; None: never
    (a pacer without a database: tests, the simulator's single instance)."""

    def __init__(
        self,
        *,
        uk_mode: bool = False,
        false_positive_rate: float = AMD_FALSE_POSITIVE_RATE,
        stale_after: float | None = None,
        since: datetime | None = None,
        other_node_margin: float = OTHER_NODE_MARGIN,
    ) -> None:
        if not 0 <= false_positive_rate <= 1 or other_node_margin < 0:
            raise ValueError("need 0 <= false_positive_rate <= 1 and other_node_margin >= 0")
        self.uk_mode = uk_mode
        self.false_positive_rate = false_positive_rate
        self.stale_after = stale_after
        self.since = since
        self.other_node_margin = other_node_margin
        self.day = RollingCount(DAY, 60.0)
        self.month = RollingCount(MONTH, 3600.0)
        self.read: BudgetRead | None = None  # the last database read
        self.read_at = -math.inf

    # --- the database's part ------------------------------------------------------------

    def sync(self, now: float, read: BudgetRead) -> None:
        """The windows as read from the database just now (replaces the previous read)."""
        if read.other_nodes < 0:
            raise ValueError("other_nodes cannot be negative")
        self.read = read
        self.read_at = now

    def seed(
        self,
        *,
        now: float,
        live_30d: int,
        drops_30d: int,
        live_24h: int,
        drops_24h: int,
        machines_30d: int = 0,
        machines_24h: int = 0,
    ) -> None:
        """A read of the windows' counts as of ``now`` (the 30 days include the last 24 h)."""
        if min(live_30d, drops_30d, live_24h, drops_24h, machines_30d, machines_24h) < 0:
            raise ValueError("history counts cannot be negative")
        if drops_24h > live_24h or drops_30d > live_30d:
            raise ValueError("more drops than live answers")
        self.sync(
            now,
            BudgetRead(
                day=Tally(live_24h, drops_24h, machines_24h),
                month=Tally(
                    max(live_30d, live_24h),
                    max(drops_30d, drops_24h),
                    max(machines_30d, machines_24h),
                ),
            ),
        )

    def fresh(self, now: float) -> bool:
        """Whether the last read is recent enough to allow over-dialing."""
        if self.stale_after is None:
            return True
        return self.read is not None and now - self.read_at <= self.stale_after

    def unseen(self) -> float:
        """Drops other instances may have made that no read has shown yet."""
        return self.read.other_nodes * self.other_node_margin if self.read is not None else 0.0

    # --- this instance's part -----------------------------------------------------------

    def live(self, now: float) -> None:
        self.day.add(now, live=1.0)
        self.month.add(now, live=1.0)

    def drop(self, now: float) -> None:
        self.day.add(now, drops=1.0)
        self.month.add(now, drops=1.0)

    def machine(self, now: float) -> None:
        self.day.add(now, machines=1.0)
        self.month.add(now, machines=1.0)

    # --- the figures --------------------------------------------------------------------

    def tallies(self, now: float) -> tuple[Tally, Tally]:
        """(24 h, 30 d): the database's part plus this instance's, before any estimate."""
        read = self.read or BudgetRead()
        day = read.day + Tally(*self.day.tally(now))
        month = read.month + Tally(*self.month.tally(now))
        return day, month

    def windows(self, now: float) -> tuple[tuple[float, float], tuple[float, float]]:
        """((live, drops) over 24 h, (live, drops) over 30 d); for a UK campaign the
        estimated AMD false positives are added to both live answers and drops."""
        day, month = self.tallies(now)
        share = self.false_positive_rate if self.uk_mode else 0.0
        return (
            (day.live + share * day.machines, day.drops + share * day.machines),
            (month.live + share * month.machines, month.drops + share * month.machines),
        )

    def rates(self, now: float) -> tuple[float, float]:
        (live24, drops24), (live30, drops30) = self.windows(now)
        return (drops24 / live24 if live24 > 0 else 0.0, drops30 / live30 if live30 > 0 else 0.0)


# --- blended agents ---------------------------------------------------------------------------


@dataclass(frozen=True)
class InboundQueue:
    """An inbound queue (no campaign dials into it) as the pacer needs it."""

    name: str
    members: frozenset[str]  # its members logged in (whatever their state)
    waiting: int = 0  # callers waiting in it now


def inbound_hold(
    *,
    campaign_agents: Collection[str],
    free: Collection[str],
    busy: Mapping[str, float],
    inbound: Sequence[InboundQueue],
    reserve: int = INBOUND_RESERVE,
) -> tuple[frozenset[str], frozenset[str]]:
    """The campaign's agents the pacer must not count on because inbound queues need them:
    (free agents held, busy agents held). ``free``: agents free now (any queue); ``busy``:
    busy agents and when each is expected back, smaller first (seconds to the end of their
    wrap-up, or a large number when still talking). Each inbound queue needs its waiting
    callers + ``reserve`` agents: its free members outside the campaign first, then free
    campaign agents, then busy campaign agents (the soonest back first)."""
    if reserve < 0:
        raise ValueError("reserve cannot be negative")
    ours = set(campaign_agents)
    free_set = set(free)
    taken: set[str] = set()
    held_free: set[str] = set()
    held_busy: set[str] = set()

    def candidates(queue: InboundQueue) -> int:
        return sum(1 for a in queue.members if a in free_set or (a in ours and a in busy))

    for queue in sorted(inbound, key=lambda q: (candidates(q), q.name)):
        if not queue.members & ours:
            continue  # no agent of the campaign in it: nothing to hold
        need = max(0, queue.waiting) + reserve
        own_free = sorted(a for a in queue.members if a in free_set and a not in ours)
        blended_free = sorted(a for a in queue.members if a in free_set and a in ours)
        blended_busy = sorted(
            (a for a in queue.members if a in ours and a in busy), key=lambda a: (busy[a], a)
        )
        for group, held in ((own_free, None), (blended_free, held_free), (blended_busy, held_busy)):
            for agent in group:
                if need <= 0:
                    break
                if agent in taken:
                    continue
                taken.add(agent)
                if held is not None:
                    held.add(agent)
                need -= 1
    return frozenset(held_free), frozenset(held_busy)


# --- progressive ---------------------------------------------------------------------------


def _agents(view: PacerView) -> int:
    return max(0, view.free_agents) + len(view.busy_agents)


def _room(view: PacerView, max_ratio: float) -> int:
    """Dials that may still be placed under the cap of max_ratio x agents in flight."""
    if math.isinf(max_ratio):
        return 1 << 30 if _agents(view) else 0
    return math.floor(max_ratio * _agents(view)) - len(view.dials_in_progress)


def progressive_dials(view: PacerView, max_ratio: float = math.inf) -> int:
    """One dial per free agent not covered by a dial in flight or a waiting live answer."""
    in_flight = len(view.dials_in_progress)
    wanted = max(0, view.free_agents) - max(0, view.waiting_live) - in_flight
    return max(0, min(wanted, _room(view, max_ratio)))


class ProgressivePacer:
    """One dial per free agent; keeps the abandonment figures all the same."""

    mode: str = "progressive"

    def __init__(
        self,
        *,
        abandon_limit: float = 0.03,
        max_ratio: float = 5.0,
        abandonment: Abandonment | None = None,
    ) -> None:
        self.abandon_limit = _check(abandon_limit, max_ratio)
        self.max_ratio = max_ratio
        self._abandonment = abandonment if abandonment is not None else Abandonment()

    def seed(
        self, *, now: float, live_30d: int, drops_30d: int, live_24h: int, drops_24h: int
    ) -> None:
        self._abandonment.seed(
            now=now,
            live_30d=live_30d,
            drops_30d=drops_30d,
            live_24h=live_24h,
            drops_24h=drops_24h,
        )

    def on_dial_ended(self, now: float, result: DialResult, ring_seconds: float) -> None:
        if result == "live":
            self._abandonment.live(now)
        elif result == "machine":
            self._abandonment.machine(now)

    def on_connected(self, now: float, wait_seconds: float) -> None:
        pass

    def on_drop(self, now: float) -> None:
        self._abandonment.drop(now)

    def on_agent_released(
        self, now: float, handle_seconds: float, wrap_seconds: float | None = None
    ) -> None:
        pass

    def dials_to_place(self, now: float, view: PacerView) -> int:
        return progressive_dials(view, self.max_ratio)

    def abandonment(self, now: float) -> tuple[float, float]:
        return self._abandonment.rates(now)


# --- estimators -----------------------------------------------------------------------------


class Histogram:
    """A distribution of durations learnt online: bins of ``width`` seconds (the last one
    takes everything beyond), older observations decaying with a half-life counted in
    observations, plus a fixed prior of ``prior_weight`` pseudo-observations shaped by
    ``prior_cdf`` (so that it is usable, if rough, before any data)."""

    def __init__(
        self,
        width: float,
        bins: int,
        prior_cdf: Callable[[float], float],
        prior_weight: float,
        halflife: float,
    ) -> None:
        self.width = width
        self.bins = bins
        edges = [prior_cdf(i * width) for i in range(bins)] + [1.0]
        self._prior = [prior_weight * max(0.0, edges[i + 1] - edges[i]) for i in range(bins)]
        self._counts = [0.0] * bins
        self._growth = 2.0 ** (1.0 / halflife)
        self._gain = 1.0  # lazy decay: newer observations weigh more, rescaled when large
        self.observations = 0

    def observe(self, seconds: float) -> None:
        if not math.isfinite(seconds):
            return
        i = min(self.bins - 1, max(0, int(seconds / self.width)))
        self._counts[i] += self._gain
        self._gain *= self._growth
        self.observations += 1
        if self._gain > 1e100:
            self._counts = [c / self._gain for c in self._counts]
            self._gain = 1.0

    def masses(self) -> list[float]:
        scale = self._growth / self._gain  # the newest observation weighs 1
        return [c * scale + p for c, p in zip(self._counts, self._prior, strict=True)]

    def cdf_on_grid(self, step: float, points: int, censored: Sequence[float] = ()) -> list[float]:
        """CDF at 0, step, 2*step, ... (piecewise linear within bins, 1 beyond).

        ``censored``: durations known only to be longer than these values (calls still
        going), taken in as in a Kaplan-Meier estimate. Without them, calls that ended
        early in a shift would pass for the whole distribution, and long calls be
        forgotten until they end."""
        masses = self.masses()
        cum = [0.0]
        if censored:
            at_risk = [0.0] * (self.bins + 1)  # censored beyond each bin
            for value in censored:
                i = int(value / self.width) if value > 0 else 0
                at_risk[min(i, self.bins)] += 1.0
            later = sum(at_risk)  # censored in this bin or later (this one excluded below)
            ended = sum(masses)  # ended in this bin or later
            alive = 1.0
            for i, m in enumerate(masses):
                later -= at_risk[i]
                risk = ended + later
                alive *= 1.0 - m / risk if risk > 0 else 1.0
                ended -= m
                cum.append(1.0 - alive)
        else:
            total = sum(masses) or 1.0
            for m in masses:
                cum.append(cum[-1] + m / total)
        cum[-1] = 1.0
        if step == self.width:
            return cum[:points] + [1.0] * max(0, points - len(cum))
        bins = self.bins
        ratio = step / self.width
        out = []
        for j in range(points):
            x = j * ratio
            i = int(x)
            out.append(cum[i] + (x - i) * (cum[i + 1] - cum[i]) if i < bins else 1.0)
        return out


def lognormal_cdf(median: float, sigma: float) -> Callable[[float], float]:
    def cdf(x: float) -> float:
        if x <= 0:
            return 0.0
        return 0.5 * math.erfc(-math.log(x / median) / (sigma * math.sqrt(2.0)))

    return cdf


def exponential_cdf(mean: float) -> Callable[[float], float]:
    return lambda x: 1.0 - math.exp(-max(0.0, x) / mean)


def uniform_cdf(high: float) -> Callable[[float], float]:
    return lambda x: min(1.0, max(0.0, x / high))


def _shifted(grid: Sequence[float], offset: float, count: int) -> list[float]:
    """Values at grid points i + ``offset`` (in steps, >= 0) for i < ``count``, linear
    between points and flat beyond the last one."""
    whole = int(offset)
    frac = offset - whole
    ext = [*grid, *([grid[-1]] * (whole + count + 2))]
    return [ext[i] + frac * (ext[i + 1] - ext[i]) for i in range(whole, whole + count)]


def _at(grid: Sequence[float], step: float, x: float) -> float:
    """Linear interpolation in values sampled at 0, step, 2*step, ...; flat outside."""
    if x <= 0:
        return grid[0]
    pos = x / step
    i = int(pos)
    if i >= len(grid) - 1:
        return grid[-1]
    return grid[i] + (pos - i) * (grid[i + 1] - grid[i])


def _phi(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


Rows = list[tuple[float, ...]]  # per age: K chances by the K horizons, then K variances


# --- predictive -----------------------------------------------------------------------------


class PredictivePacer:
    """See the module docstring. The knobs have defaults meant to be left alone."""

    mode: str = "predictive"

    DIAL_STEP = 0.5  # s, age grid of dials in flight (the bins of the ring histograms)
    DIAL_AGES = 120  # 60 s; an older dial is not expected to turn live
    BUSY_STEP = 2.0  # s, elapsed grid of busy agents (the bins of the handle histograms)
    BUSY_AGES = 1800  # one hour; longer calls use the last row
    WRAP_STEP = 1.0  # s, bins of the wrap-up histogram (up to 10 minutes)
    PACE_SECONDS = 60.0  # s, memory of the pace of dialling

    def __init__(
        self,
        *,
        abandon_limit: float = 0.03,
        max_ratio: float = 5.0,
        reserve: float = 6.0,
        calibration_step: float = 0.1,
        quantiles: int = 4,
        prior_live: float = 0.25,
        prior_dials: float = 20.0,
        live_halflife: float = 300.0,
        abandonment: Abandonment | None = None,
    ) -> None:
        limit = _check(abandon_limit, max_ratio)
        if reserve <= 0:
            raise ValueError("need reserve > 0")
        if calibration_step < 0 or quantiles < 1 or not 0 < prior_live < 1:
            raise ValueError("need calibration_step >= 0, quantiles >= 1, 0 < prior_live < 1")
        self.abandon_limit = limit
        self.max_ratio = max_ratio
        self.reserve = reserve
        self._abandonment = abandonment if abandonment is not None else Abandonment()
        # live-answer probability of a fresh dial: decayed counts over dials + a prior
        self._prior_live = prior_live
        self._prior_dials = prior_dials
        self._decay = 0.5 ** (1.0 / live_halflife)
        self._live_w = 0.0
        self._dials_w = 0.0
        self._ended = 0.0  # dials ended, decayed over PACE_SECONDS: the pace of dialling
        self._ended_at = -math.inf
        # time from placing to a live answer; duration of the other dials
        self._ring_live = Histogram(self.DIAL_STEP, 120, lognormal_cdf(8.0, 0.5), 5.0, 2000.0)
        self._ring_other = Histogram(self.DIAL_STEP, 120, uniform_cdf(30.0), 5.0, 2000.0)
        # handle time (talk + wrap-up); and, when the dialer tells wrap-ups apart, each part
        self._handle = Histogram(self.BUSY_STEP, 1800, exponential_cdf(180.0), 5.0, 1000.0)
        self._talk = Histogram(self.BUSY_STEP, 1800, exponential_cdf(180.0), 5.0, 1000.0)
        self._wrap = Histogram(self.WRAP_STEP, 600, uniform_cdf(30.0), 2.0, 1000.0)
        self._quantiles = quantiles
        self._log_gain = 0.0  # log kappa: drops observed per unit of modelled risk
        self._step = calibration_step
        self._predictive = False  # the last decision was allowed to overdial
        # derived tables, rebuilt as the estimates move
        self._dial_dirty = 1 << 30
        self._handle_dirty = 1 << 30
        self._talk_dirty = 1 << 30
        self._horizons: list[float] = []  # h_k: quantiles of the time to a live answer
        self._live_share_by: list[float] = []  # c_k: a fresh dial answered live by h_k
        self._early_area: list[float] = []  # integral of the live-answer CDF up to h_k
        self._dial_rows: Rows = []
        self._handle_rows: Rows = []
        self._handle_horizons: list[float] = []
        self._talk_rows: Rows = []
        self._talk_horizons: list[float] = []
        self._refresh()

    # --- the callbacks ----------------------------------------------------------------------

    def seed(
        self, *, now: float, live_30d: int, drops_30d: int, live_24h: int, drops_24h: int
    ) -> None:
        self._abandonment.seed(
            now=now,
            live_30d=live_30d,
            drops_30d=drops_30d,
            live_24h=live_24h,
            drops_24h=drops_24h,
        )

    def on_dial_ended(self, now: float, result: DialResult, ring_seconds: float) -> None:
        live = result == "live"
        self._ended = self._pace(now) * self.PACE_SECONDS + 1.0
        self._ended_at = max(self._ended_at, now)  # time going back: no decay
        self._live_w = self._live_w * self._decay + (1.0 if live else 0.0)
        self._dials_w = self._dials_w * self._decay + 1.0
        if live:
            self._abandonment.live(now)
            self._ring_live.observe(ring_seconds)
        else:
            if result == "machine":
                self._abandonment.machine(now)
            self._ring_other.observe(ring_seconds)
        self._dial_dirty += 1

    def on_connected(self, now: float, wait_seconds: float) -> None:
        if self._predictive:  # no wind-up while progressive: only overdialing is judged
            self._calibrate(self.target(now))

    def on_drop(self, now: float) -> None:
        self._abandonment.drop(now)
        self._calibrate(self.target(now) - 1.0)

    def on_agent_released(
        self, now: float, handle_seconds: float, wrap_seconds: float | None = None
    ) -> None:
        """``wrap_seconds``: the wrap-up part of ``handle_seconds``, when known."""
        self._handle.observe(handle_seconds)
        self._handle_dirty += 1
        if wrap_seconds is not None and 0 <= wrap_seconds <= handle_seconds:
            self._talk.observe(handle_seconds - wrap_seconds)
            self._wrap.observe(wrap_seconds)
            self._talk_dirty += 1

    def abandonment(self, now: float) -> tuple[float, float]:
        return self._abandonment.rates(now)

    # --- what it has learnt, and the budget ----------------------------------------------

    @property
    def live_rate(self) -> float:
        """Estimated probability that a fresh dial is answered live."""
        return (self._live_w + self._prior_live * self._prior_dials) / (
            self._dials_w + self._prior_dials
        )

    @property
    def calibration(self) -> float:
        """kappa: drops observed per unit of modelled risk, learnt online (1 at start)."""
        return math.exp(self._log_gain)

    def budget(self, now: float, pending: float = 0.0) -> float:
        """Drops that would take the tighter window to the limit: limit x live - drops,
        less ``pending`` (live answers waiting for an agent, each of which may still be
        dropped) and the drops of other instances not read yet."""
        extra = max(0.0, pending) + self._abandonment.unseen()
        return min(self.abandon_limit * live - drops for live, drops in self._windows(now)) - extra

    def target(self, now: float, pending: float = 0.0) -> float:
        """Share of live answers to drop from now on: limit x min(1, sqrt(B / reserve)),
        B the budget; 0 without budget. Below the reserve, less is spent and B grows back
        (a burst of drops then seldom reaches the limit); the budget of old events is never
        spent faster than the limit (they roll off the window)."""
        budget = self.budget(now, pending)
        if budget <= 0:
            return 0.0
        return self.abandon_limit * min(1.0, math.sqrt(budget / self.reserve))

    def risk_threshold(self, now: float, pending: float = 0.0) -> float:
        """The ceiling on the modelled drop risk of the next dial: target / kappa."""
        return self.target(now, pending) / math.exp(self._log_gain)

    def over_limit(self, now: float, pending: float = 0.0) -> bool:
        """Either window at or over the limit, counting as dropped the ``pending`` live
        answers waiting for an agent and other instances' drops not read yet (then
        progressive only)."""
        extra = max(0.0, pending) + self._abandonment.unseen()
        return any(
            drops + extra > 0 and drops + extra >= self.abandon_limit * live - 1e-9
            for live, drops in self._windows(now)
        )

    def may_overdial(self, now: float, pending: float = 0.0) -> bool:
        """Neither window could reach the limit with what is in flight, and the shared
        figures are fresh."""
        return self._abandonment.fresh(now) and not self.over_limit(now, pending)

    def _windows(self, now: float) -> tuple[tuple[float, float], tuple[float, float]]:
        return self._abandonment.windows(now)

    def _calibrate(self, delta: float) -> None:
        """Stochastic approximation, per live answer: kappa down by step x target when it
        was connected, up by step x (1 - target) when dropped; at equilibrium the share of
        live answers dropped is the target."""
        self._log_gain = max(-3.0, min(3.0, self._log_gain - self._step * delta))

    # --- the decision -----------------------------------------------------------------------

    def dials_to_place(self, now: float, view: PacerView) -> int:
        agents = _agents(view)
        if agents == 0:
            self._predictive = False
            return 0
        safe = progressive_dials(view, self.max_ratio)
        pending = float(max(0, view.waiting_live))
        threshold = self.risk_threshold(now, pending) if self.may_overdial(now, pending) else 0.0
        self._predictive = threshold > 0
        cap = _room(view, self.max_ratio)
        if threshold <= 0 or cap <= 0:
            return safe
        self._refresh()
        margin, var = self._balance(view)
        self._add_future(now, margin, var)
        n = 0
        while n < cap and self._risk(margin, var, n) <= threshold:
            n += 1
        return max(n, safe)

    def _pace(self, now: float) -> float:
        """Dials ended per second lately (about the pace at which they are placed)."""
        elapsed = max(0.0, now - self._ended_at)
        return self._ended * math.exp(-elapsed / self.PACE_SECONDS) / self.PACE_SECONDS

    def _add_future(self, now: float, margin: list[float], var: list[float]) -> None:
        """Live answers by h_k of the dials that will be placed after this one, at the
        present pace (Poisson: the variance is the mean)."""
        flow = self._pace(now) * self.live_rate
        for k, area in enumerate(self._early_area):
            margin[k] -= flow * area
            var[k] += flow * area

    def drop_risk(self, now: float, view: PacerView, before: int = 0) -> float:
        """Modelled chance that one more dial, placed now after ``before`` others, is
        answered live and finds no agent within the grace, given it is answered live."""
        self._refresh()
        margin, var = self._balance(view)
        self._add_future(now, margin, var)
        return self._risk(margin, var, before)

    def _balance(self, view: PacerView) -> tuple[list[float], list[float]]:
        """At each horizon h_k: expected agents available by h_k + grace minus expected
        live answers by h_k (without new dials), and the variance of that difference."""
        k_n = self._quantiles
        base = float(max(0, view.free_agents) - max(0, view.waiting_live))
        margin = [base] * k_n
        var = [0.04] * k_n  # keeps the normal approximation finite when all is certain
        if view.wrap_up_left:
            talking = [
                e
                for e, left in zip(view.busy_agents, view.wrap_up_left, strict=True)
                if left is None
            ]
            rows = self._talk_table(talking)
            ending = sorted(left for left in view.wrap_up_left if left is not None)
            for k, h in enumerate(self._horizons):  # in wrap-up: free for sure when it ends
                margin[k] += bisect.bisect_right(ending, h + GRACE_SECONDS)
        else:
            talking = list(view.busy_agents)
            rows = self._handle_table(talking)
        last = len(rows) - 1
        picked = [
            rows[i] if 0 <= i < last else rows[last if i > 0 else 0]
            for i in [int(e / self.BUSY_STEP) for e in talking]
        ]
        dial_rows = self._dial_rows
        ages = len(dial_rows)
        dialled = [
            dial_rows[i]
            for i in [int(a / self.DIAL_STEP) for a in view.dials_in_progress]
            if 0 <= i < ages
        ]
        for group, sign in ((picked, 1.0), (dialled, -1.0)):
            if group:
                sums = [sum(column) for column in zip(*group, strict=True)]
                for k in range(k_n):
                    margin[k] += sign * sums[k]
                    var[k] += sums[k_n + k]
        return margin, var

    def _risk(self, margin: Sequence[float], var: Sequence[float], before: int) -> float:
        """Drop risk of a new dial given live, ``before`` other new dials placed with it:
        averaged over its time to answer h_k, by which each of the others is answered with
        probability c_k."""
        risk = 0.0
        for k, c in enumerate(self._live_share_by):
            z = (0.5 - margin[k] + before * c) / math.sqrt(var[k] + before * c * (1.0 - c))
            risk += _phi(z)
        return risk / len(self._live_share_by)

    # --- derived tables ---------------------------------------------------------------------

    def _refresh(self) -> None:
        seen = self._ring_live.observations + self._ring_other.observations
        if self._dial_dirty >= (20 if seen < 1000 else 100):
            self._build_dial_rows()

    def _handle_table(self, going: Sequence[float]) -> Rows:
        """The release chances of busy agents; ``going``: how long each has been busy."""
        if self._moved(self._handle_horizons) or self._handle_dirty >= (
            10 if self._handle.observations < 200 else 50
        ):
            self._build_handle_rows(going)
        return self._handle_rows

    def _talk_table(self, going: Sequence[float]) -> Rows:
        """The release chances of agents still talking, for as long as each has."""
        if not self._talk.observations:
            return self._handle_table(going)
        if self._moved(self._talk_horizons) or self._talk_dirty >= (
            10 if self._talk.observations < 200 else 200
        ):
            self._build_talk_rows(going)
        return self._talk_rows

    def _moved(self, built_for: Sequence[float]) -> bool:
        return len(built_for) != len(self._horizons) or any(
            abs(a - b) > 0.5 for a, b in zip(self._horizons, built_for, strict=True)
        )

    def _build_dial_rows(self) -> None:
        """Per age of a dial in flight: the chance it is answered live by each horizon h_k
        from now, given it has not ended yet; then the variances."""
        self._dial_dirty = 0
        p = self.live_rate
        step = self.DIAL_STEP
        ages = self.DIAL_AGES
        points = ages + int(60.0 / step) + 2
        live_cdf = self._ring_live.cdf_on_grid(step, points)
        other_cdf = self._ring_other.cdf_on_grid(step, points)
        k_n = self._quantiles
        # the new dial's own time to a live answer: the middle quantiles of k_n slices
        horizons = []
        for k in range(k_n):
            u = (k + 0.5) / k_n
            j = next((j for j, v in enumerate(live_cdf) if v >= u), len(live_cdf) - 1)
            below = live_cdf[j - 1] if j > 0 else 0.0
            frac = (u - below) / (live_cdf[j] - below) if live_cdf[j] > below else 1.0
            horizons.append(max(0.0, (j - 1 + frac) * step))
        self._horizons = horizons
        self._live_share_by = [p * (k + 0.5) / k_n for k in range(k_n)]
        # integral of the live-answer CDF up to h_k: the share of a steady flow of dials
        # placed between now and h_k that is answered by h_k, per dial per second
        self._early_area = [
            sum(_at(live_cdf, step, (j + 0.5) * step) for j in range(int(h / step))) * step
            for h in horizons
        ]
        live_now = _shifted(live_cdf, 0.5, ages)  # ages at the middle of their grid cell
        other_now = _shifted(other_cdf, 0.5, ages)
        alive = [
            p * (1.0 - g) + (1.0 - p) * (1.0 - o) for g, o in zip(live_now, other_now, strict=True)
        ]
        columns = []
        for h in horizons:
            later = _shifted(live_cdf, 0.5 + h / step, ages)
            columns.append(
                [
                    min(1.0, max(0.0, p * (g_h - g) / z)) if z > 1e-9 else 0.0
                    for g_h, g, z in zip(later, live_now, alive, strict=True)
                ]
            )
        self._dial_rows = _with_variances(columns)

    def _build_handle_rows(self, going: Sequence[float]) -> None:
        """Per elapsed time of a busy agent: the chance of a release by each horizon
        h_k + grace, given no release yet (handle-time distribution); then the variances."""
        self._handle_dirty = 0
        self._handle_horizons = list(self._horizons)
        step = self.BUSY_STEP
        ages = self.BUSY_AGES
        reach = [h + GRACE_SECONDS for h in self._horizons]
        cdf = self._handle.cdf_on_grid(step, ages + int(max(reach) / step) + 3, going)
        done = _shifted(cdf, 0.5, ages)
        columns = []
        for r in reach:
            later = _shifted(cdf, 0.5 + r / step, ages)
            tail = 1.0 - math.exp(-r / 180.0)  # beyond anything seen
            columns.append(
                [
                    min(1.0, max(0.0, (c_r - c) / (1.0 - c))) if c < 1.0 - 1e-6 else tail
                    for c_r, c in zip(later, done, strict=True)
                ]
            )
        self._handle_rows = _with_variances(columns)

    def _build_talk_rows(self, going: Sequence[float]) -> None:
        """Per elapsed time of an agent still talking: the chance that the talk ends and
        the wrap-up after it too, by each horizon h_k + grace; then the variances."""
        self._talk_dirty = 0
        self._talk_horizons = list(self._horizons)
        step = self.BUSY_STEP
        ages = self.BUSY_AGES
        reach = [h + GRACE_SECONDS for h in self._horizons]
        slices = int(max(reach) / step) + 1
        cdf = self._talk.cdf_on_grid(step, ages + slices + 3, going)
        wrap_cdf = self._wrap.cdf_on_grid(self.WRAP_STEP, 602)
        # talk ending within the m-th step after now, for each elapsed time
        bounds = [_shifted(cdf, 0.5 + m, ages) for m in range(slices + 1)]
        left = [1.0 - c for c in bounds[0]]
        columns = []
        for r in reach:
            column = [0.0] * ages
            for m in range(slices):
                wrapped = _at(wrap_cdf, self.WRAP_STEP, r - (m + 0.5) * step)
                if wrapped <= 0.0:
                    break
                column = [
                    c + (hi - lo) * wrapped
                    for c, lo, hi in zip(column, bounds[m], bounds[m + 1], strict=True)
                ]
            columns.append(
                [
                    min(1.0, max(0.0, c / s)) if s > 1e-6 else 1.0 - math.exp(-r / 180.0)
                    for c, s in zip(column, left, strict=True)
                ]
            )
        self._talk_rows = _with_variances(columns)


def _with_variances(columns: list[list[float]]) -> Rows:
    """Rows of (p_1..p_K, p_1(1-p_1)..p_K(1-p_K)) from K columns of chances."""
    variances = [[x * (1.0 - x) for x in column] for column in columns]
    return list(zip(*columns, *variances, strict=True))
