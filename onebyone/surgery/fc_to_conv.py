"""FC → conv: every linear layer of a classifier head becomes a convolution (claim C9).

A linear layer on a flattened C×H×W map is a conv with an H×W kernel; on the output of global
pooling or of another such layer it is a 1×1 conv (Sermanet et al., "OverFeat", 2014; Long,
Shelhamer and Darrell, "Fully Convolutional Networks", 2015). The converted network gives the
same output at the original input size and, on a larger input, a map of class scores: each cell
is the original network applied to one window of the input. The rewrite itself lives in
`onebyone.analysis.heads` (class activation maps use it too); this module adds the folder that
`onebyone convert fc2conv` writes and `load_fc2conv` reads.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from torch import nn

from onebyone.analysis.heads import FcToConvResult, LayerConversion, convert_fc_layers
from onebyone.errors import OneByOneError

__all__ = [
    "FC2CONV_FILE",
    "WEIGHTS_FILE",
    "FcToConvResult",
    "LayerConversion",
    "convert_fc_layers",
    "fc_to_conv",
    "load_fc2conv",
    "save_fc2conv",
]


def fc_to_conv(model: nn.Module, input_shape: Sequence[int]) -> nn.Module:
    """A copy of `model` with every linear layer turned into a convolution (see `convert_fc_layers`).

    At `input_shape` the copy returns what `model` returns; on a larger input, a class map
    (N, num_classes, h, w). Raises OneByOneError naming the layer that cannot be converted.
    """
    return convert_fc_layers(model, input_shape).model


FC2CONV_FILE = "fc2conv.json"
WEIGHTS_FILE = "model.safetensors"
SCHEMA_VERSION = 1


def save_fc2conv(
    out_dir: str | Path, result: FcToConvResult, source: dict, checks: dict | None = None
) -> Path:
    """Write `model.safetensors` (the converted weights) and `fc2conv.json` to `out_dir`.

    `source` says how to rebuild the unconverted model: {"model": zoo name or file.py:factory,
    "model_overrides": {...}} (and, for the record, the "run" it came from).
    """
    from safetensors.torch import save_file

    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OneByOneError(f"output folder {str(out)!r} exists and is not empty")
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().clone() for k, v in result.model.state_dict().items()}
    save_file(state, str(out / WEIGHTS_FILE))
    description = {"schema_version": SCHEMA_VERSION, "source": source, **result.to_dict(), **(checks or {})}
    (out / FC2CONV_FILE).write_text(json.dumps(description, indent=2) + "\n")
    return out


def load_fc2conv(out_dir: str | Path) -> nn.Module:
    """Rebuild a model written by `onebyone convert fc2conv`: the source model converted again at the
    recorded input size, then the saved (e.g. trained) weights. Returned in eval mode."""
    from safetensors.torch import load_file

    from onebyone.models.loading import load_model

    folder = Path(out_dir)
    if not (folder / FC2CONV_FILE).is_file():
        raise OneByOneError(f"{str(folder)!r} is not an fc2conv folder (no {FC2CONV_FILE})")
    description = json.loads((folder / FC2CONV_FILE).read_text())
    source = description["source"]
    model = load_model(source["model"], dict(source.get("model_overrides") or {}))
    converted = fc_to_conv(model, description["input_shape"])
    converted.load_state_dict(load_file(str(folder / WEIGHTS_FILE)))
    return converted.eval()
