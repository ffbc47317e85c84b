"""Outputs, flags and signals (issue 27): what the surroundings do to a command, as a shell sees it.

Each case here needs a real process or a special file, so it is not a row of test_cli_bad_input.py's
table: SIGTERM during training, an ASCII-only output encoding, stdout on a full device, a reader that
goes away, and outputs that are a FIFO or a character device (written through, never replaced).
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from onebyone.cli import main
from onebyone.errors import OneByOneError
from onebyone.files import atomic_write, atomic_write_text, check_output_file, temporary_path

ROOT = Path(__file__).resolve().parents[1]


def onebyone(*args: str, cwd: Path, env: dict | None = None, **popen) -> subprocess.Popen:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    environment.pop("ONEBYONE_TRACEBACK", None)  # as a user runs it
    return subprocess.Popen(
        [sys.executable, "-m", "onebyone", *args], cwd=cwd, env=environment, text=True, **popen
    )


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_sigterm_during_training_ends_like_ctrl_c(tmp_path):
    """One line, exit 143, the lock released, no temporary file, and every JSON file whole."""
    run = tmp_path / "run"
    process = onebyone(
        "train", "nin-fashion", "--set", "width=0.25", "--epochs", "30", "--subset", "2000",
        "--val-size", "0", "--test-size", "32", "--batch-size", "32", "--out", str(run), "--no-progress",
        "--precision", "fp32",
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (run / "metrics.jsonl").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # the run has started writing: its lock is held
    assert process.poll() is None and (run / ".lock").exists(), "training ended before it could be stopped"
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    assert one_line(err) == "onebyone: terminated" and out == ""
    names = sorted(p.name for p in run.iterdir())
    assert ".lock" not in names and not any(n.endswith(".tmp") for n in names), names
    json.loads((run / "config.json").read_text())
    for line in (run / "metrics.jsonl").read_text().splitlines():
        json.loads(line)


def test_an_ascii_terminal_gets_ascii_stand_ins(tmp_path):
    """PYTHONIOENCODING=ascii: × and the table's box lines degrade; nothing crashes."""
    process = onebyone(
        "profile", "nin-fashion", "--depth", "1", cwd=tmp_path,
        env={"PYTHONIOENCODING": "ascii", "COLUMNS": "200"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0 and err == "", err
    assert "nin-fashion at 1x1x28x28" in out and out.isascii()
    errors = onebyone(
        "profile", "nin-fashion", "--batch", "0", cwd=tmp_path, env={"PYTHONIOENCODING": "ascii"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    out, err = errors.communicate(timeout=120)
    assert errors.returncode == 2 and one_line(err) == "onebyone: error: --batch must be 1 or more, got 0"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
@pytest.mark.parametrize("output", ["table", "json"])
def test_stdout_on_a_full_device_is_one_line_and_exit_2(tmp_path, output):
    with open("/dev/full", "w") as full:
        process = onebyone(
            "profile", "nin-fashion", "--format", output, cwd=tmp_path, stdout=full, stderr=subprocess.PIPE
        )
        _, err = process.communicate(timeout=120)
    assert process.returncode == 2
    assert one_line(err) == "onebyone: error: cannot write: No space left on device"


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path):
    """`onebyone profile … | head`: exit 141 (SIGPIPE's), nothing on stderr, rich's exit 1 included."""
    process = onebyone("profile", "nin-fashion", cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # before the command has imported torch, so its first write finds no reader
    err = process.stderr.read()
    assert process.wait(timeout=120) == 141 and err == "", err


class FifoReader:
    """A FIFO at `path` and a thread reading everything written into it."""

    def __init__(self, path: Path) -> None:
        os.mkfifo(path)
        self.path, self.data = path, b""
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        with open(self.path, "rb") as fifo:
            self.data = fifo.read()

    def join(self) -> bytes:
        self.thread.join(timeout=60)
        return self.data


def test_a_fifo_output_is_written_through_and_stays_a_fifo(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    fifo = FifoReader(tmp_path / "onnx")
    assert (
        main(["export", "nin-fashion", "--set", "width=0.25", "--onnx", str(fifo.path), "--format", "json"])
        == 0
    )
    data = fifo.join()
    report = json.loads(capsys.readouterr().out)
    assert report["path"] == str(fifo.path) and report["file_bytes"] == len(data) > 1000
    assert report["max_abs_diff"] is None or report["max_abs_diff"] < 1e-4  # checked from the bytes sent
    assert stat.S_ISFIFO(os.stat(fifo.path).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["onnx"]  # no temporary beside it

    plot = FifoReader(tmp_path / "plot")
    assert main(["inspect", "cam", "nin-fashion", "--set", "width=0.25", "--out", str(plot.path)]) == 0
    assert plot.join().startswith(b"\x89PNG\r\n\x1a\n")  # a device gets PNG
    assert stat.S_ISFIFO(os.stat(plot.path).st_mode)


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")
def test_a_character_device_output_is_written_through_not_replaced(tmp_path):
    device = tmp_path / "null"
    os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # a private /dev/null
    assert main(["export", "nin-fashion", "--set", "width=0.25", "--onnx", str(device)]) == 0
    assert (
        main(
            [
                "inspect",
                "sparsity",
                "nin-fashion",
                "--set",
                "width=0.25",
                "--images",
                "8",
                "--out",
                str(device),
            ]
        )
        == 0
    )
    assert stat.S_ISCHR(os.stat(device).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]


def test_atomic_write_never_renames_over_what_is_not_a_regular_file(tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    with pytest.raises(OneByOneError, match="is a folder; name a regular file"):
        atomic_write_text(folder, "x")
    assert folder.is_dir() and not temporary_path(folder).exists()


def test_atomic_write_through_a_link_keeps_the_link(tmp_path):
    target = tmp_path / "target.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    assert atomic_write(link, lambda tmp: tmp.write_text("new")) == link
    assert link.is_symlink() and target.read_text() == "new"


@pytest.mark.parametrize(
    ("name", "words"),
    [("", "the output file name is empty"), ("plot", "has no suffix"), ("plot.jpg", "ends in '.jpg'")],
)
def test_a_plot_is_named_with_the_suffix_of_its_format(tmp_path, name, words):
    with pytest.raises(OneByOneError, match=words):
        check_output_file(str(tmp_path / name) if name else "", (".png", ".pdf", ".svg"))
    assert check_output_file(tmp_path / "plot.svg", (".png", ".pdf", ".svg")) == tmp_path / "plot.svg"


def test_a_plot_in_svg_is_svg(tmp_path, capsys):
    svg = tmp_path / "cam.svg"
    assert (
        main(["inspect", "cam", "nin-fashion", "--set", "width=0.25", "--out", str(svg), "--format", "json"])
        == 0
    )
    assert json.loads(capsys.readouterr().out)["png"] == str(svg)
    assert b"<svg" in svg.read_bytes()[:1000]
