"""Staffing math: Erlang C against the published worked example and exact formulas, Erlang A
against an independent solution of the same birth-death chain (plain Gaussian elimination,
a recursion over the waiting caller's own chain, uniformization) and a seeded simulation, the
occupancy cap against hand-computed cases, and the `staffing` command through Typer's runner."""

from __future__ import annotations

import heapq
import itertools
import json
import math
import random
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from callcenter.reports.erlang import (
    DEFAULT_MAX_OCCUPANCY,
    StaffingError,
    UnreachableTargetError,
    agents_needed,
    average_speed_of_answer,
    erlang_a,
    erlang_b,
    evaluate,
    occupancy,
    occupancy_cap_agents,
    parse_interval,
    parse_max_occupancy,
    parse_target,
    plan_intervals,
    probability_of_waiting,
    scheduled_agents,
    service_level,
    traffic_erlangs,
)
from switchboard.cli.staffing import staffing

# --- Erlang C: the worked example of domain.md ------------------------------------------------


def test_worked_example_traffic() -> None:
    assert traffic_erlangs(100, 30 * 60, 180) == pytest.approx(10.0)


def test_worked_example_fourteen_agents() -> None:
    result = evaluate(14, 10.0, 180, 20)
    assert round(result.service_level * 100, 1) == 88.8
    assert round(result.asa, 1) == 7.8
    assert round(result.occupancy * 100, 1) == 71.4
    assert result.abandonment is None


def test_worked_example_thirteen_agents() -> None:
    assert round(service_level(13, 10.0, 180, 20) * 100, 1) == 79.6


def test_worked_example_recommendation() -> None:
    result = agents_needed(10.0, 180, 0.8, 20)
    assert result.agents == 14
    assert result.scheduled_agents == 14
    with_shrinkage = agents_needed(10.0, 180, 0.8, 20, shrinkage=0.3)
    assert with_shrinkage.agents == 14
    assert with_shrinkage.scheduled_agents == 20  # ceil(14 / 0.7)


# --- Erlang C against exact formulas ----------------------------------------------------------


def exact_erlang_b(n: int, a: Fraction) -> Fraction:
    terms = [a**k / math.factorial(k) for k in range(n + 1)]
    return terms[-1] / sum(terms)


def exact_erlang_c(n: int, a: Fraction) -> Fraction:
    top = a**n / math.factorial(n) * n / (n - a)
    return top / (sum(a**k / math.factorial(k) for k in range(n)) + top)


@pytest.mark.parametrize(
    ("n", "a"), [(1, Fraction(1, 2)), (5, Fraction(7, 2)), (14, Fraction(10)), (30, Fraction(25))]
)
def test_erlang_b_and_c_match_the_closed_forms(n: int, a: Fraction) -> None:
    assert erlang_b(n, float(a)) == pytest.approx(float(exact_erlang_b(n, a)), rel=1e-12)
    pw = float(exact_erlang_c(n, a))
    assert probability_of_waiting(n, float(a)) == pytest.approx(pw, rel=1e-12)
    assert average_speed_of_answer(n, float(a), 100) == pytest.approx(
        pw * 100 / (n - float(a)), rel=1e-12
    )


def test_unstable_queue_has_no_service_level_and_no_asa() -> None:
    for n in (0, 5, 10):
        result = evaluate(n, 10.0, 180, 20)
        assert result.service_level == 0
        assert math.isinf(result.asa)
        assert result.as_dict()["asa"] is None
        assert result.probability_of_waiting == 1
    assert occupancy(8, 10.0) == 1.0


def test_no_traffic_needs_no_agents() -> None:
    result = agents_needed(0.0, 180, 0.8, 20)
    assert result.agents == 0
    assert result.service_level == 1
    assert result.asa == 0
    assert evaluate(3, 0.0, 180, 20).probability_of_waiting == 0
    assert agents_needed(traffic_erlangs(0, 1800, 0), 0, 0.8, 20).agents == 0
    assert agents_needed(0.0, 180, 0.8, 20, patience=60).agents == 0


@pytest.mark.parametrize("traffic", [500.0, 2000.0, 5000.0])
def test_large_traffic_does_not_overflow(traffic: float) -> None:
    result = agents_needed(traffic, 180, 0.8, 20)
    assert traffic < result.agents < traffic + 3 * math.sqrt(traffic)
    assert 0.8 <= result.service_level < 1
    assert math.isfinite(result.asa)
    assert service_level(result.agents - 1, traffic, 180, 20) < 0.8
    assert 0 < erlang_b(result.agents, traffic) < 1


def test_shrinkage_rounding_is_not_fooled_by_floating_point() -> None:
    assert scheduled_agents(1, 0.8) == 5  # 1 / 0.2 is 5.000000000000001 in floating point
    assert scheduled_agents(14, 0.3) == 20
    assert scheduled_agents(13, 0.3) == 19
    assert scheduled_agents(0, 0.5) == 0


@pytest.mark.parametrize(
    "call",
    [
        lambda: traffic_erlangs(-1, 1800, 180),
        lambda: traffic_erlangs(10, 0, 180),
        lambda: traffic_erlangs(10, 1800, -5),
        lambda: traffic_erlangs(10, 1800, 0),
        lambda: traffic_erlangs(math.nan, 1800, 180),
        lambda: evaluate(-1, 10.0, 180, 20),
        lambda: evaluate(14, -10.0, 180, 20),
        lambda: evaluate(14, 10.0, 180, -20),
        lambda: evaluate(14, 10.0, 180, 20, shrinkage=1.0),
        lambda: evaluate(14, 10.0, 180, 20, shrinkage=-0.1),
        lambda: evaluate(14, 10.0, 180, 20, patience=0),
        lambda: evaluate(14, 10.0, 180, 20, patience=-3),
        lambda: agents_needed(10.0, 180, 1.2, 20),
        lambda: agents_needed(10.0, 180, 80, 20),
        lambda: agents_needed(10.0, 180, 0, 20),
        lambda: agents_needed(10.0, 180, 0.8, 20, shrinkage=1.5),
        lambda: erlang_a(14, 10.0, 180, math.inf, 20),
        lambda: scheduled_agents(3, 1.0),
    ],
)
def test_bad_input_is_a_value_error(call: object) -> None:
    assert callable(call)
    with pytest.raises(ValueError, match=r"\w"):
        call()


def test_error_messages_say_what_is_wrong() -> None:
    with pytest.raises(StaffingError, match="shrinkage"):
        evaluate(14, 10.0, 180, 20, shrinkage=1.0)
    with pytest.raises(StaffingError, match="100%"):
        agents_needed(10.0, 180, 1.5, 20)
    with pytest.raises(StaffingError, match="calls"):
        traffic_erlangs(-3, 1800, 180)


def test_parse_target_and_interval() -> None:
    assert parse_target("80/20") == (0.8, 20.0)
    assert parse_target(" 90% / 15s ") == (0.9, 15.0)
    assert parse_target("100/0") == (1.0, 0.0)
    for bad in ("80-20", "80", "/20", "120/20", "0/20", "80/-5", "abc"):
        with pytest.raises(StaffingError):
            parse_target(bad)
    assert parse_interval("15m") == 900
    assert parse_interval("30m") == 1800
    assert parse_interval("1h") == 3600
    assert parse_interval("3600s") == 3600
    assert parse_interval("1.5H") == 5400
    for bad in ("30", "0m", "m", "-5m", "1d", ""):
        with pytest.raises(StaffingError):
            parse_interval(bad)


def test_hundred_percent_is_unreachable_at_once() -> None:
    for patience in (None, 60.0):
        with pytest.raises(UnreachableTargetError, match="cannot be reached"):
            agents_needed(10.0, 180, 1.0, 0, patience=patience)
        with pytest.raises(UnreachableTargetError, match="cannot be reached"):
            agents_needed(10.0, 180, 1.0, 20, patience=patience)


def test_target_beyond_the_maximum_is_reported() -> None:
    with pytest.raises(UnreachableTargetError, match="up to 12 agents"):
        agents_needed(10.0, 180, 0.8, 20, max_agents=12)
    with pytest.raises(UnreachableTargetError, match="up to 11 agents"):
        agents_needed(10.0, 180, 0.8, 20, patience=300, max_agents=11)


def test_near_hundred_percent_within_zero_seconds_is_reachable() -> None:
    result = agents_needed(10.0, 180, 0.999, 0)
    assert result.probability_of_waiting <= 0.001
    assert probability_of_waiting(result.agents - 1, 10.0) > 0.001


# --- the occupancy cap ---------------------------------------------------------------------------


def test_occupancy_cap_worked_example() -> None:
    # A = 10. The service level decides 14 agents (88.8%; 13 give 79.6%), occupancy
    # 10/14 = 71.4%, within a cap of 85% (which alone asks ceil(10/0.85) = ceil(11.76) = 12).
    default = agents_needed(10.0, 180, 0.8, 20, max_occupancy=0.85)
    assert default.agents == 14
    assert default.decided_by == "service_level"
    assert default.service_level_agents == 14
    assert round(default.occupancy * 100, 1) == 71.4
    # A cap of 60%: 10/0.6 = 16.67, so 17 agents, occupancy 10/17 = 58.8% (16 give 62.5%).
    capped = agents_needed(10.0, 180, 0.8, 20, max_occupancy=0.6, shrinkage=0.3)
    assert capped.agents == 17
    assert capped.decided_by == "occupancy"
    assert capped.service_level_agents == 14
    assert capped.max_occupancy == 0.6
    assert capped.occupancy == pytest.approx(10 / 17)
    assert round(capped.occupancy * 100, 1) == 58.8
    assert capped.scheduled_agents == 25  # ceil(17 / 0.7) = ceil(24.3)
    assert capped.service_level > default.service_level  # more agents, better service


def test_occupancy_cap_large_traffic() -> None:
    # 5000 calls per 30 min at AHT 180 s: A = 5000 x 180 / 1800 = 500 Erlangs.
    traffic = traffic_erlangs(5000, 1800, 180)
    assert traffic == 500.0
    # The service level alone: 510 agents (509 give 78.4%, 510 give 81.9%), occupancy
    # 500/510 = 98.0% -- what the cap is for.
    assert service_level(509, traffic, 180, 20) < 0.8 <= service_level(510, traffic, 180, 20)
    uncapped = agents_needed(traffic, 180, 0.8, 20)
    assert uncapped.agents == 510
    assert round(uncapped.occupancy * 100, 1) == 98.0
    # A cap of 85%: 500/0.85 = 588.24, so 589 agents (500/589 = 84.89%; 500/588 = 85.03%).
    capped = agents_needed(traffic, 180, 0.8, 20, max_occupancy=0.85)
    assert capped.agents == 589
    assert capped.decided_by == "occupancy"
    assert capped.service_level_agents == 510
    assert round(capped.occupancy * 100, 1) == 84.9
    assert occupancy(588, traffic) > 0.85 >= occupancy(589, traffic)


@pytest.mark.parametrize("traffic", [0.05, 2.0, 10.0, 100.0, 500.0])
def test_a_cap_of_one_is_the_service_level_answer(traffic: float) -> None:
    for patience in (None, 300.0):
        plain = agents_needed(traffic, 180, 0.8, 20, patience=patience)
        capped = agents_needed(traffic, 180, 0.8, 20, patience=patience, max_occupancy=1.0)
        assert capped.agents == plain.agents == capped.service_level_agents
        assert capped.decided_by == plain.decided_by == "service_level"
        assert capped.max_occupancy == plain.max_occupancy == 1.0


def test_occupancy_cap_under_erlang_a() -> None:
    # Erlang A's occupancy is the carried load, 10 x (1 - abandoned) / N, at most A/N; with few
    # abandons it is next to A/N, so 10 Erlangs at most 60% still take 17 agents (16: 62.3%).
    service_only = agents_needed(10.0, 180, 0.8, 20, patience=300)
    capped = agents_needed(10.0, 180, 0.8, 20, patience=300, max_occupancy=0.6)
    assert service_only.agents == 13 < 17  # Erlang C: 14 (abandons thin the queue)
    assert capped.agents == 17
    assert capped.decided_by == "occupancy"
    assert capped.service_level_agents == service_only.agents
    assert capped.abandonment is not None
    assert capped.occupancy == pytest.approx(10 * (1 - capped.abandonment) / 17, rel=1e-9)
    assert capped.occupancy <= 0.6 < evaluate(16, 10.0, 180, 20, patience=300).occupancy
    # 500 Erlangs, patience 300 s: the service level alone takes 484 agents, fewer than the
    # 500 Erlangs (abandons thin the queue) and than Erlang C's 510; the cap at 85% asks 589
    # as under Erlang C (the carried load is 500 x (1 - 4e-7) there).
    heavy = agents_needed(500.0, 180, 0.8, 20, patience=300, max_occupancy=0.85)
    assert heavy.agents == 589
    assert heavy.decided_by == "occupancy"
    assert heavy.service_level_agents == 484
    assert heavy.occupancy <= 0.85 < evaluate(588, 500.0, 180, 20, patience=300).occupancy
    # With no cap (1) the Erlang A answer stays below A: occupancy is at most 1 at any N.
    assert agents_needed(500.0, 180, 0.8, 20, patience=300, max_occupancy=1).agents == 484


def test_occupancy_cap_agents_is_exact() -> None:
    assert occupancy_cap_agents(10.0, 0.5) == 20  # exactly 50%, not 21
    assert occupancy_cap_agents(10.0, 0.6) == 17
    assert occupancy_cap_agents(500.0, 0.85) == 589
    assert occupancy_cap_agents(10.0, 1.0) == 10
    assert occupancy_cap_agents(0.05, 0.85) == 1
    assert occupancy_cap_agents(0.0, 0.85) == 0
    # 42 calls per 30 min at 180 s: A = 4.2; 4.2 / 0.6 is 7.000000000000001 in floating point,
    # yet 7 agents carry exactly 60% (4.2 / 7 == 0.6): 7, not 8.
    traffic = traffic_erlangs(42, 1800, 180)
    assert traffic / 0.6 > 7
    assert occupancy_cap_agents(traffic, 0.6) == 7
    assert occupancy_cap_agents(traffic, parse_max_occupancy("60%")) == 7


@settings(max_examples=60, deadline=None)
@given(
    st.floats(min_value=0.0, max_value=300.0, allow_nan=False),
    st.floats(min_value=0.05, max_value=0.99),
    st.floats(min_value=0.0, max_value=60.0),
    st.floats(min_value=0.05, max_value=1.0),
    st.one_of(st.none(), st.floats(min_value=5.0, max_value=3600.0)),
)
def test_capped_recommendation_is_the_smallest_meeting_both(
    traffic: float, target: float, within: float, cap: float, patience: float | None
) -> None:
    result = agents_needed(traffic, 180, target, within, max_occupancy=cap, patience=patience)
    plain = agents_needed(traffic, 180, target, within, patience=patience)
    assert result.service_level_agents == plain.agents
    assert result.service_level >= target
    assert result.occupancy <= cap + 1e-12  # 14 / 56 is 0.25000000000000006 in floats
    assert result.agents <= max(plain.agents, occupancy_cap_agents(traffic, cap))
    if patience is None:
        assert result.agents == max(plain.agents, occupancy_cap_agents(traffic, cap))
    if result.decided_by == "occupancy":
        assert result.agents > plain.agents
        fewer = evaluate(result.agents - 1, traffic, 180, within, patience=patience)
        assert fewer.occupancy > cap
    else:
        assert result.agents == plain.agents


@pytest.mark.parametrize("cap", [0.0, -0.1, 1.5, 85.0, math.nan])
def test_a_cap_outside_zero_to_one_is_refused(cap: float) -> None:
    with pytest.raises(StaffingError, match="occupancy cap"):
        agents_needed(10.0, 180, 0.8, 20, max_occupancy=cap)
    with pytest.raises(StaffingError, match="occupancy cap"):
        occupancy_cap_agents(10.0, cap)
    with pytest.raises(StaffingError, match="occupancy cap"):
        plan_intervals([], interval_seconds=1800, target=0.8, answer_within=20, max_occupancy=cap)


def test_a_cap_beyond_the_maximum_is_reported() -> None:
    with pytest.raises(UnreachableTargetError, match="at most 60% needs 17 agents"):
        agents_needed(10.0, 180, 0.8, 20, max_occupancy=0.6, max_agents=16)
    assert agents_needed(10.0, 180, 0.8, 20, max_occupancy=0.6, max_agents=17).agents == 17


def test_parse_max_occupancy() -> None:
    assert DEFAULT_MAX_OCCUPANCY == 0.85
    assert parse_max_occupancy("0.85") == 0.85
    assert parse_max_occupancy("85%") == 0.85
    assert parse_max_occupancy(" 60 % ") == 0.6
    assert parse_max_occupancy("57.3%") == 0.573  # not 57.3 / 100 in floating point
    assert parse_max_occupancy(".9") == 0.9
    assert parse_max_occupancy("1") == 1.0
    assert parse_max_occupancy("100%") == 1.0
    for bad in ("0", "0%", "0.0", "1.5", "150%", "100.1%", "85", "-0.5", "abc", "", "85%%"):
        with pytest.raises(StaffingError, match="occupancy cap"):
            parse_max_occupancy(bad)
    with pytest.raises(StaffingError, match=r"did you mean 85%\?"):
        parse_max_occupancy("85")


def test_only_a_recommendation_says_what_decided_it() -> None:
    assert "decided_by" not in evaluate(14, 10.0, 180, 20).as_dict()
    values = agents_needed(10.0, 180, 0.8, 20, max_occupancy=0.6).as_dict()
    assert values["decided_by"] == "occupancy"
    assert values["service_level_agents"] == 14
    assert values["max_occupancy"] == 0.6


# --- Erlang A: an independent solution of the chain ---------------------------------------------


def solve(matrix: list[list[float]], rhs: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting."""
    size = len(rhs)
    rows = [[*row, value] for row, value in zip(matrix, rhs, strict=True)]
    for col in range(size):
        pivot = max(range(col, size), key=lambda r: abs(rows[r][col]))
        rows[col], rows[pivot] = rows[pivot], rows[col]
        for r in range(col + 1, size):
            factor = rows[r][col] / rows[col][col]
            if factor:
                for c in range(col, size + 1):
                    rows[r][c] -= factor * rows[col][c]
    solution = [0.0] * size
    for r in range(size - 1, -1, -1):
        known = sum(rows[r][c] * solution[c] for c in range(r + 1, size))
        solution[r] = (rows[r][size] - known) / rows[r][r]
    return solution


def balance_probabilities(n: int, lam: float, mu: float, theta: float, states: int) -> list[float]:
    """pi Q = 0 on states 0..states-1 (no arrivals at the last), last equation sum(pi) = 1."""
    size = states
    death = [min(i, n) * mu + max(i - n, 0) * theta for i in range(size)]
    birth = [lam if i < size - 1 else 0.0 for i in range(size)]
    matrix = [[0.0] * size for _ in range(size)]  # row j: flow balance of state j
    for j in range(size):
        matrix[j][j] = -(birth[j] + death[j])
        if j > 0:
            matrix[j][j - 1] = birth[j - 1]
        if j < size - 1:
            matrix[j][j + 1] = death[j + 1]
    matrix[-1] = [1.0] * size
    rhs = [0.0] * size
    rhs[-1] = 1.0
    return solve(matrix, rhs)


def waiting_caller_served(n: int, mu: float, theta: float, ahead: int) -> tuple[float, float]:
    """P(served) and E[wait; served] for a caller with `ahead` callers in front, by first-step
    recursion over the caller's own chain (j ahead -> j-1 at N*mu + j*theta, own abandon theta)."""
    served = wait = 0.0
    for j in range(ahead + 1):
        progress = n * mu + j * theta
        rate = progress + theta
        if j == 0:
            served = progress / rate
            wait = served / rate
        else:
            served, wait = progress / rate * served, progress / rate * (served / rate + wait)
    return served, wait


def served_within(n: int, mu: float, theta: float, waiting: list[float], limit: float) -> float:
    """Mass answered within `limit` among callers who found k = 0, 1, ... waiting (weights
    `waiting`), by uniformization of the waiting caller's chain."""
    size = len(waiting)
    uniform = n * mu + size * theta + theta
    vector = list(waiting)
    done = 0.0
    weight = math.exp(-uniform * limit)
    total_weight = weight
    step = 0
    # P(served by t) = sum over jumps of Poisson weights x mass absorbed by then.
    answered_by_jumps = 0.0
    while True:
        done += weight * answered_by_jumps
        if total_weight > 1 - 1e-15 and step > uniform * limit:
            break
        # one uniformized jump
        answered_by_jumps += vector[0] * (n * mu) / uniform
        moved = [0.0] * size
        for j in range(size):
            stay = 1 - (n * mu + j * theta + theta) / uniform
            moved[j] += vector[j] * stay
            if j > 0:
                moved[j - 1] += vector[j] * (n * mu + j * theta) / uniform
        vector = moved
        step += 1
        weight *= uniform * limit / step
        total_weight += weight
    return done


def independent_erlang_a(
    n: int, traffic: float, aht: float, patience: float, limit: float, states: int
) -> dict[str, float]:
    lam, mu, theta = traffic / aht, 1 / aht, 1 / patience
    pi = balance_probabilities(n, lam, mu, theta, states)
    queue = sum(max(i - n, 0) * p for i, p in enumerate(pi))
    busy = sum(min(i, n) * p for i, p in enumerate(pi))
    waiting = pi[n:]
    answered = sum(pi[:n])
    answered_wait = 0.0
    for k, p in enumerate(waiting):
        served, wait = waiting_caller_served(n, mu, theta, k)
        answered += p * served
        answered_wait += p * wait
    return {
        "waiting": sum(waiting),
        "abandonment": theta * queue / lam,  # abandon rate / arrival rate
        "occupancy": busy / n,
        "asa": answered_wait / answered,
        "service_level": sum(pi[:n]) + served_within(n, mu, theta, waiting, limit),
    }


ERLANG_A_POINTS = [
    # agents, Erlangs, AHT, patience, T
    (14, 10.0, 180.0, 300.0, 20.0),
    (13, 10.0, 180.0, 60.0, 20.0),
    (8, 10.0, 180.0, 120.0, 20.0),  # overloaded: only abandons keep the queue finite
    (3, 2.5, 120.0, 30.0, 10.0),
    (20, 18.0, 240.0, 600.0, 30.0),
    (1, 0.7, 180.0, 60.0, 0.0),
    (5, 6.0, 300.0, 20.0, 60.0),
]


@pytest.mark.parametrize(("n", "traffic", "aht", "patience", "limit"), ERLANG_A_POINTS)
def test_erlang_a_matches_an_independent_solution(
    n: int, traffic: float, aht: float, patience: float, limit: float
) -> None:
    mine = erlang_a(n, traffic, aht, patience, limit)
    other = independent_erlang_a(n, traffic, aht, patience, limit, states=n + 90)
    assert mine.probability_of_waiting == pytest.approx(other["waiting"], rel=1e-9)
    assert mine.abandonment == pytest.approx(other["abandonment"], rel=1e-9)
    assert mine.occupancy == pytest.approx(other["occupancy"], rel=1e-9)
    assert mine.asa == pytest.approx(other["asa"], rel=1e-9)
    assert mine.service_level == pytest.approx(other["service_level"], rel=1e-9, abs=1e-12)
    # occupancy is the carried load: answered callers x AHT / N
    assert mine.occupancy == pytest.approx(traffic * (1 - mine.abandonment) / n, rel=1e-9)
    if limit == 0:
        assert mine.service_level == pytest.approx(1 - mine.probability_of_waiting)


def simulate(
    n: int, traffic: float, aht: float, patience: float, limit: float, calls: int, seed: int
) -> dict[str, float]:
    """First come, first served with abandonment: a caller takes the first agent to free up
    after everyone ahead, unless that is later than their patience."""
    rng = random.Random(seed)
    lam = traffic / aht
    free = [0.0] * n
    heapq.heapify(free)
    now = 0.0
    warmup = calls // 10
    waited = abandoned = within = answered = 0
    answered_wait = 0.0
    for i in range(calls + warmup):
        now += rng.expovariate(lam)
        service = rng.expovariate(1 / aht)
        lost = rng.expovariate(1 / patience)
        earliest = free[0] if free else math.inf
        start = max(now, earliest)
        wait = start - now
        counted = i >= warmup
        if wait > lost:
            if counted:
                abandoned += 1
                waited += 1
            continue
        heapq.heapreplace(free, start + service)
        if counted:
            waited += wait > 0
            answered += 1
            answered_wait += wait
            within += wait <= limit
    return {
        "waiting": waited / calls,
        "abandonment": abandoned / calls,
        "service_level": within / calls,
        "asa": answered_wait / answered,
    }


@pytest.mark.parametrize(
    ("n", "traffic", "aht", "patience", "limit"),
    [(13, 10.0, 180.0, 60.0, 20.0), (8, 10.0, 180.0, 120.0, 20.0)],
)
def test_erlang_a_matches_a_seeded_simulation(
    n: int, traffic: float, aht: float, patience: float, limit: float
) -> None:
    mine = erlang_a(n, traffic, aht, patience, limit)
    seen = simulate(n, traffic, aht, patience, limit, calls=120_000, seed=20261122)
    assert mine.probability_of_waiting == pytest.approx(seen["waiting"], abs=0.015)
    assert mine.abandonment == pytest.approx(seen["abandonment"], abs=0.008)
    assert mine.service_level == pytest.approx(seen["service_level"], abs=0.015)
    assert mine.asa == pytest.approx(seen["asa"], rel=0.06)


@pytest.mark.parametrize(("n", "traffic"), [(14, 10.0), (13, 10.0), (12, 10.0), (110, 100.0)])
def test_erlang_a_tends_to_erlang_c(n: int, traffic: float) -> None:
    c = evaluate(n, traffic, 180, 20)
    a = evaluate(n, traffic, 180, 20, patience=1e8)
    assert a.abandonment is not None and a.abandonment < 1e-5
    assert a.service_level == pytest.approx(c.service_level, abs=1e-5)
    assert a.probability_of_waiting == pytest.approx(c.probability_of_waiting, abs=1e-5)
    assert a.asa == pytest.approx(c.asa, rel=1e-4)
    assert a.occupancy == pytest.approx(c.occupancy, rel=1e-5)
    assert agents_needed(traffic, 180, 0.8, 20, patience=1e8).agents == (
        agents_needed(traffic, 180, 0.8, 20).agents
    )


def test_infinite_patience_is_erlang_c() -> None:
    assert evaluate(14, 10.0, 180, 20, patience=math.inf) == evaluate(14, 10.0, 180, 20)


def test_abandonment_grows_as_patience_shrinks() -> None:
    shares = [erlang_a(13, 10.0, 180, p, 20).abandonment for p in (3600, 600, 300, 120, 60, 10)]
    assert all(b > a for a, b in itertools.pairwise(shares))
    assert shares[0] > 0


def test_erlang_a_recommendation_for_the_worked_example() -> None:
    result = agents_needed(10.0, 180, 0.8, 20, patience=300, shrinkage=0.3)
    assert result.service_level >= 0.8
    assert evaluate(result.agents - 1, 10.0, 180, 20, patience=300).service_level < 0.8
    assert result.abandonment is not None and 0 < result.abandonment < 0.1
    assert result.scheduled_agents == math.ceil(round(result.agents / 0.7, 9))


def test_erlang_a_without_agents_loses_everyone() -> None:
    nobody = erlang_a(0, 5.0, 180, 60, 20)
    assert nobody.abandonment == pytest.approx(1.0)
    assert nobody.service_level == 0
    assert math.isinf(nobody.asa)


def test_erlang_a_refuses_a_chain_too_long_to_solve() -> None:
    # 400 Erlangs on 1 agent, patience 100,000 handle times: a queue of ~4e7 callers
    with pytest.raises(StaffingError, match="Erlang C"):
        erlang_a(1, 400.0, 1.0, 1e5, 20)


def test_erlang_a_handles_heavy_traffic() -> None:
    result = agents_needed(3000.0, 180, 0.8, 20, patience=300)
    assert result.service_level >= 0.8
    assert evaluate(result.agents - 1, 3000.0, 180, 20, patience=300).service_level < 0.8


# --- properties --------------------------------------------------------------------------------

traffic_st = st.floats(min_value=0.0, max_value=300.0, allow_nan=False)
aht_st = st.floats(min_value=30.0, max_value=1800.0)
within_st = st.floats(min_value=0.0, max_value=120.0)
patience_st = st.one_of(st.none(), st.floats(min_value=5.0, max_value=3600.0))


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 400), traffic_st, aht_st, within_st, patience_st)
def test_service_level_grows_with_agents(
    n: int, traffic: float, aht: float, within: float, patience: float | None
) -> None:
    fewer = evaluate(n, traffic, aht, within, patience=patience)
    more = evaluate(n + 1, traffic, aht, within, patience=patience)
    assert more.service_level >= fewer.service_level - 1e-9  # accurate to ~1e-11
    assert 0 <= fewer.service_level <= 1


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 400), traffic_st, aht_st, within_st, patience_st)
def test_probabilities_stay_in_range(
    n: int, traffic: float, aht: float, within: float, patience: float | None
) -> None:
    result = evaluate(n, traffic, aht, within, patience=patience)
    assert 0 <= result.probability_of_waiting <= 1
    assert 0 <= result.occupancy <= 1
    assert result.asa >= 0
    if result.abandonment is not None:
        assert 0 <= result.abandonment <= 1
        assert result.service_level <= 1 - result.abandonment + 1e-9


@settings(max_examples=60, deadline=None)
@given(
    traffic_st,
    aht_st,
    st.floats(min_value=0.05, max_value=0.99),
    within_st,
    st.floats(min_value=0.0, max_value=0.9),
    patience_st,
)
def test_recommendation_is_the_smallest_that_meets_the_target(
    traffic: float,
    aht: float,
    target: float,
    within: float,
    shrinkage: float,
    patience: float | None,
) -> None:
    result = agents_needed(traffic, aht, target, within, shrinkage=shrinkage, patience=patience)
    assert result.service_level >= target
    assert result.scheduled_agents >= result.agents
    if result.agents > 0:
        fewer = evaluate(result.agents - 1, traffic, aht, within, patience=patience)
        assert fewer.service_level < target


@settings(max_examples=40, deadline=None)
@given(st.floats(min_value=0.01, max_value=300.0), aht_st, within_st, patience_st)
def test_unreachable_targets_are_reported(
    traffic: float, aht: float, within: float, patience: float | None
) -> None:
    with pytest.raises(UnreachableTargetError, match="cannot be reached"):
        agents_needed(traffic, aht, 1.0, within, patience=patience)
    below = max(0, math.ceil(traffic * 0.5) - 1)
    with pytest.raises(UnreachableTargetError, match=f"up to {below} agents"):
        agents_needed(traffic, aht, 0.5, within, patience=patience, max_agents=below)


# --- a plan per interval ---------------------------------------------------------------------


def test_plan_per_interval() -> None:
    day = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    rows = [
        (day, 100.0, 180.0),
        (day + timedelta(minutes=30), 0.0, None),
        (day + timedelta(minutes=60), 200.0, 180.0),
        (day + timedelta(minutes=90), 50.0, 360.0),
    ]
    plans = plan_intervals(rows, interval_seconds=1800, target=0.8, answer_within=20, shrinkage=0.3)
    assert [p.start for p in plans] == [r[0] for r in rows]
    assert [p.result.agents for p in plans] == [
        14,
        0,
        agents_needed(20.0, 180, 0.8, 20).agents,
        agents_needed(10.0, 360, 0.8, 20).agents,
    ]
    assert plans[0].result.scheduled_agents == 20
    assert plans[1].result.scheduled_agents == 0
    with_patience = plan_intervals(
        rows[:1], interval_seconds=1800, target=0.8, answer_within=20, patience=300
    )
    assert with_patience[0].result.abandonment is not None


def test_plan_rejects_calls_without_handle_time() -> None:
    day = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    with pytest.raises(StaffingError, match="AHT"):
        plan_intervals([(day, 10.0, None)], interval_seconds=1800, target=0.8, answer_within=20)
    with pytest.raises(StaffingError, match="target"):
        plan_intervals([], interval_seconds=1800, target=1.5, answer_within=20)


# --- the command -----------------------------------------------------------------------------


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command("staffing")(staffing)

    @app.command("other")
    def other() -> None:  # a second command keeps `staffing` a subcommand
        """Nothing."""

    return app


BASE = ["staffing", "--calls", "100", "--interval", "30m", "--aht", "180", "--target", "80/20"]


def test_cli_table() -> None:
    result = CliRunner().invoke(cli(), [*BASE, "--shrinkage", "0.3"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Erlang C" in out
    assert "10.00 Erlangs" in out
    for agents in range(12, 18):
        assert f" {agents} " in out
    assert "88.8%" in out and "7.8 s" in out and "71.4%" in out and "79.6%" in out
    assert "recommended: 14 agents on the phones, 20 scheduled" in out
    # the default cap of 85% asks ceil(10 / 0.85) = 12 agents: the service level decides
    assert "occupancy at most 85%" in out
    assert "decided by the service level: 88.8% within 20 s" in out
    assert "occupancy 71.4% (10.00 Erlangs / 14 agents), within the 85% cap" in out


def test_cli_json() -> None:
    result = CliRunner().invoke(cli(), [*BASE, "--shrinkage", "0.3", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["model"] == "erlang_c"
    assert data["traffic_erlangs"] == pytest.approx(10.0)
    assert data["recommended"]["agents"] == 14
    assert data["recommended"]["scheduled_agents"] == 20
    assert data["recommended"]["service_level"] == pytest.approx(0.888, abs=5e-4)
    assert data["recommended"]["abandonment"] is None
    assert [row["agents"] for row in data["rows"]] == list(range(12, 18))
    assert data["target"] == {"service_level": 0.8, "answer_within_seconds": 20.0}
    assert data["max_occupancy"] == 0.85
    assert data["decided_by"] == data["recommended"]["decided_by"] == "service_level"
    assert data["recommended"]["service_level_agents"] == 14
    assert data["recommended"]["occupancy"] == pytest.approx(10 / 14)
    assert "decided_by" not in data["rows"][0]


def test_cli_occupancy_cap_decides() -> None:
    # the worked example capped at 60%: ceil(10 / 0.6) = 17 agents at 10/17 = 58.8%
    result = CliRunner().invoke(cli(), [*BASE, "--max-occupancy", "0.6", "--shrinkage", "0.3"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "occupancy at most 60%" in out
    assert "decided by the occupancy cap" in out
    assert "recommended: 17 agents on the phones, 25 scheduled" in out  # ceil(17 / 0.7)
    assert "occupancy 58.8% (10.00 Erlangs / 17 agents), at most 60%" in out
    assert "the service level alone needs 14 agents" in out
    for agents in range(15, 21):
        assert f" {agents} " in out
    data = json.loads(CliRunner().invoke(cli(), [*BASE, "--max-occupancy", "60%", "--json"]).stdout)
    assert data["max_occupancy"] == 0.6
    assert data["decided_by"] == "occupancy"
    assert data["recommended"]["agents"] == 17
    assert data["recommended"]["occupancy"] == pytest.approx(10 / 17)
    assert data["recommended"]["service_level_agents"] == 14
    assert [row["agents"] for row in data["rows"]] == list(range(15, 21))


def test_cli_default_cap_on_a_large_queue() -> None:
    # 5000 calls per 30 min at 180 s: A = 500. The service level alone wants 510 agents at
    # 500/510 = 98.0%; the default cap of 85% asks ceil(500 / 0.85) = ceil(588.2) = 589.
    large = ["staffing", "--calls", "5000", "--interval", "30m", "--aht", "180"]
    result = CliRunner().invoke(cli(), [*large, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["traffic_erlangs"] == 500.0
    assert data["max_occupancy"] == DEFAULT_MAX_OCCUPANCY == 0.85
    assert data["decided_by"] == "occupancy"
    assert data["recommended"]["agents"] == 589
    assert data["recommended"]["service_level_agents"] == 510
    assert round(data["recommended"]["occupancy"] * 100, 1) == 84.9
    table = CliRunner().invoke(cli(), large).stdout
    assert "recommended: 589 agents" in table
    assert "decided by the occupancy cap: occupancy 84.9%" in table
    assert "the service level alone needs 510 agents" in table
    # no cap (1 or 100%): the service level's answer, 510 agents at 98.0%
    for no_cap in ("1", "100%"):
        uncapped = json.loads(
            CliRunner().invoke(cli(), [*large, "--max-occupancy", no_cap, "--json"]).stdout
        )
        assert uncapped["decided_by"] == "service_level"
        assert uncapped["recommended"]["agents"] == 510
        assert round(uncapped["recommended"]["occupancy"] * 100, 1) == 98.0
    assert "occupancy 98.0% (500.00 Erlangs / 510 agents), within the 100% cap" in (
        CliRunner().invoke(cli(), [*large, "--max-occupancy", "1"]).stdout
    )


def test_cli_erlang_a_gets_the_cap() -> None:
    result = CliRunner().invoke(cli(), [*BASE, "--patience", "300", "--max-occupancy", "60%"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "recommended: 17 agents" in out
    assert "decided by the occupancy cap: occupancy 58.7% (carried load" in out
    assert "the service level alone needs 13 agents" in out
    data = json.loads(
        CliRunner()
        .invoke(cli(), [*BASE, "--patience", "300", "--max-occupancy", "0.6", "--json"])
        .stdout
    )
    assert data["model"] == "erlang_a"
    assert data["decided_by"] == "occupancy"
    assert data["recommended"]["agents"] == 17


def test_cli_json_erlang_a_and_other_interval() -> None:
    result = CliRunner().invoke(
        cli(),
        [
            *("staffing", "--calls", "200", "--interval", "1h", "--aht", "180"),
            *("--target", "80/20", "--patience", "300", "--json"),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["model"] == "erlang_a"
    assert data["interval_seconds"] == 3600
    # 200 calls per hour at 180 s: A = 10; the default cap of 85% would take 12 agents, fewer
    # than the service level's (occupancy 10/13 = 76.9%), so the service level decides
    expected = agents_needed(10.0, 180, 0.8, 20, patience=300, max_occupancy=0.85)
    assert data["recommended"]["agents"] == expected.agents == 13
    assert data["decided_by"] == "service_level"
    assert data["recommended"]["abandonment"] == pytest.approx(expected.abandonment)
    assert all(row["abandonment"] is not None for row in data["rows"])


def test_cli_erlang_a_table_shows_abandonment() -> None:
    result = CliRunner().invoke(cli(), [*BASE, "--patience", "300"])
    assert result.exit_code == 0, result.output
    assert "abandoned" in result.stdout
    assert "Erlang A" in result.stdout


def test_cli_unstable_rows_show_na() -> None:
    result = CliRunner().invoke(
        cli(), ["staffing", "--calls", "1", "--interval", "1h", "--aht", "180"]
    )
    assert result.exit_code == 0, result.output
    assert "n/a" in result.stdout  # the 0-agent row


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "80-20"], "80/20"),
        (["--target", "120/20"], "100%"),
        (["--target", "100/0"], "cannot be reached"),
        (["--interval", "30"], "unit"),
        (["--shrinkage", "1"], "shrinkage"),
        (["--patience", "0"], "patience"),
        (["--calls", "-5"], "calls"),
        (["--max-occupancy", "0"], "occupancy cap"),
        (["--max-occupancy", "0%"], "occupancy cap"),
        (["--max-occupancy", "1.5"], "at most 100%"),
        (["--max-occupancy", "85"], "did you mean 85%?"),
        (["--max-occupancy", "-0.2"], "occupancy cap"),
        (["--max-occupancy", "high"], "0.85 or a percentage like 85%"),
    ],
)
def test_cli_bad_input_exits_2(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli(), [*BASE, *args])
    assert result.exit_code == 2
    assert "error" in result.stderr
    assert message in result.stderr
    assert result.stdout == ""
