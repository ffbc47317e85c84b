"""Dense prediction, measured: a classifier run on a scene of several objects (claim C9).

`compose_scenes` places real test images on a larger blank canvas, one per cell of a grid, at a
random offset inside the cell. `dense_prediction` runs a network that returns a class map on the
scenes (a GAP network natively, any other after `fc_to_conv`) and asks, for each placed item,
whether the map predicts the item's class where the item is. Map cells are placed on the input
with the profiler's receptive field: cell (i, j) is centred at start + (i, j)·stride.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from onebyone.errors import OneByOneError
from onebyone.insight.boxes import MapGeometry, output_geometry
from onebyone.insight.cam import class_map_network
from onebyone.profiling.probe import check_input_shape, probe_forward
from onebyone.train.config import MAX_SEED


@dataclass
class Scenes:
    """Canvases with items on them; boxes are (top, left, bottom, right), inclusive."""

    canvases: Tensor  # (S, C, H, W), the dtype of the images given
    labels: Tensor  # (M,) int64, one per item
    boxes: Tensor  # (M, 4) int64
    scene_index: Tensor  # (M,) which canvas each item is on
    item_images: Tensor  # (M, C, h, w), the items as they were given
    classes: tuple[str, ...] = ()

    def __len__(self) -> int:
        return self.canvases.shape[0]

    @property
    def item_size(self) -> tuple[int, int]:
        height, width = self.item_images.shape[-2:]
        return height, width

    @property
    def canvas_size(self) -> tuple[int, int]:
        height, width = self.canvases.shape[-2:]
        return height, width


def compose_scenes(
    images: Tensor,
    labels: Tensor,
    *,
    canvas: int | tuple[int, int] = 144,
    items_per_scene: int = 4,
    gap: int = 4,
    seed: int = 0,
    classes: tuple[str, ...] = (),
) -> Scenes:
    """Scenes of `items_per_scene` images each, in order: scene s holds images s·k … s·k + k − 1.

    The canvas is cut into a grid of cells at least one image plus `gap` large; each item goes into
    its own randomly chosen cell at a random offset inside it, at least `gap` pixels from any other
    item. The background is 0 (black, as in Fashion-MNIST); preprocess the canvases like single
    images afterwards.

    Args:
        images: (N, C, h, w) real images (uint8 or float).
        labels: (N,) class indices.
        canvas: canvas side, or (height, width).
        items_per_scene: items per canvas, at most the number of grid cells.
        gap: least number of background pixels between two items.
        seed: seeds the cells and offsets.
        classes: class names, carried along for plots.
    """
    if images.dim() != 4 or labels.shape != images.shape[:1]:
        raise OneByOneError(
            f"need images (N, C, h, w) and labels (N,), got {tuple(images.shape)} and {tuple(labels.shape)}"
        )
    height, width = (canvas, canvas) if isinstance(canvas, int) else canvas
    item_h, item_w = images.shape[-2:]
    if gap < 0:
        raise OneByOneError(f"gap must be ≥ 0, got {gap}")
    if not 0 <= seed <= MAX_SEED:
        raise OneByOneError(f"seed must be from 0 to {MAX_SEED:,}, got {seed:,}")
    rows, cols = height // (item_h + gap), width // (item_w + gap)
    if rows * cols < 1 or items_per_scene < 1 or items_per_scene > rows * cols:
        raise OneByOneError(
            f"a {height}×{width} canvas holds {rows * cols} items of {item_h}×{item_w} at least {gap} px "
            f"apart; asked for {items_per_scene} per scene"
        )
    n_scenes = images.shape[0] // items_per_scene
    if n_scenes < 1:
        raise OneByOneError(f"{images.shape[0]} images make no scene of {items_per_scene} items")
    cell_h, cell_w = height // rows, width // cols
    check_input_shape((n_scenes, images.shape[1], height, width), "scenes", dtype=images.dtype)
    generator = torch.Generator().manual_seed(seed)
    canvases = images.new_zeros((n_scenes, images.shape[1], height, width))
    boxes, scene_index = [], []
    for scene in range(n_scenes):
        cells = torch.randperm(rows * cols, generator=generator)[:items_per_scene].tolist()
        for slot, cell in enumerate(cells):
            item = scene * items_per_scene + slot
            # gap // 2 free pixels at the cell's start and gap − gap // 2 at its end, at least
            dy = gap // 2 + int(torch.randint(cell_h - item_h - gap + 1, (1,), generator=generator))
            dx = gap // 2 + int(torch.randint(cell_w - item_w - gap + 1, (1,), generator=generator))
            top, left = (cell // cols) * cell_h + dy, (cell % cols) * cell_w + dx
            canvases[scene, :, top : top + item_h, left : left + item_w] = images[item]
            boxes.append((top, left, top + item_h - 1, left + item_w - 1))
            scene_index.append(scene)
    used = n_scenes * items_per_scene
    return Scenes(
        canvases=canvases,
        labels=labels[:used].clone().long(),
        boxes=torch.tensor(boxes, dtype=torch.long),
        scene_index=torch.tensor(scene_index, dtype=torch.long),
        item_images=images[:used].clone(),
        classes=tuple(classes),
    )


@dataclass
class DenseResult:
    """How often a class map predicts each item's class at the item.

    `hit_fraction`: the map cell(s) whose field centre is nearest the item's centre (ties averaged)
    have the item's class as argmax. `region_hit_fraction`: the mean of the map over every cell
    centred inside the item's box does (for a GAP network this is its own pooling, over the item).
    `item_accuracy`: the same network's accuracy on the items alone, for comparison.
    """

    hit_fraction: float
    n_items: int
    n_hits: int
    region_hit_fraction: float
    item_accuracy: float
    method: str  # "class activation maps" (GAP network) or "fc_to_conv"
    map_size: tuple[int, int]  # (h, w) cells per scene
    geometry: MapGeometry  # where the cells sit on the canvas
    predictions: Tensor  # (M,) class at the item's centre
    region_predictions: Tensor  # (M,) class of the mean over the item's cells
    labels: Tensor  # (M,)
    class_maps: Tensor = field(repr=False)  # (S, num_classes, h, w)

    def to_dict(self) -> dict:
        return {
            "hit_fraction": self.hit_fraction,
            "n_items": self.n_items,
            "n_hits": self.n_hits,
            "region_hit_fraction": self.region_hit_fraction,
            "item_accuracy": self.item_accuracy,
            "method": self.method,
            "map_size": list(self.map_size),
            "map_start": list(self.geometry.start),
            "map_stride": list(self.geometry.stride),
            "field_size": list(self.geometry.field_size),
        }


def _default_preprocess(images: Tensor) -> Tensor:
    return images.float() / 255.0 if images.dtype == torch.uint8 else images.float()


def dense_prediction(
    model: nn.Module,
    scenes: Scenes,
    *,
    preprocess: Callable[[Tensor], Tensor] | None = None,
    batch_size: int = 32,
) -> DenseResult:
    """Run `model` as a dense predictor on `scenes` and score every item (see `DenseResult`).

    Args:
        model: a GAP network (used as is) or a network with linear layers, converted with
            `fc_to_conv` at the item size (the size it was built for).
        scenes: from `compose_scenes`.
        preprocess: maps canvases and items to model inputs (default: uint8 / 255).
        batch_size: scenes per forward pass.
    """
    preprocess = preprocess or _default_preprocess
    channels = scenes.canvases.shape[1]
    probe = probe_forward(model, (1, channels, *scenes.item_size))
    batch_size = max(1, min(batch_size, len(scenes)))
    canvas = "×".join(map(str, scenes.canvas_size))
    probe.check_batch(
        batch_size, f"{type(model).__name__} on {batch_size} canvases of {canvas}", area=scenes.canvas_size
    )
    network, method = class_map_network(model, (1, channels, *scenes.item_size))
    network.eval()
    with torch.no_grad():
        maps = torch.cat(
            [
                network(preprocess(scenes.canvases[i : i + batch_size]))
                for i in range(0, len(scenes), batch_size)
            ]
        ).float()  # (S, num_classes, h, w)
    if maps.dim() != 4:
        raise OneByOneError(
            f"{type(model).__name__} gives no class map on a {'×'.join(map(str, scenes.canvas_size))} canvas "
            f"(output {tuple(maps.shape)}); use a larger canvas"
        )
    geometry = output_geometry(network, (1, channels, *scenes.canvas_size))
    centres_y = geometry.start[0] + geometry.stride[0] * torch.arange(maps.shape[2], dtype=torch.float64)
    centres_x = geometry.start[1] + geometry.stride[1] * torch.arange(maps.shape[3], dtype=torch.float64)
    predictions, region_predictions = [], []
    for box, scene in zip(scenes.boxes.tolist(), scenes.scene_index.tolist(), strict=True):
        top, left, bottom, right = box
        rows = _nearest(centres_y, (top + bottom) / 2)
        cols = _nearest(centres_x, (left + right) / 2)
        scores = maps[scene][:, rows][:, :, cols].mean((1, 2))  # (num_classes,)
        predictions.append(int(scores.argmax()))
        inside_y = ((centres_y >= top) & (centres_y <= bottom)).nonzero().flatten()
        inside_x = ((centres_x >= left) & (centres_x <= right)).nonzero().flatten()
        if len(inside_y) == 0 or len(inside_x) == 0:  # cells coarser than an item: the nearest one
            inside_y, inside_x = rows, cols
        region = maps[scene][:, inside_y][:, :, inside_x].mean((1, 2))
        region_predictions.append(int(region.argmax()))
    predictions_t = torch.tensor(predictions, dtype=torch.long)
    region_t = torch.tensor(region_predictions, dtype=torch.long)
    training = model.training
    try:
        with torch.no_grad():
            item_predictions = model.eval()(preprocess(scenes.item_images)).argmax(1)
    finally:
        model.train(training)
    hits = int((predictions_t == scenes.labels).sum())
    n_items = len(scenes.labels)
    return DenseResult(
        hit_fraction=hits / n_items,
        n_items=n_items,
        n_hits=hits,
        region_hit_fraction=float((region_t == scenes.labels).float().mean()),
        item_accuracy=float((item_predictions == scenes.labels).float().mean()),
        method=method,
        map_size=(maps.shape[-2], maps.shape[-1]),
        geometry=geometry,
        predictions=predictions_t,
        region_predictions=region_t,
        labels=scenes.labels,
        class_maps=maps,
    )


def _nearest(centres: Tensor, position: float) -> Tensor:
    """Indices of the cells whose centres are nearest `position` (two on a tie)."""
    distance = (centres - position).abs()
    return (distance <= distance.min() + 1e-9).nonzero().flatten()


@dataclass
class PhotoMap:
    """A class map over a whole photo: one score per class for every window the network sees."""

    class_maps: Tensor  # (num_classes, h, w)
    geometry: MapGeometry
    method: str  # "class activation maps" (a GAP head read as a 1×1 conv) or "fc_to_conv"
    input_shape: tuple[int, ...]  # (1, C, H, W) of the photo as fed

    def top_classes(self, count: int) -> list[int]:
        """The classes with the highest mean score over the map, best first."""
        return self.class_maps.mean((1, 2)).argsort(descending=True)[:count].tolist()

    def share(self, classes: list[int]) -> list[float]:
        """Fraction of the map's cells whose best class, among `classes`, is each of them."""
        winners = self.class_maps[classes].argmax(0)
        return [float((winners == i).float().mean()) for i in range(len(classes))]

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "input_shape": list(self.input_shape),
            "map_size": list(self.class_maps.shape[-2:]),
            "map_stride": list(self.geometry.stride),
        }


def photo_class_map(model: nn.Module, photo: Tensor, design_shape: tuple[int, ...]) -> PhotoMap:
    """Run `model` over a whole (1, C, H, W) preprocessed photo larger than the `design_shape` it was
    built for, as a dense predictor: its GAP + linear head read as a 1×1 conv at every position, or
    its linear layers converted with `fc_to_conv` (claim C9)."""
    if photo.dim() != 4 or photo.shape[0] != 1 or not photo.is_floating_point():
        raise OneByOneError(f"photo must be a float (1, C, H, W) tensor, got {tuple(photo.shape)}")
    if any(p < d for p, d in zip(photo.shape[2:], design_shape[-2:], strict=True)):
        raise OneByOneError(
            f"a {'×'.join(map(str, photo.shape[2:]))} photo is smaller than the "
            f"{'×'.join(map(str, design_shape[-2:]))} the network was built for"
        )
    probe = probe_forward(model, design_shape)
    probe.check_batch(
        1,
        f"{type(model).__name__} on a {'×'.join(map(str, photo.shape[2:]))} photo",
        area=(photo.shape[2], photo.shape[3]),
    )
    network, method = class_map_network(model, design_shape)
    network.eval()
    with torch.no_grad():
        maps = network(photo).float()
    if maps.dim() != 4:
        raise OneByOneError(f"{type(model).__name__} gives no class map (output {tuple(maps.shape)})")
    geometry = output_geometry(network, tuple(photo.shape))
    return PhotoMap(maps[0], geometry, method, tuple(photo.shape))
