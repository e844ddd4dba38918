"""Two nodes on one database, shortened from bench/two_nodes.py: two real Asterisks, two
app processes, agents' phones registered to each, inbound callers on both and one
progressive campaign dialed by both. No record lost or doubled, no lead dialed twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.two_nodes import report, run
from tests.integration.test_acd_calls import forget_acd
from tests.support import query

pytestmark = pytest.mark.integration


def forget(database_url: str) -> None:
    for table in ("dial_attempts", "leads", "campaigns"):
        query(database_url, f"DELETE FROM {table}")
    forget_acd(database_url)


def test_two_asterisks_and_two_apps_share_calls_and_one_campaign(
    database_url: str, tmp_path: Path
) -> None:
    forget(database_url)
    try:
        outcome = run(
            database_url,
            tmp_path,
            inbound_agents=4,
            campaign_agents=2,
            calls=15,
            rate=3,
            leads=30,
        )
    finally:
        forget(database_url)
    print("\n".join(report(outcome)))
    assert len(outcome.nodes) == 2 and outcome.nodes[0].node != outcome.nodes[1].node
    for node in outcome.nodes:
        assert node.sipp_ok == node.offered, node
        assert node.complete == node.offered and node.duplicated == 0, node
        assert node.dialed > 0, node  # both nodes dialed the one campaign
    assert outcome.leads == 30
    assert outcome.leads_dialed_once == 30, outcome
    assert outcome.connected == 30, outcome
    assert outcome.connected_to_own_node_agent == 30, outcome


def test_two_nodes_dial_predictively_on_one_abandonment_budget(
    database_url: str, tmp_path: Path
) -> None:
    """Issue 15, item 5 on real components: the campaign has a past (1,000 live answers, 28
    drops an hour ago, 2.80%) and both nodes dial it predictively. Each node's pacer must see
    the campaign's rolling 24 h abandonment over every instance (the other node's calls
    included, exactly as the database holds it), and the two together stay within 3%."""
    forget(database_url)
    try:
        outcome = run(
            database_url,
            tmp_path,
            inbound_agents=1,
            campaign_agents=2,
            calls=2,
            rate=2,
            leads=24,
            predictive=True,
            history=(1000, 28),
        )
    finally:
        forget(database_url)
    print("\n".join(report(outcome)))
    assert outcome.leads_dialed_once == 24, outcome
    assert all(node.dialed > 0 for node in outcome.nodes), outcome
    assert outcome.abandonment_db is not None
    live = 1000 + sum(n.connected + n.dropped for n in outcome.nodes)
    drops = 28 + sum(n.dropped for n in outcome.nodes)
    assert outcome.abandonment_db == pytest.approx(drops / live)
    assert outcome.abandonment_db <= 0.03
    for node in outcome.nodes:  # one budget: both see both nodes' calls and the past
        assert node.abandonment_seen == pytest.approx(outcome.abandonment_db, abs=1e-9), node
