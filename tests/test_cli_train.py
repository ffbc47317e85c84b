"""`onebyone train` and `onebyone eval` on small real subsets, and every error path (exit 2, one line)."""

import gzip
import json
import subprocess
import sys

import pytest
import torch
from PIL import Image

from onebyone.cli import main
from onebyone.data import FASHION_MNIST_DIR, load_digits
from tests.helpers import needs_fashion, one_error_line

pytestmark = needs_fashion
SMALL = [
    "--subset",
    "128",
    "--val-size",
    "64",
    "--test-size",
    "200",
    "--epochs",
    "1",
    "--batch-size",
    "32",
    "--set",
    "width=0.25",
    "--no-progress",
]


def test_train_then_eval_json_and_png(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "nin-fashion", *SMALL, "--out", str(run), "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["epochs"] == 1 and summary["parameters"] > 0 and 0 <= summary["test_accuracy"] <= 1
    assert main(["eval", str(run), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == 200 and len(report["per_class_accuracy"]) == 10
    assert sum(map(sum, report["confusion_matrix"])) == 200
    assert report["accuracy"] == pytest.approx(summary["test_accuracy"])
    assert (run / "confusion.png").stat().st_size > 1000
    assert main(["eval", str(run)]) == 0  # the rich table
    out = capsys.readouterr().out
    assert "Ankle boot" in out and "confusion matrix" in out


@pytest.mark.parametrize("grouped", [[], ["--grouped"]])
def test_train_seeds_writes_one_ordinary_run_folder_per_seed(tmp_path, capsys, grouped):
    out = tmp_path / "nin"
    argv = ["train", "nin-fashion", *SMALL, "--seeds", "3,5", *grouped, "--out", str(out), "--format", "json"]
    assert main(argv) == 0
    summaries = [json.loads(part) for part in capsys.readouterr().out.replace("}\n{", "}\n\n{").split("\n\n")]
    assert [s["run_dir"] for s in summaries] == [str(out / "seed3"), str(out / "seed5")]
    for seed, summary in zip((3, 5), summaries, strict=True):
        assert main(["eval", str(out / f"seed{seed}"), "--format", "json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["accuracy"] == pytest.approx(summary["test_accuracy"])
        config = json.loads((out / f"seed{seed}" / "config.json").read_text())["config"]
        assert config["seed"] == seed


def test_eval_tta_flip_flag_overrides_the_runs_own_setting(tmp_path, capsys):
    from onebyone.runs import open_run
    from onebyone.train import load_data, predict

    run = tmp_path / "run"
    assert main(["train", "nin-fashion", *SMALL, "--out", str(run)]) == 0
    opened = open_run(run)
    model, config = opened.model(), opened.config
    val = load_data(config).val
    capsys.readouterr()
    for flag, tta in (("--tta-flip", True), ("--no-tta-flip", False)):
        assert main(["eval", str(run), "--split", "val", flag, "--format", "json"]) == 0
        report = json.loads(capsys.readouterr().out)
        expected = (predict(model, val, config, tta=tta) == val.labels).float().mean().item()
        assert report["tta_flip"] is tta and report["accuracy"] == pytest.approx(expected)
    assert main(["eval", str(run), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["tta_flip"] is True  # the run's default: training flipped


def test_resume_a_stopped_run_from_the_command_line(tmp_path, capsys):
    run = str(tmp_path / "run")
    base = ["train", "nin-fashion", *SMALL, "--epochs", "2", "--out", run, "--format", "json"]
    assert main([*base, "--stop-after-epoch", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["stopped_early"] is True
    assert main([*base, "--resume"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["epochs"] == 2 and summary["test_accuracy"] is not None


def test_digits_and_an_image_folder_with_a_broken_file(tmp_path, capsys):
    assert (
        main(
            [
                "train",
                "nin-fashion",
                "--data",
                "digits",
                "--epochs",
                "1",
                "--set",
                "width=0.25",
                "--no-progress",
                "--format",
                "json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["test_accuracy"] is not None
    digits = load_digits("test")
    for index in range(40):
        folder = tmp_path / "images" / f"class{int(digits.labels[index])}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(digits.images[index, 0].numpy()).save(folder / f"{index}.png")
    (tmp_path / "images" / "class0" / "bad.jpg").write_bytes(b"\xff\xd8 truncated jpeg")
    assert (
        main(
            [
                "train",
                "nin-fashion",
                "--data",
                f"folder:{tmp_path / 'images'}",
                "--image-size",
                "16",
                "--epochs",
                "1",
                "--batch-size",
                "8",
                "--set",
                "width=0.25",
                "--no-progress",
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert "bad.jpg" in captured.err and "skipped unreadable image" in captured.err


def test_bad_data_dir(tmp_path, capsys):
    assert main(["train", "nin-fashion", "--data-dir", str(tmp_path / "nope"), *SMALL]) == 2
    assert "not found" in one_error_line(capsys)


def test_corrupt_file_in_data_dir(tmp_path, capsys):
    for name in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ):
        raw = gzip.decompress((FASHION_MNIST_DIR / f"{name}.gz").read_bytes())
        (tmp_path / name).write_bytes(raw if "train-labels" not in name else b"\x00\x00\x08\x01" + raw[4:-7])
    assert main(["train", "nin-fashion", "--data-dir", str(tmp_path), *SMALL]) == 2
    err = one_error_line(capsys)
    assert "train-labels-idx1-ubyte" in err and "truncated" in err


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["train", "no-such-model", *SMALL], "unknown model 'no-such-model'"),
        (["train", "nin-fashion", "--data", "imagenet", *SMALL], "unknown data set 'imagenet'"),
        (["train", "nin-fashion", "--set", "widht=2", *SMALL], "has no option 'widht'"),
        (["train", "nin-fashion", *SMALL, "--epochs", "0"], "epochs must be > 0"),
        (["train", "nin-fashion", *SMALL, "--resume"], "resume needs a run folder"),
        (["train", "nin-fashion", "--data", "folder:/no/such/folder", *SMALL], "not found"),
        (["eval", "/no/such/run"], "run folder '/no/such/run' not found"),
        # numbers refused before any work
        (["train", "nin-fashion", *SMALL, "--image-size", "0"], "image_size must be > 0, got 0"),
        (["train", "nin-fashion", *SMALL, "--image-size", "100000"], "image_size must be at most 1,024"),
        (
            ["train", "nin-fashion", *SMALL, "--seed", str(2**64)],
            "seed must be at most 9,223,372,036,854,775,807",
        ),
        (["train", "nin-fashion", *SMALL, "--seed", "-1"], "seed must be ≥ 0, got -1"),
        (["train", "nin-fashion", *SMALL, "--seed", "9" * 400], "seed must be at most"),
        (["train", "nin-fashion", *SMALL, "--lr", "1e999"], "lr must be a finite number, got inf"),
        (["train", "nin-fashion", *SMALL, "--lr", "nan"], "lr must be a finite number, got nan"),
        (["train", "nin-fashion", *SMALL, "--lr", "-0.1"], "lr must be > 0, got -0.1"),
        (["train", "nin-fashion", *SMALL, "--weight-decay", "-1"], "weight_decay must be ≥ 0, got -1.0"),
        (["train", "nin-fashion", *SMALL, "--weight-decay", "inf"], "weight_decay must be a finite number"),
        (["train", "nin-fashion", *SMALL, "--label-smoothing", "nan"], "label_smoothing must be in [0, 1)"),
        (
            ["train", "nin-fashion", *SMALL, "--batch-size", str(10**30)],
            "batch_size must be at most 2,147,483,647",
        ),
        (["train", "nin-fashion", *SMALL, "--epochs", str(2**31)], "epochs must be at most 2,147,483,647"),
        (["train", "nin-fashion", *SMALL, "--subset", "-5"], "subset must be > 0, got -5"),
        (["train", "nin-fashion", *SMALL, "--val-size", "-1"], "val_size must be ≥ 0, got -1"),
        (["train", "nin-fashion", *SMALL, "--test-size", "0"], "test_size must be > 0, got 0"),
        (["train", "nin-fashion", *SMALL, "--stop-after-epoch", "0"], "stop_after_epoch must be > 0"),
        (["train", "nin-fashion", *SMALL, "--overwrite"], "overwrite needs a run folder (--out)"),
        (["train", "nin-fashion", *SMALL, "--grouped"], "give them with --seeds"),
        (["train", "nin-fashion", *SMALL, "--seeds", "1,x"], "expected a list like 0,1,2,3"),
        (["train", "nin-fashion", *SMALL, "--seeds", "1,1"], "expected distinct seeds"),
        (["train", "nin-fashion", *SMALL, "--seeds", "1,2", "--seed", "3"], "--seeds takes neither"),
        (["train", "nin-fashion", *SMALL, "--seeds", "1,2", "--grouped", "--ema", "0.9"], "does not take"),
        # data and model that cannot make a run
        (["train", "nin-fashion", *SMALL, "--subset", "1"], "has 1 class(es) among its 1 image(s)"),
        (["train", "nin-fashion", *SMALL, "--set", "in_channels=3"], "input shape (1, 1, 28, 28)"),
        (
            ["train", "nin-fashion", *SMALL, "--set", "num_classes=3"],
            "training needs logits of shape (N, 10)",
        ),
        (
            ["train", "nin-fashion", *SMALL, "--set", "num_classes=1000"],
            "training needs logits of shape (N, 10) for the 10 classes",
        ),
        (["train", "nin-fashion", *SMALL, "--seeds", f"1,{2**70}"], "seed must be at most"),
    ],
)
def test_bad_input_exits_2_with_one_line(argv, words, capsys):
    assert main(argv) == 2
    assert words in one_error_line(capsys)


def test_eval_of_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["eval", str(tmp_path)]) == 2
    line = one_error_line(capsys)
    assert "is not a run folder" in line and "config.json (a training run)" in line


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "nin-fashion", "--bogus"],
        ["train", "nin-fashion", "--epochs", "x"],
        ["eval"],
        ["train", "nin-fashion", "--precision", "fp8"],
    ],
)
def test_bad_flags_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    one_error_line(capsys)


def test_real_process_reports_unknown_model_without_traceback():
    done = subprocess.run(
        [sys.executable, "-m", "onebyone", "train", "nin-fashon", "--no-progress"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "did you mean nin-fashion" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_device_cuda_without_cuda_is_one_clear_line(capsys):
    assert main(["train", "nin-fashion", *SMALL, "--device", "cuda"]) == 2
    assert "no CUDA device available" in one_error_line(capsys)


def _image_folder(root, classes: int, images: int = 40):
    digits = load_digits("test")
    for index in range(images):
        folder = root / f"class{index % classes}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(digits.images[index, 0].numpy()).save(folder / f"{index}.png")
    return root


def test_images_too_small_for_the_model_is_one_line_naming_model_and_shape(tmp_path, capsys):
    images = _image_folder(tmp_path / "images", classes=2)
    argv = ["train", "nin-fashion", "--data", f"folder:{images}", "--image-size", "2", "--epochs", "1"]
    assert main([*argv, "--no-progress"]) == 2
    err = one_error_line(capsys)
    assert "model 'nin-fashion' cannot take the images" in err and "(1, 1, 2, 2)" in err


def test_a_one_class_image_folder_is_refused(tmp_path, capsys):
    images = _image_folder(tmp_path / "images", classes=1)
    assert main(["train", "nin-fashion", "--data", f"folder:{images}", "--epochs", "1", "--no-progress"]) == 2
    assert "1 class sub-folder(s)" in one_error_line(capsys)


def test_divergence_saves_nothing_non_finite(tmp_path, capsys):
    """lr 3e38 with weight decay 1000: the first step makes the weights infinite while its loss was
    finite; the end-of-epoch guard stops the run before anything is saved."""
    from safetensors.torch import load_file

    run = tmp_path / "run"
    argv = [
        "train", "nin-fashion", "--subset", "200", "--val-size", "64", "--test-size", "100", "--set",
        "width=0.25", "--batch-size", "4000", "--weight-decay", "1000", "--no-progress", "--out", str(run),
        "--overwrite",
    ]  # fmt: skip
    for epochs in ("1", "3"):
        assert main([*argv, "--lr", "3e38", "--epochs", epochs]) == 2
        err = one_error_line(capsys)
        assert "training diverged" in err and "hold NaN or Inf" in err and "at epoch 1, step 1" in err
        assert "no checkpoint yet" in err
        assert not (run / "model.safetensors").exists() and not (run / "checkpoint.safetensors").exists()
    # after a good epoch (its one step at lr 0.05 / 25), the guard keeps that checkpoint
    assert main([*argv, "--lr", "0.05", "--epochs", "2", "--stop-after-epoch", "1", "--format", "json"]) == 0
    capsys.readouterr()
    before = (run / "checkpoint.safetensors").read_bytes()
    assert main(["train", "nin-fashion", "--out", str(run), "--resume", "--lr", "3e38", "--no-progress"]) == 2
    err = one_error_line(capsys)
    assert "at epoch 2, step 2" in err and "last good checkpoint (epoch 1) kept" in err
    assert (run / "checkpoint.safetensors").read_bytes() == before
    for path in run.glob("*.safetensors"):
        assert all(torch.isfinite(t).all() for t in load_file(str(path)).values() if t.is_floating_point())
