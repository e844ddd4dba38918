"""The cost of one ACD routing decision, and how it grows with the number of waiting callers.

A decision is what happens when one agent frees up: ``dispatch`` over every queue, with
every other agent busy. The call center: 1,000 agents, each a member of 5 of 20 queues, with
skills; waiting callers spread over the queues, some needing a skill level nobody free has.
Prints microseconds per decision for 100 to 10,000 callers, and each as a ratio to the
100-caller figure of the same run.

    .venv/bin/python -m bench.acd_routing [--agents 1000] [--decisions 200]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from callcenter.acd.agents import Agent
from callcenter.acd.routing import QueueState, Strategy, Waiting, Widening, dispatch

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SKILLS = ("english", "french", "billing", "tech")


def build(
    agents_n: int, callers_n: int, seed: int = 1
) -> tuple[list[QueueState], dict[str, Agent]]:
    rng = random.Random(seed)
    strategies = list(Strategy)
    queues = [
        QueueState(
            f"q{i}",
            strategies[i % len(strategies)],
            widening=[Widening(after=60, relax=20, max_penalty=2)],
        )
        for i in range(20)
    ]
    agents: dict[str, Agent] = {}
    for n in range(agents_n):
        agent = Agent(f"a{n}", skills={s: rng.randint(20, 100) for s in rng.sample(SKILLS, 2)})
        agent.log_in(T0 - timedelta(seconds=rng.randint(0, 3600)))
        agent.offer(T0, f"busy-{n}")  # everyone is on a call...
        agent.answer(T0)
        agents[agent.name] = agent
        for queue in rng.sample(queues, 5):
            queue.add_member(agent.name, penalty=rng.randint(0, 3))
    for c in range(callers_n):
        queue = queues[c % len(queues)]
        needs = {rng.choice(SKILLS): rng.randint(30, 100)} if rng.random() < 0.5 else {}
        queue.waiting.append(
            Waiting(f"c{c}", T0 - timedelta(seconds=rng.randint(0, 600)), rng.randint(0, 3), needs)
        )
    return queues, agents


def decision_us(agents_n: int, callers_n: int, decisions: int) -> float:
    queues, agents = build(agents_n, callers_n)
    names = list(agents)
    rng = random.Random(2)
    now = T0 + timedelta(seconds=30)
    times = []
    for _ in range(decisions):
        freed = agents[rng.choice(names)]
        freed.call_ended(now, wrap_up=0)  # ...but this one, who just finished
        started = time.perf_counter()
        offers = dispatch(queues, agents, now)
        times.append(time.perf_counter() - started)
        freed.offer(now, "busy")
        freed.answer(now)
        for offer in offers:  # keep the queues as they are for the next decision
            assert offer.agents == (freed.name,) or len(offer.agents) >= 1
    return statistics.median(times) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--decisions", type=int, default=200)
    args = parser.parse_args()
    print(
        f"one routing decision, {args.agents} agents (one free), 20 queues, median of "
        f"{args.decisions}"
    )
    baseline = None
    for callers in (100, 1000, 3000, 10000):
        us = decision_us(args.agents, callers, args.decisions)
        baseline = baseline or us
        print(f"  {callers:>6} waiting callers: {us:10.1f} us/decision   x{us / baseline:6.2f}")


if __name__ == "__main__":
    main()
