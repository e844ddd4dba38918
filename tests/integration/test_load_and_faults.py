"""Shortened versions of the load benchmarks (bench/inbound_load.py, bench/faults.py): real
sipp callers through the IVR menu and the queue to sipp agents on the real Asterisk, with
PostgreSQL holding the records. Zero loss under load; then Asterisk restarted, PostgreSQL
restarted and the app killed while calls flow: every call that reached the app is closed,
every call sipp completed has exactly one complete record, and calls reach agents again."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.faults import FaultRun, run_fault
from bench.inbound_load import run_step
from bench.loadkit import Rig
from db import admin, migrate
from pbx.instance import AsteriskInstance
from tests.integration.test_acd_calls import forget_acd
from tests.private_postgres import PrivatePostgres

pytestmark = pytest.mark.integration


def make_rig(asterisk: AsteriskInstance, url: str, agi_port: int, work: Path, agents: int) -> Rig:
    rig = Rig(asterisk, url, agi_port, work)
    rig.provision(agents)
    rig.start_app()
    rig.start_phones()
    rig.log_in_all()
    return rig


@pytest.fixture
def rig(
    asterisk: AsteriskInstance, database_url: str, agi_port: int, tmp_path: Path
) -> Iterator[Rig]:
    forget_acd(database_url)
    made = make_rig(asterisk, database_url, agi_port, tmp_path, agents=16)
    yield made
    made.close()
    forget_acd(database_url)


def assert_nothing_lost(run: FaultRun) -> None:
    detail = repr(run)
    assert run.left_open == 0, detail
    assert run.duplicated == 0, detail
    covered = run.complete + (run.reconciled if run.fault == "app_kill" else 0)
    assert covered >= run.sipp_ok, detail
    assert run.lost == 0, detail
    assert run.recovery_s is not None, detail


def test_inbound_load_every_completed_call_has_one_complete_record(rig: Rig) -> None:
    rig.add_app_queue_flow()
    ours = run_step(rig, "switchboard", rate=5, seconds=12, talk_ms=2500, index=900)
    assert ours.offered == 60
    assert ours.sipp_ok == ours.offered and ours.sipp_failed == 0, ours
    assert ours.reached_agent == ours.offered, ours
    assert ours.duplicated == 0 and ours.incomplete == 0, ours
    assert ours.app_cpu_s > 0 and ours.peak_channels >= 10, ours
    # The comparison side runs on the same Asterisk: the plain-dialplan flow connects too.
    plain = run_step(rig, "app_queue", rate=5, seconds=4, talk_ms=2500, index=901)
    assert plain.sipp_ok == plain.offered, plain
    assert plain.reached_agent == plain.offered, plain
    # The comparison flow leaves with the benchmark: strangers are challenged again.
    rig.remove_app_queue_flow()
    assert "bench-appqueue" not in rig.asterisk.cli("pjsip show endpoints")


def test_asterisk_restart_under_load_loses_no_record(rig: Rig) -> None:
    run = run_fault(rig, "asterisk_restart", rate=3, seconds=24, at=8, talk_ms=2500)
    assert run.sipp_failed > 0, run  # calls were really cut
    assert_nothing_lost(run)


def test_app_killed_under_load_loses_no_record(rig: Rig) -> None:
    run = run_fault(rig, "app_kill", rate=3, seconds=24, at=8, talk_ms=2500)
    assert run.reconciled > 0, run  # the calls live at the kill, closed on restart
    assert_nothing_lost(run)


@pytest.fixture
def private_rig(asterisk: AsteriskInstance, agi_port: int, tmp_path: Path) -> Iterator[Rig]:
    server = PrivatePostgres(tmp_path / "pg")
    server.start()
    url = server.database_url(f"sb_faults_{secrets.token_hex(3)}")
    admin.create_database_if_missing(url)
    migrate.upgrade(url)
    made = make_rig(asterisk, url, agi_port, tmp_path, agents=16)
    made.server = server  # type: ignore[attr-defined]
    yield made
    made.close()
    server.destroy()


def test_database_restart_under_load_loses_no_record(private_rig: Rig) -> None:
    server: PrivatePostgres = private_rig.server  # type: ignore[attr-defined]
    run = run_fault(
        private_rig,
        "database_restart",
        rate=3,
        seconds=24,
        at=6,
        talk_ms=2500,
        database=server,
        outage_s=8,
    )
    assert run.sipp_failed == 0, run  # calls go on while the database is away
    assert_nothing_lost(run)
