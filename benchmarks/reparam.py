"""Structural re-parameterisation from the graph against timm's own per-class methods, in one run.

Run (timm is not a onebyone dependency; torchvision, and so timm, needs its matching torch):
    python3 -m venv /work/timm-venv
    /work/timm-venv/bin/pip install torch==2.14.1 torchvision==0.29.1 timm==1.0.31 \
        rich safetensors numpy pytest
    PYTHONPATH=. /work/timm-venv/bin/python benchmarks/reparam.py [--repeats 15] [--models repvgg_a0 ...]

For each timm model (random weights, batch-norm statistics randomised so every fold matters):
onebyone's rewrite (fold_batchnorm given the input, so a BatchNorm1d on (N, C) folds into its Linear,
then reparameterize: no method of the model is called) against
timm.utils.reparameterize_model (which calls each block's reparameterize()), with the Conv2d and
batch-norm modules left, each one's largest output difference from the training-time model relative
to that model's largest output, and batch-1 fp32 latency at 224², the two timed in alternation
(median of --repeats rounds, each the mean of --inner calls), and whether the deployed model is still
of its own class with a working forward_features. Then the same for blocks written in
tests/deploy/test_reparam.py, which have no method of their own to call: eager model against
onebyone's rewrite. Without timm only that second table is printed.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time

import torch
from torch import nn

from onebyone.deploy import count_layers, fold_batchnorm, reparameterize

TIMM_MODELS = ["repvgg_a0", "repvgg_b0", "mobileone_s0", "fastvit_t8", "repvit_m0_9", "repghostnet_050"]


def randomise_norms(model: nn.Module, seed: int = 0) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.2)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            if m.weight is not None:
                m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.data.copy_(torch.randn(n, generator=g) * 0.2)
    return model.eval()


def ours(model: nn.Module, example: torch.Tensor) -> nn.Module:
    folded, _ = fold_batchnorm(model, example)  # the example tells a BatchNorm1d's input shape
    deployed, _ = reparameterize(folded)
    return deployed


@torch.inference_mode()
def interleaved_ms(models: list[nn.Module], x: torch.Tensor, repeats: int, inner: int) -> list[float]:
    """Median over rounds of each model's mean time per call, the models timed in turn in each round."""
    for m in models:
        for _ in range(3):
            m(x)
    rounds: list[list[float]] = [[] for _ in models]
    for _ in range(repeats):
        for index, m in enumerate(models):
            start = time.perf_counter()
            for _ in range(inner):
                m(x)
            rounds[index].append((time.perf_counter() - start) / inner * 1e3)
    return [statistics.median(r) for r in rounds]


@torch.inference_mode()
def relative_diff(model: nn.Module, reference: nn.Module, x: torch.Tensor) -> float:
    want = reference(x)
    return float((model(x) - want).abs().max() / want.abs().max())


@torch.inference_mode()
def class_kept(deployed: nn.Module, model: nn.Module, x: torch.Tensor) -> str:
    """Whether the deployed model is of the model's own class, and its forward_features still runs."""
    if type(deployed) is not type(model):
        return f"no ({type(deployed).__name__} is a rewritten subclass)"
    try:
        deployed.forward_features(x)
    except Exception as exc:  # a method of the model's that the rewrite broke
        return f"class only: forward_features fails ({type(exc).__name__})"
    return "yes"


def timm_table(names: list[str], repeats: int, inner: int) -> None:
    import timm
    from timm.utils import reparameterize_model

    print(f"timm {timm.__version__}; batch 1, 3×224×224, float32\n")
    print("| model | convs train | convs onebyone | convs timm | BN onebyone | BN timm | rel. diff onebyone "
          "| rel. diff timm | ms onebyone | ms timm | onebyone / timm | img/s onebyone "
          "| class kept |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    for name in names:
        torch.manual_seed(0)
        model = randomise_norms(timm.create_model(name, pretrained=False))
        mine = ours(model, x)
        theirs = reparameterize_model(copy.deepcopy(model))
        (c_ours, n_ours), (c_timm, n_timm) = count_layers(mine), count_layers(theirs)
        d_ours, d_timm = relative_diff(mine, model, x), relative_diff(theirs, model, x)
        ms_ours, ms_timm = interleaved_ms([mine, theirs], x, repeats, inner)
        print(f"| {name} | {count_layers(model)[0]} | {c_ours} | {c_timm} | {n_ours} | {n_timm} "
              f"| {d_ours:.1e} | {d_timm:.1e} | {ms_ours:.2f} | {ms_timm:.2f} | {ms_ours / ms_timm:.2f}× "
              f"| {1e3 / ms_ours:.0f} | {class_kept(mine, model, x)} |", flush=True)  # fmt: skip


def blocks_table(repeats: int, inner: int) -> None:
    from tests.deploy import test_reparam as blocks

    def stack(make, depth=4):
        return nn.Sequential(nn.Conv2d(3, 64, 3, 2, 1), nn.ReLU(), *(make() for _ in range(depth)))

    cases = {
        "RepVGG blocks": lambda: stack(lambda: blocks.RepVGGBlock(64)),
        "ACNet blocks": lambda: stack(lambda: blocks.ACBlock(64)),
        "DBB blocks": lambda: stack(lambda: blocks.DBBBlock(64)),
        "MobileOne depthwise": lambda: stack(lambda: blocks.MobileOneDepthwise(64, branches=4)),
        "linear bottlenecks 64→256→64": lambda: stack(
            lambda: nn.Sequential(blocks.LinearBottleneck(64, 256), nn.ConstantPad2d(1, 0.0))
        ),
    }
    print("\nblocks with no reparameterize method; batch 1, 3×224×224, float32\n")
    print("| network (4 blocks) | convs train | convs onebyone | BN onebyone | rel. diff | ms train "
          "| ms onebyone | speedup |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    for label, build in cases.items():
        torch.manual_seed(0)
        model = randomise_norms(build())
        mine = ours(model, x)
        convs, norms = count_layers(mine)
        ms_train, ms_ours = interleaved_ms([model, mine], x, repeats, inner)
        diff = relative_diff(mine, model, x)
        print(f"| {label} | {count_layers(model)[0]} | {convs} | {norms} | {diff:.1e} | {ms_train:.2f} "
              f"| {ms_ours:.2f} | {ms_train / ms_ours:.2f}× |", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=TIMM_MODELS)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--inner", type=int, default=5)
    parser.add_argument(
        "--threads", type=int, default=1,
        help="intra-op threads (default 1: on a shared, loaded machine OpenMP's spinning threads "
        "fight over the cores, and two threads measured 50× slower than one)",
    )  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}")  # fmt: skip
    try:
        import timm  # noqa: F401
    except ImportError:
        print("timm is not installed here: only the blocks table")
    else:
        timm_table(args.models, args.repeats, args.inner)
    blocks_table(args.repeats, args.inner)
    print(f"\nload average at the end {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
