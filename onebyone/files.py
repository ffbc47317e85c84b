"""The one way onebyone writes a file that must never be seen half-written.

`atomic_write(path, write)` lets `write` fill a temporary file beside `path`, flushes it to disk,
gives it the permissions a plain `open(path, "w")` would (umask applied, so weights and JSON get the
same mode), renames it over `path` in one `os.replace`, and flushes the folder so the rename itself
survives a power cut. If `write` fails, the temporary file is removed. A crash (kill -9) between
the two steps can leave a `.NAME.tmp` behind; `remove_stale_temporaries` clears those.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from onebyone.errors import OneByOneError

TMP_PREFIX = "."
TMP_SUFFIX = ".tmp"
PLOT_FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg"}  # suffix -> matplotlib format


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


def _mode(path: Path) -> int | None:
    """st_mode of `path` (links followed), None when nothing is there."""
    try:
        return os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None


def writes_through(path: str | Path) -> bool:
    """Whether `path` is a character device or a FIFO: written in place, never replaced."""
    mode = _mode(Path(path))
    return mode is not None and (stat.S_ISCHR(mode) or stat.S_ISFIFO(mode))


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _write_through(path: Path, write: Callable[[Path], object]) -> None:
    """Fill a scratch file (not beside `path`: no file appears next to a device), then copy its bytes
    into the device or FIFO: writers that seek (PNG, safetensors) work, and a failed write sends nothing."""
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory(prefix="onebyone-") as scratch:
        tmp = Path(scratch) / path.name
        write(tmp)
        with open(tmp, "rb") as source, open(path, "wb") as device:
            shutil.copyfileobj(source, device)


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call `write(tmp)` to fill a temporary file, then put it at `path` in one rename.

    A device or FIFO at `path` is written through (`write(path)`); anything else that is not a
    regular file is refused: a rename over it would replace it."""
    path = Path(path)
    if writes_through(path):
        _write_through(path, write)
        return path
    mode = _mode(path)
    if mode is not None and not stat.S_ISREG(mode):
        raise OneByOneError(f"output {str(path)!r} is {_kind(mode)}; name a regular file")
    target = Path(os.path.realpath(path)) if path.is_symlink() else path  # keep the link, write its file
    tmp = temporary_path(target)
    path, returned = target, path
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_path(path.parent)
    return returned


def save_figure(fig, path: str | Path, **options) -> Path:
    """A matplotlib figure at `path`, atomically, in the format its suffix names (PNG for a device)."""
    path = Path(path)
    form = PLOT_FORMATS.get(path.suffix.lower(), "png")
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format=form, **options))


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


def _refuse_empty(path: str | Path, what: str) -> None:
    if not str(path).strip():
        raise OneByOneError(f"the {what} name is empty")


def check_output_folder(path: str | Path) -> Path:
    """Before any work: `path` must be a new or empty folder that can be created and written.

    Raises OneByOneError naming the problem, so a command does not find out after minutes of work.
    """
    _refuse_empty(path, "output folder")
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise OneByOneError(f"output folder {str(folder)!r} exists and is not a folder; choose another --out")
    if folder.is_dir() and any(folder.iterdir()):
        raise OneByOneError(f"output folder {str(folder)!r} exists and is not empty; choose another --out")
    return check_writable_folder(folder)


def check_writable_folder(path: str | Path) -> Path:
    """Before any work: `path` is a folder (it may hold files) or can be made, and takes new files."""
    _refuse_empty(path, "output folder")
    folder = Path(path)
    if folder.exists():
        if not folder.is_dir():
            raise OneByOneError(f"output folder {str(folder)!r} exists and is not a folder")
        parent = folder
    else:
        parent = next((p for p in folder.absolute().parents if p.exists()), Path("/"))
        if not parent.is_dir():
            raise OneByOneError(f"output folder {str(folder)!r} cannot be made: {str(parent)!r} is a file")
    why = _unwritable(parent)
    if why:
        raise OneByOneError(f"output folder {str(folder)!r} cannot be written: {why}")
    return folder


def check_output_file(path: str | Path, suffixes: tuple[str, ...] | None = None) -> Path:
    """Before any work: output file `path` can be written as the module docstring says.

    `suffixes` (e.g. tuple(PLOT_FORMATS)): those a file's name must end in, the format the writer
    picks from it; None: any name, written exactly as given."""
    _refuse_empty(path, "output file")
    file = Path(path)
    mode = _mode(file)
    if mode is not None and stat.S_ISDIR(mode):
        raise OneByOneError(f"output file {str(file)!r} is a folder")
    if writes_through(file):
        if not os.access(file, os.W_OK):
            raise OneByOneError(f"output file {str(file)!r} cannot be written: permission denied")
        return file
    if mode is not None and not stat.S_ISREG(mode):
        raise OneByOneError(f"output file {str(file)!r} is {_kind(mode)}; name a regular file")
    if suffixes is not None and file.suffix.lower() not in suffixes:
        names = ", ".join(suffixes)
        got = f"ends in {file.suffix!r}" if file.suffix else "has no suffix"
        raise OneByOneError(f"output file {str(file)!r} {got}; it must end in one of {names} (its format)")
    real = Path(os.path.realpath(file)) if file.is_symlink() else file
    parent = real.parent if str(real.parent) else Path(".")
    if not parent.is_dir():
        what = "is a file" if parent.exists() else "does not exist"
        raise OneByOneError(f"output file {str(file)!r} cannot be written: {str(parent)!r} {what}")
    why = _unwritable(parent)
    if why:
        raise OneByOneError(f"output file {str(file)!r} cannot be written: {why}")
    return file
