"""C3 and C5: what the 1×1 layers and the GAP head do to a trained network.

The nin-fashion variants (report.variants.VARIANTS) are trained once per seed with one recipe;
effects are differences seed by seed (the same seed draws the same training images), decided
by their 95% t-interval over the seeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import onebyone
from onebyone.layers import Pointwise
from onebyone.report.claims.exact import NONE_DIFFER, field_size
from onebyone.report.figures import interval_bars
from onebyone.report.format import interval_text
from onebyone.report.registry import Claim, Measured, Rendered, register_claim
from onebyone.report.results import Table
from onebyone.report.variants import (
    TrainedModel,
    accuracy_gap,
    loss_gap,
    over_seeds,
    paired_difference,
    test_accuracy,
)
from onebyone.report.verdicts import Criterion, above, below
from onebyone.stats import Estimate

if TYPE_CHECKING:
    from onebyone.report.context import ReportContext

STATS_COLUMNS = [
    "nin-fashion variant",
    "parameters",
    "train acc. %",
    "test acc. %",
    "train − test (points)",
    "test − train loss",
]


def recipe_caption(ctx: ReportContext) -> str:
    c = ctx.config
    augment = "crop + flip" if c.augment else "no augmentation"
    return (
        f"Fashion-MNIST, {c.train_subset:,} training images, {c.epochs} epochs, width {c.width:g}, "
        f"{augment}, seeds {', '.join(map(str, c.seeds))}; intervals: 95% over seeds"
    )


def variant_row(runs: list[TrainedModel]) -> list:
    """One table row: a variant's parameters and its scores with 95% intervals over seeds."""
    return [
        runs[0].variant.name,
        f"{runs[0].parameters:,}",
        f"{over_seeds(runs, lambda r: 100 * r.train.accuracy).value:.2f}",
        interval_text(over_seeds(runs, test_accuracy)),
        interval_text(over_seeds(runs, accuracy_gap)),
        interval_text(over_seeds(runs, loss_gap), 3),
    ]


# --- C3 ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PointwiseAblation:
    """C3's measurement: receptive fields through 1×1 layers (profiler), and the nin-fashion variants
    with ReLU'd 1×1 layers, with linear ones and with none, trained once per seed."""

    fields_px: tuple[int, ...]  # field side after 3×3 conv, + 1×1, + 1×1 (each followed by a ReLU)
    stage_fields_px: tuple[int, ...]  # nin-cifar stage 1: after its 5×5 conv, cccp1, cccp2
    with_1x1: list[TrainedModel]  # "gap": the 1×1 layers with their ReLUs, one per seed
    linear_1x1: list[TrainedModel]  # the same layers without ReLU
    without_1x1: list[TrainedModel]  # no 1×1 layers


def measure_c3(ctx: ReportContext) -> Measured[PointwiseAblation]:
    import torch.nn as nn

    stack = nn.Sequential(
        nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), Pointwise(64, 64), nn.ReLU(), Pointwise(64, 64), nn.ReLU()
    )
    result = onebyone.profile(stack, (1, 64, 32, 32))
    fields = [field_size(result, path) for path in ("0", "2", "4")]
    nin = onebyone.profile(onebyone.models.create_model("nin-cifar"), (1, 3, 32, 32))
    stage = [field_size(nin, f"features.stage1.{name}") for name in ("conv", "pointwise1", "pointwise2")]
    growth = (max(fields) - min(fields)) + (max(stage) - min(stage))
    with_, linear, without = ctx.runs("gap"), ctx.runs("linear1x1"), ctx.runs("no1x1")
    estimates = {
        "field_growth": Estimate.exact(growth),
        "relu_effect": paired_difference(with_, linear, test_accuracy),
        "accuracy_effect": paired_difference(with_, without, test_accuracy),
    }
    return Measured(estimates, PointwiseAblation(tuple(fields), tuple(stage), with_, linear, without))


def render_c3(m: Measured[PointwiseAblation], ctx: ReportContext) -> Rendered:
    d = m.data
    fields, stage, with_, without = d.fields_px, d.stage_fields_px, d.with_1x1, d.without_1x1
    effect, relu = m.estimates["accuracy_effect"], m.estimates["relu_effect"]
    field = (
        f"the receptive field stays {fields[0]}×{fields[0]} while the ReLU depth grows 1 → 3"
        if m.estimates["field_growth"].value == 0
        else f"fields changed: {list(fields)}, {list(stage)}"
    )
    return Rendered(
        f"{field}; trained, their ReLUs change test accuracy by {interval_text(relu, 2, 'signed')} points "
        f"at the same {with_[0].parameters:,} parameters (vs the 1×1 layers without ReLU), and the 1×1 "
        f"layers by {interval_text(effect, 2, 'signed')} points for "
        f"{with_[0].parameters - without[0].parameters:+,} parameters",
        [
            Table(
                "Receptive field after each layer (profiler)",
                ["layers", "field (pixels)", "ReLU depth"],
                [
                    ["3×3 conv + ReLU", fields[0], 1],
                    ["+ 1×1 conv + ReLU", fields[1], 2],
                    ["+ 1×1 conv + ReLU", fields[2], 3],
                    ["nin-cifar stage 1: 5×5 conv, cccp1, cccp2", " / ".join(map(str, stage)), 3],
                ],
            ),
            Table(
                "1×1 layers with ReLU, without ReLU (same parameters), and no 1×1 layers: "
                + recipe_caption(ctx),
                STATS_COLUMNS,
                [variant_row(with_), variant_row(d.linear_1x1), variant_row(without)],
            ),
        ],
    )


register_claim(
    Claim(
        "C3",
        "1×1 conv + ReLU adds depth and non-linearity, not receptive field",
        "A 1×1 conv followed by ReLU makes the network deeper and more non-linear without enlarging the "
        "receptive field.",
        (
            Criterion(
                "field_growth",
                "the receptive field does not grow",
                "growth of the field (pixels)",
                holds=NONE_DIFFER,
            ),
            Criterion(
                "relu_effect",
                "the 1×1 layers' non-linearity helps a trained network, at the same parameters",
                "test accuracy with − without the ReLUs of the 1×1 layers (points)",
                holds=above(0),
            ),
            Criterion(
                "accuracy_effect",
                "the added 1×1 layers help a trained network (with their parameters)",
                "test accuracy with − without the 1×1 layers (points)",
                holds=above(0),
            ),
        ),
        measure_c3,
        render_c3,
        "onebyone profile nin-cifar --depth 3; "
        "onebyone train nin-fashion --set pointwise_relu=false --out runs/linear1x1; "
        "onebyone train nin-fashion --set pointwise_layers=0 --out runs/no1x1",
        needs=("gap", "linear1x1", "no1x1"),
    )
)


# --- C5 ---------------------------------------------------------------------------------------

HEADS = ("gap", "fc", "fc-dropout")


@dataclass(frozen=True)
class HeadRuns:
    """C5's measurement: the same nin-fashion body under three heads, trained once per seed."""

    gap: list[TrainedModel]  # global average pooling
    fc: list[TrainedModel]  # flatten → Linear
    fc_dropout: list[TrainedModel]  # flatten → dropout 0.5 → Linear

    def in_order(self) -> tuple[list[TrainedModel], ...]:
        """The heads in the order of HEADS."""
        return self.gap, self.fc, self.fc_dropout


def measure_c5(ctx: ReportContext) -> Measured[HeadRuns]:
    runs = HeadRuns(*(ctx.runs(key) for key in HEADS))
    gap = runs.gap
    estimates = {"params": Estimate.exact(gap[0].parameters / runs.fc[0].parameters)}
    for other, other_runs in (("fc", runs.fc), ("fc-dropout", runs.fc_dropout)):
        estimates[f"accuracy_gap_vs_{other}"] = paired_difference(gap, other_runs, accuracy_gap)
        estimates[f"loss_gap_vs_{other}"] = paired_difference(gap, other_runs, loss_gap)
    return Measured(estimates, runs)


def render_c5(m: Measured[HeadRuns], ctx: ReportContext) -> Rendered:
    gap, fc, heads = m.data.gap, m.data.fc, m.data.in_order()
    acc, loss = m.estimates["accuracy_gap_vs_fc"], m.estimates["loss_gap_vs_fc"]
    acc_dropout = m.estimates["accuracy_gap_vs_fc-dropout"]
    loss_dropout = m.estimates["loss_gap_vs_fc-dropout"]
    less = acc.high is not None and acc.high < 0 and loss.high is not None and loss.high < 0
    figure = interval_bars(
        ctx.figure_path("heads"),
        "Heads on the same body: " + recipe_caption(ctx),
        [runs[0].variant.name.replace(", ", ",\n") for runs in heads],
        [
            ("test accuracy (%)", [over_seeds(runs, test_accuracy) for runs in heads]),
            ("train − test accuracy (points)", [over_seeds(runs, accuracy_gap) for runs in heads]),
            ("test − train loss", [over_seeds(runs, loss_gap) for runs in heads]),
        ],
        "Error bars: 95% intervals over seeds. A larger gap means more overfitting.",
    )
    verdict_text = (
        "GAP overfits less than the FC head here"
        if less
        else ("GAP does not overfit measurably less than the FC head here")
    )
    return Rendered(
        f"the GAP head has {fc[0].parameters - gap[0].parameters:,} fewer parameters "
        f"({gap[0].parameters:,} vs {fc[0].parameters:,}); {verdict_text}: its accuracy gap differs by "
        f"{interval_text(acc, 2, 'signed')} points and its loss gap by {interval_text(loss, 3, 'signed')}; "
        f"from the FC head + dropout's by {interval_text(acc_dropout, 2, 'signed')} points and "
        f"{interval_text(loss_dropout, 3, 'signed')}",
        [Table(recipe_caption(ctx), STATS_COLUMNS, [variant_row(runs) for runs in heads])],
        [figure],
    )


def _overfits_less(key: str, other: str, name: str, unit: str) -> Criterion:
    return Criterion(
        key, f"GAP overfits less than the {name} ({unit})", f"GAP − {name} {unit} gap", holds=below(0)
    )


register_claim(
    Claim(
        "C5",
        "Global average pooling replaces the FC head: fewer parameters, less overfitting",
        "Replacing the fully connected head by global average pooling removes most parameters and "
        "overfits less (NIN paper, CIFAR-10 test error: FC 11.59%, FC + dropout 10.88%, GAP 10.41%).",
        (
            Criterion("params", "fewer parameters", "GAP ÷ FC network parameters", holds=below(1)),
            _overfits_less("accuracy_gap_vs_fc", "fc", "FC head", "accuracy (points)"),
            _overfits_less("loss_gap_vs_fc", "fc", "FC head", "loss"),
            _overfits_less(
                "accuracy_gap_vs_fc-dropout", "fc-dropout", "FC head + dropout", "accuracy (points)"
            ),
            _overfits_less("loss_gap_vs_fc-dropout", "fc-dropout", "FC head + dropout", "loss"),
        ),
        measure_c5,
        render_c5,
        'onebyone compare nin-fashion "nin-fashion head=fc"; '
        "onebyone train nin-fashion --set head=fc --out runs/fc",
        needs=("gap", "fc", "fc-dropout"),
    )
)
