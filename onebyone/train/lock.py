"""One writer per run folder: a lock file that names its owner and dies with it.

`RunLock(folder)` holds an exclusive `flock` on `folder/.lock`, a small JSON file with the owner's
pid, host and start time. The kernel drops the flock when its process ends however it ends
(kill -9 included), so a lock left behind by a dead process is stale by construction: the next
writer takes it over. Where `flock` is not available (no fcntl, or a file system that refuses it),
the pid in the file decides: a lock whose process on this host is dead is stale. A second writer
while the first lives gets a one-line OneByOneError naming the first (pid and host). Released,
and the file removed, on exit and on errors.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from onebyone.errors import OneByOneError
from onebyone.records import Int, Obj, Str, check, parse_json

LOCK_FILE = ".lock"
MAX_PID = 2**22  # Linux's largest pid_max
MAX_LOCK_BYTES = 4096  # the file onebyone writes is one short line
OWNER = Obj({"pid": Int(1, MAX_PID), "host": Str(max_length=255), "since": Str(max_length=64)})

try:
    import fcntl
except ImportError:  # not POSIX: a lock file is still written, but not enforced
    fcntl = None


class RunLock:
    """An exclusive lock on a folder, as a context manager."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        for _ in range(10):  # retried only when a releasing owner removes the file under us
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:  # found now, before any work: a read-only folder, a .lock folder…
                raise OneByOneError(f"cannot write in {str(self.folder)!r}: {exc.strerror or exc}") from exc
            if not _lock(fd, self.path):
                owner = _describe(self.path)
                os.close(fd)
                raise OneByOneError(
                    f"run folder {str(self.folder)!r} is being written by {owner}; "
                    f"wait for it to end or use another --out"
                ) from None
            if _same_file(fd, self.path):
                break
            os.close(fd)  # the owner removed the file between our open and our flock: try again
        else:
            raise OneByOneError(f"could not lock {str(self.path)!r}: it keeps being replaced")
        owner = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(owner) + "\n").encode(), 0)
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        # Remove the file while still holding the lock, so no one locks a file about to vanish.
        self.path.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _lock(fd: int, path: Path) -> bool:
    """Lock `fd` for this process; False when a live process holds it."""
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False
        except OSError:  # flock not supported here: fall back to the pid in the file
            pass
    owner = _owner(path)
    if owner is None or owner.get("pid") == os.getpid():
        return True  # no owner written, or ourselves
    if owner.get("host") != socket.gethostname():
        return False  # another host's processes cannot be seen from here: assume it lives
    return not _alive(owner.get("pid"))


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or isinstance(pid, bool) or not 0 < pid <= MAX_PID:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _owner(path: Path) -> dict | None:
    """The owner the lock file names, or None when it names none that fits OWNER (another program's
    file, a damaged one: its pid could be anything, a huge or negative number, a string)."""
    try:
        with open(path, "rb") as handle:
            text = handle.read(MAX_LOCK_BYTES + 1).decode("utf-8")
        owner = parse_json(text, str(path)) if len(text) <= MAX_LOCK_BYTES else None
        return check(owner, OWNER, str(path)) if owner is not None else None
    except (OSError, UnicodeDecodeError, OneByOneError):
        return None


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def _describe(path: Path) -> str:
    """'pid 1234 on host h (since …)' from a lock file, or what can be said without it."""
    owner = _owner(path)
    if owner is None:
        return f"another process (lock file {str(path)!r})"
    return f"pid {owner['pid']} on {owner['host']} (since {owner['since']})"
