"""What every plot shares: the Agg backend, image display, saving, map overlays, boxes."""

from __future__ import annotations

from pathlib import Path

from torch import Tensor

from onebyone.files import save_figure
from onebyone.insight.boxes import MapGeometry


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def display(image: Tensor) -> tuple:
    """(array, cmap) for imshow from a (C, H, W) image of any range."""
    image = image.detach().float().cpu()
    low, high = image.min(), image.max()
    image = (image - low) / (high - low) if high > low else image * 0
    if image.shape[0] == 1:
        return image[0].numpy(), "gray"
    return image[:3].permute(1, 2, 0).numpy(), None


def save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path, dpi=110, bbox_inches="tight")  # atomic; the format its suffix names
    pyplot().close(fig)
    return path


def short(layer: str) -> str:
    return layer.removeprefix("features.").removeprefix("module.")


def overlay(ax, image: Tensor, values: Tensor, geometry: MapGeometry, cmap: str, **imshow):
    """The input in grey with a map of cells on it; returns the map's image for a colour bar."""
    array, image_cmap = display(image)
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


def draw_box(ax, box: tuple[float, float, float, float], **style) -> None:
    """Outline the inclusive pixel box (top, left, bottom, right) on an image axis."""
    import matplotlib.patches as patches

    top, left, bottom, right = box
    width, height = right - left + 1, bottom - top + 1
    ax.add_patch(patches.Rectangle((left - 0.5, top - 0.5), width, height, fill=False, **style))
