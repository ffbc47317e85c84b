"""Feature-map grids and sparsity by depth."""

from __future__ import annotations

import math
from pathlib import Path

from torch import Tensor

from onebyone.insight.activations import SparsityResult
from onebyone.insight.plots.common import display, pyplot, save, short


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
    plt = pyplot()
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
        array, cmap = display(image)
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
    return save(fig, path)


def plot_sparsity(result: SparsityResult, path: str | Path) -> Path:
    """Fraction of exactly-zero activations and mean activation after each ReLU, against depth."""
    plt = pyplot()
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
        depths, [f"{r.depth}\n{short(r.layer)}" for r in result.rows], rotation=60, ha="right", fontsize=7
    )
    fig.tight_layout()
    return save(fig, path)
