"""The run folder a training writes, by one writer at a time, never half-written.

`RunWriter.open(config)` locks the folder (`RunLock`), removes the temporary files an interrupted
write left, and decides what the run is:

- a new run: the folder is new or empty (a lock left by a dead process does not count);
- `--resume`: the run in the folder continues from its checkpoint, or starts from its first epoch
  when it was stopped before one was saved; its settings must be the ones asked for (only the
  device, the progress bar, `stop_after_epoch` and a new peak lr may change);
- `--overwrite`: the run in the folder is replaced (its files only; a folder holding other files
  is refused).

Every file is written through `onebyone.files.atomic_write`; metrics rows are appended and
flushed to disk, and rewritten from the checkpoint's history on resume, so `metrics.jsonl` has one
row per epoch and one final row however often the run was interrupted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

from torch import Tensor

from onebyone.errors import OneByOneError
from onebyone.files import atomic_write_text, remove_stale_temporaries
from onebyone.records import json_text
from onebyone.train.checkpoint import (
    CHECKPOINT_FILE,
    CHECKPOINT_JSON,
    CONFIG_FILE,
    METRICS_FILE,
    MODEL_FILE,
    load_checkpoint,
    save_checkpoint,
    save_weights,
)
from onebyone.train.checkpoint_info import check_fits_run
from onebyone.train.config import TrainConfig, read_config, write_config
from onebyone.train.data_record import DATA_FILE, check_same_data, read_data_record, write_data_record
from onebyone.train.lock import LOCK_FILE, RunLock

RUN_FILES = (CONFIG_FILE, DATA_FILE, METRICS_FILE, CHECKPOINT_FILE, CHECKPOINT_JSON, MODEL_FILE)
ADDED_FILES = ("confusion.png",)  # what `onebyone eval` writes into a run folder
# What may change when a run is resumed; every other field must be the run's own.
RESUME_MAY_CHANGE = ("out", "resume", "overwrite", "resume_lr", "stop_after_epoch", "progress", "device")
# Fields filled in when a run starts (from the data), so an unset value matches the run's.
RESOLVED_AT_START = ("mean", "std", "tta_flip")
DATA_OVERRIDES = ("num_classes", "in_channels")  # model options set from the data


def resume_config(out: str, given: dict) -> TrainConfig:
    """The config of resuming the run in `out` with the settings `given` (field → value) laid over
    its saved ones; for a folder with no config yet, `given` over the defaults."""
    path = Path(out) / CONFIG_FILE
    base = read_config(path).to_dict() if path.is_file() else {}
    for name in RESUME_MAY_CHANGE:
        base.pop(name, None)
    return TrainConfig(**{**base, **given})


def setting_differences(asked: TrainConfig, saved: TrainConfig) -> list[str]:
    """'name saved → asked' for each setting of `asked` that is not the saved run's."""
    differences = []
    for name, value in asked.to_dict().items():
        was = getattr(saved, name)
        if name in RESUME_MAY_CHANGE or (name in RESOLVED_AT_START and value is None) or value == was:
            continue
        if name == "model_overrides":  # options the run took from its data need not be repeated
            value = {**{k: v for k, v in was.items() if k in DATA_OVERRIDES}, **value}
            if value == was:
                continue
        differences.append(f"{name} {was!r} → {value!r}")
    return differences


class RunWriter:
    """Writes one run folder (rank 0), or nothing (no --out, or another rank of a DDP run)."""

    def __init__(
        self, folder: Path | None, config: TrainConfig, checkpoint: tuple | None, writes: bool
    ) -> None:
        self.folder = folder
        self.config = config  # the run's config: on resume, the saved one with the allowed changes
        self.checkpoint = checkpoint  # (tensor groups, info) to resume from, or None
        self.writes = writes and folder is not None

    @classmethod
    @contextlib.contextmanager
    def open(cls, config: TrainConfig, *, writes: bool = True) -> Iterator[RunWriter]:
        """Lock and prepare `config.out` (when set and `writes`); released on exit and on errors."""
        if config.out is None:
            yield cls(None, config, None, False)
            return
        folder = Path(config.out)
        if config.resume and not folder.is_dir():
            raise OneByOneError(f"{str(folder)!r} is not a training run (no such folder): nothing to resume")
        if not writes:  # another rank: rank 0 checks and writes; this one only reads a resumed run
            yield cls._prepare(folder, config, writes=False)
            return
        created = not folder.exists()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OneByOneError(f"cannot create run folder {str(folder)!r}: {exc.strerror or exc}") from exc
        try:
            with RunLock(folder):
                remove_stale_temporaries(folder)
                yield cls._prepare(folder, config, writes=True)
        finally:
            if created and folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()  # nothing was written: leave no empty folder behind

    @classmethod
    def _prepare(cls, folder: Path, config: TrainConfig, *, writes: bool) -> RunWriter:
        names = {p.name for p in folder.iterdir()} - {LOCK_FILE} if folder.is_dir() else set()
        if config.resume:
            if CONFIG_FILE not in names:
                if names - {DATA_FILE}:  # data.json is written first: a run stopped before its config
                    raise OneByOneError(f"{str(folder)!r} is not a training run (no {CONFIG_FILE})")
                return cls(folder, config, None, writes)  # stopped before it wrote anything: start it
            saved = read_config(folder / CONFIG_FILE).validate()
            differences = setting_differences(config, saved)
            if differences:
                raise OneByOneError(
                    f"cannot resume {str(folder)!r} with other settings: {'; '.join(differences)} "
                    "(only --device, --stop-after-epoch, --lr and --no-progress may change; "
                    "use --overwrite to start it again with these, or a new --out)"
                )
            changes = {name: getattr(config, name) for name in RESUME_MAY_CHANGE}
            if config.resume_lr is not None:
                changes["lr"] = config.resume_lr
            resumed = dataclasses.replace(saved, **changes).validate()
            checkpoint = load_checkpoint(folder) if CHECKPOINT_FILE in names else None
            if checkpoint is not None:
                check_fits_run(checkpoint[1], saved.to_dict(), repr(str(folder / CHECKPOINT_FILE)))
            return cls(folder, resumed, checkpoint, writes)
        if config.overwrite and writes:
            foreign = sorted(names - set(RUN_FILES) - set(ADDED_FILES))
            if foreign:
                raise OneByOneError(
                    f"--overwrite replaces a training run, but {str(folder)!r} also holds "
                    f"{', '.join(foreign[:5])}: not touching it; use a new --out"
                )
            try:
                for name in names:
                    (folder / name).unlink()
            except OSError as exc:
                raise OneByOneError(f"--overwrite: cannot remove {exc.filename!r}: {exc.strerror}") from exc
        elif names and writes:
            raise OneByOneError(
                f"run folder {str(folder)!r} exists and is not empty (--resume continues the run in it, "
                "also one stopped before its first checkpoint; --overwrite starts it again; "
                "or use a new --out)"
            )
        return cls(folder, config, None, writes)

    # --- writing (no-ops when this process does not write) ---

    def _written(self) -> Path | None:
        """The folder this process writes, or None when it writes nothing (`writes` implies a folder)."""
        return self.folder if self.writes else None

    def check_data(self, source: dict | None) -> None:
        """On resume, refuse an image folder that is not the one the run started on (data.json; a run
        written before data.json existed is not checked)."""
        if self.folder is None or not self.config.resume or not (self.folder / CONFIG_FILE).is_file():
            return
        recorded = read_data_record(self.folder)
        if recorded is not None:
            check_same_data(recorded, source, self.config.data)

    def begin(
        self, config: TrainConfig, history: list[dict], info: dict | None, source: dict | None = None
    ) -> None:
        """Before the first epoch: data.json (an image folder's `source`) then config.json for a new
        run; metrics.jsonl (and checkpoint.json) from the checkpoint's history for a resumed one,
        dropping rows written after it."""
        folder = self._written()
        if folder is None:
            return
        if not config.resume or not (folder / CONFIG_FILE).is_file():
            if source is not None:  # first: a config.json without data.json is a run from before it
                write_data_record(folder, source)
            write_config(folder / CONFIG_FILE, config)
        atomic_write_text(
            folder / METRICS_FILE, "".join(json_text(row, indent=None) + "\n" for row in history)
        )
        if info is not None:  # a kill between the two checkpoint files leaves this one behind
            atomic_write_text(folder / CHECKPOINT_JSON, json_text(info, indent=2) + "\n")

    def save_epoch(self, groups: dict[str, dict[str, Tensor]], info: dict, row: dict) -> None:
        """The checkpoint after an epoch, then its metrics row."""
        folder = self._written()
        if folder is not None:
            save_checkpoint(folder, groups, info)
            self.append(row)

    def save_final(self, state_dict: dict[str, Tensor], row: dict) -> None:
        """The final weights (model.safetensors), then the final metrics row."""
        folder = self._written()
        if folder is not None:
            save_weights(folder / MODEL_FILE, state_dict)
            self.append(row)

    def append(self, row: dict) -> None:
        """One metrics row, flushed to disk before returning."""
        folder = self._written()
        if folder is None:
            return
        with open(folder / METRICS_FILE, "a") as handle:
            handle.write(json_text(row, indent=None) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def kept(self, history: list[dict]) -> str:
        """What survives a divergence, for its message."""
        if not history:
            return "no checkpoint yet"
        if self.folder is None:
            return "nothing saved (no --out)"
        path = str(self.folder / CHECKPOINT_FILE)
        return f"last good checkpoint (epoch {history[-1]['epoch']}) kept in {path!r}"
