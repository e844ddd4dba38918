"""The API's roles on a real call (Asterisk 22, sipp softphone and caller, PostgreSQL):
credentials made with the CLI; another agent's token can neither hold the call nor code it,
and the call goes on untouched; the agent's own token holds it; a supervisor reads the
ACD's state, an agent may not; a revoked token is refused within seconds. And `run` will
not start without an operator token."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pbx.instance import AsteriskInstance
from switchboard.cli.main import app as main_app
from tests.integration.test_acd_calls import (
    Center,
    call_in_background,
    calls,
    center,  # noqa: F401  (the fixture)
    events,
    wait_state,
)
from tests.integration.test_startup_errors import switchboard
from tests.support import app_env, query, wait_until

pytestmark = pytest.mark.integration

SUPERVISOR = "roles-sup"


def cli(database_url: str, *args: str) -> str:
    result = CliRunner().invoke(main_app, list(args), env={"DATABASE_URL": database_url})
    assert result.exit_code == 0, result.output
    return result.output


def token_in(output: str) -> str:
    found = re.search(r"API token\s*:\s*(\S+)", output)
    assert found, output
    return found.group(1)


def api(where: Center, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
    assert where.app is not None
    port = where.app.env["SWITCHBOARD_API_PORT"]
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body or {}).encode() if method == "POST" else None,
        method=method,
    )
    request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def supervisor_cleanup(database_url: str) -> Iterator[None]:
    yield None
    query(database_url, "DELETE FROM api_credentials WHERE name = %s", SUPERVISOR)


def test_tokens_act_within_their_roles_on_a_live_call(
    center: Center,  # noqa: F811
    database_url: str,
    supervisor_cleanup: None,
) -> None:
    center.agent("roa")  # takes the call
    made = cli(database_url, "agents", "add", "rob")  # another agent, made by the CLI
    assert "password" in made
    rob = token_in(made)
    roa = token_in(cli(database_url, "agents", "token", "roa"))
    sup = token_in(cli(database_url, "api-users", "add", SUPERVISOR, "--role", "supervisor"))
    listed = cli(database_url, "api-users", "list")
    assert "roa" in listed and SUPERVISOR in listed and "supervisor" in listed
    assert not any(t in listed for t in (rob, roa, sup))  # never shown again
    stored = query(database_url, "SELECT token_hash FROM api_credentials WHERE name = 'roa'")
    assert stored and roa not in stored[0]["token_hash"]

    center.queue("roles-q", ["roa"])
    center.start("roles-q")
    center.phone("roa")
    center.login("roa")
    caller = "+15558300001"
    done = call_in_background(center, caller, 9000)
    wait_state(center, "roa", "on_call")

    # Rob's token: not his call, not his agent. Refused, and the call is untouched.
    status, answer = api(center, "POST", "/api/agents/roa/call/hold", rob)
    assert status == 403 and "agent credential 'rob'" in answer["error"], answer
    status, answer = api(center, "POST", "/api/agents/roa/call/transfer", rob, {"target": "x"})
    assert status == 403
    assert api(center, "GET", "/api/agents/roa", rob)[0] == 403
    assert center.state("roa")["state"] == "on_call"
    # ... nor may he put it on his own desk's account: it is not a call he handled.
    live_call = center.state("roa")["call_id"]
    status, answer = api(
        center, "POST", "/api/agents/rob/disposition", rob, {"code": "sold", "call": live_call}
    )
    assert status == 403 and "not one agent 'rob' handled" in answer["error"]

    # Roa's own token holds and resumes her call.
    assert api(center, "POST", "/api/agents/roa/call/hold", roa) == (200, {"held": True})
    assert center.state("roa")["state"] == "on_hold"
    time.sleep(1)
    assert api(center, "POST", "/api/agents/roa/call/unhold", roa) == (200, {"held": False})

    # The supervisor sees the whole ACD; an agent may not.
    status, state = api(center, "GET", "/api/state", sup)
    assert status == 200 and "roa" in [a["name"] for a in state["agents"]]
    status, answer = api(center, "GET", "/api/state", roa)
    assert status == 403 and "error" in answer
    assert api(center, "GET", "/api/agents/roa", sup)[0] == 200

    result = done.result(timeout=60)
    assert result.ok, result.output
    (row,) = calls(database_url, caller, 1)
    assert row["agent"] == "roa" and row["hold_count"] == 1
    kinds = [e["type"] for e in events(database_url, row["id"])]
    assert kinds.count("CALLERONHOLD") == 1 and kinds.count("CALLEROFFHOLD") == 1
    assert "BLINDTRANSFER" not in kinds

    # Revoked: refused within the few seconds positive look-ups are remembered.
    cli(database_url, "api-users", "revoke", "roa")
    wait_until(lambda: api(center, "GET", "/api/agents/roa", roa)[0] == 401, 10, what="the revoke")
    assert api(center, "GET", "/api/agents/rob", rob)[0] == 200  # others unaffected
    revoked = query(database_url, "SELECT revoked_at FROM api_credentials WHERE name = 'roa'")
    assert revoked[0]["revoked_at"] is not None


def test_run_refuses_to_start_without_an_api_token(
    asterisk: AsteriskInstance, database_url: str, agi_port: int, tmp_path: Path
) -> None:
    env = app_env(asterisk, database_url, agi_port, SWITCHBOARD_API_TOKEN="")
    result = switchboard(["run"], env, tmp_path, timeout=30)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: SWITCHBOARD_API_TOKEN is empty")
    assert "switchboard init" in lines[0]
