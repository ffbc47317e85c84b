"""The one way onebyone writes a file that must never be seen half-written.

`atomic_write(path, write)` lets `write` fill a temporary file beside `path`, flushes it to disk,
gives it the permissions a plain `open(path, "w")` would (umask applied, so weights and JSON get the
same mode), renames it over `path` in one `os.replace`, and flushes the folder so the rename itself
survives a power cut. If `write` fails, the temporary file is removed. A crash (kill -9) between
the two steps can leave a `.NAME.tmp` behind; `remove_stale_temporaries` clears those.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

TMP_PREFIX = "."
TMP_SUFFIX = ".tmp"


def temporary_path(path: Path) -> Path:
    """Where `atomic_write` writes before the rename: `.NAME.tmp` in the same folder."""
    return path.with_name(f"{TMP_PREFIX}{path.name}{TMP_SUFFIX}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fsync_path(path: Path) -> None:
    """Flush a file's or a folder's contents to disk (a folder: its entries, e.g. a rename)."""
    flags = os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() and hasattr(os, "O_DIRECTORY") else 0)
    try:
        fd = os.open(path, flags)
    except OSError:  # e.g. folders cannot be opened on some platforms: nothing more to do
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call `write(tmp)` to fill a temporary file, then put it at `path` in one rename."""
    path = Path(path)
    tmp = temporary_path(path)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_path(path.parent)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete `.NAME.tmp` files an interrupted `atomic_write` left in `folder`; return them."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = [p for p in folder.iterdir() if p.name.startswith(TMP_PREFIX) and p.name.endswith(TMP_SUFFIX)]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def _unwritable(folder: Path) -> str | None:
    """None when a file can be created in `folder`, else why not. Tried for real (a nameless
    temporary file): permission bits do not tell, e.g. for root in /proc or on a read-only mount."""
    import tempfile

    if not os.access(folder, os.W_OK | os.X_OK):
        return f"{str(folder)!r} is read-only"
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        return f"{str(folder)!r} does not take new files ({exc.strerror or type(exc).__name__})"
    return None


def check_output_folder(path: str | Path) -> Path:
    """Before any work: `path` must be a new or empty folder that can be created and written.

    Raises OneByOneError naming the problem, so a command does not find out after minutes of work.
    """
    from onebyone.errors import OneByOneError

    folder = Path(path)
    if folder.exists():
        if not folder.is_dir() or any(folder.iterdir()):
            raise OneByOneError(
                f"output folder {str(folder)!r} exists and is not empty; choose another --out"
            )
        parent = folder
    else:
        parent = next((p for p in folder.absolute().parents if p.exists()), Path("/"))
        if not parent.is_dir():
            raise OneByOneError(f"output folder {str(folder)!r} cannot be made: {str(parent)!r} is a file")
    why = _unwritable(parent)
    if why:
        raise OneByOneError(f"output folder {str(folder)!r} cannot be written: {why}")
    return folder


def check_output_file(path: str | Path) -> Path:
    """Before any work: the folder of output file `path` must exist and be writable."""
    from onebyone.errors import OneByOneError

    file = Path(path)
    parent = file.parent if str(file.parent) else Path(".")
    if file.is_dir():
        raise OneByOneError(f"output file {str(file)!r} is a folder")
    if not parent.is_dir():
        what = "is a file" if parent.exists() else "does not exist"
        raise OneByOneError(f"output file {str(file)!r} cannot be written: {str(parent)!r} {what}")
    why = _unwritable(parent)
    if why:
        raise OneByOneError(f"output file {str(file)!r} cannot be written: {why}")
    return file
