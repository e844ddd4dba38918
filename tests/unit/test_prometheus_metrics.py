"""The Prometheus exposition from the live figures, and the Grafana dashboard kept in the
repository: every metric the dashboard queries is one the app exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from ari_app.prometheus import FiguresCollector, render

DASHBOARD = (
    Path(__file__).resolve().parents[2] / "docker" / "grafana" / "switchboard-dashboard.json"
)


class Figures:
    def snapshot(self) -> dict[str, Any]:
        today: dict[str, float | None] = {
            "offered": 10,
            "answered": 8,
            "abandoned": 2,
            "service_level": 0.75,
            "service_level_seconds": 20.0,
            "abandonment": 0.2,
        }
        quiet = {**today, "offered": 0, "answered": 0, "abandoned": 0}
        quiet |= {"service_level": None, "abandonment": None}
        agents = {"available": 1, "on_call": 2, "wrap_up": 0, "paused": 1, "logged_in": 4}
        return {
            "agents": {"available": 1, "on_call": 2, "logged_out": 3},
            "queues": [
                {"name": "sales", "waiting": 3, "longest_wait_seconds": 42.5, "agents": agents,
                 "today": today},
                {"name": "quiet", "waiting": 0, "longest_wait_seconds": 0.0, "agents": agents,
                 "today": quiet},
            ],
            "campaigns": [
                {"name": "spring", "state": "running", "dialing": 4, "free_agents": 2,
                 "abandonment_24h": 0.02, "abandonment_30d": 0.01, "dials_placed": 120},
            ],
        }  # fmt: skip


def exposition() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FiguresCollector(Figures()))  # type: ignore[arg-type]
    samples = {}
    for family in text_string_to_metric_families(render(registry).decode()):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def test_the_figures_as_prometheus_samples() -> None:
    samples = exposition()
    assert samples[("switchboard_queue_callers_waiting", (("queue", "sales"),))] == 3
    assert samples[("switchboard_queue_longest_wait_seconds", (("queue", "sales"),))] == 42.5
    assert samples[("switchboard_queue_service_level_today", (("queue", "sales"),))] == 0.75
    assert samples[("switchboard_agents", (("state", "logged_out"),))] == 3
    assert samples[("switchboard_campaign_dials_total", (("campaign", "spring"),))] == 120
    key = ("switchboard_campaign_abandonment", (("campaign", "spring"), ("window", "30d")))
    assert samples[key] == 0.01
    # No calls today: no service level at all, rather than a made-up 0 or 100%.
    assert ("switchboard_queue_service_level_today", (("queue", "quiet"),)) not in samples
    assert samples[("switchboard_queue_offered_today", (("queue", "quiet"),))] == 0


def test_the_dashboard_queries_only_metrics_the_app_exports() -> None:
    exported = {name for name, _ in exposition()}
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    exprs += [v["query"] for v in dashboard["templating"]["list"]]
    used = {m for e in exprs for m in re.findall(r"\bswitchboard_[a-z_]+", e)}
    assert used and used <= exported, used - exported
