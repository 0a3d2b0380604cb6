"""Hand SQLite's one write lock from process to process without its busy-wait ladder.

SQLite lets one writer in at a time; a writer that finds the lock taken sleeps in its busy
handler for 1, 2, 5, 10, ... up to 100 ms between tries, so under steady contention (two
gateway replicas, the job consumer, the winner memory) an unlucky request waits hundreds
of milliseconds while the lock sits free. Before ``BEGIN IMMEDIATE``, every connection of
our engines takes an advisory lock on ``<database>-writer.lock`` (``flock``, released with
the transaction), polled every half millisecond or so, so the next writer enters within a
millisecond of the previous commit. SQLite's own lock and busy timeout stay as they were:
this only decides who asks next. The kernel drops the lock of a process that dies.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

try:
    import fcntl
except ImportError:  # not POSIX: SQLite's own busy handler alone
    fcntl = None  # type: ignore[assignment]

POLL_S = (0.0002, 0.0005, 0.001, 0.002)  # waits between tries, the last one repeated


class WriterLock:
    """One advisory lock file per database; one descriptor per DBAPI connection."""

    def __init__(self, db_path: str, timeout_s: float) -> None:
        self.path = f"{db_path}-writer.lock"
        self.timeout_s = timeout_s
        self._fds: dict[int, int] = {}
        self._held: set[int] = set()
        self._guard = threading.Lock()

    @property
    def enabled(self) -> bool:
        return fcntl is not None

    def acquire(self, dbapi_conn: Any) -> None:
        """Wait for the lock (up to ``timeout_s``; then SQLite's busy handler decides)."""
        if fcntl is None:
            return
        dbapi_conn = _raw(dbapi_conn)
        fd = self._fd(dbapi_conn)
        deadline = time.monotonic() + self.timeout_s
        tries = 0
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._held.add(id(dbapi_conn))
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return  # let SQLite time out with its usual "database is locked"
                time.sleep(POLL_S[min(tries, len(POLL_S) - 1)])
                tries += 1

    def release(self, dbapi_conn: Any) -> None:
        key = id(_raw(dbapi_conn))
        if key in self._held:
            self._held.discard(key)
            fcntl.flock(self._fds[key], fcntl.LOCK_UN)

    def forget(self, dbapi_conn: Any) -> None:
        """The connection is closed: release and close its descriptor."""
        self.release(dbapi_conn)
        with self._guard:
            fd = self._fds.pop(id(_raw(dbapi_conn)), None)
        if fd is not None:
            os.close(fd)

    def _fd(self, dbapi_conn: Any) -> int:
        key = id(dbapi_conn)
        fd = self._fds.get(key)
        if fd is None:
            with self._guard:
                fd = self._fds.get(key)
                if fd is None:
                    fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
                    self._fds[key] = fd
        return fd


def _raw(conn: Any) -> Any:
    """The DBAPI connection under a pool proxy (SQLAlchemy passes either)."""
    return getattr(conn, "dbapi_connection", None) or conn
