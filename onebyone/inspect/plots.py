"""PNG renderings of what `onebyone.inspect` measures (matplotlib, Agg backend).

Every function writes one PNG and returns its path. Images are drawn with pixel centres at integer
coordinates, and maps are placed on them with their `MapGeometry`, so a cell appears over the input
pixels it is centred on rather than stretched over the whole image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from torch import Tensor

from onebyone.inspect.activations import SparsityResult
from onebyone.inspect.boxes import MapGeometry, UnitBox
from onebyone.inspect.dense import DenseResult, Scenes


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _display(image: Tensor) -> tuple:
    """(array, cmap) for imshow from a (C, H, W) image of any range."""
    image = image.detach().float().cpu()
    low, high = image.min(), image.max()
    image = (image - low) / (high - low) if high > low else image * 0
    if image.shape[0] == 1:
        return image[0].numpy(), "gray"
    return image[:3].permute(1, 2, 0).numpy(), None


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return path


def _short(layer: str) -> str:
    return layer.removeprefix("features.").removeprefix("module.")


def plot_feature_maps(
    activation: Tensor,
    path: str | Path,
    *,
    layer: str,
    image: Tensor | None = None,
    max_tiles: int = 32,
    columns: int = 8,
) -> Path:
    """One layer's maps for one image as a grid of tiles, one per channel, on one colour scale.

    Args:
        activation: (C, h, w) output of `layer` for one image.
        path: PNG to write.
        layer: the layer's name, for the title.
        image: (C, H, W) input image, drawn as the first tile.
        max_tiles: tiles at most (the input and the first channels).
        columns: tiles per row.
    """
    plt = _pyplot()
    activation = activation.detach().float().cpu()
    if activation.dim() != 3:
        raise ValueError(f"activation must be (C, h, w), got {tuple(activation.shape)}")
    channels = activation.shape[0]
    shown = min(channels, max_tiles - (image is not None))
    tiles = shown + (image is not None)
    columns = min(columns, tiles)
    rows = math.ceil(tiles / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(1.45 * columns + 1.2, 1.5 * rows + 0.7), squeeze=False)
    low = min(0.0, float(activation[:shown].min()))
    high = max(float(activation[:shown].max()), low + 1e-6)
    tile = 0
    if image is not None:
        array, cmap = _display(image)
        axes[0][0].imshow(array, cmap=cmap)
        axes[0][0].set_title("input", fontsize=8, fontweight="bold")
        tile = 1
    shown_image = None
    for channel in range(shown):
        ax = axes[tile // columns][tile % columns]
        shown_image = ax.imshow(activation[channel].numpy(), cmap="viridis", vmin=low, vmax=high)
        zero = float((activation[channel] == 0).float().mean())
        ax.set_title(f"ch {channel} · {zero:.0%} zero", fontsize=7)
        tile += 1
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in list(axes.flat)[tiles:]:
        ax.axis("off")
    zero_all = float((activation == 0).float().mean())
    more = f", first {shown} shown" if shown < channels else ""
    fig.suptitle(
        f"{layer}: {channels} channels of {activation.shape[1]}×{activation.shape[2]}{more}; "
        f"{zero_all:.0%} of values exactly zero",
        fontsize=10,
    )
    if shown_image is not None:
        bar = fig.colorbar(shown_image, ax=axes.ravel().tolist(), shrink=0.8, pad=0.02)
        bar.set_label("activation")
    return _save(fig, path)


def plot_sparsity(result: SparsityResult, path: str | Path) -> Path:
    """Fraction of exactly-zero activations and mean activation after each ReLU, against depth."""
    plt = _pyplot()
    depths = [r.depth for r in result.rows]
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(max(6.0, 0.55 * len(depths) + 2), 6.0))
    top.plot(depths, [r.zero_fraction for r in result.rows], marker="o", color="tab:red")
    top.set_ylim(0, 1)
    top.set_ylabel("fraction exactly zero")
    top.grid(alpha=0.3)
    top.set_title(
        f"{result.model}: sparsity after each ReLU on {result.images:,} images "
        f"(slope {result.slope:+.3f} per layer)",
        fontsize=10,
    )
    bottom.plot(depths, [r.mean_activation for r in result.rows], marker="s", color="tab:blue")
    bottom.set_ylabel("mean activation")
    bottom.set_xlabel("depth (ReLU in forward order)")
    bottom.grid(alpha=0.3)
    bottom.set_xticks(
        depths, [f"{r.depth}\n{_short(r.layer)}" for r in result.rows], rotation=60, ha="right", fontsize=7
    )
    fig.tight_layout()
    return _save(fig, path)


def _overlay(ax, image: Tensor, values: Tensor, geometry: MapGeometry, cmap: str, **imshow):
    """The input in grey with a map of cells on it; returns the map's image for a colour bar."""
    array, image_cmap = _display(image)
    height, width = image.shape[-2:]
    ax.imshow(array, cmap=image_cmap or "gray")
    drawn = ax.imshow(
        values.numpy(),
        cmap=cmap,
        extent=geometry.extent(*values.shape[-2:]),
        **imshow,
    )
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)
    ax.set_xlabel("x (input pixels)")
    ax.set_ylabel("y (input pixels)")
    return drawn


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
    plt = _pyplot()
    cams = cams.detach().float().cpu()
    scores = cams.mean((1, 2))
    probabilities = scores.softmax(0)
    order = scores.argsort(descending=True)[: max(1, min(top, len(scores)))].tolist()
    names = list(classes) if classes else [str(c) for c in range(len(scores))]
    fig, axes = plt.subplots(1, len(order) + 1, figsize=(3.6 * (len(order) + 1), 3.6), squeeze=False)
    array, cmap = _display(image)
    axes[0][0].imshow(array, cmap=cmap)
    truth = f"true class: {names[label]}" if label is not None else "input"
    axes[0][0].set_title(truth, fontsize=9)
    axes[0][0].set_xlabel("x (input pixels)")
    axes[0][0].set_ylabel("y (input pixels)")
    for ax, c in zip(axes[0][1:], order, strict=True):
        drawn = _overlay(ax, image, cams[c], geometry, "inferno", alpha=0.6, interpolation="bilinear")
        ax.set_title(f"{names[c]}: score {scores[c]:.2f}, p {probabilities[c]:.0%}", fontsize=9)
        fig.colorbar(drawn, ax=ax, fraction=0.046, pad=0.04).set_label("class map value", fontsize=8)
    fig.suptitle(
        f"Class activation maps (cells {geometry.stride[0]:g} px apart); a class's score is its map's mean",
        fontsize=10,
    )
    fig.tight_layout()
    return _save(fig, path)


def plot_box(image: Tensor, box: UnitBox, path: str | Path, *, channel_map: Tensor | None = None) -> Path:
    """The image with the strongest unit's receptive-field box, and that unit's channel map.

    Args:
        image: (C, H, W) image as drawn.
        box: from `strongest_unit_box`.
        path: PNG to write.
        channel_map: (h, w) activation of the unit's channel, drawn beside the image with the unit marked.
    """

    plt = _pyplot()
    panels = 1 + (channel_map is not None)
    fig, axes = plt.subplots(1, panels, figsize=(4.4 * panels + 0.4, 4.4), squeeze=False)
    ax = axes[0][0]
    array, cmap = _display(image)
    ax.imshow(array, cmap=cmap)
    _draw_box(ax, box.box, edgecolor="yellow", linestyle="--", linewidth=1.2, label="full field")
    _draw_box(ax, box.clipped_box, edgecolor="red", linewidth=2, label="field inside the image")
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
    return _save(fig, path)


def plot_class_map(scenes: Scenes, result: DenseResult, path: str | Path, *, scene: int = 0) -> Path:
    """One composed scene with its items (true → predicted), and the class map's argmax over it."""
    import matplotlib.patches as patches
    from matplotlib.colors import BoundaryNorm, ListedColormap

    plt = _pyplot()
    num_classes = result.class_maps.shape[1]
    names = list(scenes.classes) if scenes.classes else [str(c) for c in range(num_classes)]
    canvas = scenes.canvases[scene]
    fig, axes = plt.subplots(1, 2, figsize=(12.5, 6.0))
    array, cmap = _display(canvas)
    axes[0].imshow(array, cmap=cmap)
    items = (scenes.scene_index == scene).nonzero().flatten().tolist()
    for item in items:
        top, left, bottom, right = scenes.boxes[item].tolist()
        truth, guess = int(scenes.labels[item]), int(result.predictions[item])
        colour = "lime" if truth == guess else "red"
        axes[0].add_patch(
            patches.Rectangle(
                (left - 0.5, top - 0.5),
                right - left + 1,
                bottom - top + 1,
                fill=False,
                edgecolor=colour,
                linewidth=1.5,
            )
        )
        axes[0].text(
            left,
            top - 1.5,
            f"{names[truth]} → {names[guess]}",
            color=colour,
            fontsize=8,
            va="bottom",
            bbox={"facecolor": "black", "alpha": 0.6, "pad": 1, "linewidth": 0},
        )
    axes[0].set_title(f"scene {scene}: true → predicted at each item's centre", fontsize=10)
    axes[0].set_xlabel("x (input pixels)")
    axes[0].set_ylabel("y (input pixels)")
    palette = ListedColormap(plt.get_cmap("tab10" if num_classes <= 10 else "tab20").colors[:num_classes])
    norm = BoundaryNorm([c - 0.5 for c in range(num_classes + 1)], num_classes)
    argmax = result.class_maps[scene].argmax(0).float()
    height, width = canvas.shape[-2:]
    drawn = axes[1].imshow(
        argmax.numpy(),
        cmap=palette,
        norm=norm,
        interpolation="nearest",
        extent=result.geometry.extent(*argmax.shape),
    )
    axes[1].imshow(array, cmap=cmap or "gray", alpha=0.35)  # the scene, faintly, over the classes
    axes[1].set_xlim(-0.5, width - 0.5)
    axes[1].set_ylim(height - 0.5, -0.5)
    axes[1].set_xlabel("x (input pixels)")
    axes[1].set_ylabel("y (input pixels)")
    for item in items:
        top, left, bottom, right = scenes.boxes[item].tolist()
        axes[1].add_patch(
            patches.Rectangle(
                (left - 0.5, top - 0.5),
                right - left + 1,
                bottom - top + 1,
                fill=False,
                edgecolor="white",
                linewidth=1,
            )
        )
    axes[1].set_title(
        f"argmax class per cell ({result.map_size[0]}×{result.map_size[1]} cells, stride "
        f"{result.geometry.stride[0]:g} px, {result.method})",
        fontsize=10,
    )
    bar = fig.colorbar(drawn, ax=axes[1], ticks=range(num_classes), fraction=0.046, pad=0.04)
    bar.ax.set_yticklabels(names, fontsize=8)
    bar.set_label("predicted class")
    fig.suptitle(
        f"Dense prediction on {len(scenes)} scenes: {result.n_hits}/{result.n_items} items "
        f"({result.hit_fraction:.1%}) predicted at their centre; {result.region_hit_fraction:.1%} by the "
        f"mean over each item; {result.item_accuracy:.1%} on the items alone",
        fontsize=10,
    )
    fig.tight_layout()
    return _save(fig, path)


def _draw_box(ax, box: tuple[int, int, int, int], **style) -> None:
    """Outline the inclusive pixel box (top, left, bottom, right) on an image axis."""
    import matplotlib.patches as patches

    top, left, bottom, right = box
    width, height = right - left + 1, bottom - top + 1
    ax.add_patch(patches.Rectangle((left - 0.5, top - 0.5), width, height, fill=False, **style))
