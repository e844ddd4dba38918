"""Recordings on real calls (Asterisk, sipp, PostgreSQL): paused from the agent's phone
(*1, *2) and from the desk's API, the gaps marked and missing from the file; listed, fetched
and purged (the file gone from Asterisk's disk, the row from the database)."""

from __future__ import annotations

import io
import json
import time
import urllib.error
import urllib.request
import wave
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from db.api_credential_store import issue_agent_token
from switchboard.cli.main import app as main_app
from testkit.agents import SippAgent
from tests.integration.test_acd_calls import (
    Center,
    call_in_background,
    calls,
    center,  # noqa: F401  (the fixture)
    events,
    post,
    wait_state,
)
from tests.support import query, wait_until

pytestmark = pytest.mark.integration


def cli(site: Center, *args: str, code: int = 0) -> str:
    assert site.app is not None
    env = {
        "DATABASE_URL": site.database_url,
        "COLUMNS": "250",
        "SWITCHBOARD_API_PORT": site.app.env["SWITCHBOARD_API_PORT"],
        "SWITCHBOARD_API_TOKEN": site.app.env["SWITCHBOARD_API_TOKEN"],
    }
    result = CliRunner().invoke(main_app, list(args), env=env)
    assert result.exit_code == code, result.output
    return result.output


def api_bytes(site: Center, path: str) -> bytes:
    assert site.app is not None
    request = urllib.request.Request(
        f"http://127.0.0.1:{site.app.env['SWITCHBOARD_API_PORT']}{path}"
    )
    request.add_header("Authorization", f"Bearer {site.app.env['SWITCHBOARD_API_TOKEN']}")
    with urllib.request.urlopen(request, timeout=10) as response:
        data: bytes = response.read()
        return data


def get(site: Center, path: str, token: str | None = None) -> tuple[int, Any]:
    assert site.app is not None
    request = urllib.request.Request(
        f"http://127.0.0.1:{site.app.env['SWITCHBOARD_API_PORT']}{path}"
    )
    request.add_header("Authorization", f"Bearer {token or site.app.env['SWITCHBOARD_API_TOKEN']}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def seconds_of(wav: bytes) -> float:
    with wave.open(io.BytesIO(wav)) as audio:
        return float(audio.getnframes()) / float(audio.getframerate())


def test_a_recording_paused_from_the_phone_and_the_desk_has_its_gaps(
    center: Center,  # noqa: F811
    database_url: str,
    tmp_path: Path,
) -> None:
    center.agent("recann")
    center.queue("recq", ["recann"], record_calls=True)
    center.start("recq")
    # The agent's phone: *1 at 1.5 s after answering (pause), *2 at 3.5 s (resume).
    phone = SippAgent(
        "recann",
        center.secrets["recann"],
        center.asterisk.params.sip_port,
        ring_ms=200,
        keys=((1500, "*"), (150, "1"), (1850, "*"), (150, "2")),
    )
    phone.start()
    center.phones.append(phone)
    wait_until(lambda: center.state("recann")["registered"], 10, what="recann registered")
    center.login("recann")
    caller = "+15558800101"
    done = call_in_background(center, caller, 9000)
    wait_state(center, "recann", "on_call")
    # The desk: no resume while recording; then pause at about 5.5 s, until the end.
    time.sleep(5.5)
    status, answer = post(center, "/api/agents/recann/call/resume_recording")
    assert status == 409 and "not paused" in answer["error"]
    status, answer = post(center, "/api/agents/recann/call/pause_recording")
    assert status == 200 and answer["recording"] == "paused", answer
    status, answer = post(center, "/api/agents/recann/call/pause_recording")
    assert status == 409 and "already paused" in answer["error"]
    result = done.result(timeout=60)
    assert result.ok, result.output
    (row,) = calls(database_url, caller, 1)

    recording = wait_until(
        lambda: query(
            database_url,
            "SELECT * FROM recordings WHERE call_id = %s AND ended_at IS NOT NULL",
            row["id"],
        ),
        10,
        what="the recording's final row",
    )[0]
    kinds = [e["type"] for e in events(database_url, row["id"])]
    assert kinds.count("RECORDPAUSE") == 2 and kinds.count("RECORDRESUME") == 1, kinds
    gaps = recording["gaps"]
    assert [g["by"] for g in gaps] == ["agent:recann", "agent:recann"]
    # The phone's gap: about 2 s, 1.5 s into the recording; the desk's: from ~5.5 s to
    # the end of the call.
    assert 1.0 < gaps[0]["offset"] < 2.3 and 1.4 < gaps[0]["seconds"] < 2.7, gaps
    assert gaps[1]["offset"] > gaps[0]["offset"] and gaps[1]["seconds"] > 1.5, gaps
    talk = (recording["ended_at"] - recording["started_at"]).total_seconds()
    paused = gaps[0]["seconds"] + gaps[1]["seconds"]  # each rounded to the millisecond
    assert recording["paused_seconds"] == pytest.approx(paused, abs=0.01)
    assert recording["duration_seconds"] == pytest.approx(talk - recording["paused_seconds"])

    # The file on Asterisk's disk lacks the paused time.
    on_disk = center.asterisk.host_dir / "spool" / "recording" / f"{recording['name']}.wav"
    data = on_disk.read_bytes()
    heard = seconds_of(data)
    print(f"talk {talk:.2f} s, paused {recording['paused_seconds']:.2f} s, file {heard:.2f} s")
    assert heard == pytest.approx(recording["duration_seconds"], abs=0.7)
    assert heard < talk - 3

    # Listed, by the API and the CLI; fetched, the same bytes.
    listed = center.api("GET", "/api/recordings?queue=recq")
    assert [item["id"] for item in listed["items"]] == [str(recording["id"])]
    assert listed["items"][0]["gaps"][0]["by"] == "agent:recann"
    assert api_bytes(center, f"/api/recordings/{recording['id']}/file") == data
    assert str(recording["id"]) in cli(center, "recordings", "list", "--queue", "recq")
    target = tmp_path / "got.wav"
    got = cli(center, "recordings", "get", str(row["id"]), "--output", str(target))
    assert target.read_bytes() == data and "paused" in got

    # The read API: the call with its segment, codes and recording; pages; roles.
    detail = center.api("GET", f"/api/calls/{row['id']}")
    assert detail["call"]["caller_number"] == caller and detail["call"]["agent"] == "recann"
    assert [s["agent"] for s in detail["segments"]] == ["recann"]
    assert detail["segments"][0]["talk_seconds"] == pytest.approx(row["talk_seconds"], abs=0.5)
    assert [r["id"] for r in detail["recordings"]] == [str(recording["id"])]
    assert "answered" in [d["code"] for d in detail["dispositions"]]
    found = center.api("GET", f"/api/calls?number={caller[1:]}&limit=1")
    assert [c["id"] for c in found["items"]] == [str(row["id"])] and found["next_offset"] is None
    segments = center.api("GET", f"/api/segments?agent=recann&call={row['id']}")
    assert len(segments["items"]) == 1
    codes = center.api("GET", f"/api/dispositions?call={row['id']}")
    assert [d["set_by"] for d in codes["items"]] == ["system"]
    status, answer = get(center, "/api/calls?limit=501")
    assert status == 400 and "limit" in answer["error"], answer
    status, answer = get(center, "/api/calls?color=red")
    assert status == 400 and "color" in answer["error"], answer
    token = issue_agent_token(center.engine, "recann")
    status, answer = get(center, "/api/calls", token)
    assert status == 403 and "records" in answer["error"], answer
    status, answer = get(center, f"/api/recordings/{recording['id']}/file", token)
    assert status == 403

    # Purged: the file from the disk, the row from the database, the name from the call.
    out = cli(center, "recordings", "purge", str(recording["id"]), "--wait", "15")
    assert "files and rows deleted" in out, out
    assert not on_disk.exists()
    assert query(database_url, "SELECT 1 FROM recordings WHERE id = %s", recording["id"]) == []
    assert query(database_url, "SELECT recording FROM calls WHERE id = %s", row["id"]) == [
        {"recording": None}
    ]
