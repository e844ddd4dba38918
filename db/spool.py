"""The write-ahead spool: record operations on local disk until PostgreSQL has them.

Every operation handed to the record writer is appended here first, as one JSON line with a
single ``write()`` (so a crash of the app, even ``kill -9``, cannot lose it: the operating
system holds it), and synced to disk before the batch it belongs to is sent to the database.
A small ``applied`` file holds how far the database has acknowledged. After a crash the
lines past that mark are replayed, in order; every operation is idempotent, so one that was
applied just before the crash is applied again harmlessly and stored once.

When the database has caught up the spool is emptied (the mark first, then the file: a crash
in between only replays what is already stored).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)


class SpoolBusy(RuntimeError):
    """Another process writes to this spool (two instances configured with one node id)."""


class Spool:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self._lock = os.open(directory / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(self._lock)
            raise SpoolBusy(
                f"another Switchboard process uses the record spool {directory}: give each "
                "instance its own SWITCHBOARD_NODE_ID or SWITCHBOARD_SPOOL_DIR"
            ) from exc
        self.path = directory / "records.log"
        self.mark_path = directory / "applied"
        self.rejected_path = directory / "rejected.log"
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        self._end = os.fstat(self._fd).st_size
        self._synced = self._end
        self._applied = self._read_mark()
        self._mark_fd = os.open(self.mark_path, os.O_RDWR | os.O_CREAT, 0o600)

    # --- recovery ----------------------------------------------------------------------

    def _read_mark(self) -> int:
        try:
            text = self.mark_path.read_text().strip()
        except FileNotFoundError:
            return 0
        if not text:
            return 0  # made by an earlier start that had nothing applied yet
        first, _, second = text.partition(" ")
        try:
            mark = int(first)
            if second and int(second) != mark:
                raise ValueError("torn")
        except ValueError:
            log.warning("spool.bad_mark", path=str(self.mark_path), text=text[:40])
            return 0  # replaying everything is safe: every operation is idempotent
        return mark if 0 <= mark <= self._end else 0

    def pending(self) -> list[tuple[int, bytes]]:
        """Lines written but not yet applied, each with the offset just past it. A torn last
        line (the machine lost power in the middle of a write) is cut off."""
        with open(self.path, "rb") as handle:
            handle.seek(self._applied)
            data = handle.read()
        entries: list[tuple[int, bytes]] = []
        offset = self._applied
        for line in data.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                log.warning("spool.torn_line", offset=offset, size=len(line))
                os.ftruncate(self._fd, offset)
                self._end = self._synced = offset
                break
            offset += len(line)
            entries.append((offset, line.rstrip(b"\n")))
        return entries

    # --- the write path ----------------------------------------------------------------

    def append(self, line: bytes) -> int:
        """Append one operation; returns the offset just past it."""
        data = line + b"\n"
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self._end += len(data)
        return self._end

    def sync(self) -> None:
        """Make everything appended so far durable (may run in a worker thread)."""
        end = self._end
        if self._synced < end:
            os.fsync(self._fd)
            self._synced = max(self._synced, end)

    def applied(self, offset: int) -> None:
        """The database has everything up to ``offset``."""
        if offset <= self._applied:
            return
        self._applied = offset
        self._write_mark(offset)

    def compact(self) -> bool:
        """Empty the spool if the database has all of it; True if it did."""
        if self._applied != self._end or self._end == 0:
            return False
        self._write_mark(0)
        os.ftruncate(self._fd, 0)
        self._end = self._synced = self._applied = 0
        return True

    def reject(self, line: bytes, reason: str) -> None:
        """Keep an operation the database refuses for good, with why, for a human."""
        with open(self.rejected_path, "ab") as handle:
            handle.write(reason.encode("utf-8", "replace")[:500] + b"\t" + line + b"\n")
            handle.flush()
            os.fsync(handle.fileno())

    @property
    def size(self) -> int:
        return self._end

    def close(self) -> None:
        os.close(self._fd)
        os.close(self._mark_fd)
        os.close(self._lock)

    def _write_mark(self, offset: int) -> None:
        # Overwritten in place, one fixed-width write (a temporary file and a rename per
        # batch cost more than the batch's SQL). The offset is written twice: a mark torn
        # by a power cut mixes two values and reads as bad, and a bad mark replays the
        # whole spool, which is harmless (every operation is idempotent).
        os.pwrite(self._mark_fd, f"{offset:020d} {offset:020d}\n".encode("ascii"), 0)
