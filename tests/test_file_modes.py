"""Every file a run folder holds gets the mode a plain `open(path, "w")` gives: 0o666 minus the umask.

safetensors writes its files 0o600 on its own; `onebyone.files.atomic_write` sets the mode before the
rename, so weights, checkpoints and JSON records are readable alike (issue 20).
"""

from __future__ import annotations

import os
import stat

import pytest

from onebyone.cli import main
from onebyone.data import FASHION_MNIST_DIR
from onebyone.train import TrainConfig, train

if not (FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file():
    pytest.skip("Fashion-MNIST not installed", allow_module_level=True)

UMASK = 0o027  # not the usual 0o022, so a mode that ignores the umask shows


@pytest.fixture
def umask():
    previous = os.umask(UMASK)
    yield 0o666 & ~UMASK
    os.umask(previous)


def modes(folder) -> dict[str, str]:
    return {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in sorted(folder.iterdir()) if p.is_file()}


def test_training_compressed_and_converted_runs_have_one_file_mode(tmp_path, umask, capsys):
    run, compressed, converted = tmp_path / "run", tmp_path / "compressed", tmp_path / "converted"
    train(TrainConfig(
        model="nin-fashion", model_overrides={"width": 0.25, "head": "fc"}, epochs=1, subset=64, val_size=0,
        test_size=32, batch_size=32, out=str(run), progress=False, precision="fp32",
    ))  # fmt: skip
    assert (
        main(
            [
                "compress",
                str(run),
                "--budget",
                "0.9",
                "--finetune-epochs",
                "0",
                "--batch",
                "1",
                "--repeats",
                "1",
                "--out",
                str(compressed),
                "--format",
                "json",
            ]
        )
        == 0
    )
    assert main(["convert", "fc2conv", str(run), "--out", str(converted), "--format", "json"]) == 0
    assert main(["eval", str(run), "--format", "json"]) == 0  # adds confusion.png
    found = {
        **{f"run/{k}": v for k, v in modes(run).items()},
        **{f"compressed/{k}": v for k, v in modes(compressed).items()},
        **{f"converted/{k}": v for k, v in modes(converted).items()},
    }
    assert {
        "run/model.safetensors",
        "run/checkpoint.safetensors",
        "run/config.json",
        "run/confusion.png",
        "compressed/model.safetensors",
        "compressed/factorized.json",
        "converted/model.safetensors",
        "converted/fc2conv.json",
    } <= set(found)
    assert found == dict.fromkeys(found, oct(umask))
