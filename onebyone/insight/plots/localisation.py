"""Class activation maps and the strongest unit's receptive-field box, drawn over the input."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from torch import Tensor

from onebyone.insight.boxes import MapGeometry, UnitBox
from onebyone.insight.plots.common import display, draw_box, overlay, pyplot, save


def plot_cam(
    image: Tensor,
    cams: Tensor,
    path: str | Path,
    *,
    geometry: MapGeometry,
    classes: Sequence[str] | None = None,
    label: int | None = None,
    top: int = 3,
) -> Path:
    """The image and the class activation maps of its `top` highest-scoring classes, overlaid.

    Args:
        image: (C, H, W) image as drawn (any range).
        cams: (num_classes, h, w) maps; the score of class c is cams[c].mean().
        path: PNG to write.
        geometry: where the map cells sit on the image (`output_geometry` of the CAM network).
        classes: class names.
        label: the true class, if known, for the title.
        top: how many classes to draw.
    """
    plt = pyplot()
    cams = cams.detach().float().cpu()
    scores = cams.mean((1, 2))
    probabilities = scores.softmax(0)
    order = scores.argsort(descending=True)[: max(1, min(top, len(scores)))].tolist()
    names = list(classes) if classes else [str(c) for c in range(len(scores))]
    fig, axes = plt.subplots(1, len(order) + 1, figsize=(3.6 * (len(order) + 1), 3.6), squeeze=False)
    array, cmap = display(image)
    axes[0][0].imshow(array, cmap=cmap)
    truth = f"true class: {names[label]}" if label is not None else "input"
    axes[0][0].set_title(truth, fontsize=9)
    axes[0][0].set_xlabel("x (input pixels)")
    axes[0][0].set_ylabel("y (input pixels)")
    for ax, c in zip(axes[0][1:], order, strict=True):
        drawn = overlay(ax, image, cams[c], geometry, "inferno", alpha=0.6, interpolation="bilinear")
        ax.set_title(f"{names[c]}: score {scores[c]:.2f}, p {probabilities[c]:.0%}", fontsize=9)
        fig.colorbar(drawn, ax=ax, fraction=0.046, pad=0.04).set_label("class map value", fontsize=8)
    fig.suptitle(
        f"Class activation maps (cells {geometry.stride[0]:g} px apart); a class's score is its map's mean",
        fontsize=10,
    )
    fig.tight_layout()
    return save(fig, path)


def plot_box(image: Tensor, box: UnitBox, path: str | Path, *, channel_map: Tensor | None = None) -> Path:
    """The image with the strongest unit's receptive-field box, and that unit's channel map.

    Args:
        image: (C, H, W) image as drawn.
        box: from `strongest_unit_box`.
        path: PNG to write.
        channel_map: (h, w) activation of the unit's channel, drawn beside the image with the unit marked.
    """

    plt = pyplot()
    panels = 1 + (channel_map is not None)
    fig, axes = plt.subplots(1, panels, figsize=(4.4 * panels + 0.4, 4.4), squeeze=False)
    ax = axes[0][0]
    array, cmap = display(image)
    ax.imshow(array, cmap=cmap)
    draw_box(ax, box.box, edgecolor="yellow", linestyle="--", linewidth=1.2, label="full field")
    draw_box(ax, box.clipped_box, edgecolor="red", linewidth=2, label="field inside the image")
    ax.plot([box.centre[1]], [box.centre[0]], marker="+", color="red", markersize=12, label="field centre")
    height, width = box.image_size
    ax.set_xlim(min(-0.5, box.box[1] - 1), max(width - 0.5, box.box[3] + 1))
    ax.set_ylim(max(height - 0.5, box.box[2] + 1), min(-0.5, box.box[0] - 1))
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, -0.32), fontsize=7, ncol=3, frameon=False)
    ax.set_title(
        f"field {box.field_size[0]:g}×{box.field_size[1]:g} px, stride {box.stride[0]:g}, "
        f"centre ({box.centre[0]:g}, {box.centre[1]:g})",
        fontsize=9,
    )
    ax.set_xlabel("x (input pixels)")
    ax.set_ylabel("y (input pixels)")
    if channel_map is not None:
        ax = axes[0][1]
        drawn = ax.imshow(channel_map.detach().float().cpu().numpy(), cmap="viridis")
        ax.plot(
            [box.x],
            [box.y],
            marker="s",
            markersize=10,
            markerfacecolor="none",
            markeredgecolor="red",
            markeredgewidth=2,
        )
        ax.set_title(f"channel {box.channel}; strongest unit at (y {box.y}, x {box.x})", fontsize=9)
        ax.set_xlabel("x (map cells)")
        ax.set_ylabel("y (map cells)")
        fig.colorbar(drawn, ax=ax, fraction=0.046, pad=0.04).set_label("activation")
    fig.suptitle(f"{box.layer}: strongest unit = {box.value:.3g}, and the input box it sees", fontsize=10)
    fig.tight_layout()
    return save(fig, path)
