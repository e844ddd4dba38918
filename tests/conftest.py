from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest

from db import admin, migrate
from pbx.instance import AsteriskInstance
from pbx.ports import free_port
from tests.support import AppProcess, app_env, database_url_for, new_asterisk


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A throw-away database, migrated to head, dropped at the end."""
    url = database_url_for(f"sb_test_{secrets.token_hex(4)}")
    admin.create_database_if_missing(url)
    migrate.upgrade(url)
    yield url
    admin.drop_database(url)


@pytest.fixture
def empty_database_url() -> Iterator[str]:
    url = database_url_for(f"sb_empty_{secrets.token_hex(4)}")
    admin.create_database_if_missing(url)
    yield url
    admin.drop_database(url)


@pytest.fixture(scope="session")
def agi_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def asterisk(agi_port: int) -> Iterator[AsteriskInstance]:
    """A real Asterisk 22 on free ports, with our rendered dialplan."""
    instance = new_asterisk(f"test-{secrets.token_hex(3)}", agi_port)
    instance.start()
    yield instance
    instance.destroy()


class AppFactory(Protocol):
    def __call__(self, name: str = "app", **extra: str) -> AppProcess: ...


@pytest.fixture
def app_factory(
    asterisk: AsteriskInstance, database_url: str, agi_port: int, tmp_path: Path
) -> Iterator[AppFactory]:
    started: list[AppProcess] = []

    def make(name: str = "app", **extra: str) -> AppProcess:
        process = AppProcess(app_env(asterisk, database_url, agi_port, **extra), tmp_path, name)
        started.append(process)
        return process

    yield make
    for process in started:
        process.stop()


@pytest.fixture
def app(app_factory: AppFactory) -> AppProcess:
    """`switchboard run` connected to the test Asterisk and database."""
    process = app_factory()
    process.start()
    process.wait_for("reconcile.done")
    return process
