"""`onebyone inspect ...` and `onebyone convert fc2conv` on a small trained run: PNGs written, JSON
matching the library, and every error path as one line with exit code 2."""

import json

import pytest
import torch
from PIL import Image

from onebyone.cli import main
from onebyone.runs import open_run
from tests.helpers import needs_fashion, one_error_line

pytestmark = needs_fashion


def is_png(path) -> bool:
    with Image.open(path) as image:
        return image.format == "PNG" and min(image.size) > 200


@pytest.fixture
def run(tiny_run):
    """The session's tiny trained run (tests/conftest.py); read, never changed."""
    return tiny_run


def inspect_json(capsys, *args) -> dict:
    capsys.readouterr()
    assert main(["inspect", *args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_feature_maps_of_three_relus(run, capsys):
    report = inspect_json(capsys, "feature-maps", str(run), "--index", "5")
    assert [layer["layer"] for layer in report["layers"]] == [
        "features.stage1.conv.act",
        "features.stage2.pointwise1.act",
        "features.stage3.pointwise2.act",
    ]
    assert report["layers"][0]["shape"] == [24, 28, 28] and report["label"] is not None
    assert all(is_png(layer["png"]) for layer in report["layers"])


def test_feature_maps_of_a_user_image_and_one_layer(run, tmp_path, capsys):
    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (50, 40), (200, 30, 30)).save(photo)
    out = tmp_path / "maps.png"
    report = inspect_json(
        capsys, "feature-maps", str(run), "--image", str(photo), "--layer", "features.stage2"
    )
    assert report["image"] == str(photo) and report["layers"][0]["shape"] == [32, 14, 14]
    main(
        [
            "inspect",
            "feature-maps",
            str(run),
            "--image",
            str(photo),
            "--layer",
            "features.stage2",
            "--out",
            str(out),
        ]
    )
    assert is_png(out)


def test_sparsity_table_and_plot(run, capsys):
    report = inspect_json(capsys, "sparsity", str(run), "--images", "100", "--batch-size", "30")
    assert report["images"] == 100 and len(report["rows"]) == 9
    assert all(0 < row["zero_fraction"] < 1 for row in report["rows"])
    assert is_png(report["png"])
    assert main(["inspect", "sparsity", str(run), "--images", "100"]) == 0
    assert "slope of the zero fraction" in capsys.readouterr().out


def test_an_out_path_is_written_as_named_or_refused(run, capsys, tmp_path):
    """No suffix added behind the user's back (issue 27): a bare name is refused, before any work."""
    bare = str(tmp_path / "bare")
    assert main(["inspect", "sparsity", str(run), "--images", "30", "--out", bare]) == 2
    assert f"output file {bare!r} has no suffix" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
    report = inspect_json(capsys, "sparsity", str(run), "--images", "30", "--out", str(tmp_path / "s.png"))
    assert report["png"] == str(tmp_path / "s.png") and is_png(tmp_path / "s.png")


def test_cam_scores_are_the_model_logits(run, capsys):
    report = inspect_json(capsys, "cam", str(run), "--index", "2", "--top", "10")
    assert report["map_size"] == [7, 7] and report["map_stride"] == [4.0, 4.0]
    probabilities = [t["probability"] for t in report["top"]]
    assert probabilities == sorted(probabilities, reverse=True)
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-5)
    assert is_png(report["png"])


def test_box_is_the_profiled_field(run, capsys):
    report = inspect_json(capsys, "box", str(run), "--index", "0", "--layer", "features.stage2")
    # stage 2 of nin-fashion: 5×5 conv, 3/2 pool, 5×5 conv … the profiler's numbers, per axis
    capsys.readouterr()
    assert main(["profile", "nin-fashion", "--set", "width=0.25", "--format", "json"]) == 0
    rows = {row["path"]: row for row in json.loads(capsys.readouterr().out)["rows"]}
    axes = rows["features.stage2"]["receptive_field"]["axes"]
    assert report["field_size"] == [axes[0]["size"], axes[1]["size"]]
    assert report["stride"] == [axes[0]["stride"], axes[1]["stride"]]
    assert report["centre"] == [
        axes[0]["start"] + report["y"] * axes[0]["stride"],
        axes[1]["start"] + report["x"] * axes[1]["stride"],
    ]
    assert is_png(report["png"])


def test_dense_prediction_on_scenes(run, capsys):
    report = inspect_json(capsys, "dense", str(run), "--scenes", "10", "--items", "4", "--canvas", "84")
    assert report["n_items"] == 40 and report["method"] == "class activation maps"
    assert report["map_size"] == [21, 21] and 0 <= report["hit_fraction"] <= 1
    assert is_png(report["png"])


def test_convert_fc2conv_round_trip(tmp_path, capsys):
    out = tmp_path / "conv"
    capsys.readouterr()
    assert (
        main(
            [
                "convert",
                "fc2conv",
                "nin-fashion",
                "--set",
                "head=fc",
                "--set",
                "width=0.25",
                "--out",
                str(out),
                "--format",
                "json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["layers"][0]["after"] == "Conv2d(32 → 10, 7×7)"
    assert report["max_abs_difference"] < 1e-5 and report["larger_output_shape"] == [1, 10, 8, 8]
    model = open_run(out).model()
    with torch.no_grad():
        assert model(torch.zeros(1, 1, 28, 28)).shape == (1, 10)
        assert model(torch.zeros(1, 1, 56, 56)).shape == (1, 10, 8, 8)
    assert main(["convert", "fc2conv", "nin-fashion", "--set", "head=fc", "--out", str(out)]) == 2
    assert "not empty" in one_error_line(capsys)


def test_convert_a_trained_run_keeps_its_weights(run, tmp_path, capsys):
    assert main(["convert", "fc2conv", str(run), "--out", str(tmp_path / "c")]) == 2
    assert "no nn.Linear layer" in one_error_line(capsys)  # a GAP NIN is fully convolutional already


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["inspect", "cam", "nin-fashion", "--set", "head=fc"], "no global-average-pooling head"),
        (["inspect", "box", "{run}", "--layer", "nope"], "nope"),
        (["inspect", "feature-maps", "{run}", "--index", "200"], "--index must be in 0..199"),
        (["inspect", "feature-maps", "{run}", "--image", "{missing}"], "not found"),
        (["inspect", "feature-maps", "{run}", "--image", "{corrupt}"], "cannot read image"),
        (["inspect", "feature-maps", "{run}", "--max-tiles", "1"], "--max-tiles"),
        (["inspect", "sparsity", "{run}", "--images", "0"], "must be ≥ 1"),
        (["inspect", "dense", "{run}", "--scenes", "60"], "need 240 test images"),
        (["inspect", "dense", "{run}", "--scenes", "2", "--canvas", "30"], "holds 0 items"),
        (["inspect", "cam", "no-such-model"], "no-such-model"),
        (["inspect", "sparsity", "resnet18"], "has no data set"),
        (["convert", "fc2conv", "no-such-model", "--out", "{tmp}/x"], "no-such-model"),
    ],
)
def test_errors_are_one_line(run, tmp_path, capsys, args, message):
    corrupt = tmp_path / "bad.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    values = {
        "run": str(run),
        "missing": str(tmp_path / "none.png"),
        "corrupt": str(corrupt),
        "tmp": str(tmp_path),
    }
    argv = [a.format(**values) for a in args]
    assert main(argv) == 2
    assert message in one_error_line(capsys)


def test_bad_flag_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["inspect", "cam"])
    assert exit_info.value.code == 2
