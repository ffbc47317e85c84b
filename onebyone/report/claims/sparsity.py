"""C13: do feature maps get sparser with depth? Measured per network, each with its own verdict.

For every network in `NETWORKS` the fraction of exactly-zero outputs after each ReLU is counted on
real test images, and one criterion decides per network, with its 95% interval over the trained
seeds: how much that fraction rises from the first third of the ReLUs to the last third. Above
0.10 it is a clear rise (an untrained network's zero fraction already wanders ±0.06 from layer to
layer); above 0 a rise. Spearman's rank correlation of the fraction with depth (+1: sparser at
every step) is shown beside it, not decided on: over nine ReLUs per seed it moved so much from
seed to seed (95% interval 0.30 to 1.12 over seeds 0–3 of the batch-norm network) that two seed
lists gave two verdicts, while the rise, which averages thirds, gave the same
(benchmarks/report_seeds.py; docs/report.md). Another network is one more `SparsityNetwork` entry:
a name and a function giving its measured instances.

EfficientNet-Lite0 with its ImageNet weights is measured the same way on bundled photos
(report.photos): the interval is over the photos (each photo's value from all its views, which are
not independent of each other), its criterion is one of the claim's optional ones, and without the
weights package the page says it was not measured and why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from onebyone.report.figures import depth_curves
from onebyone.report.format import interval_text
from onebyone.report.photos import SUBJECT, Unavailable
from onebyone.report.registry import Claim, Measured, Rendered, register_claim
from onebyone.report.results import Table
from onebyone.report.verdicts import Criterion, above
from onebyone.stats import mean_interval, spearman

if TYPE_CHECKING:
    from onebyone.insight import SparsityResult
    from onebyone.report.context import ReportContext
    from onebyone.stats import Estimate


@dataclass(frozen=True)
class SparsityPair:
    """One instance of a network (a seed, or a photo): its sparsity by depth, trained and untrained."""

    trained: SparsityResult
    untrained: SparsityResult  # the control


@dataclass(frozen=True)
class SparsityNetwork:
    key: str
    name: str
    # one SparsityPair per `over` (seed or photo), or why it was not measured
    measure: Callable[[ReportContext], list[SparsityPair] | Unavailable]
    over: str = "seeds"  # what the interval is over
    images: str = "test images"  # what each SparsityResult was measured on
    fixed: bool = True  # always measured (else its criteria are the claim's optional ones)
    control: str = "each seed's initial weights, the same images"  # what the untrained column measured


def _trained_variant(variant: str) -> Callable[[ReportContext], list[SparsityPair] | Unavailable]:
    def measure(ctx: ReportContext) -> list[SparsityPair] | Unavailable:
        from onebyone.insight import measure_sparsity
        from onebyone.models.loading import load_model

        pairs = []
        for seed in ctx.config.seeds:
            run = ctx.trained(variant, seed)
            images, _ = ctx.test_images(run.config, ctx.config.eval_size)
            torch.manual_seed(seed)
            untrained = load_model(run.config.model, dict(run.config.model_overrides)).eval()
            with torch.no_grad():
                pairs.append(
                    SparsityPair(
                        measure_sparsity(ctx.cpu_model(variant, seed), images),
                        measure_sparsity(untrained, images),
                    )
                )
        return pairs

    return measure


def _photos(ctx: ReportContext) -> list[SparsityPair] | Unavailable:
    """Per photo: EfficientNet-Lite0 pretrained on all the photo's views, and untrained (seed 0) once,
    on every photo's centre crop (the control needs no interval; one pass instead of one per photo)."""
    from onebyone.insight import measure_sparsity
    from onebyone.models.loading import load_model

    photos = ctx.photos
    if isinstance(photos, Unavailable):
        return photos
    torch.manual_seed(0)
    untrained = load_model(photos.run.spec["model"], {}).eval()
    preprocess = photos.run.preprocess
    with torch.no_grad():
        control = measure_sparsity(untrained, photos.views[:, 0], preprocess=preprocess)
        return [
            SparsityPair(measure_sparsity(photos.run.model(), views, preprocess=preprocess), control)
            for views in photos.views
        ]


PHOTO_NETWORK = SparsityNetwork(
    "effnet", SUBJECT, _photos, "photos", "views of each photo", False, "seed 0, the photos' centre crops"
)
NETWORKS = (
    SparsityNetwork("bn", "nin-fashion (batch norm)", _trained_variant("gap")),
    SparsityNetwork(
        "nobn", "nin-fashion without batch norm (as in the NIN paper)", _trained_variant("gap-nobn")
    ),
    PHOTO_NETWORK,
)


@dataclass(frozen=True)
class NetworkSparsity:
    network: SparsityNetwork
    pairs: list[SparsityPair] | Unavailable


@dataclass(frozen=True)
class SparsityByDepth:
    """C13's measurement: for each of NETWORKS in order, its instances' sparsity or why not measured."""

    networks: tuple[NetworkSparsity, ...]


def rank_correlation(result: SparsityResult) -> float:
    """Spearman's ρ of the zero fraction with depth, over the ReLUs in forward order."""
    return spearman([r.depth for r in result.rows], [r.zero_fraction for r in result.rows])


CLEAR_RISE = 0.10


def rise(result: SparsityResult) -> float:
    """Mean zero fraction of the last third of the ReLUs minus that of the first third."""
    zeros = [r.zero_fraction for r in result.rows]
    third = max(1, len(zeros) // 3)
    return sum(zeros[-third:]) / third - sum(zeros[:third]) / third


def criteria(net: SparsityNetwork) -> tuple[Criterion, ...]:
    """What decides C13 for one network: the same band for every network."""
    return (
        Criterion(
            f"rise_{net.key}",
            "clearly sparser deep down",
            "zero fraction, last third of the ReLUs − first third",
            holds=above(CLEAR_RISE),
            approximately=above(0.0),
            subject=net.name,
        ),
    )


def measure_c13(ctx: ReportContext) -> Measured[SparsityByDepth]:
    measured = SparsityByDepth(tuple(NetworkSparsity(net, net.measure(ctx)) for net in NETWORKS))
    estimates, unmeasured = {}, ""
    for net, pairs in ((n.network, n.pairs) for n in measured.networks):
        if isinstance(pairs, Unavailable):
            unmeasured = pairs.reason
            continue
        trained = [pair.trained for pair in pairs]
        estimates[f"rho_{net.key}"] = mean_interval([rank_correlation(t) for t in trained], over=net.over)
        estimates[f"rise_{net.key}"] = mean_interval([rise(t) for t in trained], over=net.over)
    return Measured(estimates, measured, unmeasured=unmeasured)


def _by_depth(results: list[SparsityResult]) -> list[Estimate]:
    """Per ReLU: the zero fraction's mean and 95% interval over seeds."""
    return [mean_interval([r.rows[i].zero_fraction for r in results]) for i in range(len(results[0].rows))]


def _direction(rise_estimate: Estimate) -> str:
    """Says so when a network is not shown to get sparser with depth (read from the deciding rise)."""
    if rise_estimate.low is None or rise_estimate.high is None or rise_estimate.low > 0:
        return ""
    if rise_estimate.high < 0:
        return " (denser with depth, not sparser)"
    return " (not shown to get sparser with depth)"


def render_c13(m: Measured[SparsityByDepth], ctx: ReportContext) -> Rendered:
    tables, parts = [], []
    curves: dict[str, list[tuple[str, list[Estimate]]]] = {}  # by what the intervals are over
    for net, pairs in ((n.network, n.pairs) for n in m.data.networks):
        if isinstance(pairs, Unavailable):
            parts.append(f"{net.name}: {pairs.reason}")
            continue
        trained = _by_depth([pair.trained for pair in pairs])
        untrained = _by_depth([pair.untrained for pair in pairs])
        rows = pairs[0].trained.rows
        tables.append(
            Table(
                f"{net.name}: zero fraction after each ReLU, {pairs[0].trained.images:,} {net.images}, "
                f"mean over {len(pairs)} {net.over} (95% interval); untrained: {net.control}",
                ["depth", "layer", "map", "zero fraction", "untrained"],
                [
                    [
                        r.depth,
                        r.layer.removeprefix("features."),
                        "×".join(map(str, r.shape)),
                        interval_text(t, 3),
                        f"{u.value:.3f}",
                    ]
                    for r, t, u in zip(rows, trained, untrained, strict=True)
                ],
            )
        )
        curves.setdefault(net.over, []).extend([(net.name, trained), (f"{net.name}, untrained", untrained)])
        rho, up = m.estimates[f"rho_{net.key}"], m.estimates[f"rise_{net.key}"]
        parts.append(
            f"{net.name}: zero fraction {trained[0].value:.2f} after the first ReLU, "
            f"{trained[-1].value:.2f} after the last; ρ = {interval_text(rho)}, rise {interval_text(up)}"
            + _direction(up)
        )
    figures = [
        depth_curves(
            ctx.figure_path("sparsity" if over == "seeds" else f"sparsity_{over}"),
            "Fraction of exactly-zero ReLU outputs by depth" + ("" if over == "seeds" else f", {over}"),
            lines,
            f"Mean over {over}; error bars: 95% intervals over {over}. Dashed: the same networks untrained.",
        )
        for over, lines in curves.items()
    ]
    findings = []
    on_photos = next(n.pairs for n in m.data.networks if n.network is PHOTO_NETWORK)
    if not isinstance(on_photos, Unavailable):
        findings.append(
            "EfficientNet-Lite0's ReLU6 outputs are counted on every photo's views (report.photos: "
            f"{len(on_photos)} photos × {on_photos[0].trained.images} views); the interval is over "
            "photos, since views of one photo are not independent"
        )
    return Rendered("; ".join(parts), tables, figures, findings)


register_claim(
    Claim(
        "C13",
        "Feature maps get sparser with depth",
        "In a trained CNN the feature maps become sparser with depth: ReLU zeroes most units.",
        tuple(criterion for net in NETWORKS if net.fixed for criterion in criteria(net)),
        measure_c13,
        render_c13,
        "onebyone inspect sparsity OUT/models/gap-seed0; "
        "onebyone inspect sparsity efficientnet-lite0 --set pretrained=true --image cat.png "
        "--image coffee.png",
        needs=("gap", "gap-nobn"),
        optional=tuple(criterion for net in NETWORKS if not net.fixed for criterion in criteria(net)),
    )
)
