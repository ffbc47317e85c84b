"""`onebyone report` on the command line: files written, bad input is one line and exit 2."""

import json

import pytest
import torch

from onebyone.cli import main


def test_only_some_claims_writes_the_three_files(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["report", "--quick", "--only", "c1,C12", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "C1" in printed and "C12" in printed and str(out / "report.html") in printed
    data = json.loads((out / "report.json").read_text())
    assert [c["id"] for c in data["claims"]] == ["C1", "C12"]
    assert (out / "report.md").read_text().startswith("# The 1×1 convolution, measured")
    assert "<!DOCTYPE html>" in (out / "report.html").read_text()


def test_json_format_prints_the_report(tmp_path, capsys):
    assert main(["report", "--quick", "--only", "C11", "--out", str(tmp_path), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["claims"][0]["id"] == "C11" and data["claims"][0]["verdict"] == "holds"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--only", "C99"], "unknown claim(s) C99"),
        (["--only", ","], "unknown claim(s) (none given)"),
        (["--seeds", "0"], "--seeds: a count must be from 1 to 64, got 0"),
        (["--seeds", "3,x"], "--seeds: expected a count or a list like 3,4,5, got '3,x'"),
        (["--seeds", "1,1"], "--seeds '1,1': seed 1 is given twice; seeds are distinct"),
        (
            ["--seeds=-1,2"],
            "--seeds '-1,2': each seed must be an integer from 0 to 9,223,372,036,854,775,807",
        ),
        (["--epochs", "-1"], "epochs must be ≥ 1, got -1"),
        (["--subset", "0"], "train_subset must be ≥ 1, got 0"),
        (["--workers", "-1"], "workers must be ≥ 0, got -1"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(tmp_path, capsys, argv, message):
    assert main(["report", "--quick", "--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    "text, seeds", [("3", (0, 1, 2)), ("3,4,5", (3, 4, 5)), ("7,", (7,)), (" 2, 0 ", (2, 0))]
)
def test_seeds_are_a_count_or_a_list(tmp_path, capsys, text, seeds):
    out = tmp_path / "r"
    assert (
        main(["report", "--quick", "--only", "C1", "--seeds", text, "--out", str(out), "--no-progress"]) == 0
    )
    assert tuple(json.loads((out / "report.json").read_text())["settings"]["seeds"]) == seeds


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_one_line(tmp_path, capsys):
    assert main(["report", "--quick", "--only", "C1", "--device", "cuda", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--device cuda: no CUDA device available" in err and err.count("\n") == 1


def test_the_summary_says_where_it_ran(tmp_path, capsys):
    assert (
        main(
            ["report", "--quick", "--only", "C10", "--device", "cpu", "--out", str(tmp_path), "--no-progress"]
        )
        == 0
    )
    assert "s, cpu)" in capsys.readouterr().out
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["machine"]["device"] == "cpu" and data["settings"]["device"] == "cpu"
    assert data["claims"][0]["verdicts"][1]["estimate"]["over"] == "rounds"


def test_out_that_is_a_file_is_refused(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("x")
    assert main(["report", "--quick", "--only", "C1", "--out", str(target)]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err


def test_unknown_flag_is_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["report", "--fast"])
    assert exc.value.code == 2 and "unrecognized arguments: --fast" in capsys.readouterr().err
