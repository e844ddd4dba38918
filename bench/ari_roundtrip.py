"""Median ARI REST round trip: our client against a bare aiohttp request, same run, same PBX.

Starts a throw-away Asterisk 22 from the project's root filesystem (run as root), then
alternates rounds of ``GET /ari/asterisk/info`` through ``AriClient`` and through a plain
``aiohttp.ClientSession`` with the same keep-alive connection settings. Prints both medians
and their ratio (target: our client within 10% of bare aiohttp, ratio <= 1.10).

    .venv/bin/python -m bench.ari_roundtrip [--requests 3000] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import secrets
import statistics
import time
from pathlib import Path

import aiohttp

from ari_app.client import AriClient, auth_header
from pbx import rootfs
from pbx.instance import AsteriskInstance
from pbx.ports import free_port

PATH = "/asterisk/info"


async def measure(
    base: str, user: str, password: str, requests: int, rounds: int
) -> dict[str, float]:
    ours: list[float] = []
    bare: list[float] = []
    per_round = max(1, requests // rounds)
    headers = {"Authorization": auth_header(user, password)}
    async with (
        AriClient(base, user, password, "bench") as client,
        aiohttp.ClientSession(
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=10),
            connector=aiohttp.TCPConnector(limit=100, keepalive_timeout=30),
        ) as session,
    ):
        # Warm both connection pools.
        for _ in range(50):
            await client.get(PATH)
            async with session.get(f"{base}/ari{PATH}") as response:
                await response.json()
        for round_index in range(rounds):
            order = ("ours", "bare") if round_index % 2 == 0 else ("bare", "ours")
            for which in order:
                for _ in range(per_round):
                    began = time.perf_counter_ns()
                    if which == "ours":
                        await client.get(PATH)
                        ours.append(time.perf_counter_ns() - began)
                    else:
                        async with session.get(f"{base}/ari{PATH}") as response:
                            response.raise_for_status()
                            await response.json()
                        bare.append(time.perf_counter_ns() - began)
    ours_ms = statistics.median(ours) / 1e6
    bare_ms = statistics.median(bare) / 1e6
    return {
        "requests_each": len(ours),
        "ours_median_ms": round(ours_ms, 4),
        "bare_aiohttp_median_ms": round(bare_ms, 4),
        "ratio": round(ours_ms / bare_ms, 3),
        "ours_p90_ms": round(statistics.quantiles(ours, n=10)[-1] / 1e6, 4),
        "bare_p90_ms": round(statistics.quantiles(bare, n=10)[-1] / 1e6, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    root = rootfs.default_rootfs_dir()
    rootfs.build(root, log=root.parent / "mmdebstrap.log")
    instance = AsteriskInstance.throwaway(root, f"bench-{secrets.token_hex(3)}", free_port())
    instance.start()
    try:
        p = instance.params
        figures = asyncio.run(
            measure(
                f"http://127.0.0.1:{p.http_port}",
                p.ari_user,
                p.ari_password,
                args.requests,
                args.rounds,
            )
        )
    finally:
        instance.destroy()
    machine = f"{platform.machine()} {platform.processor() or ''}".strip()
    print("ARI REST round trip, GET /ari/asterisk/info, Asterisk 22 on loopback")
    print(f"  machine              {machine}, Python {platform.python_version()}")
    print(f"  requests each        {figures['requests_each']}")
    ours, bare = figures["ours_median_ms"], figures["bare_aiohttp_median_ms"]
    print(f"  ours   median        {ours:.4f} ms (p90 {figures['ours_p90_ms']:.4f})")
    print(f"  aiohttp median       {bare:.4f} ms (p90 {figures['bare_p90_ms']:.4f})")
    verdict = "within target" if figures["ratio"] <= 1.10 else "OVER the 1.10 target"
    print(f"  ratio ours/aiohttp   {figures['ratio']:.3f}  ({verdict})")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = {**figures, "machine": machine, "python": platform.python_version()}
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
