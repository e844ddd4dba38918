"""Outbound pacing (callcenter.outbound.pacing): pure code, time handed in."""

from __future__ import annotations

import itertools
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callcenter.outbound.pacing import (
    DAY,
    MONTH,
    Abandonment,
    BudgetRead,
    Histogram,
    PacerView,
    PredictivePacer,
    RollingCount,
    Tally,
    exponential_cdf,
    make_pacer,
    progressive_dials,
)

views = st.builds(
    PacerView,
    free_agents=st.integers(0, 30),
    busy_agents=st.lists(st.floats(0, 4000, allow_nan=False), max_size=30),
    dials_in_progress=st.lists(st.floats(0, 90, allow_nan=False), max_size=120),
    waiting_live=st.integers(0, 4),
)


def view(free: int = 0, busy: list[float] | None = None, dials: list[float] | None = None,
         waiting: int = 0) -> PacerView:  # fmt: skip
    return PacerView(free, busy or [], dials or [], waiting)


LONG_AGO = -2 * MONTH  # what the pacer learnt then is out of both windows now


def trained(pacer: PredictivePacer, now: float = LONG_AGO, live: float = 0.15) -> PredictivePacer:
    """Feeds dials and calls like the reference model's (by default long ago, so that they
    are out of the abandonment windows and of the pace of dialling)."""
    rng = random.Random(7)
    for _ in range(3000):
        if rng.random() < live:
            pacer.on_dial_ended(now, "live", 10 * math.exp(0.4 * rng.gauss(0, 1)))
        else:
            pacer.on_dial_ended(now, rng.choice(["no_answer", "busy", "machine"]), 25.0)
    for _ in range(600):
        pacer.on_agent_released(now, 15 + 120 * math.exp(0.8 * rng.gauss(0, 1) - 0.32))
    return pacer


def with_budget(**kw: float) -> PredictivePacer:
    """A trained predictive pacer with a clean history: 1% over 24 h and over 30 days."""
    pacer = trained(PredictivePacer(**kw))  # type: ignore[arg-type]
    pacer.seed(now=0.0, live_30d=20_000, drops_30d=200, live_24h=2_000, drops_24h=20)
    return pacer


# --- the API --------------------------------------------------------------------------------


def test_make_pacer_modes_and_bad_arguments() -> None:
    assert make_pacer("progressive").mode == "progressive"
    assert make_pacer("predictive", abandon_limit=0.05, max_ratio=3).mode == "predictive"
    with pytest.raises(ValueError):
        make_pacer("preview")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        make_pacer("predictive", abandon_limit=0)
    with pytest.raises(ValueError):
        make_pacer("progressive", abandon_limit=1.5)
    with pytest.raises(ValueError):
        make_pacer("predictive", max_ratio=0.5)


def test_view_wrap_up_left_is_empty_or_one_per_busy_agent() -> None:
    PacerView(1, [10.0, 20.0], [], wrap_up_left=[None, 3.0])
    PacerView(1, [10.0, 20.0], [4.0])  # not known: fine
    with pytest.raises(ValueError):
        PacerView(1, [10.0, 20.0], [], wrap_up_left=[3.0])


@pytest.mark.parametrize("mode", ["progressive", "predictive"])
def test_zero_agents_zero_dials(mode: str) -> None:
    pacer = make_pacer(mode)  # type: ignore[arg-type]
    pacer.seed(now=0, live_30d=10_000, drops_30d=0, live_24h=1_000, drops_24h=0)
    assert pacer.dials_to_place(1.0, view()) == 0
    assert pacer.dials_to_place(1.0, view(dials=[1.0, 2.0], waiting=1)) == 0
    assert pacer.abandonment(1.0) == (0.0, 0.0)


# --- progressive ----------------------------------------------------------------------------


@given(views)
def test_progressive_never_exceeds_free_agents(v: PacerView) -> None:
    n = make_pacer("progressive").dials_to_place(0.0, v)
    assert n >= 0
    assert n == 0 or n + len(v.dials_in_progress) <= v.free_agents


def test_progressive_one_dial_per_uncovered_free_agent() -> None:
    assert progressive_dials(view(free=5, dials=[1.0, 2.0])) == 3
    assert progressive_dials(view(free=5, dials=[1.0], waiting=1)) == 3
    assert progressive_dials(view(free=2, dials=[1.0, 2.0, 3.0])) == 0
    assert progressive_dials(view(free=10), max_ratio=0.5) == 5


# --- predictive: hard limits ----------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(views, st.floats(1.0, 8.0))
def test_predictive_is_never_negative_and_capped_by_max_ratio(v: PacerView, ratio: float) -> None:
    pacer = with_budget(max_ratio=ratio)
    n = pacer.dials_to_place(1.0, v)
    agents = v.free_agents + len(v.busy_agents)
    assert n >= 0
    assert n == 0 or n + len(v.dials_in_progress) <= math.floor(ratio * agents)


@settings(max_examples=150, deadline=None)
@given(views, st.sampled_from([(1000, 30, 10_000, 100), (1000, 10, 10_000, 400)]))
def test_predictive_at_or_over_the_limit_never_exceeds_free_agents(
    v: PacerView, history: tuple[int, int, int, int]
) -> None:
    live24, drops24, live30, drops30 = history  # 24 h at 3.0%; or 30 days at 4%
    pacer = trained(PredictivePacer())
    pacer.seed(now=0.0, live_30d=live30, drops_30d=drops30, live_24h=live24, drops_24h=drops24)
    assert pacer.over_limit(1.0)
    n = pacer.dials_to_place(1.0, v)
    assert n == progressive_dials(v, 5.0)
    assert n == 0 or n + len(v.dials_in_progress) <= v.free_agents


def test_predictive_falls_back_when_its_own_drops_reach_the_limit() -> None:
    pacer = with_budget()
    busy = [float(30 + 7 * i) for i in range(20)]
    assert pacer.dials_to_place(10.0, view(free=2, busy=busy)) > 2
    for _ in range(600):  # the 24 h window: 2,000 + 600 live answers ...
        pacer.on_dial_ended(20.0, "live", 9.0)
    for _ in range(60):  # ... and 20 + 60 drops: 3.08%
        pacer.on_drop(22.0)
    rate24, rate30 = pacer.abandonment(22.0)
    assert rate24 >= 0.03 > rate30
    assert pacer.over_limit(22.0)
    assert pacer.dials_to_place(23.0, view(free=2, busy=busy)) == 2
    assert pacer.dials_to_place(23.0, view(free=3, busy=busy, dials=[1.0])) == 2


def test_predictive_without_history_starts_as_progressive() -> None:
    pacer = trained(PredictivePacer())  # live answers seen, but no budget yet
    pacer.seed(now=0.0, live_30d=0, drops_30d=0, live_24h=0, drops_24h=0)
    busy = [float(30 + 7 * i) for i in range(20)]
    assert pacer.budget(0.0) == 0 and pacer.target(0.0) == 0
    assert pacer.dials_to_place(1.0, view(free=0, busy=busy)) == 0
    assert pacer.dials_to_place(1.0, view(free=2, busy=busy)) == 2


def test_predictive_never_dials_without_agents_to_expect() -> None:
    pacer = with_budget()
    # every agent has just started a call: no release in the next seconds (wrap-up alone
    # takes 15 s in the history), nobody free
    assert pacer.dials_to_place(5.0, view(free=0, busy=[0.5] * 20)) == 0


# --- predictive: it does overdial when it may -----------------------------------------------


def test_seeded_history_lets_predictive_overdial_at_once() -> None:
    busy = [float(30 + 7 * i) for i in range(20)]
    seeded = with_budget()
    assert seeded.target(0.0) == pytest.approx(0.03)
    assert seeded.dials_to_place(1.0, view(free=2, busy=busy)) > 2 * 4
    assert seeded.dials_to_place(1.0, view(free=3, busy=busy)) > 3 * 5
    assert make_pacer("progressive").dials_to_place(1.0, view(free=3, busy=busy)) == 3


def test_more_free_agents_more_dials_more_dials_in_flight_fewer() -> None:
    pacer = with_budget()
    busy = [float(40 + 9 * i) for i in range(15)]
    counts = [pacer.dials_to_place(1.0, view(free=f, busy=busy)) for f in range(6)]
    assert counts == sorted(counts) and counts[-1] > counts[0]
    flying = [
        pacer.dials_to_place(1.0, view(free=3, busy=busy, dials=[5.0] * d)) for d in (0, 10, 30)
    ]
    assert flying == sorted(flying, reverse=True) and flying[0] > flying[-1]


def test_drop_risk_grows_with_the_dials_placed_with_it() -> None:
    pacer = with_budget()
    v = view(free=2, busy=[float(50 + 10 * i) for i in range(18)], dials=[3.0, 8.0])
    risks = [pacer.drop_risk(1.0, v, before) for before in range(0, 40, 4)]
    assert all(0.0 <= r <= 1.0 for r in risks)
    assert risks == sorted(risks) and risks[-1] > risks[0]
    # an old dial (most likely a no-answer) weighs less than a fresh one
    assert pacer.drop_risk(1.0, view(free=1, dials=[24.0] * 6)) < pacer.drop_risk(
        1.0, view(free=1, dials=[2.0] * 6)
    )


def test_knowing_wrap_ups_counts_their_end_as_a_sure_release() -> None:
    pacer = PredictivePacer()
    rng = random.Random(3)
    for _ in range(3000):
        live = rng.random() < 0.15
        pacer.on_dial_ended(LONG_AGO, "live" if live else "no_answer", 10.0 if live else 25.0)
    for _ in range(600):
        talk = 120 * math.exp(0.8 * rng.gauss(0, 1) - 0.32)
        pacer.on_agent_released(LONG_AGO, talk + 15.0, wrap_seconds=15.0)
    pacer.seed(now=0.0, live_30d=20_000, drops_30d=200, live_24h=2_000, drops_24h=20)
    busy = [float(60 + 5 * i) for i in range(20)]
    # nobody free: 4 agents whose wrap-up ends in a second are as good as free
    assert pacer.dials_to_place(1.0, PacerView(0, busy, [])) == 0
    ending = PacerView(0, busy, [], wrap_up_left=[1.0] * 4 + [None] * 16)
    assert pacer.dials_to_place(1.0, ending) > 4 * 3
    # agents known to be still talking cannot be free within the 15 s wrap-up: fewer dials
    # than when each might be in the last seconds of a wrap-up
    blind = pacer.dials_to_place(1.0, PacerView(2, busy, []))
    talking = pacer.dials_to_place(1.0, PacerView(2, busy, [], wrap_up_left=[None] * 20))
    assert 2 <= talking < blind


# --- learning -------------------------------------------------------------------------------


def test_live_rate_has_a_prior_and_adapts_online() -> None:
    pacer = PredictivePacer()
    assert pacer.live_rate == pytest.approx(0.25)
    rng = random.Random(1)

    def dials(share: float, n: int) -> None:
        for _ in range(n):
            live = rng.random() < share
            pacer.on_dial_ended(0.0, "live" if live else "no_answer", 10.0 if live else 25.0)

    dials(0.30, 3000)
    assert pacer.live_rate == pytest.approx(0.30, abs=0.04)
    dials(0.15, 1500)  # the list changes: a few half-lives later, so has the estimate
    assert pacer.live_rate == pytest.approx(0.15, abs=0.04)


def test_drops_make_it_more_careful() -> None:
    pacer = with_budget()
    before = pacer.risk_threshold(1.0)
    for _ in range(5):
        pacer.on_dial_ended(1.0, "live", 9.0)
        pacer.on_drop(3.0)
    assert pacer.calibration > 1.0
    assert pacer.budget(3.0) < 40.0
    assert pacer.risk_threshold(3.0) < before


def test_a_thin_budget_means_a_low_target() -> None:
    pacer = PredictivePacer()
    pacer.seed(now=0.0, live_30d=1000, drops_30d=28, live_24h=1000, drops_24h=28)
    assert pacer.budget(0.0) == pytest.approx(2.0)
    assert 0 < pacer.target(0.0) < 0.03 * 0.6
    spent = PredictivePacer()
    spent.seed(now=0.0, live_30d=10_000, drops_30d=100, live_24h=100, drops_24h=3)
    assert spent.budget(0.0) == pytest.approx(0.0) and spent.target(0.0) == 0.0


# --- rolling windows ------------------------------------------------------------------------


def test_seeding_from_history() -> None:
    for mode in ("progressive", "predictive"):
        pacer = make_pacer(mode)
        pacer.seed(now=1000.0, live_30d=30_000, drops_30d=600, live_24h=1_000, drops_24h=25)
        rate24, rate30 = pacer.abandonment(1000.0)
        assert rate24 == pytest.approx(0.025)
        assert rate30 == pytest.approx(0.02)
    with pytest.raises(ValueError):
        Abandonment().seed(now=0, live_30d=10, drops_30d=11, live_24h=0, drops_24h=0)
    with pytest.raises(ValueError):
        Abandonment().seed(now=0, live_30d=-1, drops_30d=0, live_24h=0, drops_24h=0)


def test_a_seed_is_a_read_of_the_windows_not_a_spread_history() -> None:
    """Issue 15: history is no longer spread evenly over the windows (its times are in the
    database, placed_at); ``seed`` is a read of the windows as of now, kept until the next
    read (``sync``), and only the instance's own events roll off here."""
    windows = Abandonment()
    windows.seed(now=0.0, live_30d=72_000, drops_30d=1_440, live_24h=2_400, drops_24h=48)
    assert windows.windows(0.0) == ((2400, 48), (72_000, 1440))
    windows.live(10.0)
    windows.drop(12.0)
    assert windows.windows(DAY / 2) == ((2401, 49), (72_001, 1441))  # no even roll-off
    assert windows.windows(DAY + 61) == ((2400, 48), (72_001, 1441))  # its own left 24 h
    windows.sync(DAY + 61, BudgetRead(Tally(100, 1), Tally(70_000, 1400)))  # the next read
    assert windows.windows(DAY + 61) == ((100, 1), (70_001, 1401))


def test_24h_and_30d_windows_roll_off() -> None:
    windows = Abandonment()
    for _ in range(9):
        windows.live(100.0)
    windows.live(100.0)
    windows.drop(102.0)
    assert windows.rates(200.0) == pytest.approx((0.1, 0.1))
    assert windows.rates(100.0 + DAY - 60) == pytest.approx((0.1, 0.1))
    assert windows.rates(100.0 + DAY + 60) == pytest.approx((0.0, 0.1))
    windows.live(MONTH)  # a month later: only this one
    assert windows.windows(MONTH + 3600 + 200) == ((1.0, 0.0), (1.0, 0.0))


def test_rolling_count_keeps_an_event_between_span_and_span_plus_bucket() -> None:
    count = RollingCount(span=100.0, bucket=10.0)
    count.add(15.0, live=1.0)
    assert count.counts(115.0) == (1.0, 0.0)
    assert count.counts(119.9) == (1.0, 0.0)
    assert count.counts(120.0) == (0.0, 0.0)
    count.add(300.0, live=2.0)
    count.add(250.0, drops=1.0)  # late: still counted, in order
    assert count.counts(300.0) == (2.0, 1.0)
    assert count.counts(360.0) == (2.0, 0.0)
    with pytest.raises(ValueError):
        RollingCount(span=10.0, bucket=20.0)


def test_calls_still_going_lengthen_the_estimate() -> None:
    """Early in a shift only short calls have ended: the long ones still going count."""
    hist = Histogram(2.0, 100, exponential_cdf(60.0), 1.0, 1000.0)
    for x in (20.0, 30.0, 40.0, 50.0):
        hist.observe(x)
    plain = hist.cdf_on_grid(2.0, 100)
    going = hist.cdf_on_grid(2.0, 100, censored=[100.0, 120.0, 150.0, 150.0])
    assert plain[30] > 0.75  # 60 s: the four ended calls are all there is
    assert going[30] < 0.55  # four more calls are known to last over 100 s
    assert all(g <= p + 1e-12 for g, p in zip(going, plain, strict=True))
    assert going == sorted(going) and hist.cdf_on_grid(2.0, 101, [150.0])[-1] == 1.0


def test_histogram_cdf_is_a_distribution() -> None:
    hist = Histogram(2.0, 50, exponential_cdf(30.0), 5.0, 100.0)
    for x in (3.0, 5.0, 5.0, 40.0, 1000.0):
        hist.observe(x)
    hist.observe(math.nan)
    cdf = hist.cdf_on_grid(1.0, 120)
    assert cdf[0] == 0.0 and cdf[-1] == 1.0
    assert all(a <= b for a, b in itertools.pairwise(cdf))
    assert hist.observations == 5


# --- in the simulator -----------------------------------------------------------------------


def test_a_simulated_hour_holds_the_limit_and_beats_progressive() -> None:
    from bench.dialer_sim import Job, Scenario, run_job

    base = Scenario("20 agents, 15% live")
    progressive = run_job(Job(base, "progressive", 1.5, 5))
    predictive = run_job(Job(base, "predictive+wrap", 1.5, 5))
    assert progressive.drops == 0
    assert predictive.rate <= 0.03
    assert predictive.occupancy() > progressive.occupancy() + 0.2
