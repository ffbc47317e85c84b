"""A run folder made from user code records the code's absolute path, and says how to re-point it."""

from __future__ import annotations

import json
import shutil

import pytest

from onebyone.cli import main
from onebyone.data import FASHION_MNIST_DIR
from onebyone.errors import OneByOneError
from onebyone.runs import open_run

if not (FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file():
    pytest.skip("Fashion-MNIST not installed", allow_module_level=True)

NET = """from torch import nn


def build():
    layers = [nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10)]
    return nn.Sequential(*layers)
"""


def test_relative_code_path_is_recorded_absolute_and_a_moved_file_names_the_fix(
    tmp_path, monkeypatch, capsys
):
    work = tmp_path / "work"
    (work / "code").mkdir(parents=True)
    (work / "code" / "net.py").write_text(NET)
    monkeypatch.chdir(work)
    argv = ["train", "code/net.py:build", "--data", "fashion-mnist", "--epochs", "1", "--subset", "64"]
    argv += ["--val-size", "0", "--test-size", "32", "--batch-size", "32", "--precision", "fp32"]
    assert main([*argv, "--out", "run", "--no-progress"]) == 0
    recorded = json.loads((work / "run" / "config.json").read_text())["config"]["model"]
    assert recorded == f"{(work / 'code' / 'net.py').resolve()}:build"

    monkeypatch.chdir(tmp_path)  # elsewhere: the absolute path still opens
    assert open_run(work / "run", trust_code=True).model() is not None

    moved = tmp_path / "moved.py"
    shutil.move(work / "code" / "net.py", moved)
    with pytest.raises(
        OneByOneError, match=r"is not there any more; if the code moved, name its new place with "
    ):
        open_run(work / "run", trust_code=True)
    capsys.readouterr()
    assert main(["eval", str(work / "run"), "--trust-code"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--model NEW/PATH/file.py:build" in err
    assert open_run(work / "run", code=f"{moved}:build").model() is not None
