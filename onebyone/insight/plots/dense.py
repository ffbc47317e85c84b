"""Dense prediction: class maps over composed scenes and over photos."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from torch import Tensor

from onebyone.insight.dense import DenseResult, PhotoMap, Scenes
from onebyone.insight.plots.common import display, pyplot, save


def _outline(ax, box: Tensor, colour: str, width: float) -> None:
    """Draw an item's box (top, left, bottom, right; inclusive pixel indices) around its pixels."""
    import matplotlib.patches as patches

    top, left, bottom, right = box.tolist()
    ax.add_patch(
        patches.Rectangle(
            (left - 0.5, top - 0.5),
            right - left + 1,
            bottom - top + 1,
            fill=False,
            edgecolor=colour,
            linewidth=width,
        )
    )


def plot_class_map(scenes: Scenes, result: DenseResult, path: str | Path, *, scene: int = 0) -> Path:
    """One composed scene with its items (true → predicted), and the class map's argmax over it."""
    from matplotlib.colors import BoundaryNorm, ListedColormap

    plt = pyplot()
    num_classes = result.class_maps.shape[1]
    names = list(scenes.classes) if scenes.classes else [str(c) for c in range(num_classes)]
    canvas = scenes.canvases[scene]
    fig, axes = plt.subplots(1, 2, figsize=(12.5, 6.0))
    array, cmap = display(canvas)
    axes[0].imshow(array, cmap=cmap)
    items = (scenes.scene_index == scene).nonzero().flatten().tolist()
    for item in items:
        top, left, bottom, right = scenes.boxes[item].tolist()
        truth, guess = int(scenes.labels[item]), int(result.predictions[item])
        colour = "lime" if truth == guess else "red"
        _outline(axes[0], scenes.boxes[item], colour, 1.5)
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
        _outline(axes[1], scenes.boxes[item], "white", 1)
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
    return save(fig, path)


def plot_photo_class_map(
    photo: Tensor, result: PhotoMap, path: str | Path, *, classes: Sequence[str], top: int = 4
) -> Path:
    """The photo, and over it which of the `top` best classes wins each cell of the class map."""
    from matplotlib.colors import BoundaryNorm, ListedColormap

    plt = pyplot()
    chosen = result.top_classes(min(top, result.class_maps.shape[0]))
    shares = result.share(chosen)
    height, width = photo.shape[-2:]
    scale = 6.0 / max(height, width)
    fig, axes = plt.subplots(1, 2, figsize=(2 * width * scale + 2.5, height * scale + 1.2))
    array, cmap = display(photo)
    axes[0].imshow(array, cmap=cmap)
    axes[0].set_title(f"photo as fed ({width}×{height})", fontsize=10)
    palette = ListedColormap(plt.get_cmap("tab10").colors[: len(chosen)])
    norm = BoundaryNorm([c - 0.5 for c in range(len(chosen) + 1)], len(chosen))
    winners = result.class_maps[chosen].argmax(0).float()
    axes[1].imshow(array, cmap=cmap)
    drawn = axes[1].imshow(
        winners.numpy(),
        cmap=palette,
        norm=norm,
        alpha=0.55,
        interpolation="nearest",
        extent=result.geometry.extent(*winners.shape),
    )
    axes[1].set_xlim(-0.5, width - 0.5)
    axes[1].set_ylim(height - 0.5, -0.5)
    h, w = result.class_maps.shape[-2:]
    axes[1].set_title(
        f"best of the top {len(chosen)} classes per cell ({h}×{w} cells, stride "
        f"{result.geometry.stride[0]:g} px, {result.method})",
        fontsize=10,
    )
    for ax in axes:
        ax.set_xlabel("x (input pixels)")
        ax.set_ylabel("y (input pixels)")
    bar = fig.colorbar(drawn, ax=axes[1], ticks=range(len(chosen)), fraction=0.046, pad=0.04)
    labels = [f"{classes[c]} ({share:.0%})" for c, share in zip(chosen, shares, strict=True)]
    bar.ax.set_yticklabels(labels, fontsize=8)
    fig.tight_layout()
    return save(fig, path)
