"""The report's model cache: a folder is used only when complete; a killed report never poisons it."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from onebyone.data import FASHION_MNIST_DIR
from onebyone.report import ReportConfig, build_report
from onebyone.report.cache import MARKER, cached_run, train_into_cache

SETTINGS = {"epochs": 3, "seed": 0}


def fake_training(path):
    path.mkdir(parents=True)
    (path / "model.safetensors").write_bytes(b"weights")


def test_a_trained_folder_is_moved_into_place_with_its_marker(tmp_path):
    final = train_into_cache(tmp_path, "gap-seed0", SETTINGS, fake_training)
    assert final == tmp_path / "gap-seed0" and (final / "model.safetensors").is_file()
    assert json.loads((final / MARKER).read_text()) == SETTINGS
    assert cached_run(tmp_path, "gap-seed0", SETTINGS) == final
    assert [p.name for p in tmp_path.iterdir()] == ["gap-seed0"]  # no partial folder left


def test_other_settings_or_no_marker_mean_no_cache(tmp_path):
    final = train_into_cache(tmp_path, "gap-seed0", SETTINGS, fake_training)
    assert cached_run(tmp_path, "gap-seed0", {**SETTINGS, "epochs": 4}) is None
    (final / MARKER).unlink()  # e.g. a folder written before markers existed, or by hand
    assert cached_run(tmp_path, "gap-seed0", SETTINGS) is None
    (final / MARKER).write_text("{not json")
    assert cached_run(tmp_path, "gap-seed0", SETTINGS) is None


def test_retraining_replaces_an_outdated_folder_and_clears_partial_ones(tmp_path):
    stale = tmp_path / ".partial-gap-seed0-99999"
    stale.mkdir()
    (stale / "config.json").write_text("{}")
    train_into_cache(tmp_path, "gap-seed0", SETTINGS, fake_training)
    newer = {**SETTINGS, "epochs": 5}
    final = train_into_cache(tmp_path, "gap-seed0", newer, fake_training)
    assert json.loads((final / MARKER).read_text()) == newer
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gap-seed0"]


def test_a_failed_training_leaves_no_usable_folder(tmp_path):
    def failing(path):
        path.mkdir()
        raise RuntimeError("diverged")

    with pytest.raises(RuntimeError):
        train_into_cache(tmp_path, "gap-seed0", SETTINGS, failing)
    assert cached_run(tmp_path, "gap-seed0", SETTINGS) is None
    assert not (tmp_path / "gap-seed0").exists()


KILLED_RUN = """
import sys
from onebyone.report import ReportConfig, build_report
build_report(ReportConfig.quick_preset(out=sys.argv[1], seeds=(0,)), only=["C3"])
"""


@pytest.mark.skipif(
    not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file(), reason="Fashion-MNIST not installed"
)
def test_a_report_killed_mid_training_is_retrained_on_the_next_run(tmp_path):
    models = tmp_path / "models"
    process = subprocess.Popen([sys.executable, "-c", KILLED_RUN, str(tmp_path)])
    deadline = time.monotonic() + 120
    try:
        # The training run writes config.json when it starts and its weights only when it ends.
        while not any(models.glob(".partial-gap-seed0-*/config.json")):
            assert process.poll() is None, "the report ended before it was killed"
            assert time.monotonic() < deadline, "no training started within 2 minutes"
            time.sleep(0.01)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert not (models / "gap-seed0").exists()
    assert not any(models.glob(".partial-gap-seed0-*/model.safetensors"))

    config = ReportConfig.quick_preset(out=str(tmp_path), seeds=(0,))
    again = build_report(config, only=["C3"])
    assert not any("loaded from" in note for note in again.notes)  # the half-written folder was not used
    assert sorted(p.name for p in models.iterdir()) == ["gap-seed0", "linear1x1-seed0", "no1x1-seed0"]
    assert (models / "gap-seed0" / MARKER).is_file() and (
        models / "gap-seed0" / "model.safetensors"
    ).is_file()
    third = build_report(config, only=["C3"])
    assert sorted(n.split(":")[0] for n in third.notes) == ["gap-seed0", "linear1x1-seed0", "no1x1-seed0"]
    assert third.claim("C3").tables[1].rows == again.claim("C3").tables[1].rows
