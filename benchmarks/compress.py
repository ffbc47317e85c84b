"""Compression with 1×1 bottlenecks: measured speedup and accuracy of factorised models (issue 8).

Run:  .venv/bin/python benchmarks/compress.py [--run RUN_DIR] [--train-epochs 3] [--budget 0.3]
      [--cnn-budget 0.5] [--repeats 5] [--json results.json]

In one run:
1. Fashion-MNIST NIN (`nin-fashion`): the given training run, or a short run trained here with
   `onebyone.train.train` (its recipe and test accuracy are printed). Factorised to --budget of
   its MACs; test accuracy before, after, and after --finetune-epochs of fine-tuning; latency at
   batch 1 and 64 before/after, eager fp32 NCHW, deploy layout (BN folded, channels-last fp32) and
   frozen TorchScript (`freeze_for_cpu`: BN folded, conv + ReLU fused by oneDNN, channels-last).
2. ResNet-18 and a VGG-style net at 224² (random weights: latency does not depend on values),
   factorised to --cnn-budget of MACs; latency before/after at batch 1 and 64.
3. tensorly-torch's FactorizedConv (Tucker, both implementations) at the same ranks in place of
   our Tucker-2 layers of the NIN, when tensorly-torch is installed.

Realised speedup = measured time before / after; predicted = MAC ratio of the factorisable layers.
Before/after timings are interleaved round by round (median per variant), so a change in load
hits both; the machine is shared, so timings are noisy: the load average is printed with them.
Target: ≥ 2× measured CPU speedup of the trained Fashion-MNIST model at ≤ 1.0 point test-accuracy
loss after ≤ 1 epoch of fine-tuning.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import tempfile
import time
from collections import OrderedDict

import torch
from torch import nn

from onebyone.deploy.freeze import freeze_for_cpu
from onebyone.deploy.optimize import optimize
from onebyone.models import create_model
from onebyone.runs import open_run
from onebyone.surgery import factorize
from onebyone.surgery.compress import compress
from onebyone.tables import speed_text
from onebyone.timing import median_seconds


def vgg_style(num_classes: int = 1000) -> nn.Module:
    """A VGG-11-shaped net at half width (3×3 convs + ReLU, 2×2 max pools, GAP + Linear head)."""
    widths = (32, "M", 64, "M", 128, 128, "M", 256, 256, "M", 256, 256, "M")
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    channels = 3
    for index, width in enumerate(widths):
        if width == "M":
            layers[f"pool{index}"] = nn.MaxPool2d(2)
        else:
            layers[f"conv{index}"] = nn.Conv2d(channels, width, 3, padding=1)
            layers[f"relu{index}"] = nn.ReLU(inplace=True)
            channels = width
    layers["gap"] = nn.AdaptiveAvgPool2d(1)
    layers["flatten"] = nn.Flatten()
    layers["fc"] = nn.Linear(channels, num_classes)
    return nn.Sequential(layers)


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


@torch.inference_mode()
def interleaved_ms(models: dict[str, nn.Module], input_shape, batch: int, repeats: int) -> dict[str, float]:
    """Median ms per model, timing the models in turn each round (warm-up first)."""
    x = torch.randn(batch, *input_shape)
    times: dict[str, list[float]] = {name: [] for name in models}
    for model in models.values():
        median_seconds(lambda m=model: m(x), warmup=2, repeats=1)
    for _ in range(repeats):
        for name, model in models.items():
            times[name].append(median_seconds(lambda m=model: m(x), warmup=0, repeats=1) * 1e3)
    return {name: statistics.median(values) for name, values in times.items()}


def deploy(model: nn.Module) -> nn.Module:
    fast, _ = optimize(model, dtype="float32", channels_last=True)
    return fast


def train_nin(epochs: int, out: str) -> tuple[str, dict]:
    from onebyone.train import TrainConfig, train

    config = TrainConfig(model="nin-fashion", epochs=epochs, out=out, progress=False)
    started = time.perf_counter()
    result = train(config)
    info = {
        "epochs": epochs,
        "test_accuracy": result.test_accuracy,
        "minutes": (time.perf_counter() - started) / 60,
        "recipe": "onebyone.train defaults (nin-fashion, SGD one-cycle, bf16, channels-last), "
        f"{epochs} epochs instead of {TrainConfig().epochs}",
    }
    return out, info


def tltorch_variant(
    original: nn.Module, factorised: nn.Module, report, implementation: str
) -> nn.Module | None:
    """Our factorised model with each Tucker-2 layer replaced by tensorly-torch's FactorizedConv."""
    try:
        import tltorch
    except ImportError:
        return None
    model = copy.deepcopy(factorised)
    for row in report.factorised:
        if row.method != "tucker2":
            continue
        conv = original.get_submodule(row.name)
        r_in, r_out = row.ranks
        kh, kw = conv.kernel_size
        layer = tltorch.FactorizedConv.from_conv(
            conv, rank=(r_out, r_in, kh, kw), factorization="tucker", implementation=implementation
        )
        parent, _, child = row.name.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, child, layer)
    return model.eval()


def fashion_section(args, results: dict) -> None:
    if args.run:
        run_dir, trained = args.run, {"given": args.run}
    else:
        out = os.path.join(tempfile.mkdtemp(prefix="onebyone-bench-"), "nin-fashion")
        print(
            f"training nin-fashion for {args.train_epochs} epoch(s) into {out} (load {load()}) …", flush=True
        )
        run_dir, trained = train_nin(args.train_epochs, out)
    print(f"Fashion-MNIST NIN run: {trained}")
    source = open_run(run_dir)
    original = copy.deepcopy(source.model()).eval()
    control = None
    if args.control and args.finetune_epochs:
        # The same fine-tuning on the unfactorised model: a short run's base is undertrained, so
        # an extra epoch helps it too; this separates that gain from recovering the factorisation.
        print(
            f"control: fine-tuning the original {args.finetune_epochs} epoch(s) (load {load()}) …", flush=True
        )
        tuned = source.finetune(copy.deepcopy(original), args.finetune_epochs)
        control = {"accuracy_before": source.evaluate(original), "accuracy_finetuned": source.evaluate(tuned)}
        print(f"control: {control}", flush=True)
    rows = []
    for budget in args.budget:
        print(f"compressing to {budget} of MACs (load {load()}) …", flush=True)
        model, result = compress(
            copy.deepcopy(original),
            source.input_size,
            budget,
            target="macs",
            source=run_dir,
            batches=(),
            evaluate=source.evaluate,
            finetune=source.finetune,
            finetune_epochs=args.finetune_epochs,
            hooi_iters=args.hooi_iters,
        )
        factorised_only, _ = factorize(
            original, budget, input_shape=source.input_size, hooi_iters=args.hooi_iters
        )  # same ranks, before fine-tuning
        row = {
            "budget": budget,
            "macs_fraction": result.report.fraction("macs"),
            "params_before": result.params_before,
            "params_after": result.params_after,
            "predicted_speedup": result.predicted_speedup,
            "accuracy_before": result.accuracy_before,
            "accuracy_after": result.accuracy_after,
            "accuracy_finetuned": result.accuracy_finetuned,
            "finetune_epochs": result.finetune_epochs,
            "ranks": {r.name: r.ranks for r in result.report.factorised},
            "latency": {},
        }
        variants = {"eager": (original, model), "deploy": (deploy(original), deploy(model))}
        for batch in args.batch:
            shape = (batch, *source.input_size[-3:])
            variants["frozen"] = (freeze_for_cpu(original, shape), freeze_for_cpu(model, shape))
            for layout, (before, after) in variants.items():
                ms = interleaved_ms(
                    {"before": before, "after": after}, source.input_size, batch, args.repeats
                )
                row["latency"][f"{layout} b{batch}"] = {
                    **ms,
                    "speedup": ms["before"] / ms["after"],
                    "load": load(),
                }
            for implementation in ("factorized", "reconstructed"):
                tl = tltorch_variant(original, factorised_only, result.report, implementation)
                if tl is None:
                    row["latency"][f"tltorch b{batch}"] = "tensorly-torch not installed: not measured"
                    continue
                ms = interleaved_ms(
                    {"ours": factorised_only, "tltorch": tl}, source.input_size, batch, args.repeats
                )
                row["latency"][f"tltorch-{implementation} b{batch}"] = {**ms, "load": load()}
        rows.append(row)
        print(json.dumps(row, indent=1, default=str), flush=True)
    results["fashion"] = {"run": run_dir, "trained": trained, "control": control, "rows": rows}


def cnn_section(args, results: dict) -> None:
    rows = []
    for name, model in (("resnet18", create_model("resnet18")), ("vgg-style", vgg_style())):
        model = model.eval()
        print(f"{name}: factorising to {args.cnn_budget} of MACs (load {load()}) …", flush=True)
        new, report = factorize(model, args.cnn_budget, input_shape=(3, 224, 224))
        row = {
            "model": name,
            "budget": args.cnn_budget,
            "macs_fraction": report.fraction("macs"),
            "predicted_speedup": 1 / report.fraction("macs"),
            "latency": {},
        }
        for batch in args.batch:
            repeats = args.repeats if batch == 1 else max(3, args.repeats // 2)
            shape = (batch, 3, 224, 224)
            layouts = {
                "eager": (model, new.eval()),
                "frozen": (freeze_for_cpu(model, shape), freeze_for_cpu(new, shape)),
            }
            for layout, (before, after) in layouts.items():
                ms = interleaved_ms({"before": before, "after": after}, (3, 224, 224), batch, repeats)
                row["latency"][f"{layout} b{batch}"] = {
                    **ms,
                    "speedup": ms["before"] / ms["after"],
                    "load": load(),
                }
        rows.append(row)
        print(json.dumps(row, indent=1), flush=True)
    results["cnn224"] = rows


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


def summary(results: dict) -> str:
    """The README tables, in markdown."""
    lines = []
    fashion = results.get("fashion")
    if fashion:
        lines += [
            "| nin-fashion budget (MACs) | MACs kept | params | test acc before | after | after "
            "fine-tune | predicted | "
            + " | ".join(k for k in fashion["rows"][0]["latency"] if "tltorch" not in k)
            + " |",
        ]
        keys = [k for k in fashion["rows"][0]["latency"] if "tltorch" not in k]
        lines.append("|" + "---|" * (7 + len(keys)))
        for row in fashion["rows"]:
            cells = [
                f"{row['budget']:g}",
                f"{row['macs_fraction']:.3f}",
                f"{row['params_before']:,} → {row['params_after']:,}",
                _pct(row["accuracy_before"]),
                _pct(row["accuracy_after"]),
                _pct(row["accuracy_finetuned"]),
                f"{row['predicted_speedup']:.2f}×",
            ]
            for key in keys:
                ms = row["latency"][key]
                cells.append(f"{ms['before']:.2f} → {ms['after']:.2f} ms ({speed_text(ms['speedup'])})")
            lines.append("| " + " | ".join(cells) + " |")
        if fashion.get("control"):
            control = fashion["control"]
            lines.append(
                f"\ncontrol, unfactorised model fine-tuned the same way: "
                f"{_pct(control['accuracy_before'])} → {_pct(control['accuracy_finetuned'])}"
            )
        lines.append(
            "\n| tensorly-torch FactorizedConv (same ranks) | ours ms | tltorch ms |\n|---|---:|---:|"
        )
        for row in fashion["rows"]:
            for key, value in row["latency"].items():
                if "tltorch" in key:
                    if isinstance(value, str):
                        lines.append(f"| {key} | {value} | |")
                    else:
                        name = f"budget {row['budget']:g}, {key}"
                        lines.append(f"| {name} | {value['ours']:.2f} | {value['tltorch']:.2f} |")
    for row in results.get("cnn224", []):
        if row is results["cnn224"][0]:
            keys = list(row["latency"])
            header = "| 224² model (random weights) | budget | MACs kept | predicted | "
            lines.append("\n" + header + " | ".join(keys) + " |")
            lines.append("|---|---:|---:|---:|" + "---:|" * len(keys))
        cells = [
            row["model"],
            f"{row['budget']:g}",
            f"{row['macs_fraction']:.3f}",
            f"{row['predicted_speedup']:.2f}×",
        ]
        for key in keys:
            ms = row["latency"].get(key)
            cells.append(
                "–"
                if ms is None
                else f"{ms['before']:.1f} → {ms['after']:.1f} ms ({speed_text(ms['speedup'])})"
            )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="trained nin-fashion run folder (default: train one here)")
    parser.add_argument("--train-epochs", type=int, default=3)
    parser.add_argument("--budget", type=float, nargs="+", default=[0.3], help="NIN MAC budgets")
    parser.add_argument("--cnn-budget", type=float, default=0.5)
    parser.add_argument("--finetune-epochs", type=int, default=1)
    parser.add_argument("--hooi-iters", type=int, default=0)
    parser.add_argument(
        "--no-control",
        dest="control",
        action="store_false",
        help="skip fine-tuning the unfactorised model with the same recipe",
    )
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--skip-224", action="store_true", help="only the Fashion-MNIST model")
    parser.add_argument("--json", help="write all results here")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's, this machine's cores)")
    args = parser.parse_args()
    if args.threads:
        # On a shared machine every 2-thread op can stall at its barrier for a scheduler slice;
        # one thread is slower but its timings stay meaningful under load.
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    results = {"torch": torch.__version__, "threads": torch.get_num_threads(), "load_start": load()}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load {load()} (1/5/15 min)")
    fashion_section(args, results)
    if not args.skip_224:
        cnn_section(args, results)
    results["load_end"] = load()
    print(f"load at the end: {load()}")
    print("\n" + summary(results))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2, default=str)


if __name__ == "__main__":
    main()
