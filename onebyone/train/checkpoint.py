"""Checkpoints that load without executing code, written atomically.

A checkpoint is one safetensors file: the tensors (model, optimizer state, EMA, RNG states)
plus a JSON string in the file's metadata for everything else (epoch, step, optimizer
hyper-parameters, the config). Being one file, it is replaced in one `os.replace`, so a crash
mid-write leaves the previous checkpoint whole. `checkpoint.json` beside it is the same JSON,
for people to read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import Tensor, nn

from onebyone.errors import OneByOneError
from onebyone.files import atomic_write, atomic_write_text
from onebyone.records import json_text, parse_json, same_json
from onebyone.train.checkpoint_info import check_info
from onebyone.train.checks import first_line

CHECKPOINT_FILE = "checkpoint.safetensors"
CHECKPOINT_JSON = "checkpoint.json"
MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
CHECKPOINT_GROUPS = ("model", "optimizer", "rng", "ema")  # what `state_groups` saves


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


def _names(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _dims(tensor: Tensor) -> str:
    return "×".join(map(str, tensor.shape)) or "a scalar"


def _dtype(tensor: Tensor) -> str:
    return str(tensor.dtype).removeprefix("torch.")


def weight_problems(expected: dict[str, Tensor], found: dict[str, Tensor]) -> str | None:
    """What is wrong with the tensors `found` for a model whose state dict is `expected`, or None."""
    missing = [name for name in expected if name not in found]
    if missing:
        return f"it lacks {_names(missing)}"
    unexpected = [name for name in found if name not in expected]
    if unexpected:
        return f"it holds {_names(unexpected)}, which the model does not have"
    for name, want in expected.items():
        got = found[name]
        if got.dtype != want.dtype:
            return f"{name!r} is {_dtype(got)}; the model takes {_dtype(want)}"
        if got.shape != want.shape:
            return f"{name!r} has shape {_dims(got)}; the model takes {_dims(want)}"
    bad = [name for name, t in found.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if bad:
        return f"{_names(bad)} hold{'s' if len(bad) == 1 else ''} NaN or Inf"
    negative = [n for n, t in found.items() if n.endswith("running_var") and bool((t < 0).any())]
    if negative:
        return f"the batch-norm variance(s) {_names(negative)} hold negative values"
    return None


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
    where = f"{str(path)!r}: unreadable checkpoint"
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise OneByOneError(f"{where} ({exc})") from exc
    if not isinstance(metadata.get("onebyone"), str):
        raise OneByOneError(f"{where} (no onebyone record in its metadata)")
    info = check_info(parse_json(metadata["onebyone"], where), where)
    groups: dict[str, dict[str, Tensor]] = {}
    for flat, tensor in tensors.items():
        group, slash, name = flat.partition("/")
        if not slash or group not in CHECKPOINT_GROUPS:
            raise OneByOneError(f"{where} (tensor {flat!r:.80} is in none of {', '.join(CHECKPOINT_GROUPS)})")
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
    where = f"{str(run_dir / CHECKPOINT_FILE)!r} does not fit this run's model and recipe"
    problem = weight_problems(model.state_dict(), tensors.get("model", {}))
    if ema is not None and problem is None:
        problem = weight_problems(model.state_dict(), tensors.get("ema", {}))
    if problem is None:
        problem = optimizer_problems(optimizer, tensors.get("optimizer", {}), info["optimizer"])
    if problem:
        raise OneByOneError(f"{where} ({problem})")
    try:
        model.load_state_dict(tensors["model"])
        optimizer.load_state_dict(optimizer_from_flat(tensors.get("optimizer", {}), info["optimizer"]))
        if ema is not None:
            ema.state = {k: v.to(device) for k, v in tensors["ema"].items()}
        restore_rng_state(tensors["rng"])
        return TrainState(info["epoch"], info["step"], list(info["history"]))
    except (KeyError, RuntimeError, ValueError, TypeError, AttributeError) as exc:
        raise OneByOneError(f"{where} ({first_line(exc)})") from exc


def optimizer_problems(
    optimizer: torch.optim.Optimizer, tensors: dict[str, Tensor], rest: dict
) -> str | None:
    """What keeps a saved optimizer state from being this recipe's (`optimizer`, freshly built), or None.

    torch's `load_state_dict` takes the saved hyper-parameters (momentum, weight decay, betas) over the
    recipe's and state tensors of any shape, so each is compared here: the groups' settings but the
    learning rate (set every step), each state tensor's parameter, shape and finite values."""
    fresh = optimizer.param_groups
    saved = rest["param_groups"]
    if len(saved) != len(fresh):
        return f"{len(saved)} parameter groups; the recipe makes {len(fresh)}"
    params = []
    for index, (group, mine) in enumerate(zip(saved, fresh, strict=True)):
        if len(group["params"]) != len(mine["params"]):
            counts = f"{len(group['params'])} tensors; the model's {len(mine['params'])}"
            return f"parameter group {index} holds {counts}"
        keys = set(mine) - {"initial_lr"}
        if set(group) - {"initial_lr"} != keys:
            unlike = sorted(keys ^ (set(group) - {"initial_lr"}))
            return (
                f"parameter group {index} has other fields than this torch's optimizer ({', '.join(unlike)})"
            )
        for key in sorted(keys - {"params", "lr"}):
            if not same_json(group[key], mine[key]):
                return (
                    f"parameter group {index}'s {key} is {group[key]!r:.40}; the recipe's {mine[key]!r:.40}"
                )
        params += [
            (saved_index, param) for saved_index, param in zip(group["params"], mine["params"], strict=True)
        ]
    shapes = {saved_index: param.shape for saved_index, param in params}
    for flat, tensor in tensors.items():
        number = flat.partition(".")[0]
        if not number.isdigit() or int(number) not in shapes:
            return f"optimizer state {flat!r:.60} is for no parameter of the model"
        if tensor.ndim and tensor.shape != shapes[int(number)]:
            wanted = _shape(shapes[int(number)])
            return f"optimizer state {flat!r:.60} has shape {_dims(tensor)}; its parameter {wanted}"
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            return f"optimizer state {flat!r:.60} holds NaN or Inf"
    return None


def _shape(shape: torch.Size) -> str:
    return "×".join(map(str, shape)) or "a scalar"


def rng_state_tensors() -> dict[str, Tensor]:
    states = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state()
    return states


def restore_rng_state(states: dict[str, Tensor]) -> None:
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state(states["cuda"])
