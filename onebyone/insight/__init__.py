"""See inside a trained network: feature maps, sparsity by depth, class activation maps,
receptive-field boxes and dense prediction on composed scenes (claims C9, C13, C14).

Measuring returns plain dataclasses and tensors; `onebyone.insight.plots` draws them as PNGs.

    acts = capture_activations(model, images)            # {activation: (N, C, h, w)}, F.relu too
    result = measure_sparsity(model, test_images)        # SparsityResult: rows by depth
    cams = class_activation_maps(model, images)          # (N, num_classes, h, w)
    box = strongest_unit_box(model, image, "features.stage3")
    scenes = compose_scenes(test.images[:400], test.labels[:400], canvas=112, items_per_scene=4)
    dense = dense_prediction(model, scenes, preprocess=...)   # DenseResult(hit_fraction, ...)
"""

from onebyone.data.photos import load_image
from onebyone.insight.activations import (
    SparsityResult,
    SparsityRow,
    capture_activations,
    measure_sparsity,
    relu_layers,
)
from onebyone.insight.boxes import UnitBox, strongest_unit_box
from onebyone.insight.cam import class_activation_maps, class_map_network, gap_class_map_network
from onebyone.insight.dense import (
    DenseResult,
    PhotoMap,
    Scenes,
    compose_scenes,
    dense_prediction,
    photo_class_map,
)

__all__ = [
    "DenseResult",
    "PhotoMap",
    "Scenes",
    "SparsityResult",
    "SparsityRow",
    "UnitBox",
    "capture_activations",
    "class_activation_maps",
    "class_map_network",
    "compose_scenes",
    "dense_prediction",
    "gap_class_map_network",
    "load_image",
    "measure_sparsity",
    "photo_class_map",
    "relu_layers",
    "strongest_unit_box",
]
