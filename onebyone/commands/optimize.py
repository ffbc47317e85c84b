"""`onebyone optimize`: what deployment does to a model: BN folds, branch merges, what is left and why."""

from __future__ import annotations

import argparse
from dataclasses import asdict

import torch

from onebyone.commands.common import add_model_arguments, input_size, open_subject
from onebyone.deploy.optimize import optimize
from onebyone.deploy.reparam import ReparamResult, count_layers
from onebyone.progress import add_progress_argument, progress_for
from onebyone.records import json_text


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "optimize",
        help="fold BN and merge parallel/chained convs for inference; list what was done",
        description="Show what the inference copy of a model is made of: each batch norm folded into "
        "its conv, each set of parallel branches or chain of linear layers merged into one conv "
        "(structural re-parameterisation, found on the traced graph), and each candidate left alone "
        "with the reason. A run folder is read, never changed: `export` and `bench` use the same "
        "deployed form.",
    )
    add_model_arguments(parser)
    parser.add_argument("--no-reparam", action="store_true", help="fold batch norm only; merge no branches")
    parser.add_argument("--format", choices=["text", "json"], default="text")
    add_progress_argument(parser)
    parser.set_defaults(func=run)


def reparam_summary(report: ReparamResult) -> str:
    """One line: how many merges, and the convs before and after them."""
    if report.method != "fx":
        return f"branches not merged: {report.method}"
    (before, after), left = report.convs, len(report.left)
    return f"branches merged: {len(report.merges)} merges, convs {before} → {after}, {left} candidates left"


def run(args: argparse.Namespace) -> int:
    run = open_subject(args)  # its flags checked before any stage begins
    model = run.model()
    # An example input tells the shape a batch norm beside a Linear sees (foldable only on (N, C)).
    known = args.input or run.input_size is not None
    example = (
        torch.randn(1, *input_size(args, run), generator=torch.Generator().manual_seed(0)) if known else None
    )
    with progress_for(args, "optimize") as progress:
        progress.stage("folding batch norm" + ("" if args.no_reparam else " and merging branches"))
        deployed, report = optimize(
            model, dtype="float32", channels_last=False, reparam=not args.no_reparam, example_input=example
        )
    # not compiled, so a CastIO: its "model" is the folded, merged copy
    before, after = count_layers(model), count_layers(deployed.get_submodule("model"))
    if args.format == "json":
        data: dict[str, object] = {"fold": asdict(report.fold), "reparam": asdict(report.reparam)}
        data["convs"], data["batch_norms"] = [before[0], after[0]], [before[1], after[1]]
        print(json_text(data, indent=2))
        return 0
    print(f"{run.name}: convs {before[0]} → {after[0]}, batch norms {before[1]} → {after[1]}")
    print(f"batch norm folded into the conv before it or the Linear beside it: {len(report.fold.folded)}")
    for norm, reason in report.fold.reasons.items():
        print(f"  kept {norm}: {reason}")
    print(reparam_summary(report.reparam) if not args.no_reparam else "branches not merged (--no-reparam)")
    for merge in report.reparam.merges:
        print(f"  {merge.into} ({merge.kernel}) ← {', '.join(merge.replaced)}  [{merge.kind}: {merge.parts}]")
    for left in report.reparam.left:
        print(f"  left {', '.join(left.nodes)}: {left.reason}")
    return 0
