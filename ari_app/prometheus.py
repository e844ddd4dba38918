"""Prometheus metrics at ``/metrics``: built from the live figures at each scrape (a custom
collector), plus counters the app keeps. Labels are queue, agent state and campaign names,
all bounded by what operators configure."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ari_app.live_figures import LiveFigures

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class FiguresCollector(Collector):
    def __init__(self, figures: LiveFigures) -> None:
        self.figures = figures

    def collect(self) -> Iterator[Metric]:
        snapshot = self.figures.snapshot()
        agents = GaugeMetricFamily(
            "switchboard_agents", "Agents by state (this instance's view)", labels=["state"]
        )
        for state, count in snapshot["agents"].items():
            agents.add_metric([state], count)
        yield agents

        waiting = GaugeMetricFamily(
            "switchboard_queue_callers_waiting", "Callers waiting in the queue", labels=["queue"]
        )
        longest = GaugeMetricFamily(
            "switchboard_queue_longest_wait_seconds",
            "How long the caller waiting longest has waited",
            labels=["queue"],
        )
        available = GaugeMetricFamily(
            "switchboard_queue_agents_available",
            "Members who can take a call now",
            labels=["queue"],
        )
        offered = GaugeMetricFamily(
            "switchboard_queue_offered_today",
            "Calls that entered the queue today",
            labels=["queue"],
        )
        answered = GaugeMetricFamily(
            "switchboard_queue_answered_today", "Calls an agent answered today", labels=["queue"]
        )
        abandoned = GaugeMetricFamily(
            "switchboard_queue_abandoned_today",
            "Callers who hung up waiting, today",
            labels=["queue"],
        )
        service = GaugeMetricFamily(
            "switchboard_queue_service_level_today",
            "Share answered within the queue's threshold today (abandons count against, "
            "short abandons left out); absent without calls",
            labels=["queue"],
        )
        abandonment = GaugeMetricFamily(
            "switchboard_queue_abandonment_today",
            "Share of callers who abandoned today (short abandons left out)",
            labels=["queue"],
        )
        for queue in snapshot["queues"]:
            name = [queue["name"]]
            waiting.add_metric(name, queue["waiting"])
            longest.add_metric(name, queue["longest_wait_seconds"])
            available.add_metric(name, queue["agents"]["available"])
            today = queue["today"]
            offered.add_metric(name, today["offered"])
            answered.add_metric(name, today["answered"])
            abandoned.add_metric(name, today["abandoned"])
            if today["service_level"] is not None:
                service.add_metric(name, today["service_level"])
            if today["abandonment"] is not None:
                abandonment.add_metric(name, today["abandonment"])
        yield from (waiting, longest, available, offered, answered, abandoned, service)
        yield abandonment

        dialing = GaugeMetricFamily(
            "switchboard_campaign_dials_in_progress", "Dials ringing now", labels=["campaign"]
        )
        free = GaugeMetricFamily(
            "switchboard_campaign_free_agents", "The campaign's free agents", labels=["campaign"]
        )
        rate = GaugeMetricFamily(
            "switchboard_campaign_abandonment",
            "Dropped live answers / live answers, rolling window",
            labels=["campaign", "window"],
        )
        dials = CounterMetricFamily(
            "switchboard_campaign_dials", "Dials placed by this instance", labels=["campaign"]
        )
        running = GaugeMetricFamily(
            "switchboard_campaign_running", "1 while the campaign dials", labels=["campaign"]
        )
        for campaign in snapshot["campaigns"]:
            name = [campaign["name"]]
            dialing.add_metric(name, campaign["dialing"])
            free.add_metric(name, campaign["free_agents"])
            rate.add_metric([campaign["name"], "24h"], campaign["abandonment_24h"])
            rate.add_metric([campaign["name"], "30d"], campaign["abandonment_30d"])
            running.add_metric(name, 1 if campaign["state"] == "running" else 0)
            dials.add_metric(name, campaign.get("dials_placed", 0))
        yield from (dialing, free, rate, running, dials)


# What the app has done since it started: name -> (help, read the count now).
Counters = dict[str, tuple[str, Callable[[], float]]]


class CountersCollector(Collector):
    """Plain counters the app keeps (ARI requests and events, records written), read at
    each scrape."""

    def __init__(self, counters: Counters) -> None:
        self.counters = counters

    def collect(self) -> Iterator[Metric]:
        for name, (documentation, read) in self.counters.items():
            yield CounterMetricFamily(f"switchboard_{name}", documentation, value=read())


def build_registry(figures: LiveFigures, counters: Counters | None = None) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FiguresCollector(figures))
    if counters:
        registry.register(CountersCollector(counters))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
