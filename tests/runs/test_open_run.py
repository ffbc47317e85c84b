"""`onebyone.runs`: one loader for every run-folder format, and run folders that are data, never code."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import pytest
import torch
from torch.testing import assert_close

from onebyone.cli import main
from onebyone.data import FASHION_MNIST_CLASSES
from onebyone.errors import OneByOneError
from onebyone.runs import list_run_formats, open_run, open_run_or_model, save_converted
from onebyone.surgery import convert_fc_layers
from onebyone.train import TrainConfig, train
from onebyone.train.run import normalise

USER_NET = textwrap.dedent(
    """
    import pathlib
    from torch import nn

    pathlib.Path(__file__).with_name("imported.marker").write_text("user code ran")

    def build(num_classes: int = 10, in_channels: int = 1, width: int = 8):
        return nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(width, num_classes),
        )
    """
)


def _config(out, **changes):
    settings = dict(
        model="nin-fashion",
        model_overrides={"width": 0.25, "head": "fc"},
        epochs=1,
        subset=256,
        val_size=64,
        test_size=100,
        batch_size=64,
        out=str(out),
        progress=False,
        precision="fp32",
    )
    return TrainConfig(**{**settings, **changes})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "run"
    result = train(_config(run))
    return run, result


def test_the_four_formats_are_registered():
    assert {(f.name, f.marker) for f in list_run_formats()} == {
        ("training", "config.json"),
        ("compressed", "factorized.json"),
        ("converted", "fc2conv.json"),
        ("caffe", "caffe.json"),
    }


def test_a_training_run_gives_model_config_input_classes_and_data(trained):
    run_dir, result = trained
    run = open_run(run_dir)
    assert run.kind == "training" and run.is_folder and run.path == run_dir
    assert run.input_size == (1, 28, 28) and run.classes == FASHION_MNIST_CLASSES
    assert run.config.model_overrides == {"width": 0.25, "head": "fc", "num_classes": 10, "in_channels": 1}
    for name, value in result.model.state_dict().items():
        assert_close(run.model().state_dict()[name], value, rtol=0, atol=0)
    data = run.data()
    assert (len(data.train), len(data.val), len(data.test)) == (256, 64, 100)
    images = data.test.images[:5]
    assert_close(run.preprocess(images), normalise(images, run.config))
    assert run.evaluate(run.model()) == pytest.approx(result.test_accuracy)


def test_a_converted_run_opens_with_its_source_runs_data(trained, tmp_path):
    run_dir, _ = trained
    source = open_run(run_dir)
    converted = convert_fc_layers(source.model(), (1, 1, 28, 28))
    save_converted(tmp_path / "conv", converted, source.spec, source.config.to_dict())
    run = open_run(tmp_path / "conv")
    assert run.kind == "converted" and run.config == source.config and run.classes == FASHION_MNIST_CLASSES
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        assert_close(run.model()(x), source.model()(x), rtol=1e-5, atol=1e-5)
        assert run.model()(torch.randn(1, 1, 56, 56)).dim() == 4  # a class map on a larger input


def test_a_bare_model_is_a_run_without_weights_or_data():
    run = open_run_or_model("nin-fashion", overrides={"width": 0.25})
    assert run.kind == "model" and not run.is_folder and run.input_size == (1, 28, 28)
    assert run.test_set().name == "fashion-mnist/test"  # the registered data set that fits 1×28×28
    with pytest.raises(OneByOneError, match="has no data set"):
        run.data()
    with pytest.raises(OneByOneError, match="takes 3x224x224 input and has no data set"):
        open_run_or_model("resnet18").test_set()


@pytest.mark.parametrize(
    ("text", "kwargs", "words"),
    [
        ("runs/missing", {}, "run folder 'runs/missing' not found"),
        ("nin-fashoin", {}, "did you mean nin-fashion"),
        ("nin-fashion", {"code": "x.py:build"}, "--model and --trust-code apply to run folders"),
        ("nin-fashion", {"overrides": {"width": "wide"}}, "option width must be float, got 'wide'"),
    ],
)
def test_what_is_not_a_run_or_model_is_one_line(text, kwargs, words):
    with pytest.raises(OneByOneError, match=words):
        open_run_or_model(text, **kwargs)


def test_a_folder_of_no_format_names_the_formats(tmp_path):
    with pytest.raises(OneByOneError, match="is not a run folder: it has none of .*config.json"):
        open_run(tmp_path)
    with pytest.raises(OneByOneError, match="a training run's model is fixed"):
        open_run_or_model(str(tmp_path), overrides={"width": 1.0})


def _with_config(trained, tmp_path, edit) -> str:
    run_dir, _ = trained
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    payload = json.loads((copy / "config.json").read_text())
    edit(payload["config"])
    (copy / "config.json").write_text(json.dumps(payload))
    return copy


def test_a_folder_naming_a_function_never_calls_it(trained, tmp_path):
    marker = tmp_path / "pwned"
    folder = _with_config(
        trained,
        tmp_path,
        lambda c: c.update(model="os:system", model_overrides={"command": f"touch {marker}"}),
    )
    with pytest.raises(OneByOneError, match="made from user code 'os:system'.*--trust-code"):
        open_run(folder)
    proc = subprocess.run(
        [sys.executable, "-m", "onebyone", "profile", str(folder)], capture_output=True, text=True
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert "--model os:system" in proc.stderr
    assert not marker.exists()


def test_a_folder_naming_a_user_file_imports_it_only_with_consent(tmp_path):
    net = tmp_path / "net.py"
    net.write_text(USER_NET)
    run_dir = tmp_path / "run"
    train(_config(run_dir, model=f"{net}:build", model_overrides={"width": 4}, test_size=20))
    (tmp_path / "imported.marker").unlink()  # training ran the user's code, as the user asked
    with pytest.raises(OneByOneError, match="made from user code"):
        open_run(run_dir)
    assert not (tmp_path / "imported.marker").exists()
    x = torch.randn(1, 1, 28, 28)
    named = open_run(run_dir, code=f"{net}:build").model()
    trusted = open_run(run_dir, trust_code=True).model()
    assert (tmp_path / "imported.marker").exists()
    assert_close(named(x), trusted(x), rtol=0, atol=0)
    assert main(["eval", str(run_dir), "--model", f"{net}:build", "--format", "json"]) == 0


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda c: c["model_overrides"].update(width="abc"), "option width must be float, got 'abc'"),
        (lambda c: c["model_overrides"].update(width={"nested": 1}), "model_overrides must be dict"),
        (lambda c: c["model_overrides"].update(depth=3), "has no option 'depth'"),
        (lambda c: c.update(model="no-such-net"), "unknown model 'no-such-net'"),
        (lambda c: c.update(epochs="many"), "epochs must be int, got 'many'"),
        (lambda c: c.update(data="imagenet"), "unknown data set 'imagenet'"),
        (lambda c: c.update(extra=1), "unknown training option"),
    ],
)
def test_a_config_of_the_wrong_shape_is_one_line(trained, tmp_path, edit, words):
    folder = _with_config(trained, tmp_path, edit)
    proc = subprocess.run(
        [sys.executable, "-m", "onebyone", "eval", str(folder)], capture_output=True, text=True
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], proc.stderr


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda d: (d / "config.json").write_text("{not json"), "unreadable run configuration"),
        (lambda d: (d / "config.json").write_bytes(b"\xff\xfe\x00"), "unreadable run configuration"),
        (lambda d: (d / "config.json").write_text("[1, 2]"), "unreadable run configuration"),
        (lambda d: (d / "model.safetensors").unlink(), "has no model.safetensors"),
        (lambda d: (d / "model.safetensors").write_bytes(b"\x00" * 9), "unreadable safetensors file"),
    ],
)
def test_a_damaged_training_run_is_one_line(trained, tmp_path, damage, words):
    run_dir, _ = trained
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    damage(copy)
    with pytest.raises(OneByOneError, match=words):
        open_run(copy).model()


def test_weights_of_another_model_are_refused(trained, tmp_path):
    folder = _with_config(trained, tmp_path, lambda c: c["model_overrides"].update(width=0.5))
    with pytest.raises(OneByOneError, match="weights do not fit the recorded model"):
        open_run(folder).model()
