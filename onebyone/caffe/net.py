"""A .prototxt as a net definition: its layers at the TEST phase and the size of its input.

Both of Caffe's syntaxes are read: `layer { type: "Convolution" }` (V2) and the older
`layers { type: CONVOLUTION }` (V1, enum types); a file with both is refused, as Caffe refuses it.
Layers are kept or dropped by their `include`/`exclude` rules as Caffe's `Net::FilterNet` does, at
the TEST phase. The input is whatever the file declares: an `Input` layer, `input:` with four
`input_dim` or an `input_shape`, or the data layer of a train_val file (its `crop_size`).
Losses, Accuracy and Silence only train or measure a net: they are dropped, and listed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from onebyone.caffe.fields import Params, enum_value, schema
from onebyone.caffe.inputs import DATA_LAYERS, InputDef, data_layer_input, declared_inputs
from onebyone.caffe.text_format import Message, Name, parse_text
from onebyone.errors import OneByOneError

# V1's LayerType enum (caffe.proto): name, number → the V2 type string.
V1_TYPES = {
    "ABSVAL": (35, "AbsVal"),
    "ACCURACY": (1, "Accuracy"),
    "ARGMAX": (30, "ArgMax"),
    "BNLL": (2, "BNLL"),
    "CONCAT": (3, "Concat"),
    "CONTRASTIVE_LOSS": (37, "ContrastiveLoss"),
    "CONVOLUTION": (4, "Convolution"),
    "DATA": (5, "Data"),
    "DECONVOLUTION": (39, "Deconvolution"),
    "DROPOUT": (6, "Dropout"),
    "DUMMY_DATA": (32, "DummyData"),
    "EUCLIDEAN_LOSS": (7, "EuclideanLoss"),
    "ELTWISE": (25, "Eltwise"),
    "EXP": (38, "Exp"),
    "FLATTEN": (8, "Flatten"),
    "HDF5_DATA": (9, "HDF5Data"),
    "HDF5_OUTPUT": (10, "HDF5Output"),
    "HINGE_LOSS": (28, "HingeLoss"),
    "IM2COL": (11, "Im2col"),
    "IMAGE_DATA": (12, "ImageData"),
    "INFOGAIN_LOSS": (13, "InfogainLoss"),
    "INNER_PRODUCT": (14, "InnerProduct"),
    "LRN": (15, "LRN"),
    "MEMORY_DATA": (29, "MemoryData"),
    "MULTINOMIAL_LOGISTIC_LOSS": (16, "MultinomialLogisticLoss"),
    "MVN": (34, "MVN"),
    "POOLING": (17, "Pooling"),
    "POWER": (26, "Power"),
    "RELU": (18, "ReLU"),
    "SIGMOID": (19, "Sigmoid"),
    "SIGMOID_CROSS_ENTROPY_LOSS": (27, "SigmoidCrossEntropyLoss"),
    "SILENCE": (36, "Silence"),
    "SOFTMAX": (20, "Softmax"),
    "SOFTMAX_LOSS": (21, "SoftmaxWithLoss"),
    "SPLIT": (22, "Split"),
    "SLICE": (33, "Slice"),
    "TANH": (23, "TanH"),
    "WINDOW_DATA": (24, "WindowData"),
    "THRESHOLD": (31, "Threshold"),
}
V1_BY_NUMBER = {number: name for number, name in V1_TYPES.values()}
# Layers that only train or score a net: dropped at TEST, as a deploy file leaves them out.
TRAIN_ONLY = {"Accuracy", "Silence", "HDF5Output"}

NET_FIELDS = schema(
    "name:str input:str* input_shape:msg* input_dim:int* force_backward:bool "
    "state:msg debug_info:bool layer:msg* layers:msg*"
)
STATE_FIELDS = schema("phase:enum level:int stage:str*")
RULE_FIELDS = schema("phase:enum min_level:int max_level:int stage:str* not_stage:str*")
_COMMON = (
    "name:str type:{type} bottom:str* top:str* include:msg* exclude:msg* loss_weight:float* "
    "blobs:msg* transform_param:msg loss_param:msg param:{param}"
)
PHASES = {"TRAIN": 0, "TEST": 1}


@dataclass(frozen=True)
class LayerDef:
    """One layer as written: its Caffe name and type, blobs in and out, and its own message."""

    name: str
    type: str
    bottoms: tuple[str, ...]
    tops: tuple[str, ...]
    message: Message = field(repr=False)
    where: str = ""

    def params(self, name: str, fields: dict[str, str]) -> Params:
        """The layer's `name` parameter message (e.g. "pooling_param"), checked against `fields`."""
        return Params(self.message.last(name), fields, f"{self.where}.{name}")


@dataclass(frozen=True)
class NetDefinition:
    """A net at the TEST phase: its input(s), the layers that compute, and what was left out."""

    name: str
    source: str
    text: str = field(repr=False)
    syntax: str  # "V1 layers" or "V2 layer"
    inputs: tuple[InputDef, ...]
    layers: tuple[LayerDef, ...]
    dropped: tuple[str, ...] = ()  # train-only layers left out ("loss (SoftmaxWithLoss)")


def read_prototxt(path: str | Path) -> NetDefinition:
    """The net a .prototxt file defines, at the TEST phase; bad files are one OneByOneError line."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise OneByOneError(f"prototxt file {str(path)!r} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise OneByOneError(f"cannot read prototxt {str(path)!r}: {exc}") from exc
    return parse_prototxt(text, str(path))


def parse_prototxt(text: str, source: str = "<prototxt>") -> NetDefinition:
    """`read_prototxt` on text already in memory; `source` names it in messages."""
    top = parse_text(text, source)
    net = Params(top, NET_FIELDS, source)
    v2, v1 = net.many("layer"), net.many("layers")
    if v2 and v1:
        raise OneByOneError(
            f"{source}: mixes `layer {{ }}` (V2) and `layers {{ }}` (V1) definitions; "
            "Caffe refuses such a file: write every layer in one syntax"
        )
    if not v2 and not v1:
        raise OneByOneError(f"{source}: defines no layers (no `layer {{ }}` or `layers {{ }}`)")
    state = net.sub("state", STATE_FIELDS)
    level, stages = state.one("level", 0), set(state.many("stage"))
    layers, inputs, dropped = [], list(declared_inputs(net, source)), []
    for message in v2 or v1:
        layer = _layer(message, v1=bool(v1), source=source)
        if not _included(layer, level, stages):
            continue
        if layer.type in DATA_LAYERS:
            inputs += data_layer_input(layer)
        elif layer.type in TRAIN_ONLY or layer.type.endswith("Loss"):
            dropped.append(f"{layer.name} ({layer.type})")
        else:
            layers.append(layer)
    if not inputs:
        raise OneByOneError(
            f"{source}: declares no input (an Input layer, `input:` with `input_dim` or "
            "`input_shape`, or a data layer)"
        )
    return NetDefinition(
        name=net.one("name", "") or Path(source).stem,
        source=source,
        text=text,
        syntax="V1 layers" if v1 else "V2 layer",
        inputs=tuple(inputs),
        layers=tuple(layers),
        dropped=tuple(dropped),
    )


def _layer(message: Message, *, v1: bool, source: str) -> LayerDef:
    name = message.last("name", "")
    where = f"{source}: line {message.line}: layer {name!r}" if isinstance(name, str) else source
    if v1 and "layer" in message:
        raise OneByOneError(
            f"{where}: a V0 layer (`layers {{ layer {{ }} }}`, Caffe before 2014); "
            "upgrade the file with Caffe's upgrade_net_proto_text"
        )
    raw_type = message.last("type")
    if v1:
        if isinstance(raw_type, Name) and raw_type in V1_TYPES:
            kind = V1_TYPES[raw_type][1]
        elif isinstance(raw_type, int) and raw_type in V1_BY_NUMBER:
            kind = V1_BY_NUMBER[raw_type]
        else:
            raise OneByOneError(
                f"{where}: V1 type must be a LayerType constant such as CONVOLUTION, got {raw_type!r}"
            )
    else:
        if not isinstance(raw_type, str) or isinstance(raw_type, Name) or not raw_type:
            raise OneByOneError(
                f'{where}: type must be a quoted string such as "Convolution", got {raw_type!r}'
            )
        kind = str(raw_type)
    where = f"{where} ({kind})"
    fields = dict(schema(_COMMON.format(type="enum" if v1 else "str", param="str*" if v1 else "msg*")))
    if v1:
        fields.update(schema("blobs_lr:float* weight_decay:float* blob_share_mode:enum*"))
    else:
        fields.update(schema("phase:enum propagate_down:bool*"))
    fields.update({name: "msg" for name in message.names() if name.endswith("_param")})
    checked = Params(message, fields, where)
    if not name:
        raise OneByOneError(f"{where}: a layer without a name")
    shared = checked.many("param") if v1 else [p.last("name") for p in checked.many("param") if "name" in p]
    if shared:
        raise OneByOneError(
            f"{where}: shares weights by name ({', '.join(map(repr, shared))}); onebyone "
            "gives every layer its own weights and does not read shared ones"
        )
    return LayerDef(
        name=name,
        type=kind,
        bottoms=tuple(checked.many("bottom")),
        tops=tuple(checked.many("top")),
        message=message,
        where=where,
    )


def _included(layer: LayerDef, level: int, stages: set[str]) -> bool:
    """Caffe's rule (Net::StateMeetsRule): include rules need one match, exclude rules none."""
    rules = {}
    for kind in ("include", "exclude"):
        values = layer.message.all(kind)
        if any(not isinstance(value, Message) for value in values):
            raise OneByOneError(f"{layer.where}: {kind} must be a message {{ phase: TEST }}")
        rules[kind] = [Params(value, RULE_FIELDS, f"{layer.where}.{kind}") for value in values]
    include, exclude = rules["include"], rules["exclude"]
    if include and exclude:
        raise OneByOneError(f"{layer.where}: has both include and exclude rules; Caffe allows one kind")
    if include:
        return any(_meets(rule, level, stages) for rule in include)
    return not any(_meets(rule, level, stages) for rule in exclude)


def _meets(rule: Params, level: int, stages: set[str]) -> bool:
    if rule.has("phase") and enum_value(rule, "phase", PHASES, "TEST") != "TEST":
        return False
    if rule.has("min_level") and level < rule.one("min_level"):
        return False
    if rule.has("max_level") and level > rule.one("max_level"):
        return False
    if any(stage not in stages for stage in rule.many("stage")):
        return False
    return not any(stage in stages for stage in rule.many("not_stage"))
