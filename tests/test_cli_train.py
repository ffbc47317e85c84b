"""`onebyone train` and `onebyone eval` on small real subsets, and every error path (exit 2, one line)."""

import gzip
import json
import subprocess
import sys

import pytest
from PIL import Image

from onebyone.cli import main
from onebyone.data import FASHION_MNIST_DIR, load_digits

pytestmark = pytest.mark.skipif(
    not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file(), reason="Fashion-MNIST not installed"
)
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


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


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
