"""The training loop on a real Fashion-MNIST subset: learning, exact resume, NaN guard, run folder."""

import json

import pytest
import torch

from onebyone.errors import OneByOneError
from onebyone.runs import open_run
from onebyone.train import TrainingDiverged, lr_at, predict, train
from onebyone.train.checkpoint import load_checkpoint, load_weights
from tests.train.small import small_config


def test_a_few_epochs_lower_the_loss_and_beat_chance():
    result = train(small_config(epochs=4, subset=512, precision="fp32"))
    losses = [row["train_loss"] for row in result.history]
    assert losses[-1] < losses[0] - 0.3, losses
    assert result.history[-1]["train_accuracy"] > 0.5  # 10 classes: chance is 0.1
    assert result.test_accuracy is not None and 0 <= result.test_accuracy <= 1


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_interrupted_and_resumed_equals_uninterrupted(tmp_path, precision):
    whole = train(small_config(precision=precision, out=str(tmp_path / "whole")))
    first = train(small_config(precision=precision, out=str(tmp_path / "split"), stop_after_epoch=1))
    assert first.stopped_early and first.test_accuracy is None
    assert not (tmp_path / "split" / "model.safetensors").exists()
    _, info = load_checkpoint(tmp_path / "split")
    assert info["epoch"] == 1
    resumed = train(small_config(precision=precision, out=str(tmp_path / "split"), resume=True))
    expected = load_weights(tmp_path / "whole" / "model.safetensors")
    got = load_weights(tmp_path / "split" / "model.safetensors")
    assert expected.keys() == got.keys()
    for name in expected:
        assert torch.equal(expected[name], got[name]), name
    assert resumed.test_accuracy == whole.test_accuracy
    strip = lambda rows: [{k: v for k, v in r.items() if "second" not in k} for r in rows]  # noqa: E731
    assert strip(resumed.history) == strip(whole.history)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    run = tmp_path / "run"
    train(small_config(out=str(run), stop_after_epoch=1))
    before = (run / "checkpoint.safetensors").read_bytes()
    with pytest.raises(TrainingDiverged) as exc:
        train(small_config(out=str(run), resume=True, resume_lr=1e30))
    message = str(exc.value)
    assert "loss is nan at epoch 2" in message and "last good checkpoint (epoch 1)" in message
    assert (run / "checkpoint.safetensors").read_bytes() == before
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["epoch"] == 1 and rows[-1]["diverged"] is True
    assert isinstance(exc.value, OneByOneError)


def test_absurd_lr_from_the_start_says_no_checkpoint_yet():
    with pytest.raises(TrainingDiverged, match="no checkpoint yet"):
        train(small_config(lr=1e30, epochs=1))


def test_run_folder_layout_and_open_run(tmp_path):
    result = train(small_config(out=str(tmp_path / "run"), ema_decay=0.9))
    names = {p.name for p in (tmp_path / "run").iterdir()}
    assert {
        "config.json",
        "metrics.jsonl",
        "checkpoint.safetensors",
        "checkpoint.json",
        "model.safetensors",
    } <= names
    opened = open_run(tmp_path / "run")
    model, config = opened.model(), opened.config
    assert config.ema_decay == 0.9 and config.mean is not None and config.model_overrides["num_classes"] == 10
    # model.safetensors holds the EMA weights the final numbers were measured with
    for name, value in result.model.state_dict().items():
        torch.testing.assert_close(model.state_dict()[name], value, rtol=0, atol=0)
    from onebyone.train import load_data

    test = load_data(config).test
    accuracy = (predict(model, test, config) == test.labels).float().mean().item()
    assert accuracy == pytest.approx(result.test_accuracy)
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [m.get("epoch") for m in metrics[:2]] == [1, 2] and metrics[-1]["final"] is True


def test_refuses_to_overwrite_or_resume_nothing(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(OneByOneError, match="exists and is not empty"):
        train(small_config(out=str(tmp_path / "full")))
    with pytest.raises(OneByOneError, match="not a training run"):
        train(small_config(out=str(tmp_path / "empty"), resume=True))
    with pytest.raises(OneByOneError, match="optimizer must be one of sgd, adamw"):
        train(small_config(optimizer="lion"))


def test_one_cycle_schedule_shape():
    config = small_config(lr=0.2, warmup_fraction=0.25, final_lr_fraction=0.0)
    lrs = [lr_at(step, 100, config) for step in range(101)]
    assert lrs[0] == pytest.approx(0.2 / 25) and lrs[25] == pytest.approx(0.2)
    assert max(lrs) == pytest.approx(0.2) and lrs[100] == pytest.approx(0.0, abs=1e-12)
    assert all(a <= b for a, b in zip(lrs[:25], lrs[1:26], strict=True))
    assert all(a >= b for a, b in zip(lrs[25:-1], lrs[26:], strict=True))


def test_flip_tta_averages_the_logits_of_the_image_and_its_mirror():
    from onebyone.train import load_data

    data = load_data(small_config()).test  # 200 real test images
    config = small_config(mean=0.0, std=1.0)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 10))
    plain = predict(model, data, config, tta=False)
    tta = predict(model, data, config)  # the default: on, since the training augmentation flips
    x = data.images.float() / 255.0
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        expected = (model(x).float() + model(x.flip(3)).float()).argmax(1)
    assert torch.equal(tta, expected)
    assert not torch.equal(tta, plain)  # a linear model is not mirror-symmetric: some answers change


def test_flip_tta_defaults_to_on_only_when_training_flips():
    assert small_config().validate().tta_flip is True
    assert small_config(augment=False).validate().tta_flip is False
    assert small_config(hflip=False).validate().tta_flip is False
    assert small_config(augment=False, tta_flip=True).validate().tta_flip is True
    assert small_config(tta_flip=False).validate().tta_flip is False
