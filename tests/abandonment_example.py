"""The hand-computed history of issue 15 (item 5), shared by the unit and integration tests
of the abandonment budget, and a list-backed fake of the database read.

Yesterday (2026-06-09, UTC) 600 live answers, all placed between 19:00 and 20:00:
attempt i (i = 0..599) placed at 19:00:00 + 6 s x i (19:00:00, 19:00:06, ..., 19:59:54);
18 of them dropped: i = 0, 33, 66, ..., 561 (19:00:00, 19:03:18, ..., 19:56:06).
The instance restarts at 08:00 today (2026-06-10); by 19:30 it has had 550 live answers and
14 drops: attempt j (j = 0..549) placed at 08:00:00 + 72 s x j (08:00:00, ..., 18:58:48),
dropped for j = 0, 40, ..., 520 (08:00:00, 08:48:00, ..., 18:24:00).

At 19:30:00 today the 24 h window holds the attempts placed at or after yesterday 19:30:00:
yesterday's i = 300..599 (19:30:00 ... 19:59:54): 300 live answers, and the drops
i = 330, 363, ..., 561 (19:33:00 ... 19:56:06, k = 10..17): 8 drops; plus today's 550 and
14: 850 live answers, 22 drops = 2.588%. The 30 days hold everything: 1150 and 32 = 2.783%.
At 20:00:00 today none of yesterday's is in the 24 h window (the last was placed at
19:59:54): 550 and 14 = 2.545%.

The pacer before this change, seeded at 08:00 with the 24 h counts (600 and 18) spread
evenly over the 24 h before, kept at 19:30 the 12.5 h of the spread still in the window:
312.5 and 9.375, so 862.5 live and 23.375 drops = 2.710%; at 20:00, 300 and 9: 850 and 23
= 2.706% (for a window that really is at 2.545%).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from callcenter.outbound.pacing import BudgetRead, Tally

YESTERDAY_1900 = datetime(2026, 6, 9, 19, 0, tzinfo=UTC)
RESTART = datetime(2026, 6, 10, 8, 0, tzinfo=UTC)  # the instance starts again: its budget
AT_1930 = datetime(2026, 6, 10, 19, 30, tzinfo=UTC)
AT_2000 = datetime(2026, 6, 10, 20, 0, tzinfo=UTC)
CAMPAIGN = "spring"


@dataclass(frozen=True)
class Row:
    """One ``dial_attempts`` row, as far as the abandonment read looks."""

    placed_at: datetime
    node_id: str
    live: bool = True
    dropped: bool = False
    machine: bool = False  # result 'machine'
    campaign: str = CAMPAIGN


def yesterday_rows(node: str = "node-a") -> list[Row]:
    return [
        Row(YESTERDAY_1900 + timedelta(seconds=6 * i), node, dropped=i % 33 == 0 and i <= 561)
        for i in range(600)
    ]


def today_rows(node: str = "node-a") -> list[Row]:
    return [
        Row(RESTART + timedelta(seconds=72 * j), node, dropped=j % 40 == 0 and j <= 520)
        for j in range(550)
    ]


class ListAttempts:
    """``AttemptCounts`` (db/abandonment_query.py) over a list of rows, with the SQL's
    meaning: windows by placed_at, the reader's own rows placed at or after its ``since``
    left out."""

    def __init__(self, rows: list[Row] | None = None) -> None:
        self.rows: list[Row] = list(rows or [])
        self.reads = 0

    async def count(
        self,
        campaigns: Mapping[str, datetime],
        *,
        node_id: str,
        day_from: datetime,
        month_from: datetime,
        until: datetime | None,
    ) -> dict[str, BudgetRead]:
        self.reads += 1
        out = {}
        for name, since in campaigns.items():
            rows = [
                r
                for r in self.rows
                if r.campaign == name
                and (r.node_id != node_id or r.placed_at < since)
                and (until is None or r.placed_at < until)
            ]

            def tally(start: datetime, rows: list[Row] = rows) -> Tally:
                inside = [r for r in rows if r.placed_at >= start]
                return Tally(
                    sum(r.live for r in inside),
                    sum(r.dropped for r in inside),
                    sum(r.machine for r in inside),
                )

            others = {r.node_id for r in rows if r.placed_at >= day_from and r.node_id != node_id}
            out[name] = BudgetRead(tally(day_from), tally(month_from), len(others))
        return out
