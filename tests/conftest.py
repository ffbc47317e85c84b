"""Settings, markers and fixtures for the whole suite.

Markers: `slow` (more than a few seconds), `gpu` (needs CUDA: skipped on a machine without it).
Fixtures: `tiny_run`, a real trained run folder made once per session (read it, never change it:
copy it with `shutil.copytree` first), and `run_dir`, a fresh path for a run folder to be written.
"""

from __future__ import annotations

import os

import pytest
import torch

# An unexpected exception inside `onebyone.cli.main` raises (with its traceback) instead of becoming the
# one-line "internal error" users see, so a bug shows where it is; tests of that line unset it.
os.environ.setdefault("ONEBYONE_TRACEBACK", "1")
# A stage's progress line is written once the stage has run 2 s, so on a loaded machine a test that
# reads stderr (the one-line errors) would see lines that depend on the machine's speed. The suite
# writes none unless a test sets the delay itself (tests/test_progress.py does).
os.environ.setdefault("ONEBYONE_PROGRESS_AFTER", "600")

TINY_RUN_ARGS = [
    "train", "nin-fashion", "--subset", "256", "--val-size", "64", "--test-size", "200", "--epochs", "1",
    "--batch-size", "32", "--set", "width=0.25", "--no-progress", "--format", "json",
]  # fmt: skip


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A quarter-width nin-fashion trained one epoch on 256 real Fashion-MNIST images; test set of 200."""
    from onebyone.cli import main
    from tests.helpers import HAS_FASHION

    if not HAS_FASHION:
        pytest.skip("Fashion-MNIST not installed")
    out = tmp_path_factory.mktemp("tiny") / "run"
    assert main([*TINY_RUN_ARGS, "--out", str(out)]) == 0
    return out


@pytest.fixture
def run_dir(tmp_path):
    """Where a test's own run folder goes (not yet created)."""
    return tmp_path / "run"
