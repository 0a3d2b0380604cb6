"""The SQLite writer hand-off lock: a waiting writer enters as soon as the holder commits."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

import pytest

from core.db.engine import Database


@pytest.fixture
def lite(tmp_path: Path):
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    with db.engine.begin() as c:
        c.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    yield db, str(tmp_path / "x.db-writer.lock")
    db.dispose()


def held_elsewhere(path: str) -> bool:
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a lock taken here
    return False


def test_lock_is_held_for_the_transaction_and_released_at_commit(lite) -> None:
    db, path = lite
    with db.engine.begin() as c:
        c.exec_driver_sql("INSERT INTO t VALUES (1)")
        assert held_elsewhere(path)
    assert not held_elsewhere(path)


def test_lock_is_released_on_rollback(lite) -> None:
    db, path = lite
    with pytest.raises(Exception, match="no such table"), db.engine.begin() as c:
        c.exec_driver_sql("INSERT INTO missing VALUES (1)")
    assert not held_elsewhere(path)


def test_waiting_writer_enters_within_milliseconds_of_the_release(lite) -> None:
    db, path = lite
    fd = os.open(path, os.O_RDWR)  # another process's writer, as far as the lock can tell
    fcntl.flock(fd, fcntl.LOCK_EX)
    entered: list[float] = []

    def writer() -> None:
        with db.engine.begin() as c:
            entered.append(time.perf_counter())
            c.exec_driver_sql("INSERT INTO t VALUES (2)")

    t = threading.Thread(target=writer)
    t.start()
    t.join(0.2)  # a bounded wait: it must not get in while the lock is held
    assert not entered
    released = time.perf_counter()
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
    t.join(5)
    assert entered and entered[0] - released < 0.05  # SQLite's ladder alone sleeps up to 100 ms
    with db.engine.connect() as c:
        assert c.exec_driver_sql("SELECT count(*) FROM t").scalar_one() == 1
