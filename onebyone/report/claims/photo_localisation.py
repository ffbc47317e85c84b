"""C9 and C14 on EfficientNet-Lite0 with its ImageNet weights and collages of two photos
(report.photos): the parts that localisation.py adds to the NIN's when the weights are installed.

- C14: on each collage, the peak of the class map of each photo's class (its truth: the network's
  top-1 on the photo alone) lies in that photo's half. A random cell would: 0.5.
- C9: the GAP + linear head turned into a 1×1 conv (fc_to_conv) returns the original's scores at
  224×224; on a 224×448 collage the same head, applied at every cell, gives a class map whose mean
  over each half names that half's photo among the 1,000 classes.

Each photo of each collage is one trial ("placement"); the share has a Wilson interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import torch

from onebyone.report.format import interval_text
from onebyone.report.photos import (
    MODEL,
    SIDE,
    SUBJECT,
    Collages,
    PhotoSet,
    Unavailable,
    count_hits,
    halves_named,
    peaks_in_own_half,
    views_named,
)
from onebyone.report.registry import Measured, Rendered
from onebyone.report.results import Figure, Table
from onebyone.report.verdicts import Criterion, above, below
from onebyone.stats import Estimate, proportion_interval

if TYPE_CHECKING:
    from onebyone.report.context import ReportContext

D = TypeVar("D")  # the NIN part's measurement (claims.localisation)

OVER = "placements"  # one photo in one collage


# A random cell of the map lies in a given photo's half for that half's share of the columns; over
# the two photos of a collage that averages to exactly one half, whatever the number of columns.
CHANCE = 0.5
C14_CRITERIA = (
    Criterion(
        "cam_rate_effnet",
        "the class map's peak lies on the photo of that class",
        "share of photos in collages whose class's CAM peak lies in the photo's half",
        holds=above(0.8),
        approximately=above(CHANCE),
        subject=SUBJECT,
    ),
)
C9_CRITERIA = (
    Criterion(
        "max_diff_effnet",
        "the converted network computes what the original does",
        "largest |Δ| converted vs original at 224×224, on the photos' centre crops",
        holds=below(1e-4),
        subject=SUBJECT,
    ),
    Criterion(
        "halves_named_effnet",
        "the class map names each photo on its half of a collage",
        "share of photos in collages named (top-1 of 1,000 classes) by the map's mean over their half",
        holds=above(0.5),
        subject=SUBJECT,
    ),
)


@dataclass(frozen=True)
class PhotoParts:
    """What the photo parts of C9 and C14 measured."""

    estimates: dict[str, Estimate]
    photos: PhotoSet
    collages: Collages
    hits: torch.Tensor  # (N, 2) bool, per collage and side
    alone: torch.Tensor | None = None  # (P,) views of each photo named right with the view alone (C9)


def _per_photo(parts: PhotoParts) -> list[list]:
    """Per photo: its class, k/n of its placements that succeed, and (C9) k/n of its views alone."""
    rows = []
    sides = torch.tensor([[a, b] for a, b, _ in parts.collages.pairs])  # (N, 2) the photo on each side
    views = parts.collages.views
    for photo, name in enumerate(parts.photos.names):
        mine = sides == photo
        row = [name, parts.photos.class_name(photo), f"{int(parts.hits[mine].sum())}/{int(mine.sum())}"]
        rows.append(row + ([] if parts.alone is None else [f"{int(parts.alone[photo])}/{views}"]))
    return rows


def measure_c14_photos(ctx: ReportContext) -> PhotoParts | Unavailable:
    photos, found = ctx.photos, ctx.collages
    if isinstance(photos, Unavailable):
        return photos
    if isinstance(found, Unavailable):
        return found
    hits = peaks_in_own_half(found.maps, found.classes, found.centres_x, found.middle)
    estimates = {"cam_rate_effnet": proportion_interval(*count_hits(hits), over=OVER)}
    return PhotoParts(estimates, photos, found, hits)


def measure_c9_photos(ctx: ReportContext) -> PhotoParts | Unavailable:
    from onebyone.surgery.fc_to_conv import fc_to_conv

    photos, found = ctx.photos, ctx.collages
    if isinstance(photos, Unavailable):
        return photos
    if isinstance(found, Unavailable):
        return found
    model = photos.run.model()
    x = photos.run.preprocess(photos.views[:, 0])  # the centre crops, (P, 3, 224, 224)
    with torch.no_grad():
        original, converted = model(x), fc_to_conv(model, (1, 3, SIDE, SIDE)).eval()(x)
    difference = (original - converted.reshape(original.shape)).abs().max().item()
    hits = halves_named(found.maps, found.classes, *found.half_columns())
    estimates = {
        "max_diff_effnet": Estimate.exact(difference),
        "halves_named_effnet": proportion_interval(*count_hits(hits), over=OVER),
    }
    alone = views_named(photos, found.views)
    return PhotoParts(estimates, photos, found, hits, alone)


def _setting(parts: PhotoParts) -> str:
    found = parts.collages
    return (
        f"{len(found.pairs)} collages ({len(parts.photos.names)} photos, every ordered pair of different "
        f"classes, {found.views} view(s) each), {found.maps.shape[-2]}×"
        f"{found.maps.shape[-1]} class map cells {found.geometry.stride[1]:g} px apart"
    )


def truth_note(parts: PhotoParts) -> str:
    classes = ", ".join(f"{n}: {parts.photos.class_name(i)}" for i, n in enumerate(parts.photos.names))
    return (
        f"{MODEL} truth: each photo's class is the network's own top-1 on the photo alone (centre crop "
        f"{SIDE} of {SIDE + parts.photos.run.crop_padding}), not a hand label ({classes})"
    )


def render_c14_photos(parts: PhotoParts | Unavailable, ctx: ReportContext) -> Rendered:
    if isinstance(parts, Unavailable):
        return Rendered(f"{MODEL}: {parts.reason}")
    from onebyone.insight.plots import plot_cam

    found = parts.collages
    estimate = parts.estimates["cam_rate_effnet"]
    figure = plot_cam(
        found.images[0].float(),
        found.maps[0],
        ctx.figure_path("cam_photos"),
        geometry=found.geometry,
        classes=parts.photos.run.classes,
        label=int(found.classes[0, 0]),
    )
    return Rendered(
        f"{MODEL} on {len(found.pairs)} collages of two photos: the peak of each photo's class map lies in "
        f"its half for {interval_text(estimate)} of the {estimate.n} placements (a random cell: "
        f"{CHANCE:.2f})",
        [
            Table(
                f"{SUBJECT}: CAM peak in the photo's own half, per photo ({_setting(parts)})",
                ["photo", "class", "peak in own half"],
                _per_photo(parts),
            )
        ],
        [
            Figure(
                "Class activation maps on a collage of two photos (EfficientNet-Lite0)",
                Path(figure),
                "Left photo and right photo side by side; each map is the linear head applied at every cell.",
            )
        ],
        [truth_note(parts)],
    )


def render_c9_photos(parts: PhotoParts | Unavailable, ctx: ReportContext) -> Rendered:
    if isinstance(parts, Unavailable):
        return Rendered(f"{MODEL}: {parts.reason}")
    from onebyone.insight import PhotoMap
    from onebyone.insight.plots import plot_photo_class_map

    found = parts.collages
    named = parts.estimates["halves_named_effnet"]
    photo_map = PhotoMap(found.maps[0], found.geometry, found.method, (1, *found.images.shape[1:]))
    figure = plot_photo_class_map(
        found.images[0], photo_map, ctx.figure_path("class_map_photos"), classes=parts.photos.run.classes
    )
    assert parts.alone is not None  # measure_c9_photos counts the views alone
    right, views = int(parts.alone.sum()), found.views * len(parts.alone)
    return Rendered(
        f"{MODEL}'s head as a 1×1 conv matches the original to "
        f"{parts.estimates['max_diff_effnet'].value:.1e} at 224×224; on collages of two photos the class map "
        f"names the photo of each half among 1,000 classes for {interval_text(named)} of {named.n} "
        f"placements (each view alone: {right}/{views})",
        [
            Table(
                f"{SUBJECT}: each half named by the class map, per photo ({_setting(parts)})",
                ["photo", "class", "half named", "view alone named"],
                _per_photo(parts),
            )
        ],
        [
            Figure(
                "Class map over a collage of two photos (EfficientNet-Lite0)",
                Path(figure),
                "Which of the top classes wins each cell: the linear head as a 1×1 conv at every cell.",
            )
        ],
        [truth_note(parts)],
    )


def with_photos(measured: Measured[D], photos: PhotoParts | Unavailable) -> Measured[D]:
    """The NIN's measurement (whose data holds `photos` too) with the photo parts' estimates added, when
    they were measured, or the reason they were not."""
    if isinstance(photos, Unavailable):
        measured.unmeasured = photos.reason
    else:
        measured.estimates.update(photos.estimates)
    return measured


def add_photos(rendered: Rendered, photo_parts: Rendered) -> Rendered:
    """The NIN's page with the photo parts' reason, tables, figures and findings appended."""
    rendered.reason += "; " + photo_parts.reason
    rendered.tables += photo_parts.tables
    rendered.figures += photo_parts.figures
    rendered.findings += photo_parts.findings
    return rendered
