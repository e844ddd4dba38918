"""Staffing math: Erlang C and Erlang A (M/M/N+M), without I/O.

Units: times in seconds, traffic in Erlangs (arrival rate x AHT), shares as fractions (0.8 is
80%). Calls arrive at random (Poisson), handle times are exponential with mean ``aht``.

Erlang C (M/M/N, callers never hang up)
    Erlang B by the recursion B0 = 1, Bk = A*B(k-1) / (k + A*B(k-1)) (never overflows, works for
    thousands of Erlangs); probability of waiting Pw = N*B / (N - A*(1 - B));
    SL(T) = 1 - Pw*exp(-(N-A)*T/AHT); ASA = Pw*AHT/(N-A); occupancy A/N. With N <= A the queue
    never clears: SL 0, ASA infinite (shown as "n/a"), Pw 1, occupancy 1.

Erlang A (M/M/N+M, callers hang up after an exponential patience of mean ``patience``)
    The birth-death chain over n = callers in the system, birth rate lambda, death rate
    min(n,N)*mu + max(n-N,0)*theta, solved in log space and truncated where the remaining mass
    is below e^-40 of the largest state. From it:

    * probability of waiting: an arrival finds n >= N (arrivals see the time average, PASTA);
    * a caller who finds k = n-N callers waiting is served after V = sum of exponentials of
      rates N*mu + j*theta, j = 0..k (service completions, abandons of those ahead), unless
      the own patience runs out first. P(served | k) = N*mu / (N*mu + (k+1)*theta), and
      P(served within T | k) = P(served | k) * I_u(k+1, N*mu/theta + 1) with
      u = 1 - exp(-theta*T); I_u is the regularized incomplete beta, for an integer first
      argument the upper tail of a negative binomial, summed term by term in log space;
    * abandonment: share of all callers who hang up before an agent answers;
    * service level: share of ALL offered callers answered within T. Abandons count against
      it, whenever they hang up (app_queue's SL2 without the abandons-within-T credit). So with
      patience, SL is at most 1 - abandonment;
    * ASA: mean wait of answered callers (those answered at once count with 0);
    * occupancy: busy agents / N.

    As patience grows the results tend to Erlang C's.

Occupancy cap (planning)
    Erlang C alone will staff a large queue at 98% occupancy, which agents cannot sustain;
    planning caps the occupancy (85-90% is common). :func:`agents_needed` takes the cap
    ``max_occupancy`` (a share, 0 < cap <= 1, default 1: no cap) and recommends the smallest N
    that meets the service-level target AND has occupancy <= cap, i.e. max(N_SL, N_cap), and
    says which of the two decided. Under Erlang C occupancy is A/N, so N_cap = ceil(A / cap).
    Under Erlang A it is the carried load (abandoned calls take no agent time), at most A/N, so
    N_cap is at most ceil(A / cap); searched from N_SL up (occupancy only falls as N grows). A
    cap of 1 never binds in either model.

A 100% service level is never reachable with random arrivals (some callers always find every
agent busy), so asking for it raises :class:`UnreachableTargetError` at once.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Generic, Literal, NoReturn, TypeVar

__all__ = [
    "DEFAULT_MAX_OCCUPANCY",
    "DecidedBy",
    "ErlangAMetrics",
    "IntervalPlan",
    "StaffingError",
    "StaffingResult",
    "UnreachableTargetError",
    "agents_needed",
    "average_speed_of_answer",
    "erlang_a",
    "erlang_b",
    "evaluate",
    "occupancy",
    "occupancy_cap_agents",
    "parse_interval",
    "parse_max_occupancy",
    "parse_target",
    "plan_intervals",
    "probability_of_waiting",
    "scheduled_agents",
    "service_level",
    "traffic_erlangs",
]

# The planning cap on occupancy the command line uses unless told otherwise.
DEFAULT_MAX_OCCUPANCY = 0.85

# Which constraint set a recommendation: the service-level target or the occupancy cap.
DecidedBy = Literal["service_level", "occupancy"]

# Erlang A: states whose remaining mass is below exp(-_CUT) of the largest state are dropped.
_CUT = 40.0
# Erlang A: refuse chains longer than this (only reached with days of patience and N < A).
_MAX_STATES = 1_000_000


class StaffingError(ValueError):
    """Bad input for the staffing math (negative numbers, shrinkage >= 1, target > 100%...)."""


class UnreachableTargetError(StaffingError):
    """No number of agents up to the search's maximum meets the service-level target."""


# --- input checks -------------------------------------------------------------------------


def _number(name: str, value: float, *, positive: bool = False) -> float:
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        raise StaffingError(f"{name} must be a finite number, got {value}")
    if value < 0 or (positive and value == 0):
        kind = "greater than 0" if positive else "0 or more"
        raise StaffingError(f"{name} must be {kind}, got {value:g}")
    return value


def _agents(agents: int) -> int:
    if isinstance(agents, bool) or not isinstance(agents, int):
        raise StaffingError(f"agents must be a whole number, got {agents!r}")
    if agents < 0:
        raise StaffingError(f"agents must be 0 or more, got {agents}")
    return agents


def _load(traffic: float, aht: float) -> tuple[float, float]:
    traffic = _number("traffic", traffic)
    aht = _number("AHT", aht)
    if traffic > 0 and aht == 0:
        raise StaffingError("AHT must be greater than 0 when there are calls")
    return traffic, aht


def _target(target: float) -> float:
    target = float(target)
    if math.isnan(target) or target <= 0:
        raise StaffingError(f"the target must be a share above 0 (80% is 0.8), got {target:g}")
    if target > 1:
        raise StaffingError(
            f"the target must be at most 100% (a share, 80% is 0.8), got {target:g}"
        )
    return target


def _shrinkage(shrinkage: float) -> float:
    shrinkage = float(shrinkage)
    if math.isnan(shrinkage) or not 0 <= shrinkage < 1:
        raise StaffingError(
            f"shrinkage must be a share from 0 up to (not including) 1 (30% is 0.3), "
            f"got {shrinkage:g}"
        )
    return shrinkage


def _max_occupancy(cap: float) -> float:
    cap = float(cap)
    if math.isnan(cap) or not 0 < cap <= 1:
        raise StaffingError(
            f"the occupancy cap must be a share above 0 and at most 1 (85% is 0.85), got {cap:g}"
        )
    return cap


def _patience(patience: float | None) -> float | None:
    """None or infinite patience: Erlang C."""
    if patience is None:
        return None
    patience = float(patience)
    if math.isnan(patience) or patience <= 0:
        raise StaffingError(f"patience must be a number of seconds above 0, got {patience:g}")
    return None if math.isinf(patience) else patience


# --- parsing the operator's notation --------------------------------------------------------

_TARGET = re.compile(r"\s*(\d+(?:\.\d*)?)\s*%?\s*/\s*(\d+(?:\.\d*)?)\s*s?\s*", re.IGNORECASE)
_INTERVAL = re.compile(r"\s*(\d+(?:\.\d*)?)\s*([smh])\s*", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_target(text: str) -> tuple[float, float]:
    """Parse "80/20" (80% answered within 20 s) into (0.8, 20.0)."""
    match = _TARGET.fullmatch(text)
    if match is None:
        raise StaffingError(
            f"the target must look like 80/20 (percent answered / within seconds), got {text!r}"
        )
    percent, seconds = float(match.group(1)), float(match.group(2))
    if percent > 100:
        raise StaffingError(f"the target cannot be above 100%, got {percent:g}%")
    if percent == 0:
        raise StaffingError("the target must be above 0%")
    return percent / 100, seconds


_SHARE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(%?)\s*")


def parse_max_occupancy(text: str) -> float:
    """Parse an occupancy cap written "0.85" or "85%" into 0.85; refused outside (0, 1]."""
    match = _SHARE.fullmatch(text)
    if match is None:
        raise StaffingError(
            f"the occupancy cap must be a share like 0.85 or a percentage like 85%, got {text!r}"
        )
    number = Decimal(match.group(1))  # the pattern lets only plain decimals through
    percent = match.group(2) == "%"
    # Decimal first: 57.3% is float("0.573") exactly, not 57.3 / 100 in floating point.
    share = float(number / 100) if percent else float(number)
    if not 0 < share <= 1:
        shown = f"{number}%" if percent else f"{number}"
        hint = f"; did you mean {number}%?" if not percent and 1 < number <= 100 else ""
        raise StaffingError(
            f"the occupancy cap must be above 0 and at most 100% (0.85 or 85%), got {shown}{hint}"
        )
    return share


def parse_interval(text: str) -> float:
    """Parse "15m", "30m", "1h" or "3600s" into seconds."""
    match = _INTERVAL.fullmatch(text)
    if match is None:
        raise StaffingError(
            f"the interval must be a number with a unit s, m or h (15m, 30m, 1h, 3600s), "
            f"got {text!r}"
        )
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
    if seconds <= 0:
        raise StaffingError(f"the interval must be longer than 0, got {text!r}")
    return seconds


# --- Erlang C --------------------------------------------------------------------------------


def traffic_erlangs(calls: float, interval_seconds: float, aht: float) -> float:
    """Offered traffic A = arrival rate x AHT, in Erlangs."""
    calls = _number("calls", calls)
    interval_seconds = _number("interval", interval_seconds, positive=True)
    aht = _number("AHT", aht)
    if calls > 0 and aht == 0:
        raise StaffingError("AHT must be greater than 0 when there are calls")
    return calls * aht / interval_seconds


def erlang_b(agents: int, traffic: float) -> float:
    """Blocking probability of an M/M/N/N loss system (Erlang B), by the stable recursion."""
    agents = _agents(agents)
    traffic = _number("traffic", traffic)
    blocking = 1.0
    for k in range(1, agents + 1):
        blocking = traffic * blocking / (k + traffic * blocking)
    return blocking


def _pw_from_b(agents: int, traffic: float, blocking: float) -> float:
    if traffic == 0:
        return 0.0
    if agents <= traffic:
        return 1.0
    pw = agents * blocking / (agents - traffic * (1 - blocking))
    return min(1.0, max(0.0, pw))


def probability_of_waiting(agents: int, traffic: float) -> float:
    """Erlang C: the share of callers who find every agent busy (1 when N <= A)."""
    return _pw_from_b(agents, traffic, erlang_b(agents, traffic))


def service_level(agents: int, traffic: float, aht: float, answer_within: float) -> float:
    """Erlang C: share answered within ``answer_within`` seconds (0 when N <= A)."""
    traffic, aht = _load(traffic, aht)
    answer_within = _number("answer-within time", answer_within)
    return _c_service_level(agents, traffic, aht, answer_within, erlang_b(agents, traffic))


def _c_service_level(
    agents: int, traffic: float, aht: float, answer_within: float, blocking: float
) -> float:
    if traffic == 0:
        return 1.0
    if agents <= traffic:
        return 0.0
    pw = _pw_from_b(agents, traffic, blocking)
    return max(0.0, 1.0 - pw * math.exp(-(agents - traffic) * answer_within / aht))


def average_speed_of_answer(agents: int, traffic: float, aht: float) -> float:
    """Erlang C: mean wait over all callers, seconds (``math.inf`` when N <= A)."""
    traffic, aht = _load(traffic, aht)
    return _c_asa(agents, traffic, aht, erlang_b(agents, traffic))


def _c_asa(agents: int, traffic: float, aht: float, blocking: float) -> float:
    if traffic == 0:
        return 0.0
    if agents <= traffic:
        return math.inf
    return _pw_from_b(agents, traffic, blocking) * aht / (agents - traffic)


def occupancy(agents: int, traffic: float) -> float:
    """Share of the agents' time spent handling calls: A/N, at most 1 (0 without agents)."""
    agents = _agents(agents)
    traffic = _number("traffic", traffic)
    if agents == 0:
        return 0.0
    return min(1.0, traffic / agents)


def occupancy_cap_agents(traffic: float, max_occupancy: float) -> int:
    """The fewest agents whose occupancy A/N is at most ``max_occupancy``: ceil(A / cap).

    Decided by the same floating-point division that computes the occupancy, so the answer
    N always shows A/N <= cap and N - 1 never does (4.2 / 0.6 is 7.000000000000001, yet
    4.2 / 7 is 0.6: 7 agents, not 8).
    """
    traffic = _number("traffic", traffic)
    cap = _max_occupancy(max_occupancy)
    if traffic == 0:
        return 0
    agents = max(1, math.ceil(traffic / cap))
    while traffic / agents > cap:
        agents += 1
    while agents > 1 and traffic / (agents - 1) <= cap:
        agents -= 1
    return agents


def scheduled_agents(agents: int, shrinkage: float) -> int:
    """Agents to schedule so that ``agents`` are on the phones: ceil(N / (1 - shrinkage))."""
    agents = _agents(agents)
    shrinkage = _shrinkage(shrinkage)
    # Rounded first: 1 / (1 - 0.8) is 5.000000000000001 in floating point.
    return math.ceil(round(agents / (1 - shrinkage), 9))


# --- Erlang A --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErlangAMetrics:
    """What the M/M/N+M chain predicts (see the module's docstring for the definitions)."""

    probability_of_waiting: float
    abandonment: float
    service_level: float
    asa: float  # seconds, answered callers; math.inf when nobody is answered
    occupancy: float
    states: int  # length of the truncated chain


def _too_long(agents: int) -> NoReturn:
    raise StaffingError(
        f"Erlang A with this patience needs more than {_MAX_STATES:,} states at {agents} "
        "agents (the queue would hold that many callers); for patience this long compared "
        "with the handle time, use Erlang C (no patience)"
    )


def _chain(agents: int, arrival: float, theta: float) -> list[float]:
    """Stationary probabilities of the M/M/N+M chain with mu = 1 (time in AHTs)."""
    if (arrival - agents) / theta > _MAX_STATES:  # the queue's most likely length
        _too_long(agents)
    log_arrival = math.log(arrival)
    logs = [0.0]
    top = 0.0
    n = 0
    while True:
        if n >= agents:
            next_death = agents + (n + 1 - agents) * theta
            if arrival < next_death:
                # the ratios arrival/death only fall from here, so the rest of the chain
                # weighs at most q_n * r / (1 - r): stop once that is below e^-CUT of the top
                rest = log_arrival - math.log(next_death) - math.log1p(-arrival / next_death)
                if logs[-1] + rest < top - _CUT:
                    break
            if n + 1 >= _MAX_STATES:
                _too_long(agents)
        n += 1
        death = min(n, agents) + max(n - agents, 0) * theta
        logs.append(logs[-1] + log_arrival - math.log(death))
        top = max(top, logs[-1])
    weights = [math.exp(v - top) for v in logs]
    total = math.fsum(weights)
    return [w / total for w in weights]


def _add(total: float, carry: float, value: float) -> tuple[float, float]:
    """Compensated (Neumaier) summation step: the true sum is total + carry."""
    new = total + value
    if abs(total) >= abs(value):
        carry += (total - new) + value
    else:
        carry += (value - new) + total
    return new, carry


def erlang_a(
    agents: int, traffic: float, aht: float, patience: float, answer_within: float
) -> ErlangAMetrics:
    """Erlang A metrics for ``agents`` agents; ``patience`` is the callers' mean patience (s)."""
    agents = _agents(agents)
    traffic, aht = _load(traffic, aht)
    answer_within = _number("answer-within time", answer_within)
    patience = _number("patience", patience, positive=True)  # infinite: use Erlang C
    if traffic == 0:
        return ErlangAMetrics(0.0, 0.0, 1.0, 0.0, 0.0, 1)
    if agents == 0:  # everyone waits until they give up
        return ErlangAMetrics(1.0, 1.0, 0.0, math.inf, 0.0, 0)
    theta = aht / patience  # abandonment rate per waiting caller, in 1/AHT
    within = answer_within / aht
    probs = _chain(agents, traffic, theta)

    below = math.fsum(probs[:agents])
    waiting = probs[agents:]
    busy = math.fsum(min(n, agents) * p for n, p in enumerate(probs))

    # A caller finding k others waiting: served with P = N / (N + (k+1) theta); within T with
    # that times P(NegBin(N/theta + 1, u) >= k+1), u = 1 - exp(-theta T), summed in log space.
    u = -math.expm1(-theta * within)
    x = agents / theta
    # Both running sums are compensated: a long chain must not drift (log_term starts at
    # -(N + theta) T, which can be thousands, and climbs back by as much).
    log_term, log_carry = -(agents + theta) * within, 0.0  # the negative binomial's first term
    log_u = math.log(u) if u > 0 else -math.inf
    cdf, cdf_carry = 0.0, 0.0
    wait_sum = 0.0  # mean wait of a served caller who found k waiting: sum 1/(N + j theta)
    served = abandoned = served_wait = served_within = 0.0
    for k, p in enumerate(waiting):
        rate = agents + (k + 1) * theta
        p_served = agents / rate
        wait_sum += 1 / rate
        if u > 0:
            if k > 0:
                log_term, log_carry = _add(log_term, log_carry, log_u + math.log1p(x / k))
            cdf, cdf_carry = _add(cdf, cdf_carry, math.exp(log_term + log_carry))
            served_within += p * p_served * max(0.0, (1.0 - cdf) - cdf_carry)
        served += p * p_served
        abandoned += p * ((k + 1) * theta / rate)
        served_wait += p * p_served * wait_sum

    answered = below + served
    return ErlangAMetrics(
        probability_of_waiting=min(1.0, math.fsum(waiting)),
        abandonment=min(1.0, abandoned),
        service_level=min(1.0, below + served_within),
        asa=served_wait / answered * aht if answered > 0 else math.inf,
        occupancy=min(1.0, busy / agents),
        states=len(probs),
    )


# --- results and the search -------------------------------------------------------------------


@dataclass(frozen=True)
class StaffingResult:
    """One staffing level and what it gives.

    ``asa`` is ``math.inf`` when the queue never clears (Erlang C with N <= A);
    ``abandonment`` is None for Erlang C (it cannot predict it). A recommendation of
    :func:`agents_needed` also says which constraint decided it (``decided_by``), the agents
    the service-level target alone needs (``service_level_agents``) and the cap it applied
    (``max_occupancy``); these are None for a plain :func:`evaluate`.
    """

    agents: int
    scheduled_agents: int
    service_level: float
    asa: float
    occupancy: float
    probability_of_waiting: float
    abandonment: float | None
    traffic: float
    decided_by: DecidedBy | None = None
    service_level_agents: int | None = None
    max_occupancy: float | None = None

    def as_dict(self) -> dict[str, float | int | str | None]:
        """Plain values for JSON: an infinite ASA becomes None; a recommendation adds
        ``decided_by``, ``service_level_agents`` and ``max_occupancy``."""
        values: dict[str, float | int | str | None] = {
            "agents": self.agents,
            "scheduled_agents": self.scheduled_agents,
            "service_level": self.service_level,
            "asa": None if math.isinf(self.asa) else self.asa,
            "occupancy": self.occupancy,
            "probability_of_waiting": self.probability_of_waiting,
            "abandonment": self.abandonment,
            "traffic": self.traffic,
        }
        if self.decided_by is not None:
            values["decided_by"] = self.decided_by
            values["service_level_agents"] = self.service_level_agents
            values["max_occupancy"] = self.max_occupancy
        return values


def _c_result(
    agents: int, traffic: float, aht: float, answer_within: float, shrinkage: float, b: float
) -> StaffingResult:
    return StaffingResult(
        agents=agents,
        scheduled_agents=scheduled_agents(agents, shrinkage),
        service_level=_c_service_level(agents, traffic, aht, answer_within, b),
        asa=_c_asa(agents, traffic, aht, b),
        occupancy=occupancy(agents, traffic),
        probability_of_waiting=_pw_from_b(agents, traffic, b),
        abandonment=None,
        traffic=traffic,
    )


def _a_result(
    agents: int,
    traffic: float,
    aht: float,
    answer_within: float,
    shrinkage: float,
    patience: float,
) -> StaffingResult:
    m = erlang_a(agents, traffic, aht, patience, answer_within)
    return StaffingResult(
        agents=agents,
        scheduled_agents=scheduled_agents(agents, shrinkage),
        service_level=m.service_level,
        asa=m.asa,
        occupancy=m.occupancy,
        probability_of_waiting=m.probability_of_waiting,
        abandonment=m.abandonment,
        traffic=traffic,
    )


def evaluate(
    agents: int,
    traffic: float,
    aht: float,
    answer_within: float,
    *,
    shrinkage: float = 0.0,
    patience: float | None = None,
) -> StaffingResult:
    """What ``agents`` agents give: Erlang C, or Erlang A when ``patience`` (s) is given."""
    agents = _agents(agents)
    traffic, aht = _load(traffic, aht)
    answer_within = _number("answer-within time", answer_within)
    shrinkage = _shrinkage(shrinkage)
    patience = _patience(patience)
    if patience is None:
        b = erlang_b(agents, traffic)
        return _c_result(agents, traffic, aht, answer_within, shrinkage, b)
    return _a_result(agents, traffic, aht, answer_within, shrinkage, patience)


def _default_max_agents(traffic: float) -> int:
    # Far past any reachable target: there Pw < e^-200, so SL cannot move in floating point.
    return math.ceil(traffic + 20 * math.sqrt(traffic)) + 100


def _describe_target(target: float, answer_within: float) -> str:
    return f"{target * 100:g}% within {answer_within:g} s"


def agents_needed(
    traffic: float,
    aht: float,
    target: float,
    answer_within: float,
    *,
    shrinkage: float = 0.0,
    patience: float | None = None,
    max_agents: int | None = None,
    max_occupancy: float = 1.0,
) -> StaffingResult:
    """The smallest N whose service level within ``answer_within`` s reaches ``target`` (a
    share: 0.8 for 80%) and whose occupancy is at most ``max_occupancy`` (a share in (0, 1];
    1, the default, is no cap); Erlang C, or Erlang A when ``patience`` (s) is given.

    That is max(N_SL, N_cap), N_cap = ceil(A / cap) under Erlang C; the result's
    ``decided_by`` says which one set it ("service_level" when the cap did not raise N,
    "occupancy" when it did), and ``service_level_agents`` is N_SL. Under Erlang A the cap
    applies to its occupancy, the carried load (abandoned calls take no agent time).

    Raises :class:`UnreachableTargetError` for a 100% target (never reachable) or when no N up
    to ``max_agents`` (by default far beyond any reachable target) meets the target, or
    (``max_agents`` given) the cap.
    """
    traffic, aht = _load(traffic, aht)
    target = _target(target)
    answer_within = _number("answer-within time", answer_within)
    shrinkage = _shrinkage(shrinkage)
    patience = _patience(patience)
    cap = _max_occupancy(max_occupancy)
    limit = _default_max_agents(traffic) if max_agents is None else _agents(max_agents)
    by_service_level = _service_level_agents(traffic, aht, target, answer_within, patience, limit)
    agents = _capped_agents(traffic, aht, answer_within, patience, cap, by_service_level)
    if max_agents is not None and agents > limit:
        raise UnreachableTargetError(
            f"an occupancy of at most {cap * 100:g}% needs {agents} agents "
            f"for {traffic:.2f} Erlangs, more than the {limit} allowed"
        )
    result = evaluate(agents, traffic, aht, answer_within, shrinkage=shrinkage, patience=patience)
    return replace(
        result,
        decided_by="occupancy" if agents > by_service_level else "service_level",
        service_level_agents=by_service_level,
        max_occupancy=cap,
    )


def _capped_agents(
    traffic: float,
    aht: float,
    answer_within: float,
    patience: float | None,
    cap: float,
    floor: int,
) -> int:
    """The fewest agents, at least ``floor`` (the service level's answer), whose occupancy is
    at most ``cap`` (inputs checked): max(floor, ceil(A / cap)) under Erlang C. Under Erlang A,
    where occupancy is the carried load and at most A/N, searched between the two; starting
    from ``floor`` keeps the search off short staffing, where long patience makes the chain
    too long to solve."""
    upper = occupancy_cap_agents(traffic, cap)
    if patience is None or upper <= floor:
        return max(floor, upper)
    patient = patience

    def meets(n: int) -> bool:
        return erlang_a(n, traffic, aht, patient, answer_within).occupancy <= cap

    if meets(floor):
        return floor
    found = _smallest(meets, upper, floor, upper)
    return upper if found is None else found


def _service_level_agents(
    traffic: float,
    aht: float,
    target: float,
    answer_within: float,
    patience: float | None,
    limit: int,
) -> int:
    """The smallest N up to ``limit`` meeting the service-level target (inputs checked)."""
    wanted = _describe_target(target, answer_within)
    if traffic == 0:
        return 0
    if target >= 1:
        raise UnreachableTargetError(
            f"{wanted} cannot be reached with any number of agents: calls arrive at random, "
            "so some callers always find every agent busy; aim below 100%"
        )

    first_c = _erlang_c_needed(traffic, aht, target, answer_within, limit)
    if patience is None:
        if first_c is not None:
            return first_c
        best = evaluate(limit, traffic, aht, answer_within)
    else:
        patient = patience

        def meets(n: int) -> bool:
            return erlang_a(n, traffic, aht, patient, answer_within).service_level >= target

        # Answered callers are at most N/A of all, so fewer than target*A agents always fail.
        failing = max(0, min(limit, math.ceil(target * traffic) - 1))
        # Start next to Erlang C's answer: there the chain is short, and the probes walk away
        # from it in growing steps, so long queues (N far below A) are rarely visited.
        found = _smallest(meets, first_c if first_c is not None else limit, failing, limit)
        if found is not None:
            return found
        best = evaluate(limit, traffic, aht, answer_within, patience=patient)
    raise UnreachableTargetError(
        f"{wanted} cannot be reached with up to {limit} agents "
        f"({limit} give {best.service_level * 100:.1f}%)"
    )


def _erlang_c_needed(
    traffic: float, aht: float, target: float, answer_within: float, limit: int
) -> int | None:
    """The smallest N up to ``limit`` meeting the target under Erlang C (B built up in step)."""
    blocking = 1.0
    for n in range(1, limit + 1):
        blocking = traffic * blocking / (n + traffic * blocking)
        if n > traffic and _c_service_level(n, traffic, aht, answer_within, blocking) >= target:
            return n
    return None


def _smallest(meets: Callable[[int], bool], hint: int, failing: int, limit: int) -> int | None:
    """The smallest n in (failing, limit] with ``meets(n)``, for a ``meets`` that never turns
    false as n grows; ``failing`` is known to fail. Gallops from ``hint``, then bisects."""
    if failing >= limit:
        return None
    probe = min(limit, max(failing + 1, hint))
    step = 1
    passing: int | None = None
    if meets(probe):
        passing = probe
        while passing - step > failing:
            probe = passing - step
            if not meets(probe):
                failing = probe
                break
            passing, step = probe, step * 2
    else:
        failing = probe
        while failing < limit:
            probe = min(limit, failing + step)
            if meets(probe):
                passing = probe
                break
            failing, step = probe, step * 2
    if passing is None:
        return None
    while passing - failing > 1:
        middle = (failing + passing) // 2
        if meets(middle):
            passing = middle
        else:
            failing = middle
    return passing


# --- a plan per interval ----------------------------------------------------------------------

StartT = TypeVar("StartT")


@dataclass(frozen=True)
class IntervalPlan(Generic[StartT]):
    """The agents needed in one interval of a day (or of a measured history)."""

    start: StartT
    calls: float
    aht: float | None
    result: StaffingResult


def plan_intervals(
    rows: Iterable[tuple[StartT, float, float | None]],
    *,
    interval_seconds: float,
    target: float,
    answer_within: float,
    shrinkage: float = 0.0,
    patience: float | None = None,
    max_occupancy: float = 1.0,
) -> list[IntervalPlan[StartT]]:
    """Agents needed per interval from (interval start, calls, AHT in s) rows, in their order.

    An interval without calls needs 0 agents (its AHT may be None); one with calls needs an AHT
    above 0. ``target`` is a share (0.8 for 80%) answered within ``answer_within`` s;
    ``max_occupancy`` caps the occupancy in every interval as in :func:`agents_needed` (1: no
    cap).
    """
    interval_seconds = _number("interval", interval_seconds, positive=True)
    _target(target)
    _number("answer-within time", answer_within)
    _shrinkage(shrinkage)
    _patience(patience)
    _max_occupancy(max_occupancy)
    plans: list[IntervalPlan[StartT]] = []
    for start, calls, aht in rows:
        calls = _number(f"calls (interval {start})", calls)
        if calls == 0:
            traffic, handle = 0.0, 0.0
        else:
            if aht is None or not aht > 0:
                raise StaffingError(f"interval {start}: {calls:g} calls need an AHT above 0")
            handle = _number(f"AHT (interval {start})", aht, positive=True)
            traffic = calls * handle / interval_seconds
        try:
            result = agents_needed(
                traffic,
                handle,
                target,
                answer_within,
                shrinkage=shrinkage,
                patience=patience,
                max_occupancy=max_occupancy,
            )
        except UnreachableTargetError as exc:
            raise UnreachableTargetError(f"interval {start}: {exc}") from None
        plans.append(IntervalPlan(start=start, calls=calls, aht=aht, result=result))
    return plans
