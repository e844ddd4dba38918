"""A throw-away PostgreSQL server of a test's own, which the test may stop and start at will.

The shared server on 127.0.0.1:5432 serves every other test, so a test that takes the database
away (an outage of 30 s, say) runs this one instead::

    with PrivatePostgres(tmp_path / "pg") as server:
        url = server.database_url("sb_outage")
        ...
        server.stop()
        ...
        server.start()

The server runs the Debian binaries from ``/usr/lib/postgresql/<version>/bin`` (the highest
version that has ``initdb`` and ``pg_ctl``), listens on 127.0.0.1 only, on a free port picked
once when the object is made (so its URLs stay the same across restarts), trusts every
connection, and keeps its unix socket and its log (``server.log``) in its data directory, away
from the system's ``/var/run/postgresql``.

Where the data directory lives: ``<directory>/data`` when the server's user can reach it and
the socket path is short enough for a unix socket (at most 107 bytes). Otherwise, in a fresh
``tempfile.mkdtemp(prefix="sb-pg-")`` under /tmp, removed again by :meth:`destroy`. PostgreSQL
refuses to run as root, so when the tests run as root ``initdb`` and ``pg_ctl`` run as the
``postgres`` system user (through ``runuser``, or ``su`` if there is none) and the data directory
belongs to it; pytest's ``/tmp/pytest-of-root`` is mode 0700, so in that case the data directory
is in practice always the /tmp one. :attr:`data_dir` tells which was chosen.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import psycopg
from sqlalchemy.engine import URL

from pbx.ports import free_port

POSTGRESQL_LIB = Path("/usr/lib/postgresql")
SERVER_USER = "postgres"
HOST = "127.0.0.1"
LOG_NAME = "server.log"
SETTINGS_NAME = "switchboard.conf"
# sun_path holds 108 bytes with the final NUL; the socket is "<dir>/.s.PGSQL.<port>".
SOCKET_PATH_MAX = 107
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0


def find_bin_dir(lib: Path = POSTGRESQL_LIB) -> Path:
    """The ``bin`` directory of the highest installed PostgreSQL with ``initdb`` and ``pg_ctl``."""
    found: list[tuple[tuple[int, ...], Path]] = []
    for bin_dir in lib.glob("*/bin"):
        try:
            version = tuple(int(part) for part in bin_dir.parent.name.split("."))
        except ValueError:
            continue
        if all(os.access(bin_dir / tool, os.X_OK) for tool in ("initdb", "pg_ctl")):
            found.append((version, bin_dir))
    if not found:
        raise RuntimeError(
            f"no PostgreSQL server binaries (initdb, pg_ctl) under {lib}/*/bin; "
            "install the `postgresql` Debian package (apt-get install postgresql)"
        )
    return max(found)[1]


class PrivatePostgres:
    """One PostgreSQL server, made on the first :meth:`start` and gone after :meth:`destroy`."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.bin_dir = find_bin_dir()
        self.port = free_port()
        self._as_root = os.geteuid() == 0
        self._server_user: pwd.struct_passwd | None = None
        if self._as_root:
            try:
                self._server_user = pwd.getpwnam(SERVER_USER)
            except KeyError:
                raise RuntimeError(
                    f"running as root but there is no {SERVER_USER!r} user to run PostgreSQL as; "
                    "install the `postgresql` Debian package"
                ) from None
        self._data: Path | None = None
        self._scratch: Path | None = None

    # -- what tests use ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``postgresql://postgres@127.0.0.1:PORT/postgres``."""
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        """The URL of database ``name`` on this server (it need not exist yet)."""
        url = URL.create(
            "postgresql", username="postgres", host=HOST, port=self.port, database=name
        )
        return url.render_as_string(hide_password=False)

    @property
    def data_dir(self) -> Path | None:
        """The data directory, once the first :meth:`start` has made it."""
        return self._data

    @property
    def log_path(self) -> Path | None:
        return self._data / LOG_NAME if self._data is not None else None

    @property
    def running(self) -> bool:
        """Whether the server's postmaster runs (``pg_ctl status``)."""
        if self._data is None or not (self._data / "PG_VERSION").exists():
            return False
        result = self._run([self._tool("pg_ctl"), "status", "-D", str(self._data)], timeout=30)
        return result.returncode == 0

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the server (making it first if need be); return once it accepts connections."""
        deadline = time.monotonic() + timeout
        data = self._ensure_cluster()
        if self.running:
            return
        self._write_settings(data)
        command = [self._tool("pg_ctl"), "start", "-D", str(data), "-l", str(data / LOG_NAME)]
        command += ["-w", "-t", str(max(1, round(timeout)))]
        result = self._run(command, timeout=timeout + 15)
        if result.returncode != 0:
            self._kill()
            raise RuntimeError(self._failure("pg_ctl start failed", result))
        last_error = ""
        while True:
            try:
                with psycopg.connect(self.url, connect_timeout=2) as connection:
                    connection.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                last_error = str(exc).strip()
            if time.monotonic() > deadline:
                self._kill()
                raise RuntimeError(
                    self._failure(f"PostgreSQL did not accept connections: {last_error}", None)
                )
            time.sleep(0.05)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Fast shutdown (``pg_ctl stop -m fast -w``); return once the server has exited."""
        if self._data is None or not self.running:
            return
        command = [self._tool("pg_ctl"), "stop", "-D", str(self._data), "-m", "fast", "-w"]
        command += ["-t", str(max(1, round(timeout)))]
        result = self._run(command, timeout=timeout + 15)
        if result.returncode != 0 and self.running:
            self._kill()
            if self.running:
                raise RuntimeError(self._failure("pg_ctl stop failed", result))

    def restart(self, timeout: float = START_TIMEOUT) -> None:
        self.stop()
        self.start(timeout)

    def destroy(self) -> None:
        """Stop the server if it runs and remove its data directory (a later start makes anew)."""
        if self._data is not None:
            try:
                self.stop()
            except RuntimeError:
                self._kill()
            shutil.rmtree(self._data, ignore_errors=True)
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
        self._data = None
        self._scratch = None

    def __enter__(self) -> PrivatePostgres:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.destroy()

    def __repr__(self) -> str:
        return f"PrivatePostgres({self.url!r}, data_dir={self._data!s})"

    # -- making the cluster -----------------------------------------------------------------

    def _ensure_cluster(self) -> Path:
        if self._data is None:
            self._data = self._make_data_dir()
        if not (self._data / "PG_VERSION").exists():
            self._initdb(self._data)
        return self._data

    def _make_data_dir(self) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        data = self.directory.resolve() / "data"
        if not self._reachable(data):
            self._scratch = Path(tempfile.mkdtemp(prefix="sb-pg-", dir="/tmp"))
            self._chown(self._scratch)
            data = self._scratch / "data"
        data.mkdir(mode=0o700, exist_ok=True)
        data.chmod(0o700)
        self._chown(data)
        return data

    def _reachable(self, data: Path) -> bool:
        """Whether the server's user can use ``data`` (and its socket path is short enough)."""
        if len(f"{data}/.s.PGSQL.{self.port}".encode()) > SOCKET_PATH_MAX:
            return False
        if not self._as_root:
            return True
        # Search permission on the parent implies it on every ancestor (the path resolves).
        return self._run(["test", "-x", str(data.parent)], timeout=30).returncode == 0

    def _initdb(self, data: Path) -> None:
        base = [self._tool("initdb"), "-D", str(data), "--auth=trust", "-U", "postgres"]
        base += ["--encoding=UTF8", "--no-sync"]
        failures: list[str] = []
        for locale in ("--locale=C.UTF-8", "--no-locale"):
            result = self._run([*base, locale], timeout=180)
            if result.returncode == 0:
                with (data / "postgresql.conf").open("a", encoding="utf-8") as conf:
                    conf.write(
                        f"\n# Settings of the switchboard tests.\ninclude '{SETTINGS_NAME}'\n"
                    )
                return
            failures.append(f"$ {shlex.join(result.args)}\n{result.stdout}")
            # initdb empties a data directory that existed before it; make sure, and retry.
            for child in data.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        raise RuntimeError("initdb failed:\n" + "\n".join(failures))

    def _write_settings(self, data: Path) -> None:
        settings = data / SETTINGS_NAME
        settings.write_text(
            "\n".join(
                [
                    f"listen_addresses = '{HOST}'",
                    f"port = {self.port}",
                    f"unix_socket_directories = '{data}'",
                    "shared_buffers = 32MB",
                    "max_connections = 50",
                    "log_line_prefix = '%m [%p] '",
                    "",
                ]
            ),
            encoding="utf-8",
        )
        self._chown(settings)

    # -- running the tools ------------------------------------------------------------------

    def _tool(self, name: str) -> str:
        return str(self.bin_dir / name)

    def _chown(self, path: Path) -> None:
        if self._server_user is not None:
            os.chown(path, self._server_user.pw_uid, self._server_user.pw_gid)

    def _as_server_user(self, argv: list[str]) -> list[str]:
        if not self._as_root:
            return argv
        search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
        runuser = shutil.which("runuser", path=search)
        if runuser is not None:
            return [runuser, "-u", SERVER_USER, "--", *argv]
        su = shutil.which("su", path=search)
        if su is None:
            raise RuntimeError("running as root, but neither runuser nor su is there")
        return [su, SERVER_USER, "-s", "/bin/sh", "-c", shlex.join(argv)]

    def _run(self, argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        # A working directory the server's user may enter (root's own may be 0700).
        cwd = self._data.parent if self._data is not None else "/"
        return subprocess.run(
            self._as_server_user(argv),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )

    def _kill(self) -> None:
        """Immediate shutdown, for when a fast one did not do or a start went wrong."""
        if self._data is None or not (self._data / "postmaster.pid").exists():
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            command = [self._tool("pg_ctl"), "stop", "-D", str(self._data), "-m", "immediate"]
            self._run([*command, "-w", "-t", "10"], timeout=20)

    def _failure(self, what: str, result: subprocess.CompletedProcess[str] | None) -> str:
        lines = [f"{what} (data directory {self._data}, port {self.port})"]
        if result is not None:
            lines.append(f"$ {shlex.join(result.args)}\n{result.stdout.rstrip()}")
        lines.append(f"last lines of {self.log_path}:\n{self._log_tail()}")
        return "\n".join(lines)

    def _log_tail(self, count: int = 30) -> str:
        path = self.log_path
        if path is None or not path.exists():
            return "(no server log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-count:])
