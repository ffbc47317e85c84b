"""data.json: what a run's image folder was when the run started, and the check that it still is.

An image folder's fixed 20% test split is drawn from its images in their order, so a file added,
removed or now unreadable (skipped with a warning) gives another split, which may then hold images the
model was trained on; a class renamed gives its outputs other names. Training writes data.json beside
config.json ({"schema_version", "classes", "images", "digest"}: `onebyone.data.folder_source`); `train
--resume` and every command that loads the run's data (`Run.data`) compare the folder with it and refuse
one that changed. Data sets other than image folders get no data.json, and a run folder written before
data.json existed is read as before (its folder is not checked beyond its number of classes).
"""

from __future__ import annotations

import string
from pathlib import Path

from onebyone.errors import OneByOneError
from onebyone.files import atomic_write_text
from onebyone.records import (
    Int,
    ListOf,
    Obj,
    SchemaError,
    Spec,
    Str,
    check,
    check_version,
    json_text,
    read_json,
)

DATA_FILE = "data.json"
DATA_SCHEMA_VERSION = 1
MAX_IMAGES = 2**31 - 1
MAX_CLASS_NAME = 1024  # a class is a folder name (Linux: 255 bytes)
MAX_CLASSES = 100_000


class Digest(Spec):
    """A sha256 digest as 64 lower-case hexadecimal digits."""

    expected = "a sha256 digest (64 lower-case hexadecimal digits)"

    def validate(self, value: object, path: str) -> None:
        if not (isinstance(value, str) and len(value) == 64 and set(value) <= set(string.hexdigits.lower())):
            raise SchemaError(path, self.expected, value)


DATA_RECORD = Obj(
    {
        "schema_version": Int(1, DATA_SCHEMA_VERSION),
        "classes": ListOf(Str(max_length=MAX_CLASS_NAME), 1, MAX_CLASSES),
        "images": Int(1, MAX_IMAGES),
        "digest": Digest(),
    }
)


def write_data_record(folder: Path, source: dict) -> None:
    """data.json in the run folder `folder`, checked as `read_data_record` checks it."""
    record = {"schema_version": DATA_SCHEMA_VERSION, **source}
    check(record, DATA_RECORD, f"{DATA_FILE} to write")
    atomic_write_text(folder / DATA_FILE, json_text(record) + "\n")


def carry_data_record(folder: Path, record: dict | None) -> None:
    """data.json in `folder` (a run made from another: compressed, converted) when its source run
    has one, so that the new run's image folder is checked as the source's is."""
    if record is not None:
        write_data_record(folder, {k: v for k, v in record.items() if k != "schema_version"})


def read_data_record(folder: Path, num_classes: int | None = None) -> dict | None:
    """The run folder's data.json, checked field by field (one line naming the file and the field),
    and against `num_classes`, the classes its config gives the model; None when the run has none
    (not an image folder, or written before data.json existed)."""
    path = folder / DATA_FILE
    if not path.exists() and not path.is_symlink():
        return None
    where = f"{str(path)!r}: unreadable data record"
    record = check_version(read_json(path, "data record"), DATA_SCHEMA_VERSION, where)
    check(record, DATA_RECORD, where)
    names = record["classes"]
    for index, name in enumerate(names):
        if not name or name.startswith(".") or "/" in name or "\0" in name:
            raise OneByOneError(f"{where}: classes[{index}] {name!r:.80} is not a class folder's name")
    if names != sorted(set(names)):
        raise OneByOneError(f"{where}: classes must be sorted, each name once, as a folder's classes are")
    if num_classes is not None and num_classes != len(names):
        raise OneByOneError(
            f"{str(path)!r}: records {len(names)} classes, but the run's model has {num_classes}: not "
            "this run's data record"
        )
    return record


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return shown or "none"


def check_same_data(recorded: dict, source: dict | None, data: str) -> None:
    """Refuse, in one line, data (`source`, as loaded now) that is not what the run recorded."""
    if source is None:
        raise OneByOneError(
            f"{data}: the run records the image folder it was trained on ({DATA_FILE}), but its data "
            "is not an image folder"
        )
    then, now = list(recorded["classes"]), list(source["classes"])
    if then != now:
        added = [name for name in now if name not in then]
        removed = [name for name in then if name not in now]
        parts = [
            f"{'class' if len(names) == 1 else 'classes'} {_names(names)} {what}"
            for names, what in ((added, "added"), (removed, "removed"))
            if names
        ]
        raise OneByOneError(
            f"{data} has changed since training: {', '.join(parts) or 'its classes are in another order'} "
            f"(it now has {len(now)}: {_names(now)}; the run's model was trained on {len(then)}: "
            f"{_names(then)})"
        )
    if recorded["digest"] != source["digest"]:
        counts = (
            f"{recorded['images']:,} images then, {source['images']:,} now"
            if recorded["images"] != source["images"]
            else f"{source['images']:,} images then and now, but other files or sizes"
        )
        raise OneByOneError(
            f"{data} has changed since training: its readable images are not the ones trained on "
            f"({counts}; a file added, removed, changed or now unreadable): its 20% test split would "
            "hold images the model was trained on"
        )
