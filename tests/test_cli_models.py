"""`onebyone models`: the zoo listing, in process and as `python -m onebyone`."""

import json
import subprocess
import sys

import pytest

from onebyone.cli import main
from onebyone.models import list_models


def test_models_table_lists_every_model(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in list_models():
        assert name in out
    assert "25,557,032" in out  # resnet50, computed on the meta device


def test_models_json_parses_and_lists_every_model(capsys):
    assert main(["models", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["schema_version"] == 1
    rows = {row["name"]: row for row in report["models"]}
    assert set(rows) == set(list_models())
    assert rows["nin-imagenet"]["parameters"] == 7_595_176
    assert rows["nin-cifar"]["input_size"] == [3, 32, 32]
    assert all(row["parameters"] > 0 and row["description"] for row in rows.values())


def test_models_are_listed_in_natural_order(capsys):
    assert main(["models", "--format", "json"]) == 0
    names = [row["name"] for row in json.loads(capsys.readouterr().out)["models"]]
    resnets = [n for n in names if n.startswith("resnet") and n[6:].isdigit()]
    assert resnets == sorted(resnets, key=lambda n: int(n[6:])) and len(resnets) >= 3, resnets
    assert names.index("resnet18") < names.index("resnet101")


@pytest.mark.parametrize("argv", [["no-such-command"], ["models", "--format", "xml"], ["models", "--bogus"]])
def test_bad_command_line_exits_2_with_one_line(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def run_module(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "onebyone", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_python_dash_m_runs_models_and_rejects_bad_option():
    ok = run_module("models", "--format", "json")
    assert ok.returncode == 0, ok.stderr
    assert {row["name"] for row in json.loads(ok.stdout)["models"]} == set(list_models())
    bad = run_module("models", "--format", "xml")
    assert bad.returncode == 2
    assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr


def test_output_piped_into_a_reader_that_stops_early_gives_no_traceback():
    import subprocess
    import sys

    # The JSON profile of ResNet-50 is far more than a pipe holds, so the writer meets a closed pipe.
    pipeline = f"{sys.executable} -m onebyone profile resnet50 --format json | head -1"
    proc = subprocess.run(["bash", "-c", pipeline], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "{"
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr
