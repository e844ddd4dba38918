"""The abandonment limit a campaign runs under is never above the law's 3%, whatever is
stored (a campaign written before the cap, or around the CLI)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from db.campaign_admin import LEGAL_ABANDON_LIMIT
from db.campaign_store import CampaignConfig


def row(limit: float) -> SimpleNamespace:
    return SimpleNamespace(
        name="c", mode="predictive", state="running", queue="q", caller_id="+12125550000",
        caller_name=None, abandon_limit=limit, ring_seconds=20, amd="off",
        message_prompt=None, max_attempts=3, retry_delays={}, hours=None, max_calls_24h=None,
        max_calls_30d=None, uk_mode=False, national_dnc=None, seller_name="Acme",
        optout_key="9",
    )  # fmt: skip


@pytest.mark.parametrize(("stored", "applied"), [(0.05, 0.03), (0.03, 0.03), (0.02, 0.02)])
def test_the_law_caps_a_stored_limit(stored: float, applied: float) -> None:
    config = CampaignConfig.from_row(row(stored))
    assert LEGAL_ABANDON_LIMIT == 0.03
    assert config.abandon_limit == applied
    assert config.policy.abandon_limit == applied
