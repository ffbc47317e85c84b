"""The report's model cache: `OUT/models/<name>/`, used only when complete.

A model is trained into a hidden `.partial-<name>-<pid>` folder next to its final place; when the
training has written its weights, a completion marker (`report-cache.json`, the settings the model
was trained with) is written inside and the folder is renamed into place in one step. A run killed
mid-training leaves only a partial folder, which the next run deletes; a folder without the marker,
or with other settings, is trained again. The folders are ordinary training runs, so `onebyone eval`
and `onebyone inspect` take them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from onebyone.errors import OneByOneError
from onebyone.files import atomic_write_text, fsync_path
from onebyone.records import json_text, read_json

MARKER = "report-cache.json"


def _read_marker(folder: Path) -> dict | None:
    """The settings the marker records, or None for a missing or damaged one (bounded, finite JSON;
    the settings are compared whole with the wanted ones, so any other content means "train again")."""
    try:
        marker = read_json(folder / MARKER, "report cache marker")
    except OneByOneError:
        return None
    return marker if isinstance(marker, dict) else None


def cached_run(root: Path, name: str, settings: dict) -> Path | None:
    """`root/name` if it holds a complete run trained with exactly `settings`; else None."""
    folder = root / name
    return folder if folder.is_dir() and _read_marker(folder) == settings else None


def train_into_cache(root: Path, name: str, settings: dict, train: Callable[[Path], object]) -> Path:
    """Call `train(partial_folder)`, then mark the folder complete and move it to `root/name`.

    Partial folders of `name` left by killed runs, and an outdated `root/name`, are removed first.
    """
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(f".partial-{name}-*"):
        shutil.rmtree(stale, ignore_errors=True)
    partial = root / f".partial-{name}-{os.getpid()}"
    train(partial)
    atomic_write_text(partial / MARKER, json_text(settings, indent=2, sort_keys=True) + "\n")
    final = root / name
    if final.exists():
        shutil.rmtree(final)
    os.replace(partial, final)  # atomic on one file system: the folder appears complete or not at all
    fsync_path(root)
    return final
