"""report.photos: the counting behind the EfficientNet-Lite0 parts of C9 and C14 on hand-built class
maps, the views of a photo, and the reason given when something is not installed."""

import importlib.util

import pytest
import torch
from PIL import Image

from onebyone.report.photos import (
    REQUIRED,
    Unavailable,
    count_hits,
    halves_named,
    missing,
    peaks_in_own_half,
    views_of,
)

CENTRES = torch.tensor([16.0, 48.0, 80.0, 112.0])  # a 1×4 or 2×4 map over a 128-pixel-wide collage
MIDDLE = 64.0


def test_a_peak_counts_when_it_lies_in_the_half_of_its_photo():
    classes = torch.tensor([[0, 1], [2, 3], [1, 0]])  # (left photo's class, right photo's class)
    maps = torch.zeros(3, 4, 2, 4)  # (collages, classes, rows, columns)
    maps[0, 0, 1, 1] = 5.0  # class 0 (left) peaks in column 1, second row: left half, a hit
    maps[0, 1, 0, 3] = 5.0  # class 1 (right) peaks in column 3: a hit
    maps[1, 2, 0, 2] = 5.0  # the left photo's class peaks on the right: a miss
    maps[1, 3, 1, 0] = 5.0  # the right photo's class peaks on the left: a miss
    maps[2, 1, 0, 0] = 5.0  # a hit
    maps[2, 0, 0, 1] = 5.0  # the right photo's class peaks on the left: a miss
    hits = peaks_in_own_half(maps, classes, CENTRES, MIDDLE)
    assert hits.tolist() == [[True, True], [False, False], [True, False]]
    assert count_hits(hits) == (3, 6)


def test_a_half_is_named_by_the_top_class_of_its_mean_map():
    classes = torch.tensor([[0, 1], [1, 2]])
    maps = torch.zeros(2, 3, 1, 4)
    maps[0, 0, 0, :2] = 1.0  # left: class 0 on average; right: class 1 in one column only, still its best
    maps[0, 1, 0, 3] = 1.0
    maps[1, 2, 0, :] = 2.0  # class 2 everywhere: the left half (class 1) is named wrongly
    maps[1, 1, 0, 0] = 3.0  # class 1 wins column 0 but not the left half's mean (1.5 against 2.0)
    left, right = torch.tensor([0, 1]), torch.tensor([2, 3])
    named = halves_named(maps, classes, left, right)
    assert named.tolist() == [[True, True], [False, True]]
    assert count_hits(named) == (3, 4)


def test_views_are_the_photo_its_corner_crops_and_their_mirror_images():
    pixels = torch.arange(200 * 300 * 3, dtype=torch.int64).remainder(251).to(torch.uint8)
    image = Image.fromarray(pixels.reshape(200, 300, 3).numpy())
    views = views_of(image, 10)
    assert [v.size for v in views] == [(300, 200)] * 2 + [(170, 170)] * 8  # 85% of the shorter side
    assert views[1].tobytes() == image.transpose(Image.Transpose.FLIP_LEFT_RIGHT).tobytes()
    assert views[2].tobytes() == image.crop((0, 0, 170, 170)).tobytes()  # top-left corner first
    assert views[4].tobytes() == image.crop((130, 30, 300, 200)).tobytes()  # then bottom-right
    assert [v.size for v in views_of(image, 2)] == [(300, 200)] * 2


def test_a_missing_package_is_named_with_the_command_that_installs_it():
    reason = missing({"no-such-weights-package": "no_such_weights_package"})
    assert isinstance(reason, Unavailable)
    assert reason.reason == (
        "not measured: no-such-weights-package is not installed (pip install no-such-weights-package, "
        "or pip install 'onebyone[dev]')"
    )


@pytest.mark.skipif(
    any(importlib.util.find_spec(module) is None for module in REQUIRED.values()),
    reason=f"one of {', '.join(REQUIRED)} is not installed (the dev extra installs them)",
)
def test_with_everything_installed_nothing_is_missing():
    assert missing() is None
