"""Receptive-field back-projection: which input box a unit sees (claim C14).

The profiler gives, per axis of a layer's output, the field size, the stride between neighbouring
positions and the input coordinate of the centre of position 0 (`start`). Position (y, x) is then
centred at start + y·stride, and its field spans size pixels around that centre. Pixels are
numbered from 0 at the top-left; boxes are inclusive on both ends.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from torch import Tensor, nn

from onebyone.errors import OneByOneError
from onebyone.insight.activations import capture_activations
from onebyone.profiling import profile


@dataclass
class UnitBox:
    """The strongest unit of a layer and the input box its receptive field covers."""

    layer: str
    channel: int
    y: int
    x: int
    value: float  # the unit's activation
    field_size: tuple[float, float]  # (height, width) in input pixels
    stride: tuple[float, float]  # (vertical, horizontal) input pixels between neighbouring units
    centre: tuple[float, float]  # (y, x) input coordinate of the field's centre
    box: tuple[float, float, float, float]  # (top, left, bottom, right), inclusive, may leave the image
    clipped_box: tuple[float, float, float, float]  # the same, clipped to the image
    image_size: tuple[int, int]  # (H, W)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class MapGeometry:
    """Where the cells of an output map sit on the input: cell (i, j) is centred at start + (i, j)·stride."""

    start: tuple[float, float]  # (y, x) input coordinate of the centre of cell (0, 0)
    stride: tuple[float, float]  # input pixels between neighbouring cells
    field_size: tuple[float, float]  # receptive field of one cell

    @classmethod
    def from_field(cls, field: dict) -> MapGeometry:
        axis_y, axis_x = field["axes"]
        return cls(
            start=(float(axis_y["start"]), float(axis_x["start"])),
            stride=(float(axis_y["stride"]), float(axis_x["stride"])),
            field_size=(float(axis_y["size"]), float(axis_x["size"])),
        )

    def extent(self, height: int, width: int) -> tuple[float, float, float, float]:
        """matplotlib imshow extent (left, right, bottom, top) that puts each of the h×w cells on the
        input pixels it is centred on (pixel centres at integer coordinates)."""
        (sy, sx), (jy, jx) = self.start, self.stride
        return (sx - jx / 2, sx + (width - 0.5) * jx, sy + (height - 0.5) * jy, sy - jy / 2)


def output_geometry(network: nn.Module, input_shape: tuple[int, ...]) -> MapGeometry:
    """The geometry of the (N, K, h, w) map `network` returns for inputs of `input_shape`."""
    field = profile(network, input_shape).rows[0].receptive_field
    if not field or not field.get("spatial") or len(field["axes"]) != 2:
        raise OneByOneError(f"{type(network).__name__} returns no spatial map at input {tuple(input_shape)}")
    return MapGeometry.from_field(field)


def field_box(field: dict, y: int, x: int) -> tuple[tuple[float, float], tuple[float, float, float, float]]:
    """(centre, box) of position (y, x) from a profiler receptive-field dict (two spatial axes)."""
    axis_y, axis_x = field["axes"]
    centre = (float(axis_y["start"] + y * axis_y["stride"]), float(axis_x["start"] + x * axis_x["stride"]))
    half_y, half_x = (axis_y["size"] - 1) / 2, (axis_x["size"] - 1) / 2
    return centre, (centre[0] - half_y, centre[1] - half_x, centre[0] + half_y, centre[1] + half_x)


def layer_field(model: nn.Module, input_shape: tuple[int, ...], layer: str) -> dict:
    """The profiler's receptive field of `layer`'s output (first call) at `input_shape` (N, C, H, W)."""
    result = profile(model, input_shape)
    try:
        field = result.row(layer).receptive_field
    except KeyError:
        raise OneByOneError(f"layer {layer!r} is not called when {type(model).__name__} runs") from None
    if not field or not field.get("spatial") or len(field["axes"]) != 2:
        raise OneByOneError(f"layer {layer!r} has no spatial (H, W) map, so its units have no input box")
    return field


def strongest_unit_box(model: nn.Module, image: Tensor, layer: str) -> UnitBox:
    """The unit of `layer` with the largest activation on `image`, and its back-projected input box.

    Args:
        model: any nn.Module the profiler can trace.
        image: (C, H, W) or (1, C, H, W) float, preprocessed as the model expects.
        layer: module path whose output is an (N, C, h, w) map, e.g. "features.stage3".
    """
    if image.dim() == 3:
        image = image.unsqueeze(0)
    if image.dim() != 4 or image.shape[0] != 1:
        raise OneByOneError(f"image must be (C, H, W) or (1, C, H, W), got {tuple(image.shape)}")
    activation = capture_activations(model, image, [layer])[layer]  # (1, C, h, w)
    if activation.dim() != 4:
        raise OneByOneError(
            f"layer {layer!r} outputs shape {tuple(activation.shape)}, not an (N, C, h, w) feature map"
        )
    _, _, height, width = activation.shape
    index = int(activation[0].argmax())
    channel, rest = divmod(index, height * width)
    y, x = divmod(rest, width)
    field = layer_field(model, tuple(image.shape), layer)
    centre, box = field_box(field, y, x)
    image_h, image_w = (int(d) for d in image.shape[-2:])
    top, left, bottom, right = box
    clipped = (max(top, 0.0), max(left, 0.0), min(bottom, image_h - 1.0), min(right, image_w - 1.0))
    axis_y, axis_x = field["axes"]
    return UnitBox(
        layer=layer,
        channel=channel,
        y=y,
        x=x,
        value=float(activation[0, channel, y, x]),
        field_size=(float(axis_y["size"]), float(axis_x["size"])),
        stride=(float(axis_y["stride"]), float(axis_x["stride"])),
        centre=centre,
        box=box,
        clipped_box=clipped,
        image_size=(image_h, image_w),
    )
