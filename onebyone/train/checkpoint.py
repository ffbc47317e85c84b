"""Checkpoints that load without executing code, written atomically.

A checkpoint is one safetensors file: the tensors (model, optimizer state, EMA, RNG states)
plus a JSON string in the file's metadata for everything else (epoch, step, optimizer
hyper-parameters, the config). Being one file, it is replaced in one `os.replace`, so a crash
mid-write leaves the previous checkpoint whole. `checkpoint.json` beside it is the same JSON,
for people to read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import Tensor, nn

from onebyone.errors import OneByOneError
from onebyone.files import atomic_write, atomic_write_text
from onebyone.records import json_text
from onebyone.train.checks import first_line

CHECKPOINT_FILE = "checkpoint.safetensors"
CHECKPOINT_JSON = "checkpoint.json"
MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"


def _atomic_save_tensors(path: Path, tensors: dict[str, Tensor], metadata: dict[str, str] | None) -> None:
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def save_weights(path: Path, state_dict: dict[str, Tensor]) -> None:
    """The model's weights alone (`model.safetensors`), atomically."""
    _atomic_save_tensors(path, dict(state_dict), None)


def load_weights(path: Path) -> dict[str, Tensor]:
    if not path.is_file():
        raise OneByOneError(f"{str(path)!r} not found")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise OneByOneError(f"{str(path)!r}: unreadable safetensors file ({exc})") from exc


def optimizer_to_flat(state: dict) -> tuple[dict[str, Tensor], dict]:
    """Split an optimizer state_dict into tensors and a JSON-able rest."""
    tensors: dict[str, Tensor] = {}
    rest: dict = {"param_groups": state["param_groups"], "scalars": {}}
    for index, per_param in state["state"].items():
        for key, value in per_param.items():
            if isinstance(value, Tensor):
                tensors[f"{index}.{key}"] = value
            else:
                rest["scalars"][f"{index}.{key}"] = value
    return tensors, rest


def optimizer_from_flat(tensors: dict[str, Tensor], rest: dict) -> dict:
    state: dict[int, dict] = {}
    for flat, value in list(tensors.items()) + list(rest["scalars"].items()):
        index, key = flat.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": rest["param_groups"]}


def save_checkpoint(run_dir: Path, groups: dict[str, dict[str, Tensor]], info: dict) -> Path:
    """Write `groups` ({"model": state_dict, "optimizer": …}) and `info` as one checkpoint."""
    tensors = {f"{group}/{name}": tensor for group, named in groups.items() for name, tensor in named.items()}
    text = json_text(info, indent=2)
    path = run_dir / CHECKPOINT_FILE
    _atomic_save_tensors(path, tensors, {"onebyone": text})
    atomic_write_text(run_dir / CHECKPOINT_JSON, text + "\n")
    return path


def load_checkpoint(run_dir: Path) -> tuple[dict[str, dict[str, Tensor]], dict]:
    """The tensor groups and the info of the run's checkpoint (no pickle, no code run)."""
    path = run_dir / CHECKPOINT_FILE
    if not path.is_file():
        raise OneByOneError(f"nothing to resume: {str(path)!r} not found")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        tensors = load_file(str(path))
        info = json.loads(metadata["onebyone"])
    except (SafetensorError, OSError, KeyError, json.JSONDecodeError) as exc:
        raise OneByOneError(f"{str(path)!r}: unreadable checkpoint ({exc})") from exc
    groups: dict[str, dict[str, Tensor]] = {}
    for flat, tensor in tensors.items():
        group, name = flat.split("/", 1)
        groups.setdefault(group, {})[name] = tensor
    return groups, info


@dataclass
class TrainState:
    """How far a run is: epochs done, optimizer steps taken, one metrics row per epoch done."""

    epoch: int = 0
    step: int = 0
    history: list[dict] = field(default_factory=list)


def state_groups(model: nn.Module, optimizer: torch.optim.Optimizer, ema) -> tuple[dict, dict]:
    """(tensor groups, JSON rest) of everything an exact resume needs; `ema` is an EMA or None."""
    optimizer_tensors, optimizer_rest = optimizer_to_flat(optimizer.state_dict())
    groups = {"model": model.state_dict(), "optimizer": optimizer_tensors, "rng": rng_state_tensors()}
    if ema is not None:
        groups["ema"] = ema.state
    return groups, optimizer_rest


def restore_state(
    run_dir: Path,
    checkpoint: tuple[dict[str, dict[str, Tensor]], dict],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    ema,
    device: torch.device,
) -> TrainState:
    """Load a checkpoint (from `load_checkpoint`) into the model, optimizer, EMA and RNG."""
    tensors, info = checkpoint
    try:
        model.load_state_dict(tensors["model"])
        optimizer.load_state_dict(optimizer_from_flat(tensors.get("optimizer", {}), info["optimizer"]))
        if ema is not None:
            ema.state = {k: v.to(device) for k, v in tensors["ema"].items()}
        restore_rng_state(tensors["rng"])
        return TrainState(int(info["epoch"]), int(info["step"]), list(info["history"]))
    except (KeyError, RuntimeError, ValueError, TypeError, AttributeError) as exc:
        raise OneByOneError(
            f"{str(run_dir / CHECKPOINT_FILE)!r} does not fit this run's model and recipe ({first_line(exc)})"
        ) from exc


def rng_state_tensors() -> dict[str, Tensor]:
    states = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state()
    return states


def restore_rng_state(states: dict[str, Tensor]) -> None:
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state(states["cuda"])
