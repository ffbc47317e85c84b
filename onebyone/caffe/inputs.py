"""Where a prototxt says how large its input is: every declaration Caffe accepts.

Deploy files declare `input: "data"` with four `input_dim` (N, C, H, W) or an `input_shape { dim }`,
or an `Input` layer (`input_param { shape { dim } }`). A train_val file has data layers instead: the
side is the `crop_size` of `transform_param` (or, in older files, of `data_param`,
`image_data_param`, `window_data_param`); images are colour (3 channels) unless `is_color: false`.
A data layer's other tops (the label) are not inputs of the module: a layer that reads one only
trains the net. A declaration that gives no size leaves the shape unknown, for `--input` to give.
"""

from __future__ import annotations

from dataclasses import dataclass

from onebyone.caffe.fields import Params, schema
from onebyone.errors import OneByOneError

SHAPE_FIELDS = schema("dim:int*")
_SOURCE = "source:str batch_size:uint rand_skip:uint scale:float mean_file:str crop_size:uint mirror:bool"
DATA_FIELDS = {
    "Data": ("data_param", schema(f"{_SOURCE} backend:enum force_encoded_color:bool prefetch:uint")),
    "ImageData": (
        "image_data_param",
        schema(f"{_SOURCE} shuffle:bool new_height:uint new_width:uint is_color:bool root_folder:str"),
    ),
    "WindowData": (
        "window_data_param",
        schema(
            f"{_SOURCE} fg_threshold:float bg_threshold:float "
            "fg_fraction:float context_pad:uint crop_mode:str "
            "cache_images:bool root_folder:str"
        ),
    ),
    "MemoryData": ("memory_data_param", schema("batch_size:uint channels:uint height:uint width:uint")),
    "HDF5Data": ("hdf5_data_param", schema("source:str batch_size:uint shuffle:bool")),
    "Input": ("input_param", schema("shape:msg*")),
}
DATA_LAYERS = set(DATA_FIELDS) | {"DummyData"}
TRANSFORM_FIELDS = schema(
    "scale:float mirror:bool crop_size:uint mean_file:str mean_value:float* force_color:bool force_gray:bool"
)


@dataclass(frozen=True)
class InputDef:
    """An input blob: its name, its full shape (batch first) if the file gives one, who declared it."""

    blob: str
    shape: tuple[int, ...] | None
    declared: str
    labels: tuple[str, ...] = ()  # the data layer's other tops, unavailable to a test-time module
    mean: tuple[float, ...] | None = None  # transform_param mean_value, in Caffe's 0–255 units
    scale: float = 1.0  # transform_param scale


def declared_inputs(net: Params, source: str) -> list[InputDef]:
    """The net-level `input:` declarations with their `input_dim` (4 each) or `input_shape`."""
    names, dims = net.many("input"), net.many("input_dim")
    shapes = [tuple(shape.many("dim")) for shape in net.subs("input_shape", SHAPE_FIELDS)]
    if not names:
        if dims or shapes:
            raise OneByOneError(f"{source}: input_dim or input_shape without an `input:` blob name")
        return []
    if shapes and dims:
        raise OneByOneError(f"{source}: give input_dim or input_shape, not both")
    if dims:
        if len(dims) != 4 * len(names):
            raise OneByOneError(
                f"{source}: {len(names)} input(s) need {4 * len(names)} input_dim values "
                f"(N, C, H, W each), got {len(dims)}"
            )
        shapes = [tuple(dims[4 * i : 4 * i + 4]) for i in range(len(names))]
        how = "input_dim"
    else:
        how = "input_shape"
    if shapes and len(shapes) != len(names):
        raise OneByOneError(f"{source}: {len(names)} input(s) but {len(shapes)} input_shape messages")
    return [
        InputDef(
            name,
            _checked(shapes[i], f"{source}: input {name!r}") if shapes else None,
            f"`input: {name!r}` with {how}" if shapes else f"`input: {name!r}`",
        )
        for i, name in enumerate(names)
    ]


def data_layer_input(layer) -> list[InputDef]:
    """The inputs a data or Input layer (a `LayerDef`) declares."""
    if not layer.tops:
        raise OneByOneError(f"{layer.where}: a data layer with no top")
    if layer.type == "DummyData":
        raise OneByOneError(
            f"{layer.where}: DummyData inputs are not supported; declare the input with "
            "an Input layer or --input CxHxW"
        )
    param_name, fields = DATA_FIELDS[layer.type]
    params = layer.params(param_name, fields)
    if layer.type == "Input":
        shapes = [tuple(shape.many("dim")) for shape in params.subs("shape", SHAPE_FIELDS)]
        if len(shapes) not in (1, len(layer.tops)):
            raise OneByOneError(f"{layer.where}: {len(layer.tops)} tops but {len(shapes)} shapes")
        if not shapes:
            raise OneByOneError(f"{layer.where}: input_param gives no shape")
        return [
            InputDef(
                top, _checked(shapes[i if len(shapes) > 1 else 0], layer.where), f"Input layer {layer.name!r}"
            )
            for i, top in enumerate(layer.tops)
        ]
    transform = layer.params("transform_param", TRANSFORM_FIELDS)
    shape = None
    if layer.type == "MemoryData":
        sizes = [params.one(key, 0) for key in ("batch_size", "channels", "height", "width")]
        shape = tuple(sizes) if all(sizes) else None
    elif layer.type != "HDF5Data":
        crop = transform.one("crop_size", 0) or params.one("crop_size", 0)
        channels = 1 if transform.one("force_gray", False) else 3
        if layer.type == "ImageData" and not params.one("is_color", True):
            channels = 1
        height, width = crop, crop
        if not crop and layer.type == "ImageData":
            height, width = params.one("new_height", 0), params.one("new_width", 0)
        if height and width:
            shape = (params.one("batch_size", 1) or 1, channels, height, width)
    how = "" if shape is None else " (memory_data_param)" if layer.type == "MemoryData" else " (crop_size)"
    mean = transform.many("mean_value")
    return [
        InputDef(
            layer.tops[0],
            shape,
            f"{layer.type} layer {layer.name!r}{how}",
            labels=layer.tops[1:],
            mean=tuple(mean) or None,
            scale=transform.one("scale", 1.0),
        )
    ]


def _checked(shape: tuple[int, ...], where: str) -> tuple[int, ...]:
    if not shape or any(d < 1 for d in shape):
        raise OneByOneError(f"{where}: input shape {list(shape)} must have positive sizes")
    return shape
