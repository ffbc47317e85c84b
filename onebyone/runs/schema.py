"""The schema of each run-folder record: factorized.json, fc2conv.json, caffe.json.

Each writer (`save_compressed`, `save_converted`, `save_caffe_run`) checks its record against the
schema below before writing it, and `read_record` checks what it reads against the same schema, so a
field a reader needs is never missing, mistyped, out of range or unknown; a newer schema version is
refused as written by a newer onebyone. The training configuration these records keep (and
config.json holds) is checked by `TrainConfig.check_values`, its one schema.
"""

from __future__ import annotations

from onebyone.profiling.probe import MAX_SIDE
from onebyone.records import Bool, Either, Float, Int, ListOf, MapOf, Obj, Optional, Plain, Str, Tagged

MAX_CHANNELS = 1 << 16  # channels or features of one layer: far beyond any CNN (ResNet's widest: 2,048)
MAX_KERNEL = 1 << 10  # kernel side, stride, dilation, padding
MAX_NAME = 1024
MAX_LAYERS = 10_000
FACTORIZATION_METHODS = ("tucker2", "svd")  # surgery.factorize: Tucker-2 for a conv, SVD for a linear layer

SIDE = Int(1, MAX_SIDE)
SHAPE = ListOf(SIDE, 3, 4)  # (C, H, W), or (N, C, H, W) as fc2conv.json records it
NAME = Str(max_length=MAX_NAME)
PAIR = ListOf(Int(1, MAX_KERNEL), 2, 2)
# How a record says which model its weights are for: a zoo name (or user code) with options, or a
# Caffe definition kept as text; "run" is the folder it came from, for people to read.
MODEL_RECORD = Obj(
    {},
    optional={
        "model": NAME,
        "model_overrides": MapOf(Plain(), 1000),
        "caffe": Obj(
            {"prototxt_text": Str(), "input_shape": ListOf(SIDE, 3, 3)},
            optional={"source": Optional(Str(max_length=4096))},
        ),
        "run": Optional(Str(max_length=4096)),
    },
)
CONV2D = Obj(
    {
        "type": Str(("Conv2d",)),
        "in_channels": Int(1, MAX_CHANNELS),
        "out_channels": Int(1, MAX_CHANNELS),
        "kernel_size": PAIR,
        "stride": PAIR,
        "padding": Either(Str(("same", "valid")), ListOf(Int(0, MAX_KERNEL), 2, 2)),
        "dilation": PAIR,
        "padding_mode": Str(("zeros", "reflect", "replicate", "circular")),
        "bias": Bool(),
    }
)
LINEAR = Obj(
    {
        "type": Str(("Linear",)),
        "in_features": Int(1, MAX_CHANNELS * 64),
        "out_features": Int(1, MAX_CHANNELS),
        "bias": Bool(),
    }
)
ZERO_PAD = Obj({"type": Str(("ZeroPad2d",)), "padding": ListOf(Int(0, MAX_KERNEL), 4, 4)})


LAYER = Tagged("type", {"Conv2d": CONV2D, "Linear": LINEAR, "ZeroPad2d": ZERO_PAD})  # a replacement layer


def _factorised(ranks: int) -> Obj:
    return Obj(
        {
            "name": NAME,
            "method": Str(FACTORIZATION_METHODS),
            "ranks": ListOf(Int(1, MAX_CHANNELS), ranks, ranks),
            "layers": ListOf(LAYER, 1, 16),
        }
    )


# Tucker-2 keeps (r_in, r_out), SVD one rank (surgery.factorize.LayerFactorization)
STRUCTURE = ListOf(Tagged("method", {"tucker2": _factorised(2), "svd": _factorised(1)}), 0, MAX_LAYERS)
TRAIN_CONFIG = Optional(MapOf(Either(Plain(), MapOf(Plain(), 1000)), 200))  # fields: TrainConfig.check_values

FACTORIZED = Obj(
    {
        "schema_version": Int(1, 1),
        "base": MODEL_RECORD,
        "input_shape": SHAPE,
        "structure": STRUCTURE,
        "train_config": TRAIN_CONFIG,  # null: compressed from a bare model spec (no training run)
    },
)
FC2CONV = Obj(
    {
        "schema_version": Int(1, 1),
        "source": MODEL_RECORD,
        "input_shape": SHAPE,
        "train_config": TRAIN_CONFIG,  # null: converted from a bare model spec (no training run)
    },
    optional={  # what the conversion did and how it was checked, for people to read
        "layers": ListOf(MapOf(Str(max_length=4096), 16), 0, MAX_LAYERS),
        "pools": ListOf(Str(max_length=4096), 0, MAX_LAYERS),
        "position_wise": ListOf(Str(max_length=4096), 0, MAX_LAYERS),
        "max_abs_difference": Float(0),
        "larger_input_shape": SHAPE,
        "larger_output_shape": ListOf(Int(1, MAX_SIDE), 1, 8),
    },
)
CHANNEL_ORDERS = ("bgr", "rgb")  # Caffe's nets take BGR (OpenCV's order); "rgb" for those that do not
CAFFE = Obj(
    {
        "schema_version": Int(1, 1),
        "source": Obj({}, extra=Optional(Str(max_length=4096))),
        "input_shape": ListOf(SIDE, 3, 3),
        # null: not given to `convert caffe` (no class names; the prototxt's own transform)
        "classes": Optional(Either(Str(max_length=64), ListOf(Str(max_length=MAX_NAME), 1, 100_000))),
        "mean": Optional(ListOf(Float(-1e6, 1e6), 1, 4096)),
        "scale": Optional(Float(0, 1e6, low_open=True)),
        "channel_order": Str(CHANNEL_ORDERS),
    },
)
