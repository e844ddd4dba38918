"""Toll fraud, tried for real: sipp attackers against Asterisk 22 with the app running and an
outbound trunk configured (a sipp UAS standing for the carrier). Whatever they try (no
credentials from an address that is not the trunk, a forged From user, the trunk's own
address, an agent's account with and without its password, a REFER from an agent's phone,
the dialplan's other contexts, callbacks to numbers the caller chooses or forges) the
carrier's sipp receives no INVITE it should not, and Asterisk has no channel to it. The
witnesses are the carrier's own message trace, Asterisk's channels and CDR."""

from __future__ import annotations

import asyncio
import re
import secrets
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pytest

from db.acd_store import add_agent, add_member, add_queue
from db.engine import sync_engine
from pbx.instance import AsteriskInstance
from testkit.agents import SippAgent
from testkit.attacker import ATTACKER_IP, Attacker, ReferringPhone
from testkit.callees import SippCallees
from testkit.runner import place_calls
from testkit.scenario import CallerScript
from tests.support import AppProcess, app_env, query, wait_until

pytestmark = pytest.mark.integration

# What fraudsters dial: international (US and European prefixes, E.164), premium rate.
EXPENSIVE = ("011447700900123", "00447700900123", "+447700900123", "9005550123")
REFER_DID, CALLBACK_DID = "7001", "7002"

FLOWS = """\
flow: {name}
dids: ["{did}"]
start: to_queue
nodes:
  to_queue: {{type: queue, queue: {queue}, on_unavailable: sorry}}
  sorry: {{type: hangup, prompts: [sound:beep]}}
"""
DEFAULT_FLOW = """\
flow: tf-default
default: true
start: bye
nodes:
  bye: {type: hangup, prompts: [sound:beep]}
"""


@dataclass
class Fraud:
    """The app with its outbound trunk (a sipp UAS), two agents and two queues."""

    asterisk: AsteriskInstance
    database_url: str
    trunk: SippCallees
    app: AppProcess
    tag: str
    secrets: dict[str, str]
    # What the carrier may have been asked to ring so far: the positive controls only.
    allowed: dict[str, int] = field(default_factory=dict)

    @property
    def sip_port(self) -> int:
        return self.asterisk.params.sip_port

    def agent(self, role: str) -> str:
        return f"tf{self.tag}{role}"

    def trunk_invites(self) -> dict[str, int]:
        """Every number the carrier was asked to ring, by its own message trace."""
        return dict(self.trunk.calls_by_number())

    def carrier_saw_only_what_was_allowed(self) -> None:
        assert self.trunk_invites() == self.allowed

    def no_trunk_channel(self) -> None:
        channels = self.asterisk.cli("core show channels concise")
        assert "trunk-out" not in channels, channels

    def logged_in(self, role: str) -> None:
        """The agent's phone is registered (as the app sees it): log them in with *51."""
        name = self.agent(role)
        wait_until(
            lambda: query(
                self.database_url,
                "SELECT 1 FROM agent_events WHERE agent = %s AND type = 'REGISTERED'",
                name,
            ),
            10,
            what=f"{name}'s phone registered",
        )
        SippAgent(name, self.secrets[name], self.sip_port).dial("*51")
        wait_until(
            lambda: query(
                self.database_url,
                "SELECT 1 FROM agents WHERE name = %s AND state <> 'logged_out'",
                name,
            ),
            10,
            what=f"{name} logged in",
        )


def _forget(database_url: str, tag: str) -> None:
    like = f"tf{tag}%"
    query(
        database_url, "DELETE FROM queue_members WHERE queue LIKE %s OR agent LIKE %s", like, like
    )
    query(database_url, "DELETE FROM queues WHERE name LIKE %s", like)
    query(database_url, "DELETE FROM agents WHERE name LIKE %s", like)


@pytest.fixture(scope="module")
def fraud(
    asterisk: AsteriskInstance,
    database_url: str,
    agi_port: int,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Fraud]:
    tag = secrets.token_hex(2)
    folder = tmp_path_factory.mktemp("toll-fraud")
    trunk = SippCallees(folder=folder / "trunk")
    trunk.folder.mkdir()
    trunk.start()
    engine = sync_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    made: dict[str, str] = {}
    app: AppProcess | None = None
    try:
        for role in ("dialer", "referrer"):
            name = f"tf{tag}{role}"
            made[name] = add_agent(engine, name, None, {}).secret
        add_queue(engine, f"tf{tag}refer", {})
        add_member(engine, f"tf{tag}refer", f"tf{tag}referrer", 0)
        add_queue(engine, f"tf{tag}cb", {"max_wait_seconds": 2, "callback_key": "*"})
        add_member(engine, f"tf{tag}cb", f"tf{tag}dialer", 0)
        flows = folder / "flows"
        flows.mkdir()
        (flows / "default.yaml").write_text(DEFAULT_FLOW)
        (flows / "refer.yaml").write_text(
            FLOWS.format(name="tf-refer", did=REFER_DID, queue=f"tf{tag}refer")
        )
        (flows / "cb.yaml").write_text(
            FLOWS.format(name="tf-cb", did=CALLBACK_DID, queue=f"tf{tag}cb")
        )
        env = app_env(
            asterisk,
            database_url,
            agi_port,
            SWITCHBOARD_FLOWS_DIR=str(flows),
            SWITCHBOARD_OUTBOUND_URI=trunk.uri,
            SWITCHBOARD_DEFAULT_REGION="US",
        )
        app = AppProcess(env, folder, "fraud-app").start()
        app.wait_for("acd.endpoints_pushed")
        yield Fraud(asterisk, database_url, trunk, app, tag, made)
    finally:
        if app is not None:
            app.stop()
        trunk.stop()
        engine.dispose()
        _forget(database_url, tag)


def test_strangers_without_credentials_are_challenged_and_never_connected(
    fraud: Fraud,
) -> None:
    """(a) From 127.0.0.2, which is not the trunk: whatever the From user claims to be (an
    unknown extension, the inbound or outbound trunk's endpoint name, "anonymous", a real
    agent without the password), each INVITE gets a digest challenge and nothing else."""
    attacker = Attacker(fraud.sip_port, local_ip=ATTACKER_IP)
    claims = ("1000", "trunk-in", "trunk-out", "anonymous", fraud.agent("dialer"))
    for claim in claims:
        for number in EXPENSIVE:
            attempt = attacker.invite(number, from_user=claim)
            assert attempt.finals == (401,), (claim, number, attempt)
    fraud.no_trunk_channel()
    fraud.carrier_saw_only_what_was_allowed()
    # Asterisk's security log has each one, with the attacker's address: an unknown
    # account for every claim but the real agent's, whose account exists (challenged).
    lines = (fraud.asterisk.log_dir / "security.log").read_text(errors="replace").splitlines()
    for claim in claims[:-1]:
        unknown = [
            line
            for line in lines
            if 'SecurityEvent="InvalidAccountID"' in line
            and f'AccountID="{claim}"' in line
            and f"/{ATTACKER_IP}/" in line
        ]
        assert len(unknown) == len(EXPENSIVE), (claim, unknown)


def test_the_trunk_reaches_only_the_application(fraud: Fraud, database_url: str) -> None:
    """(b) From the trunk's own address the same numbers are inbound calls: the app answers
    them (its default flow) and records them; Asterisk's CDR has them in Stasis."""
    callers = {number: f"+1555010{7200 + i}" for i, number in enumerate(EXPENSIVE)}

    async def all_calls() -> list[Any]:
        return list(
            await asyncio.gather(
                *(
                    place_calls(
                        fraud.sip_port,
                        number,
                        CallerScript(caller=caller, keys=(), bye_timeout_ms=15000),
                        timeout_s=30,
                    )
                    for number, caller in callers.items()
                )
            )
        )

    results = asyncio.run(all_calls())
    assert all(r.ok for r in results), [r.output for r in results if not r.ok]
    for number, caller in callers.items():
        row = wait_until(
            partial(
                query,
                database_url,
                "SELECT * FROM calls WHERE caller_number = %s AND ended_at IS NOT NULL",
                caller,
            ),
            15,
            what=f"the record of {caller}",
        )[0]
        assert row["direction"] == "inbound"
        assert row["dialed_number"] == number
        cdr = [r for r in fraud.asterisk.cdr_rows() if r.uniqueid == row["channel_id"]]
        assert cdr and cdr[0].dcontext == "from-trunk" and cdr[0].lastapp == "Stasis"
    fraud.no_trunk_channel()
    fraud.carrier_saw_only_what_was_allowed()


def test_agents_cannot_dial_out_with_or_without_their_password(fraud: Fraud) -> None:
    """(c) An agent's phone, authenticated, dials external numbers: refused by the agents'
    context (403), never dialed. With a wrong password: challenged again (401)."""
    name = fraud.agent("dialer")
    secret = fraud.secrets[name]
    attacker = Attacker(fraud.sip_port, local_ip="127.0.0.1")
    for number in (*EXPENSIVE, "15550107301", "+15550107301"):
        right = attacker.invite(number, from_user=name, credentials=(name, secret))
        assert right.finals[0] == 401 and right.finals[-1] == 403, (number, right)
        assert not right.answered
        wrong = attacker.invite(number, from_user=name, credentials=(name, secret[::-1]))
        assert set(wrong.finals) == {401}, (number, wrong)
    fraud.no_trunk_channel()
    fraud.carrier_saw_only_what_was_allowed()
    log = (fraud.asterisk.log_dir / "security.log").read_text(errors="replace")
    assert 'SecurityEvent="ChallengeResponseFailed"' in log and f'AccountID="{name}"' in log


def media_sockets(asterisk: AsteriskInstance) -> list[str]:
    """Local addresses of the UDP sockets this Asterisk holds in its RTP port range."""
    pid = (asterisk.host_dir / "run" / "asterisk.pid").read_text().strip()
    listing = subprocess.run(
        ["ss", "-H", "-u", "-a", "-n", "-p"], capture_output=True, text=True, check=True
    ).stdout
    found = []
    for line in listing.splitlines():
        fields = line.split()
        if len(fields) < 5 or f"pid={pid}," not in line:
            continue
        local = fields[3]
        port = int(local.rsplit(":", 1)[1])
        if asterisk.params.rtp_start <= port <= asterisk.params.rtp_end:
            found.append(local)
    return found


def test_a_refer_from_an_agents_phone_is_refused_and_media_stays_on_loopback(
    fraud: Fraud, database_url: str
) -> None:
    """(d) An agent answers a queue call and REFERs the caller to an international number:
    Asterisk refuses (603, allow_transfer = no: transfers go through the HTTP API), the call
    goes on. While it is up, both legs' media sockets are bound to 127.0.0.1, the SIP
    transport's address, not to every interface."""
    name = fraud.agent("referrer")
    phone = ReferringPhone(name, fraud.secrets[name], fraud.sip_port, EXPENSIVE[0])
    phone.start()
    caller = "+15550107501"
    script = CallerScript(caller=caller, keys=(), hang_up_after_ms=6000)
    try:
        phone.register()
        fraud.logged_in("referrer")
        with ThreadPoolExecutor(max_workers=1) as pool:
            call = pool.submit(
                lambda: asyncio.run(place_calls(fraud.sip_port, REFER_DID, script, timeout_s=30))
            )
            sockets = wait_until(
                lambda: (lambda found: found if len(found) >= 4 else None)(
                    media_sockets(fraud.asterisk)
                ),
                15,
                what="media for the caller and the agent",
            )
            assert all(local.startswith("127.0.0.1:") for local in sockets), sockets
            result = call.result(timeout=40)
        assert result.ok, result.output
        phone.wait(20)
    finally:
        phone.stop()
    assert phone.refer_responses() == [603]
    row = wait_until(
        lambda: query(
            database_url,
            "SELECT * FROM calls WHERE caller_number = %s AND ended_at IS NOT NULL",
            caller,
        ),
        15,
        what="the caller's record",
    )[0]
    # The caller talked to the agent until they hung up themselves: nothing moved them.
    assert row["agent"] == name and row["hangup_party"] == "caller", row
    fraud.no_trunk_channel()
    fraud.carrier_saw_only_what_was_allowed()


def test_the_dialplan_has_no_way_out(fraud: Fraud) -> None:
    """(d) No context of ours uses an application that could dial: the only calls to the
    carrier are the ones the application originates. A Local channel into the default
    context with an international number is hung up. And the witness works: a call the
    application side does originate to the trunk is seen by the carrier's sipp."""
    shown = fraud.asterisk.cli("dialplan show")
    ours = [block for block in shown.split("[ Context ") if "created by 'pbx_config'" in block]
    names = {re.match(r"'([^']+)'", block).group(1) for block in ours}  # type: ignore[union-attr]
    assert {"from-trunk", "agents", "default"} <= names
    apps = {app for block in ours for app in re.findall(r"\d+\.\s+(\w+)\(", block)}
    allowed = {"NoOp", "Set", "Stasis", "Hangup", "Goto", "GotoIf", "Answer", "Read", "AGI"}
    allowed |= {"Playback", "AMD", "Wait"}
    assert apps <= allowed, apps - allowed

    fraud.asterisk.cli(f"channel originate Local/{EXPENSIVE[0]}@default application Wait 1")
    fraud.asterisk.cli(f"channel originate Local/{EXPENSIVE[0]}@agents application Wait 1")
    time.sleep(1.0)
    fraud.no_trunk_channel()
    fraud.carrier_saw_only_what_was_allowed()

    # The witness sees what does go to the carrier (a busy number: ends in 2).
    fraud.asterisk.cli("channel originate PJSIP/15550107602@trunk-out application Wait 1")
    fraud.allowed["15550107602"] = 1
    wait_until(lambda: fraud.trunk_invites() == fraud.allowed, 10, what="the carrier's INVITE")


def test_callbacks_to_foreign_or_premium_numbers_are_refused(
    fraud: Fraud, database_url: str
) -> None:
    """Callback fraud: a caller waiting in a queue asks to be called back on a number they
    key (an international one) or on their caller ID (forged: Jamaica, +1 876, which shares
    the US country code). Both are refused before any agent is rung; a caller with a US
    number gets their callback through the carrier as before."""
    typed = "011447700900123"
    keys: tuple[tuple[int, str], ...] = ((6000, "2"), (1500, typed[0]))
    keys += (*((400, digit) for digit in typed[1:]), (400, "#"))
    scripts = {
        "+15550107701": keys,  # keys a UK number
        "+18765550123": ((6000, "1"),),  # "call me back on this number": Jamaica
        "+15550107702": ((6000, "1"),),  # a US number (busy at the carrier: ends in 2)
    }

    async def ask() -> list[Any]:
        calls = []
        for caller, pressed in scripts.items():
            script = CallerScript(caller=caller, keys=pressed, bye_timeout_ms=30000)
            calls.append(place_calls(fraud.sip_port, CALLBACK_DID, script, timeout_s=60))
        return list(await asyncio.gather(*calls))

    results = asyncio.run(ask())
    assert all(r.ok for r in results), [r.output for r in results if not r.ok]
    requests = {
        r["number"]: r
        for r in query(
            database_url,
            "SELECT c.number, c.id, c.status, c.queue, c.call_id, calls.caller_number "
            "FROM callback_requests c "
            "JOIN calls ON calls.id = c.call_id WHERE calls.caller_number = ANY(%s)",
            list(scripts),
        )
    }
    assert set(requests) == {typed, "+18765550123", "+15550107702"}, requests
    # An agent becomes free: the refused ones never ring them, the US one does.
    name = fraud.agent("dialer")
    phone = SippAgent(name, fraud.secrets[name], fraud.sip_port, ring_ms=200)
    phone.start()
    try:
        fraud.logged_in("dialer")

        def settled() -> bool:
            rung = set(fraud.trunk_invites()) - set(fraud.allowed) - {"+15550107702"}
            assert not rung, f"the carrier was asked to ring {rung}"
            return all(
                row["status"] in ("cancelled", "failed", "done")
                for row in query(
                    database_url,
                    "SELECT status FROM callback_requests WHERE id = ANY(%s)",
                    [r["id"] for r in requests.values()],
                )
            )

        wait_until(settled, 30, what="every callback settled")
        # An agent codes the forged caller's call with a callback action: the number is
        # still the caller's own (forged) caller ID, and is refused the same way. (Only
        # now: one call has one callback going at a time.)
        forged = requests["+18765550123"]
        coded = query(
            database_url,
            "INSERT INTO callback_requests"
            " (id, call_id, number, queue, source, requested_at, status) VALUES"
            " (gen_random_uuid(), %s, %s, %s, 'disposition', now(), 'pending') RETURNING id",
            forged["call_id"],
            "+18765550123",
            forged["queue"],
        )[0]["id"]
        wait_until(
            lambda: (
                settled()
                and query(
                    database_url, "SELECT status FROM callback_requests WHERE id = %s", coded
                )[0]["status"]
                in ("cancelled", "failed", "done")
            ),
            30,
            what="the coded callback settled",
        )
    finally:
        phone.stop()
    status = {
        r["number"]: r["status"]
        for r in query(
            database_url,
            "SELECT number, status FROM callback_requests WHERE id = ANY(%s)",
            [r["id"] for r in requests.values()],
        )
    }
    assert status == {typed: "cancelled", "+18765550123": "cancelled", "+15550107702": "failed"}
    coded_status = query(database_url, "SELECT status FROM callback_requests WHERE id = %s", coded)[
        0
    ]["status"]
    assert coded_status == "cancelled"
    refused = query(
        database_url,
        "SELECT data FROM call_events WHERE type = 'CALLBACKREFUSED' AND data->>'number' = ANY(%s)",
        [typed, "+18765550123"],
    )
    reasons = sorted(str(r["data"]["reason"]) for r in refused)
    assert len(reasons) == 3 and "international" in reasons[2], reasons
    assert "JM" in reasons[0] and "JM" in reasons[1], reasons
    rang = query(
        database_url,
        "SELECT count(*) AS n FROM call_events WHERE type = 'RINGING' AND data->>'agent' = %s",
        name,
    )
    assert rang[0]["n"] == 1
    fraud.allowed["+15550107702"] = 1
    fraud.carrier_saw_only_what_was_allowed()
    fraud.no_trunk_channel()
