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
