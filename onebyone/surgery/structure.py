"""A pickle-free description of a factorised model's layout, and the model rebuilt from it.

`factorized_structure` records, for each factorised layer, the constructor arguments of the plain
layers that replaced it (Conv2d, Linear, and ZeroPad2d where a conv padded unevenly);
`rebuild_structure` puts such layers (weights unset) into a fresh copy of the original model, so
a saved state dict loads into it without unpickling anything.
"""

from __future__ import annotations

from torch import nn

from onebyone.errors import OneByOneError


def factorized_structure(model: nn.Module, report) -> list[dict]:
    """For each factorised layer: its name and the constructor arguments of its replacement layers."""
    structure = []
    for row in report.factorised:
        layers = []
        replacement = model.get_submodule(row.name)
        assert isinstance(replacement, nn.Sequential), "a factorised layer is a Sequential of plain layers"
        for layer in replacement:
            if isinstance(layer, nn.Linear):
                layers.append(
                    {
                        "type": "Linear",
                        "in_features": layer.in_features,
                        "out_features": layer.out_features,
                        "bias": layer.bias is not None,
                    }
                )
            elif isinstance(layer, nn.ZeroPad2d):  # the asymmetric "SAME" padding of a conv subclass
                layers.append({"type": "ZeroPad2d", "padding": list(layer.padding)})
            elif isinstance(layer, nn.Conv2d):
                layers.append(
                    {
                        "type": "Conv2d",
                        "in_channels": layer.in_channels,
                        "out_channels": layer.out_channels,
                        "kernel_size": list(layer.kernel_size),
                        "stride": list(layer.stride),
                        "padding": layer.padding if isinstance(layer.padding, str) else list(layer.padding),
                        "dilation": list(layer.dilation),
                        "padding_mode": layer.padding_mode,
                        "bias": layer.bias is not None,
                    }
                )
            else:
                raise OneByOneError(f"a {type(layer).__name__} in {row.name!r} has no entry in the structure")
        structure.append({"name": row.name, "method": row.method, "ranks": list(row.ranks), "layers": layers})
    return structure


def rebuild_structure(model: nn.Module, structure: list[dict]) -> nn.Module:
    """Replace, in place, each named layer of `model` by the described plain layers (weights unset)."""
    for entry in structure:
        layers: list[nn.Module] = []
        for spec in entry["layers"]:
            spec = dict(spec)
            kind = spec.pop("type")
            if kind == "Linear":
                layers.append(nn.Linear(**spec))
            elif kind == "ZeroPad2d":
                layers.append(nn.ZeroPad2d(tuple(spec["padding"])))
            elif kind == "Conv2d":
                for key in ("kernel_size", "stride", "dilation"):
                    spec[key] = tuple(spec[key])
                if not isinstance(spec["padding"], str):
                    spec["padding"] = tuple(spec["padding"])
                layers.append(nn.Conv2d(**spec))
            else:
                raise OneByOneError(f"unknown layer type {kind!r} in the factorised structure")
        try:
            model.get_submodule(entry["name"])
        except AttributeError as exc:
            raise OneByOneError(f"the model has no layer {entry['name']!r} to rebuild") from exc
        model.set_submodule(entry["name"], nn.Sequential(*layers))
    return model
