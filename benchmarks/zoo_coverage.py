"""Coverage: every onebyone step on every model of the model libraries installed here.

Run:  python benchmarks/zoo_coverage.py [--models PATTERN ...] [--limit N] [--json PATH]

Models come from onebyone's zoo (always), torchvision and timm (when they import). PATTERN is
`library:name`, shell wildcards allowed (`timm:mobilenetv3*`, `torchvision:*`, `zoo:nin-*`); with
no pattern every model of every library found is run (timm alone has over a thousand: give a
list). Weights are random but seeded, and every batch norm gets random statistics and affine
parameters, so that folding is tested on non-trivial values. Input: the size the library states
for the model (timm's pretrained config, torchvision's weights transforms, the zoo's entry), batch 1.

Each step ends as one of
- exact: it ran and agrees with an independent reference (below) up to float rounding:
  |got − expected| ≤ 1e-4 · max(1, max |expected|);
- refused: onebyone raised its one-line error (the reason is listed under the table);
- wrong: it ran and disagrees with the reference (the size of the disagreement is listed);
- crashed: another exception (a bug: the type and first line are listed).

Step by step, what runs and the reference it is checked against:
- profile: `analysis.profile`; MACs = torch.utils.flop_counter's FLOPs / 2, parameters counted.
- optimize: `deploy.optimize` (fp32, channels-last); the model's output. The cell counts the batch
  norms folded and kept; a note gives those kept after a conv (with the first reason).
- factorize: `surgery.factorize` at full ranks on every factorisable layer (linear layers over 4M
  weights left out: their float64 SVDs take minutes on one core); the model's output.
- fc_to_conv: `surgery.convert_fc_layers`; the model's output.
- export: `deploy.export_onnx`, run by onnxruntime; the model's output.
- sparsity: `inspect.measure_sparsity`; the number of ReLU-like ATen calls (relu, hardswish,
  hardtanh or clamp at 0, threshold to 0) in one forward pass, counted by a dispatch mode.
- class map: `inspect.class_map_network`; its spatial mean equals the logits (class activation
  maps, "CAM"), or its output at the original size equals the model's (fc_to_conv).

Threads: 1 by default (`--threads`): this measures coverage, not speed, and on a shared machine
multi-threaded LAPACK calls (the factorisations' eigh/SVD) can wait on busy cores for seconds.
"""

from __future__ import annotations

import argparse
import copy
import fnmatch
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from onebyone.deploy import export_onnx, optimize
from onebyone.errors import OneByOneError
from onebyone.insight import class_map_network, measure_sparsity
from onebyone.profiling import profile
from onebyone.surgery import convert_fc_layers, factorize

LARGEST_LINEAR = 4 << 20  # weights; larger linear layers are not factorised (see step_factorize)
STEPS = ("profile", "optimize", "factorize", "fc_to_conv", "export", "sparsity", "class map")


@dataclass
class Outcome:
    status: str  # exact | refused | wrong | crashed
    detail: str = ""  # listed under the table
    value: str = ""  # a short figure shown in the cell


@dataclass
class ModelRow:
    model: str
    input_shape: tuple[int, ...]
    params: int = 0
    seconds: float = 0.0
    steps: dict[str, Outcome] = field(default_factory=dict)


# --- the libraries -------------------------------------------------------------------------------


def libraries() -> dict[str, tuple[list[str], object]]:
    """{library: (model names, build(name) -> (model, input_shape))} for every library found."""
    from onebyone.models import create_model, get_model_entry, list_models

    found = {"zoo": (list_models(), lambda n: (create_model(n), (1, *get_model_entry(n).input_size)))}
    try:
        import torchvision
    except ImportError:
        pass
    else:

        def build_torchvision(name):
            weights = torchvision.models.get_model_weights(name).DEFAULT
            size = getattr(weights.transforms(), "crop_size", [224])[0]
            return torchvision.models.get_model(name), (1, 3, size, size)

        found["torchvision"] = (torchvision.models.list_models(module=torchvision.models), build_torchvision)
    try:
        import timm
    except ImportError:
        pass
    else:

        def build_timm(name):
            model = timm.create_model(name, pretrained=False)
            return model, (1, *model.pretrained_cfg["input_size"])

        found["timm"] = (timm.list_models(), build_timm)
    return found


def selected(found, patterns: list[str], limit: int | None) -> list[tuple[str, str]]:
    chosen = []
    for library, (names, _) in found.items():
        picked = [
            n
            for n in names
            if not patterns or any(fnmatch.fnmatchcase(f"{library}:{n}", p) for p in patterns)
        ]
        chosen += [(library, n) for n in picked[:limit]]
    return chosen


def randomise_norms(model: nn.Module) -> None:
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.running_mean is not None:
            n = module.num_features
            module.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            if module.affine:
                module.weight.data.copy_(torch.rand(n, generator=generator) + 0.5)
                module.bias.data.copy_(torch.randn(n, generator=generator) * 0.1)


# --- the steps -----------------------------------------------------------------------------------


def compare(got: torch.Tensor, expected: torch.Tensor) -> Outcome:
    if got.shape != expected.shape:
        return Outcome("wrong", f"shape {tuple(got.shape)} instead of {tuple(expected.shape)}")
    difference = float((got.double() - expected.double()).abs().max())
    scale = max(1.0, float(expected.double().abs().max()))
    if difference <= 1e-4 * scale:
        return Outcome("exact")
    return Outcome("wrong", f"max |difference| {difference:.3g} (outputs up to {scale:.3g})")


def step_profile(model, x):
    result = profile(model, tuple(x.shape))
    meta = copy.deepcopy(model).to("meta")
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        meta(torch.empty(x.shape, device="meta"))
    params = sum(p.numel() for p in model.parameters())
    if result.totals["macs"] * 2 != counter.get_total_flops() or result.totals["params"] != params:
        macs, reference = result.totals["macs"], counter.get_total_flops() // 2
        return Outcome(
            "wrong",
            f"MACs {macs:,} vs flop_counter {reference:,}; params {result.totals['params']:,} vs {params:,}",
        )
    return Outcome("exact")


def step_optimize(model, x, expected):
    fast, report = optimize(model, channels_last=True)
    with torch.no_grad():
        outcome = compare(fast(x), expected)
    fold = report.fold
    outcome.value = f"{len(fold.folded)} BN folded, {len(fold.kept)} kept"
    if fold.reasons:
        outcome.detail = f"{len(fold.reasons)} BN kept after a conv: {next(iter(fold.reasons.values()))}"
    return outcome


def step_factorize(model, x, expected):
    _, probe = factorize(model, ranks={}, input_shape=tuple(x.shape[1:]), rank_multiple=1)
    full, large = {}, 0
    for row in probe.layers:
        if row.factorisable:
            layer = model.get_submodule(row.name)
            if row.kind == "linear" and layer.weight.numel() > LARGEST_LINEAR:
                large += 1  # a full SVD of AlexNet's 9216×4096 layer takes minutes on one core
                continue
            sides = (
                (layer.in_features, layer.out_features)
                if row.kind == "linear"
                else (layer.in_channels, layer.out_channels)
            )
            full[row.name] = sides if row.kind == "conv" else min(sides)
    if not full:
        raise OneByOneError("no factorisable layer")
    factorised, _ = factorize(model, ranks=full, input_shape=tuple(x.shape[1:]))
    with torch.no_grad():
        outcome = compare(factorised(x), expected)
    if large:
        outcome.detail = f"{large} linear layers over {LARGEST_LINEAR >> 20}M weights left out (time)"
    return outcome


def step_fc_to_conv(model, x, expected):
    converted = convert_fc_layers(model, tuple(x.shape)).model.eval()
    with torch.no_grad():
        return compare(converted(x), expected)


def step_export(model, x, expected):
    with tempfile.TemporaryDirectory() as folder:
        result = export_onnx(model, Path(folder) / "model.onnx", tuple(x.shape))
    if result.max_abs_diff is None:
        raise OneByOneError("onnxruntime is not installed: the export is not checked")
    scale = max(1.0, float(expected.abs().max()))
    if result.max_abs_diff <= 1e-4 * scale:
        return Outcome("exact")
    return Outcome("wrong", f"onnxruntime max |difference| {result.max_abs_diff:.3g}")


class ZeroActivationCalls(TorchDispatchMode):
    """Counts the ATen calls that can turn non-zero values into zeros the way an activation does."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = func.overloadpacket.__name__.rstrip("_")
        if name in ("relu", "hardswish"):
            self.count += 1
        elif name == "hardtanh" and (args[1] if len(args) > 1 else -1.0) == 0:
            self.count += 1
        elif name == "threshold" and args[2] == 0:
            self.count += 1
        elif name in ("clamp", "clamp_min") and len(args) > 1 and args[1] == 0:
            self.count += 1
        return func(*args, **kwargs)


def step_sparsity(model, x, expected):
    images = x.expand(2, *x.shape[1:])
    result = measure_sparsity(model, images, batch_size=2)
    counter = ZeroActivationCalls()
    with torch.no_grad(), counter:
        model(images)
    kinds = sorted({r.kind for r in result.rows})
    if len(result.rows) != counter.count:
        return Outcome("wrong", f"{len(result.rows)} activations counted, {counter.count} ReLU-like calls")
    return Outcome("exact", value=f"{len(result.rows)}: {', '.join(kinds)}")


def step_class_map(model, x, expected):
    network, method = class_map_network(model, tuple(x.shape))
    with torch.no_grad():
        maps = network.eval()(x)
    got = maps.mean((2, 3)) if maps.dim() == 4 else maps
    outcome = compare(got, expected)
    outcome.value = {"class activation maps": "CAM"}.get(method, method)
    return outcome


def run_model(library: str, name: str, build) -> ModelRow:
    start = time.perf_counter()
    torch.manual_seed(0)
    model, shape = build(name)
    model.eval()
    randomise_norms(model)
    row = ModelRow(f"{library}:{name}", shape, sum(p.numel() for p in model.parameters()))
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model(x)
    steps = {"profile": lambda: step_profile(model, x)}
    for step, function in (
        ("optimize", step_optimize),
        ("factorize", step_factorize),
        ("fc_to_conv", step_fc_to_conv),
        ("export", step_export),
        ("sparsity", step_sparsity),
        ("class map", step_class_map),
    ):
        steps[step] = lambda function=function: function(model, x, expected)
    for step, function in steps.items():
        try:
            row.steps[step] = function()
        except OneByOneError as exc:
            row.steps[step] = Outcome("refused", str(exc).splitlines()[0])
        except Exception as exc:  # a crash is what the coverage table is for: record it, go on
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            row.steps[step] = Outcome("crashed", f"{type(exc).__name__}: {first}"[:300])
    row.seconds = time.perf_counter() - start
    return row


# --- the table -----------------------------------------------------------------------------------


def markdown(rows: list[ModelRow]) -> str:
    lines = [
        "| model | input | params | " + " | ".join(STEPS) + " | s |",
        "|---|---|---:|" + "---|" * len(STEPS) + "---:|",
    ]
    notes: list[str] = []
    for row in rows:
        cells = []
        for step in STEPS:
            outcome = row.steps.get(step, Outcome("-"))
            cell = outcome.status + (f" ({outcome.value})" if outcome.value else "")
            if outcome.detail:
                notes.append(f"{row.model}, {step}: {outcome.detail}")
                cell += f" [{len(notes)}]"
            cells.append(cell)
        size = "×".join(map(str, row.input_shape[2:]))
        lines.append(
            f"| {row.model} | {size} | {row.params / 1e6:.1f}M | "
            + " | ".join(cells)
            + f" | {row.seconds:.0f} |"
        )
    totals = {step: {} for step in STEPS}
    for row in rows:
        for step, outcome in row.steps.items():
            totals[step][outcome.status] = totals[step].get(outcome.status, 0) + 1
    lines.append("")
    counts = {
        step: ", ".join(f"{n} {status}" for status, n in sorted(found.items()))
        for step, found in totals.items()
    }
    lines.append("Totals: " + "; ".join(f"{step}: {text}" for step, text in counts.items()))
    lines.append("")
    lines += [f"[{i}] {note}" for i, note in enumerate(notes, start=1)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=[], help="library:name patterns (default: all)")
    parser.add_argument("--limit", type=int, default=None, help="at most N models per library")
    parser.add_argument("--json", type=Path, help="also write the outcomes as JSON here")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    found = libraries()
    chosen = selected(found, args.models, args.limit)
    print(
        f"libraries: {', '.join(found)}; torch {torch.__version__}; {len(chosen)} models; "
        f"{torch.get_num_threads()} threads",
        file=sys.stderr,
    )
    rows = []
    for library, name in chosen:
        rows.append(run_model(library, name, found[library][1]))
        print(f"{rows[-1].model}: {rows[-1].seconds:.0f} s", file=sys.stderr)
    print(markdown(rows))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
