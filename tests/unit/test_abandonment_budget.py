"""The abandonment budget shared by every instance of a campaign (issue 15, items 5 and 7):
rolling windows by ``placed_at`` read from the database (through ``CampaignWindows``, as the
dialer reads them) plus the instance's own events, two pacers on one budget, what is in
flight, a stale read, UK AMD false positives. Times are UTC; a pacer's ``now`` is seconds
after an origin stated in each test."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from callcenter.outbound.pacing import (
    AMD_FALSE_POSITIVE_RATE,
    BUDGET_STALE_SECONDS,
    Abandonment,
    BudgetRead,
    PacerView,
    PredictivePacer,
    Tally,
    make_pacer,
)
from db.abandonment_query import CampaignWindows
from tests.abandonment_example import (
    AT_1930,
    AT_2000,
    CAMPAIGN,
    RESTART,
    ListAttempts,
    Row,
    today_rows,
    yesterday_rows,
)
from tests.unit.test_pacing import trained

BUSY = [float(30 + 7 * i) for i in range(20)]  # 20 agents busy for 30 s to 163 s


def read(windows: CampaignWindows, since: datetime, at: datetime) -> BudgetRead:
    return asyncio.run(windows.read({CAMPAIGN: since}, at))[CAMPAIGN]


# --- item 5: the windows come from placed_at, over a restart ----------------------------------


def test_restart_windows_follow_placed_at_not_an_even_spread() -> None:
    """The example of issue 15 (tests/abandonment_example.py): history concentrated
    yesterday 19:00-20:00, restart at 08:00, 550 live and 14 drops by 19:30."""

    def clock(at: datetime) -> float:  # the pacer's time: seconds since the restart
        return (at - RESTART).total_seconds()

    # The database has yesterday's attempts (the instance's previous process, node-a) and
    # today's (this process, node-a again: placed after the restart, so its own).
    database = ListAttempts(yesterday_rows() + today_rows())
    budget = Abandonment(stale_after=BUDGET_STALE_SECONDS, since=RESTART)
    pacer = PredictivePacer(abandonment=budget)
    windows = CampaignWindows(database, node_id="node-a")
    for row in today_rows():  # as they happen: answered 10 s after placing, dropped 2 s later
        placed = clock(row.placed_at)
        pacer.on_dial_ended(placed + 10.0, "live", 10.0)
        if row.dropped:
            pacer.on_drop(placed + 12.0)

    # 19:30:00: yesterday's i >= 300 (placed 19:30:00-19:59:54): 300 live; drops i = 330..561
    # (19:33:00-19:56:06): 8. Today's own rows are left out of the read (counted here).
    at_1930 = read(windows, RESTART, AT_1930)
    assert at_1930 == BudgetRead(day=Tally(300, 8), month=Tally(600, 18), other_nodes=0)
    budget.sync(clock(AT_1930), at_1930)
    assert budget.windows(clock(AT_1930)) == ((850, 22), (1150, 32))
    day, month = pacer.abandonment(clock(AT_1930))
    assert day == pytest.approx(22 / 850)  # 2.588%; the even spread said 23.375 / 862.5 = 2.710%
    assert month == pytest.approx(32 / 1150)  # 2.783%
    # budget = min(3% x 850 - 22, 3% x 1150 - 32) = min(3.5, 2.5)
    assert pacer.budget(clock(AT_1930)) == pytest.approx(2.5)

    # 20:00:00: yesterday's last attempt (19:59:54) has left the 24 h window.
    at_2000 = read(windows, RESTART, AT_2000)
    assert at_2000 == BudgetRead(day=Tally(0, 0), month=Tally(600, 18), other_nodes=0)
    budget.sync(clock(AT_2000), at_2000)
    assert budget.windows(clock(AT_2000)) == ((550, 14), (1150, 32))
    assert pacer.abandonment(clock(AT_2000))[0] == pytest.approx(14 / 550)  # 2.545%, not 2.706%


def test_windows_read_the_settled_part_once_a_minute() -> None:
    database = ListAttempts(yesterday_rows() + today_rows())
    windows = CampaignWindows(database, node_id="node-z")  # another instance: sees them all
    full = BudgetRead(day=Tally(850, 22), month=Tally(1150, 32), other_nodes=0)
    assert read(windows, RESTART, AT_1930) == full
    assert database.reads == 2  # the settled part (placed before 19:15) and the recent one
    # a dial of node-b placed at 19:30:05, answered live: in the recent part at once
    database.rows.append(Row(AT_1930 + timedelta(seconds=5), "node-b"))
    later = read(windows, RESTART, AT_1930 + timedelta(seconds=6))
    assert database.reads == 3  # the recent part only
    assert later == BudgetRead(day=Tally(851, 22), month=Tally(1151, 32), other_nodes=1)
    read(windows, RESTART, AT_1930 + timedelta(seconds=61))
    assert database.reads == 5  # a minute on: the settled part again


# --- item 5: two pacers, one budget ---------------------------------------------------------

MIDNIGHT = datetime(2026, 6, 10, 0, 0, tzinfo=UTC)
# today 00:00:00-08:19:30, every 30 s, by an instance gone since: 1000 live answers, the first
# 25 dropped
EARLIER = [
    Row(MIDNIGHT + timedelta(seconds=30 * n), "node-old", dropped=n < 25) for n in range(1000)
]
TEN = datetime(2026, 6, 10, 10, 0, tzinfo=UTC)  # both instances start; their clocks: s after


def test_two_pacers_spend_one_budget() -> None:
    database = ListAttempts(EARLIER)
    pacers, budgets, windows = {}, {}, {}
    for node in ("node-a", "node-b"):
        budgets[node] = Abandonment(stale_after=BUDGET_STALE_SECONDS, since=TEN)
        pacers[node] = trained(PredictivePacer(abandonment=budgets[node]))
        windows[node] = CampaignWindows(database, node_id=node)
        budgets[node].sync(0.0, read(windows[node], TEN, TEN))
    # 10:00:00: 1000 live, 25 drops: budget 3% x 1000 - 25 = 5 drops; both over-dial
    view = PacerView(2, BUSY, [])
    for node in pacers:
        assert budgets[node].windows(0.0) == ((1000, 25), (1000, 25))
        assert pacers[node].dials_to_place(0.0, view) > 2
    # 10:00:20, :30, :40: each drops 3 live answers (placed 12 s before); each counts its own
    # at once, the other's only once read
    for node in pacers:
        for s in (20.0, 30.0, 40.0):
            database.rows.append(Row(TEN + timedelta(seconds=s - 12), node, True, True))
            pacers[node].on_dial_ended(s - 2, "live", 10.0)
            pacers[node].on_drop(s)
    assert budgets["node-a"].windows(41.0)[0] == (1003, 28)  # 2.79%: its own view only
    # 10:00:50, both read: the campaign is at (25 + 3 + 3) / (1000 + 3 + 3) = 31 / 1006 = 3.08%
    for node in pacers:
        budgets[node].sync(50.0, read(windows[node], TEN, TEN + timedelta(seconds=50)))
        assert budgets[node].windows(50.0) == ((1006, 31), (1006, 31))
        assert budgets[node].unseen() == 1.0  # one other instance dials the campaign
        assert pacers[node].over_limit(50.0)
        assert pacers[node].dials_to_place(50.0, view) == 2  # progressive: one per free agent
    # Before (each instance its own history, 1000 and 25 as of 10:00, and its own calls):
    # each sees 28 / 1003 = 2.79%, a budget of 2.09, and goes on over-dialing.
    alone = trained(PredictivePacer())
    alone.seed(now=0.0, live_30d=1000, drops_30d=25, live_24h=1000, drops_24h=25)
    for s in (20.0, 30.0, 40.0):
        alone.on_dial_ended(s - 2, "live", 10.0)
        alone.on_drop(s)
    assert alone.budget(50.0) == pytest.approx(0.03 * 1003 - 28)
    assert not alone.over_limit(50.0)
    assert alone.dials_to_place(50.0, view) > 2


def test_a_stale_read_stops_over_dialing() -> None:
    budget = Abandonment(stale_after=BUDGET_STALE_SECONDS)
    pacer = trained(PredictivePacer(abandonment=budget))
    view = PacerView(2, BUSY, [])
    assert pacer.dials_to_place(0.0, view) == 2  # never read: progressive
    budget.sync(0.0, BudgetRead(Tally(2000, 20), Tally(20_000, 200)))  # budget 40 drops
    assert pacer.dials_to_place(5.0, view) > 2  # read 5 s ago: fresh
    assert pacer.dials_to_place(5.5, view) == 2  # 5.5 s: the other instances may have spent it


def test_live_answers_waiting_for_an_agent_count_as_possible_drops() -> None:
    budget = Abandonment()
    pacer = trained(PredictivePacer(abandonment=budget))
    # 1000 live, 27 drops in both windows: 3% x 1000 - 27 = 3 drops of budget
    budget.sync(0.0, BudgetRead(Tally(1000, 27), Tally(1000, 27)))
    assert pacer.budget(1.0) == pytest.approx(3.0)
    assert pacer.budget(1.0, pending=2) == pytest.approx(1.0)
    assert not pacer.over_limit(1.0, pending=2)
    # three customers waiting for an agent: dropped, they would take it to 30 / 1000 = 3%
    assert pacer.over_limit(1.0, pending=3)
    assert pacer.dials_to_place(1.0, PacerView(5, BUSY, [], waiting_live=3)) == 2  # progressive
    assert pacer.dials_to_place(1.0, PacerView(4, BUSY, [], waiting_live=2)) > 2


def test_the_limit_is_never_above_3_percent() -> None:
    assert PredictivePacer(abandon_limit=0.05).abandon_limit == 0.03
    assert PredictivePacer(abandon_limit=0.02).abandon_limit == 0.02
    budget = Abandonment()
    pacer = make_pacer("predictive", abandon_limit=0.05, abandonment=budget)
    budget.sync(0.0, BudgetRead(Tally(1000, 31), Tally(1000, 31)))  # 3.1%: under 5%, over 3%
    assert pacer.dials_to_place(1.0, PacerView(2, BUSY, [])) == 2


# --- item 7: UK, AMD false positives ---------------------------------------------------------


def test_uk_campaigns_count_estimated_amd_false_positives() -> None:
    assert AMD_FALSE_POSITIVE_RATE == 0.05
    # 24 h: 1000 live, 20 drops, 300 machine verdicts; 30 d: 10,000, 200, 3,000
    history = BudgetRead(Tally(1000, 20, 300), Tally(10_000, 200, 3000))
    us, uk = Abandonment(), Abandonment(uk_mode=True)
    us_pacer = trained(PredictivePacer(abandonment=us))
    uk_pacer = trained(PredictivePacer(abandonment=uk))
    for budget in (us, uk):
        budget.sync(0.0, history)
    assert us.windows(1.0) == ((1000, 20), (10_000, 200))  # 2.00%
    # FP = 5% x 300 = 15 (24 h), 5% x 3000 = 150 (30 d), added to drops and live answers
    assert uk.windows(1.0) == ((1015, 35), (10_150, 350))
    assert uk_pacer.abandonment(1.0) == pytest.approx((35 / 1015, 350 / 10_150))  # 3.45%
    view = PacerView(2, BUSY, [])
    assert us_pacer.dials_to_place(1.0, view) > 2
    assert uk_pacer.over_limit(1.0)
    assert uk_pacer.dials_to_place(1.0, view) == 2
    # its own machine verdicts count too: 40 more, 2 more estimated false positives
    for _ in range(40):
        uk_pacer.on_dial_ended(2.0, "machine", 13.0)
        us_pacer.on_dial_ended(2.0, "machine", 13.0)
    assert uk.windows(3.0) == ((1017, 37), (10_152, 352))
    assert us.windows(3.0) == ((1000, 20), (10_000, 200))


def test_uk_false_positive_rate_is_a_setting() -> None:
    budget = Abandonment(uk_mode=True, false_positive_rate=0.1)
    budget.sync(0.0, BudgetRead(Tally(100, 1, 50), Tally(100, 1, 50)))
    assert budget.windows(0.0) == ((105, 6), (105, 6))  # 10% x 50 = 5
    with pytest.raises(ValueError):
        Abandonment(false_positive_rate=1.5)


# --- the simulator's fake of the read ---------------------------------------------------------


def test_the_simulators_fake_reads_like_the_list_of_rows() -> None:
    from bench.dialer_sim import CAMPAIGN as SIM_CAMPAIGN
    from bench.dialer_sim import EPOCH, FakeAttempts

    fake, rows = FakeAttempts(), []
    # node-a: 6 dials at 0, 10, ..., 50 s (live; the one at 20 s dropped, written at 45 s);
    # node-b: 3 dials at 5, 15, 25 s (the one at 15 s a machine)
    for n in range(6):
        row = fake.place("node-a", 10.0 * n)
        fake.write("node-a", row, 0, 10.0 * n + 0.2)
        if n == 2:
            fake.write("node-a", row, 1, 45.0)
        rows.append(Row(EPOCH + timedelta(seconds=10 * n), "node-a", dropped=n == 2))
    for n in range(3):
        row = fake.place("node-b", 5.0 + 10 * n)
        fake.write("node-b", row, 2 if n == 1 else 0, 5.0 + 10 * n + 0.2)
        rows.append(
            Row(EPOCH + timedelta(seconds=5 + 10 * n), "node-b", live=n != 1, machine=n == 1)
        )
    listed = ListAttempts(
        [Row(r.placed_at, r.node_id, r.live, r.dropped, r.machine, SIM_CAMPAIGN) for r in rows]
    )

    def both(node: str, since_s: float, at_s: float) -> tuple[BudgetRead, BudgetRead]:
        args: dict[str, object] = {
            "node_id": node,
            "day_from": EPOCH - timedelta(days=1),
            "month_from": EPOCH - timedelta(days=30),
            "until": None,
        }
        since = {SIM_CAMPAIGN: EPOCH + timedelta(seconds=since_s)}
        fake.clock = at_s
        got = asyncio.run(fake.count(since, **args))[SIM_CAMPAIGN]  # type: ignore[arg-type]
        want = asyncio.run(listed.count(since, **args))[SIM_CAMPAIGN]  # type: ignore[arg-type]
        return got, want

    # at 44 s the drop's row is not written yet (45 s), nor the 50 s dial's answer (50.2 s)
    got, _ = both("node-z", 0.0, 44.0)
    assert got == BudgetRead(Tally(7, 0, 1), Tally(7, 0, 1), other_nodes=2)
    got, want = both("node-z", 0.0, 60.0)  # all written by 60 s
    assert got == want == BudgetRead(Tally(8, 1, 1), Tally(8, 1, 1), other_nodes=2)
    got, want = both("node-a", 30.0, 60.0)  # node-a's own since 30 s left out
    assert got == want == BudgetRead(Tally(5, 1, 1), Tally(5, 1, 1), other_nodes=1)


def test_two_simulated_pacers_hold_the_campaigns_limit() -> None:
    from bench.dialer_sim import Scenario, combine, run_shared

    results = run_shared(Scenario("20 agents, 15% live"), "predictive+wrap", 1.5, 5, 2)
    campaign = combine(results)
    assert all(r.live > 100 for r in results)
    assert campaign.rate <= 0.03
    assert campaign.occupancy() > 0.75  # progressive is ~52%
