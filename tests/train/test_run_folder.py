"""The run folder through `onebyone train`: one writer, resume from anything an interruption leaves,
settings that must match, --overwrite, and a metrics.jsonl with one row per epoch."""

import json
import os
import subprocess
import sys

import pytest
import torch

from onebyone.cli import main
from onebyone.train.checkpoint import load_weights
from onebyone.train.lock import LOCK_FILE, RunLock
from tests.helpers import one_error_line
from tests.train.small import SMALL_ARGS

RUN_FILES = {"config.json", "metrics.jsonl", "checkpoint.safetensors", "checkpoint.json", "model.safetensors"}


def train_cli(run, *extra: str) -> int:
    return main(["train", "nin-fashion", *SMALL_ARGS, "--epochs", "2", "--out", str(run), *extra])


def metrics(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def untimed(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in ("epoch_seconds", "images_per_second")} for row in rows]


def assert_same_weights(a, b) -> None:
    expected, got = load_weights(a / "model.safetensors"), load_weights(b / "model.safetensors")
    assert expected.keys() == got.keys()
    for name in expected:
        assert torch.equal(expected[name], got[name]), name


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    """An uninterrupted two-epoch run, the reference of every resume."""
    run = tmp_path_factory.mktemp("whole") / "run"
    assert train_cli(run) == 0
    return run


def test_resumes_with_only_out_given_and_keeps_one_row_per_epoch(whole, tmp_path, capsys):
    run = tmp_path / "run"
    assert train_cli(run, "--stop-after-epoch", "1") == 0
    with open(run / "metrics.jsonl", "a") as handle:  # what a kill during an append leaves
        handle.write('{"epoch": 2, "step"')
    # only MODEL and --out: the run's own settings hold
    assert main(["train", "nin-fashion", "--out", str(run), "--resume", "--no-progress"]) == 0
    assert main(["train", "nin-fashion", "--out", str(run), "--resume", "--no-progress"]) == 0  # done: again
    assert_same_weights(whole, run)
    rows = metrics(run)
    assert [row.get("epoch") for row in rows] == [1, 2, None] and rows[-1]["final"] is True
    assert untimed(rows) == untimed(metrics(whole))
    assert {p.name for p in run.iterdir()} == RUN_FILES


def test_resume_of_a_run_killed_before_its_first_checkpoint_starts_it(whole, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_bytes((whole / "config.json").read_bytes())
    (run / "metrics.jsonl").write_text('{"epoch": 1, "st')
    (run / ".checkpoint.safetensors.tmp").write_bytes(b"")  # a kill inside the safetensors write
    (run / LOCK_FILE).write_text(json.dumps({"pid": 2**22 + 1, "host": "x", "since": "then"}))
    assert train_cli(run) == 2  # not a new run: the message says what to do
    err = one_error_line(capsys)
    assert "exists and is not empty" in err and "--resume" in err and "--overwrite" in err
    assert main(["train", "nin-fashion", "--out", str(run), "--resume", "--no-progress"]) == 0
    assert_same_weights(whole, run)
    assert [row.get("epoch") for row in metrics(run)] == [1, 2, None]
    assert {p.name for p in run.iterdir()} == RUN_FILES  # temporary file and stale lock gone


def test_resume_of_an_empty_folder_starts_the_run(whole, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / LOCK_FILE).write_text("")  # killed between creating the folder and writing anything
    assert train_cli(run, "--resume") == 0
    assert_same_weights(whole, run)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (["--epochs", "3"], "epochs 2 → 3"),
        (["--data", "digits"], "data 'fashion-mnist' → 'digits'"),
        (["--set", "width=0.5"], "model_overrides"),
        (["--batch-size", "16"], "batch_size 32 → 16"),
        (["--precision", "fp32"], "precision 'bf16' → 'fp32'"),
    ],
)
def test_resume_with_other_settings_is_refused_naming_them(whole, tmp_path, capsys, change, named):
    run = tmp_path / "run"
    assert train_cli(run, "--stop-after-epoch", "1") == 0
    before = (run / "checkpoint.safetensors").read_bytes()
    capsys.readouterr()
    assert main(["train", "nin-fashion", "--out", str(run), "--resume", "--no-progress", *change]) == 2
    err = one_error_line(capsys)
    assert "cannot resume" in err and named in err and "--overwrite" in err
    assert (run / "checkpoint.safetensors").read_bytes() == before


def test_resume_into_a_run_of_another_model_is_refused(tmp_path, capsys):
    run = tmp_path / "run"
    assert train_cli(run, "--stop-after-epoch", "1") == 0
    capsys.readouterr()
    assert main(["train", "resnet18", "--out", str(run), "--resume", "--no-progress"]) == 2
    assert "model 'nin-fashion' → 'resnet18'" in one_error_line(capsys)


def test_device_progress_stop_and_lr_may_change_on_resume(tmp_path):
    run = tmp_path / "run"
    assert train_cli(run, "--stop-after-epoch", "1") == 0
    assert train_cli(run, "--resume", "--device", "auto", "--lr", "0.05", "--stop-after-epoch", "2") == 0
    rows = metrics(run)
    assert [row.get("epoch") for row in rows] == [1, 2, None]


def test_overwrite_replaces_a_run_but_nothing_else(whole, tmp_path, capsys):
    run = tmp_path / "run"
    assert train_cli(run, "--epochs", "1") == 0
    assert train_cli(run, "--overwrite") == 0
    assert_same_weights(whole, run)
    assert metrics(run)[-1]["final"] is True and len(metrics(run)) == 3
    (run / "notes.txt").write_text("mine")
    capsys.readouterr()  # the runs' epoch lines
    assert train_cli(run, "--overwrite") == 2
    assert "notes.txt" in one_error_line(capsys) and (run / "notes.txt").read_text() == "mine"
    assert train_cli(run, "--overwrite", "--resume") == 2
    assert "give one" in one_error_line(capsys)


def test_a_second_writer_is_refused_naming_the_first(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    with RunLock(run):  # another training holds the folder (flock: a second open conflicts)
        assert train_cli(run) == 2
        err = one_error_line(capsys)
        assert f"is being written by pid {os.getpid()}" in err
        assert {p.name for p in run.iterdir()} == {LOCK_FILE}
    assert not (run / LOCK_FILE).exists()


def test_a_second_process_is_refused_while_the_first_trains(tmp_path):
    run = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from onebyone.train.lock import RunLock; "
         f"lock = RunLock({str(run)!r}); lock.folder.mkdir(); lock.acquire(); print('locked', flush=True); "
         "sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        done = subprocess.run(
            [sys.executable, "-m", "onebyone", "train", "nin-fashion", *SMALL_ARGS, "--out", str(run)],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    finally:
        holder.communicate("", timeout=60)
    assert done.returncode == 2 and f"pid {holder.pid}" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_the_lock_is_released_on_errors_and_a_new_folder_left_out(tmp_path, capsys):
    run = tmp_path / "new" / "run"
    assert train_cli(run, "--data-dir", str(tmp_path / "nope")) == 2  # fails after the lock is taken
    assert "not found" in one_error_line(capsys)
    assert not run.exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    assert train_cli(existing, "--set", "in_channels=3") == 2
    assert "cannot take the images" in one_error_line(capsys)
    assert existing.is_dir() and not any(existing.iterdir())


def test_out_that_cannot_be_a_folder(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert train_cli(tmp_path / "file" / "run") == 2
    assert "cannot create run folder" in one_error_line(capsys)


def test_damaged_config_json_on_resume(tmp_path, capsys):
    run = tmp_path / "run"
    assert train_cli(run, "--stop-after-epoch", "1") == 0
    config = json.loads((run / "config.json").read_text())
    config["config"]["epochs"] = "two"
    (run / "config.json").write_text(json.dumps(config))
    capsys.readouterr()
    assert main(["train", "nin-fashion", "--out", str(run), "--resume", "--no-progress"]) == 2
    assert "epochs must be int, got 'two'" in one_error_line(capsys)
    (run / "config.json").write_text("{")
    assert main(["train", "nin-fashion", "--out", str(run), "--resume", "--no-progress"]) == 2
    assert "unreadable run configuration" in one_error_line(capsys)


def test_a_folder_that_cannot_be_locked_is_found_before_any_work(tmp_path, capsys):
    run = tmp_path / "run"
    (run / LOCK_FILE).mkdir(parents=True)  # the lock cannot be a file there
    assert train_cli(run) == 2
    assert f"cannot write in {str(run)!r}" in one_error_line(capsys)
