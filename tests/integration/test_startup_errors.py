"""Wrong credentials, no Asterisk, no database: a clear message, never a silent loop."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from db.acd_store import add_agent, add_member, add_queue
from db.engine import sync_engine
from pbx.instance import AsteriskInstance
from pbx.ports import free_port
from tests.support import AppProcess, app_env, query

pytestmark = pytest.mark.integration


def switchboard(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60, columns: int = 200
) -> subprocess.CompletedProcess[str]:
    """`python -m switchboard ARGS` in its own process, with ``env`` and nothing of the
    caller's Switchboard settings."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    full.pop("DATABASE_URL", None)
    full.update(env)
    full["COLUMNS"] = str(columns)
    return subprocess.run(
        [sys.executable, "-m", "switchboard", *args],
        env=full,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_wrong_ari_password_is_one_clear_line_and_a_non_zero_exit(
    asterisk: AsteriskInstance, database_url: str, agi_port: int, tmp_path: Path
) -> None:
    env = app_env(asterisk, database_url, agi_port, SWITCHBOARD_ARI_PASSWORD="wrong")
    started = time.monotonic()
    result = switchboard(["run"], env, tmp_path, timeout=30)
    assert result.returncode == 1
    assert time.monotonic() - started < 15
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: Asterisk refused the ARI user")
    assert "SWITCHBOARD_ARI_PASSWORD" in lines[0]
    assert env["SWITCHBOARD_ARI_PASSWORD"] not in result.stderr


def test_wrong_ami_secret_is_one_clear_line_and_a_non_zero_exit(
    asterisk: AsteriskInstance, database_url: str, agi_port: int, tmp_path: Path
) -> None:
    env = app_env(asterisk, database_url, agi_port, SWITCHBOARD_AMI_SECRET="wrong")
    result = switchboard(["run"], env, tmp_path, timeout=30)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: Asterisk refused the AMI user")


def test_asterisk_not_running_is_retried_with_a_visible_status(
    asterisk: AsteriskInstance, database_url: str, agi_port: int, tmp_path: Path
) -> None:
    env = app_env(
        asterisk,
        database_url,
        agi_port,
        SWITCHBOARD_ARI_URL=f"http://127.0.0.1:{free_port()}",
    )
    process = AppProcess(env, tmp_path).start()
    try:
        process.wait_for("asterisk.unreachable", timeout=15, at_least=2)
        assert process.process is not None and process.process.poll() is None
    finally:
        process.stop()


def test_unmigrated_database_names_the_fix(
    asterisk: AsteriskInstance, empty_database_url: str, agi_port: int, tmp_path: Path
) -> None:
    env = app_env(asterisk, empty_database_url, agi_port)
    result = switchboard(["run"], env, tmp_path, timeout=30)
    assert result.returncode == 1
    assert "not migrated" in result.stderr and "switchboard db upgrade" in result.stderr


def test_unreachable_database_names_the_fix(
    asterisk: AsteriskInstance, agi_port: int, tmp_path: Path
) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    result = switchboard(["run"], app_env(asterisk, url, agi_port), tmp_path, timeout=30)
    assert result.returncode == 1
    assert "cannot use the database" in result.stderr
    assert "DATABASE_URL" in result.stderr


def test_doctor_says_exactly_what_is_wrong(
    asterisk: AsteriskInstance, database_url: str, agi_port: int, tmp_path: Path
) -> None:
    env = app_env(
        asterisk,
        database_url,
        free_port(),
        SWITCHBOARD_AMI_SECRET="wrong",
        SWITCHBOARD_ARI_PASSWORD="wrong",
    )
    result = switchboard(["doctor"], env, tmp_path)
    assert result.returncode == 1
    out = result.stdout
    assert "wrong ARI password" in out
    assert "wrong AMI secret" in out
    assert "nothing listening" in out  # FastAGI: no app running on that port
    assert "reachable and migrated" in out


def test_doctor_is_happy_when_everything_runs(
    app: AppProcess,
    asterisk: AsteriskInstance,
    database_url: str,
    agi_port: int,
    tmp_path: Path,
) -> None:
    result = switchboard(["doctor"], app_env(asterisk, database_url, agi_port), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout


def test_doctor_reads_the_flows_folder_from_env_file_and_warns_about_queues(
    asterisk: AsteriskInstance, database_url: str, agi_port: int, tmp_path: Path
) -> None:
    """The flows folder set only in .env (relative to where the command runs, as for `run`)
    is checked; queues without members or codes are named with the command that fixes them,
    as warnings (exit 0 when nothing fails)."""
    engine = sync_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        add_queue(engine, "doc-lonely", {})
        add_queue(engine, "doc-coded", {})
        with engine.begin() as connection:  # a queue made before new queues got the default set
            connection.execute(
                text("UPDATE queues SET disposition_set = NULL WHERE name = 'doc-lonely'")
            )
        add_agent(engine, "doc-amy", None, {})
        add_member(engine, "doc-coded", "doc-amy", 0)
        (tmp_path / "flows").mkdir()
        (tmp_path / "flows" / "front.yaml").write_text(
            "flow: front\ndefault: true\nstart: bye\nnodes:\n  bye: {type: hangup}\n"
        )
        env = app_env(asterisk, database_url, agi_port)
        (tmp_path / ".env").write_text("SWITCHBOARD_FLOWS_DIR=flows\n")
        result = switchboard(["doctor"], env, tmp_path)
        out = " ".join(re.sub("[│┃━─┏┓┗┛┡┩└┘┳┻╇┴┬╈]", " ", result.stdout).split())
        assert "IVR flows in flows" in out and "1 flow(s): front" in out, out
        assert "queue doc-lonely" in out
        assert "no members" in out and "queues add-member doc-lonely AGENT" in out
        assert "queues set doc-lonely --dispositions default" in out
        assert "queue doc-coded" not in out  # members and codes: nothing to say

        (tmp_path / "flows" / "front.yaml").write_text("flow: front\nstart: nowhere\nnodes: {}\n")
        broken = switchboard(["doctor"], env, tmp_path)
        assert "front.yaml" in broken.stdout and "FAIL" in broken.stdout
        assert broken.returncode == 1
    finally:
        for table, column, names in (
            ("queue_members", "queue", ("doc-coded",)),
            ("queues", "name", ("doc-lonely", "doc-coded")),
            ("agents", "name", ("doc-amy",)),
        ):
            for name in names:
                query(database_url, f"DELETE FROM {table} WHERE {column} = %s", name)
        engine.dispose()
