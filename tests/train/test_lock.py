"""One writer per run folder: the lock names its owner, refuses a second writer, and a lock left by a
dead process (kill -9) is taken over."""

import json
import os
import signal
import socket
import subprocess
import sys

import pytest

import onebyone.train.lock as lock_module
from onebyone.errors import OneByOneError
from onebyone.train.lock import LOCK_FILE, RunLock

HOLD = (
    "import sys; from onebyone.train.lock import RunLock; RunLock(sys.argv[1]).acquire(); "
    "print('locked', flush=True); sys.stdin.read()"
)


def test_lock_names_its_owner_refuses_a_second_and_is_removed_on_release(tmp_path):
    with RunLock(tmp_path) as held:
        owner = json.loads(held.path.read_text())
        assert owner["pid"] == os.getpid() and owner["host"] == socket.gethostname()
        with pytest.raises(OneByOneError, match=f"being written by pid {os.getpid()} on "):
            RunLock(tmp_path).acquire()
    assert not (tmp_path / LOCK_FILE).exists()
    with RunLock(tmp_path):  # free again
        pass


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(OneByOneError, match=f"pid {holder.pid}"):
        RunLock(tmp_path).acquire()
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=60)
    assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == holder.pid  # left behind
    with RunLock(tmp_path) as taken:
        assert json.loads(taken.path.read_text())["pid"] == os.getpid()


def test_without_flock_the_pid_in_the_file_decides(tmp_path, monkeypatch):
    """Where flock is missing (no fcntl), a lock is stale when its process on this host is dead."""
    monkeypatch.setattr(lock_module, "fcntl", None)
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead = int(done.stdout)
    path = tmp_path / LOCK_FILE
    for pid, host, free in [
        (dead, socket.gethostname(), True),
        (os.getppid(), socket.gethostname(), False),  # alive
        (dead, "elsewhere", False),  # another host's process cannot be checked: assumed alive
    ]:
        path.write_text(json.dumps({"pid": pid, "host": host, "since": "then"}))
        if free:
            RunLock(tmp_path).acquire().release()
        else:
            with pytest.raises(OneByOneError, match=f"pid {pid} on {host}"):
                RunLock(tmp_path).acquire()


@pytest.mark.parametrize(
    "text",
    [
        '{"pid": 1e400, "host": "h", "since": "s"}',  # a float past the largest: int() overflowed
        json.dumps({"pid": 10**30, "host": "h", "since": "s"}),
        json.dumps({"pid": -5, "host": "h", "since": "s"}),
        json.dumps({"pid": True, "host": "h", "since": "s"}),
        json.dumps({"pid": 1, "host": "h" * 1000, "since": "s"}),
        "[" * 100_000 + "]" * 100_000,  # json.loads recursed into a RecursionError
        "x" * 5000 + "\xff",
        "[1, 2]",
    ],
    ids=["pid-inf", "pid-huge", "pid-negative", "pid-bool", "host-long", "deep", "garbage", "list"],
)
def test_a_damaged_lock_file_of_a_held_lock_is_named_as_the_file(tmp_path, text):
    """While a live process holds the flock, the file is read only to name it: a damaged one is named
    as "another process (lock file …)", one line, whatever it holds."""
    import fcntl

    path = tmp_path / LOCK_FILE
    path.write_text(text)
    fd = os.open(path, os.O_RDWR)  # another open file description: its flock excludes ours
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(
            OneByOneError, match=r"is being written by another process \(lock file "
        ) as caught:
            RunLock(tmp_path).acquire()
        assert "\n" not in str(caught.value)
    finally:
        os.close(fd)


def test_without_flock_a_damaged_pid_is_no_owner(tmp_path, monkeypatch):
    """Without flock, a pid that could be no process (negative, past pid_max, a bool) leaves the lock free."""
    monkeypatch.setattr(lock_module, "fcntl", None)
    path = tmp_path / LOCK_FILE
    for pid in (-5, 10**30, True, 2**22 + 1):
        path.write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "since": "then"}))
        RunLock(tmp_path).acquire().release()
