"""C9 and C14: a 1×1 conv as a fully connected layer that slides, and where the network looks.

Both run the trained nin-fashion variants on composed scenes: Fashion-MNIST test items placed on a
larger empty canvas (inspect.compose_scenes), so the true position of every item is known; and
EfficientNet-Lite0 with its ImageNet weights on collages of two photos (claims.photo_localisation).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from onebyone.report.claims.photo_localisation import (
    C9_CRITERIA,
    C14_CRITERIA,
    PhotoParts,
    add_photos,
    measure_c9_photos,
    measure_c14_photos,
    render_c9_photos,
    render_c14_photos,
    with_photos,
)
from onebyone.report.format import interval_text
from onebyone.report.photos import Unavailable
from onebyone.report.registry import Claim, Measured, Rendered, register_claim
from onebyone.report.results import Figure, Table
from onebyone.report.verdicts import Criterion, above, below
from onebyone.stats import Estimate, mean_interval

if TYPE_CHECKING:
    from onebyone.insight import DenseResult, Scenes
    from onebyone.insight.boxes import MapGeometry, UnitBox
    from onebyone.report.context import ReportContext
    from onebyone.train import TrainConfig

CANVAS = 56  # C14: one item on a 56×56 canvas
LAYER = "features.stage3"  # the last mlpconv stage: its strongest unit's field is back-projected
BOX_ITEMS = 100  # strongest-unit boxes measured (first seed)
NIN_GAP = "nin-fashion (batch norm)"
NIN_FC = "nin-fashion, FC head + dropout"


def _scenes(
    ctx: ReportContext, config: TrainConfig, count: int, canvas: int, per_scene: int, seed: int
) -> Scenes:
    from onebyone.insight import compose_scenes

    test = ctx.test_split(config)
    count = min(count, len(test)) // per_scene * per_scene
    return compose_scenes(
        test.images[:count],
        test.labels[:count],
        canvas=canvas,
        items_per_scene=per_scene,
        seed=seed,
        classes=test.classes,
    )


# --- C14 --------------------------------------------------------------------------------------


def _cam_hits(model: nn.Module, x: Tensor, scenes: Scenes) -> tuple[list[bool], float, Tensor, MapGeometry]:
    """Per item: is the peak of its true class's map inside the item? And a random cell's chance."""
    from onebyone.insight import gap_class_map_network
    from onebyone.insight.boxes import output_geometry

    shape = (1, *x.shape[1:])
    network = gap_class_map_network(model, shape).eval()
    geometry = output_geometry(network, shape)
    with torch.no_grad():
        maps = network(x).float()  # (S, classes, h, w)
    _, _, height, width = maps.shape
    ys = geometry.start[0] + geometry.stride[0] * torch.arange(height)
    xs = geometry.start[1] + geometry.stride[1] * torch.arange(width)
    hits, chance = [], 0.0
    for i, (top, left, bottom, right) in enumerate(scenes.boxes.tolist()):
        peak = int(maps[i, int(scenes.labels[i])].argmax())
        cy, cx = float(ys[peak // width]), float(xs[peak % width])
        hits.append(top <= cy <= bottom and left <= cx <= right)
        chance += float(
            ((ys >= top) & (ys <= bottom)).float().mean() * ((xs >= left) & (xs <= right)).float().mean()
        )
    return hits, chance / len(hits), maps, geometry


@dataclass(frozen=True)
class CamLocalisation:
    """C14's measurement: where the class maps peak and where the strongest unit's field lies, on
    Fashion-MNIST items placed on empty canvases; and the photo parts."""

    scenes: Scenes  # CANVAS×CANVAS canvases, one test item each, its box known
    inputs: Tensor  # (S, 1, 56, 56) the canvases, normalised as the models were trained
    chance: float  # share of the map's cells inside the item, mean over items: a random cell's hit rate
    box_hit_fraction: float  # share of the strongest-unit fields centred on their item (first seed)
    boxes: list[UnitBox]  # the strongest LAYER unit's field on each of the first BOX_ITEMS canvases
    maps: Tensor  # (S, classes, h, w) the first seed's class maps
    geometry: MapGeometry  # where the map's cells sit on the canvas
    model: nn.Module  # the first seed's model, on the CPU
    photos: PhotoParts | Unavailable


def measure_c14(ctx: ReportContext) -> Measured[CamLocalisation]:
    from onebyone.insight import strongest_unit_box

    config = ctx.trained("gap", ctx.config.seeds[0]).config
    scenes = _scenes(ctx, config, min(ctx.config.eval_size, 500), CANVAS, 1, seed=0)
    x = ctx.normalise(scenes.canvases, config)  # (S, 1, 56, 56)
    rates, first = [], None
    for seed in ctx.config.seeds:
        hits, chance, maps, geometry = _cam_hits(ctx.cpu_model("gap", seed), x, scenes)
        rates.append(sum(hits) / len(hits))
        first = first or (maps, geometry)
    assert first is not None  # ReportConfig.validate: at least one seed
    model = ctx.cpu_model("gap", ctx.config.seeds[0])
    boxes = [strongest_unit_box(model, x[i], LAYER) for i in range(min(BOX_ITEMS, len(x)))]
    inside = lambda c, b: b[0] <= c[0] <= b[2] and b[1] <= c[1] <= b[3]  # noqa: E731
    box_rate = sum(inside(u.centre, b) for u, b in zip(boxes, scenes.boxes.tolist(), strict=False)) / len(
        boxes
    )
    need = max(0.8, 2 * chance)
    criteria = (
        Criterion(
            "cam_rate",
            "the class map's peak localises the object",
            "share of items whose true-class CAM peak lies inside the item",
            holds=above(need),
            approximately=above(2 * chance),
            subject=NIN_GAP,
        ),
    )
    photos = measure_c14_photos(ctx)
    data = CamLocalisation(scenes, x, chance, box_rate, boxes, *first, model, photos)
    return with_photos(Measured({"cam_rate": mean_interval(rates, over="seeds")}, data, criteria), photos)


def render_c14(m: Measured[CamLocalisation], ctx: ReportContext) -> Rendered:
    from onebyone.insight import capture_activations
    from onebyone.insight.plots import plot_box, plot_cam

    d = m.data
    scenes, maps, geometry, unit = d.scenes, d.maps, d.geometry, d.boxes[0]
    cam = plot_cam(
        scenes.canvases[0].float(),
        maps[0],
        ctx.figure_path("cam"),
        geometry=geometry,
        classes=scenes.classes,
        label=int(scenes.labels[0]),
    )
    channel_map = capture_activations(d.model, d.inputs[:1], [LAYER])[LAYER][0, unit.channel]
    box = plot_box(scenes.canvases[0].float(), unit, ctx.figure_path("rf_box"), channel_map=channel_map)
    short = LAYER.removeprefix("features.")
    rendered = Rendered(
        f"on {len(scenes.boxes)} Fashion-MNIST test items placed at random on a {CANVAS}×{CANVAS} canvas, "
        f"the peak of the true class's CAM lies inside the item for {interval_text(m.estimates['cam_rate'])} "
        f"of them "
        f"(a random cell: {d.chance:.2f}); the strongest {short} unit's field is centred on the item for "
        f"{d.box_hit_fraction:.0%} of {len(d.boxes)} (first seed)",
        figures=[
            Figure(
                "Class activation maps on a composed scene",
                Path(cam),
                "The item sits on an empty canvas; each map is the NIN's last 1×1 conv output for one class.",
            ),
            Figure(
                "Receptive-field box of the strongest unit",
                Path(box),
                "The box is the profiler's receptive field of the most active unit, back-projected.",
            ),
        ],
        findings=[
            f"CAM: the NIN's last 1×1 conv output, {maps.shape[-2]}×{maps.shape[-1]} cells "
            f"{geometry.stride[0]:g} px apart, each seeing "
            f"{geometry.field_size[0]:g}×{geometry.field_size[1]:g} px",
            f"receptive field of one {short} unit: {unit.field_size[0]:g}×{unit.field_size[1]:g} px "
            "(profiler)",
        ],
    )
    return add_photos(rendered, render_c14_photos(d.photos, ctx))


register_claim(
    Claim(
        "C14",
        "The strongest activation's receptive field localises the object; GAP makes CAMs direct",
        "Back-projecting the receptive field of the strongest last-layer activation gives the image region "
        "that caused it; with global average pooling the class activation maps show where each class is.",
        (),  # the criterion depends on the chance rate of the scenes: measure_c14 adds it
        measure_c14,
        render_c14,
        "onebyone inspect cam OUT/models/gap-seed0 --index 0; "
        "onebyone inspect box OUT/models/gap-seed0 --index 0 --layer features.stage3; "
        "onebyone inspect cam efficientnet-lite0 --set pretrained=true --image pair.png",
        needs=("gap",),
        optional=C14_CRITERIA,
    )
)


# --- C9 ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DenseMaps:
    """C9's measurement: the FC-head NIN turned into convs (first seed), its class map on a larger
    input, dense prediction on composed scenes beside the GAP-head NIN's; and the photo parts."""

    larger_shape: tuple[int, ...]  # the converted network's output on one 84×84 input
    scenes: Scenes  # 84×84, four test items each
    fc: DenseResult  # the FC-head NIN after fc_to_conv
    gap: DenseResult  # the GAP-head NIN (already convolutional)
    photos: PhotoParts | Unavailable


def measure_c9(ctx: ReportContext) -> Measured[DenseMaps]:
    from onebyone.insight import dense_prediction
    from onebyone.surgery.fc_to_conv import fc_to_conv

    seed = ctx.config.seeds[0]
    fc = ctx.trained("fc-dropout", seed)
    model = ctx.cpu_model("fc-dropout", seed)
    images, _ = ctx.test_images(fc.config, 256)
    converted = fc_to_conv(model, (1, *images.shape[1:])).eval()
    with torch.no_grad():
        original, same_size = model(images).float(), converted(images).float()
        larger = converted(torch.zeros(1, *images.shape[1:2], 84, 84)).float()  # (1, classes, h, w)
    difference = (original - same_size.reshape(original.shape)).abs().max().item()
    scenes = _scenes(ctx, fc.config, ctx.config.eval_size, 84, 4, seed=1)
    preprocess = lambda batch: ctx.normalise(batch, fc.config)  # noqa: E731
    dense_fc = dense_prediction(model, scenes, preprocess=preprocess)
    dense_gap = dense_prediction(ctx.cpu_model("gap", seed), scenes, preprocess=preprocess)
    cells = larger.shape[-1] * larger.shape[-2] if larger.dim() == 4 else 1
    estimates = {"max_diff": Estimate.exact(difference), "cells": Estimate.exact(cells)}
    photos = measure_c9_photos(ctx)
    data = DenseMaps(tuple(larger.shape), scenes, dense_fc, dense_gap, photos)
    return with_photos(Measured(estimates, data), photos)


def render_c9(m: Measured[DenseMaps], ctx: ReportContext) -> Rendered:
    from onebyone.insight.plots import plot_class_map

    d = m.data
    dense_fc, dense_gap = d.fc, d.gap
    figure = plot_class_map(d.scenes, dense_fc, ctx.figure_path("class_map"), scene=0)
    rows = [
        [
            label,
            r.method,
            "×".join(map(str, r.map_size)),
            f"{r.item_accuracy:.1%}",
            f"{r.hit_fraction:.1%}",
            f"{r.region_hit_fraction:.1%}",
        ]
        for label, r in (
            ("NIN, FC head + dropout → fc_to_conv", dense_fc),
            ("NIN, GAP head (already convolutional)", dense_gap),
        )
    ]
    rendered = Rendered(
        f"the converted FC-head NIN matches the original to {m.estimates['max_diff'].value:.1e} at 28×28 and "
        f"returns a {'×'.join(map(str, d.larger_shape[1:]))} class map on an 84×84 input; on composed scenes "
        f"it names {dense_fc.hit_fraction:.0%} of the items at their location (the classifier alone: "
        f"{dense_fc.item_accuracy:.0%} of the same items; first seed)",
        [
            Table(
                f"Dense prediction on {len(d.scenes)} scenes of 4 Fashion-MNIST test items (84×84)",
                ["model", "how", "map cells", "items alone", "hit at item centre", "hit over item"],
                rows,
            )
        ],
        [
            Figure(
                "Class map of a composed scene (FC head converted to convs)",
                Path(figure),
                "Left: the scene with true → predicted class per item; right: the class map's argmax.",
            )
        ],
    )
    return add_photos(rendered, render_c9_photos(d.photos, ctx))


register_claim(
    Claim(
        "C9",
        "A 1×1 conv is an FC layer that accepts any input size",
        "A 1×1×D conv computes what a fully connected layer does, but a network built this way, given a "
        "larger image, outputs a W×H×classes map instead of one vector.",
        (
            Criterion(
                "max_diff",
                "the converted network computes what the FC network does",
                "largest |Δ| converted vs original at 28×28",
                holds=below(1e-4),
                subject=NIN_FC,
            ),
            Criterion(
                "cells",
                "a larger input gives a class map",
                "cells of the output map at 84×84",
                holds=above(2),
                subject=NIN_FC,
            ),
        ),
        measure_c9,
        render_c9,
        "onebyone convert fc2conv OUT/models/fc-dropout-seed0 --out fc2conv; "
        "onebyone inspect dense OUT/models/fc-dropout-seed0; "
        "onebyone inspect dense efficientnet-lite0 --set pretrained=true --image pair.png",
        needs=("fc-dropout", "gap"),
        optional=C9_CRITERIA,
    )
)
