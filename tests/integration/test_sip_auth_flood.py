"""A password-guessing flood against an agent's SIP account, on the real Asterisk 22 with the
app running: 600 REGISTERs at 100 per second from 127.0.0.2, each answering the digest
challenge with a wrong password, then a scanner probing for accounts. Meanwhile a caller
comes in through the trunk and the agent's own phone registers. The call completes and is
recorded, Asterisk answers its console at once, the agent gets in, and Asterisk's security
log has one failed authentication per attempt (and one unknown account per probe) with the
attacker's address: what fail2ban reads
(docker/fail2ban/, tests/unit/test_fail2ban_filter.py)."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from db.acd_store import add_agent
from db.engine import sync_engine
from pbx.instance import AsteriskInstance
from pbx.ports import free_tcp_udp_port
from testkit.agents import SippAgent
from testkit.attacker import ATTACKER_IP, Attacker, register_flood
from testkit.runner import place_calls
from testkit.scenario import CallerScript
from tests.conftest import AppFactory
from tests.support import ended_call, query

pytestmark = pytest.mark.integration

ATTEMPTS = 600  # six seconds at RATE: long enough for the real phone to register meanwhile
RATE = 100
FAILED = re.compile(
    r'SecurityEvent="ChallengeResponseFailed".*AccountID="(?P<account>[^"]*)".*'
    r'RemoteAddress="IPV4/UDP/(?P<host>[0-9.]+)/\d+"'
)


def test_a_password_flood_is_logged_per_attempt_and_does_not_stop_real_calls(
    app_factory: AppFactory,
    asterisk: AsteriskInstance,
    database_url: str,
    tmp_path: Path,
) -> None:
    name = f"flood{secrets.token_hex(3)}"
    engine = sync_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        secret = add_agent(engine, name, None, {}).secret
        app = app_factory()
        app.start()
        app.wait_for("acd.endpoints_pushed")
        log = asterisk.log_dir / "security.log"
        before = log.stat().st_size if log.exists() else 0

        caller = f"+1555010{secrets.randbelow(9000) + 1000}"
        script = CallerScript(caller=caller, keys=((1000, "7"),))
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=2) as pool:
            flood = pool.submit(
                register_flood,
                asterisk.params.sip_port,
                name,
                secret[::-1],
                count=ATTEMPTS,
                rate=RATE,
                local_ip=ATTACKER_IP,
                folder=tmp_path,
            )
            time.sleep(0.3)  # the flood is under way
            call = pool.submit(
                lambda: asyncio.run(place_calls(asterisk.params.sip_port, "800123", script))
            )
            # The agent's real phone gets in (a digest REGISTER from the trunk's address)...
            phone = SippAgent(
                name, secret, asterisk.params.sip_port, port=free_tcp_udp_port(), folder=tmp_path
            )
            phone.register()
            registered_during_flood = not flood.done()
            # ...and Asterisk keeps answering its console.
            slowest = 0.0
            while not flood.done():
                asked = time.monotonic()
                assert "System uptime" in asterisk.cli("core show uptime", timeout=5)
                slowest = max(slowest, time.monotonic() - asked)
                time.sleep(0.2)
            attack = flood.result(timeout=60)
            result = call.result(timeout=60)
        flood_seconds = time.monotonic() - started
        # A scanner probing for accounts that do not exist: the same 401 as for a real one
        # (no account enumeration), and an InvalidAccountID event each. The last one's From
        # user tries to plant another address in the log line for fail2ban to ban.
        scanner = Attacker(asterisk.params.sip_port, local_ip=ATTACKER_IP, folder=tmp_path)
        users = ("100", "101", "%22,RemoteAddress=%22IPV4/UDP/10.9.8.7/5")
        probes = [scanner.invite("011447700900123", from_user=user) for user in users]
        assert all(p.finals == (401,) for p in probes), probes

        assert registered_during_flood
        assert attack.attempts == ATTEMPTS, attack.output
        assert set(attack.responses) == {401}, sorted(set(attack.responses))
        assert flood_seconds < ATTEMPTS / RATE + 10
        assert slowest < 2.0, f"the console took {slowest:.1f} s to answer during the flood"
        assert result.ok, result.output
        row = ended_call(database_url, caller)
        assert row["digits"] == "7" and row["outcome"] == "completed", row

        with log.open(encoding="utf-8", errors="replace") as handle:
            handle.seek(before)
            lines = handle.read().splitlines()
        failed = [m for m in map(FAILED.search, lines) if m and m["account"] == name]
        assert len(failed) == ATTEMPTS
        assert {m["host"] for m in failed} == {ATTACKER_IP}
        ok = [
            line
            for line in lines
            if 'SecurityEvent="SuccessfulAuth"' in line and f'AccountID="{name}"' in line
        ]
        assert ok and all("/127.0.0.1/" in line for line in ok)
        unknown = [
            line
            for line in lines
            if 'SecurityEvent="InvalidAccountID"' in line and f"/{ATTACKER_IP}/" in line
        ]
        assert len(unknown) == len(probes)
        # For a look at real lines (tests/data/asterisk_security_sample.log came from here).
        (tmp_path / "security.log").write_text("\n".join(lines) + "\n")
    finally:
        engine.dispose()
        query(database_url, "DELETE FROM agents WHERE name = %s", name)
