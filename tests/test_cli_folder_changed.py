"""An image folder changed since its run was trained (issue 27's known gap): refused in one line, exit 2.

The folder's fixed 20% test split is drawn from its images in their order, so a file added, removed,
replaced or now unreadable gave another split, which may hold training images: `eval` said nothing but
a warning, exit 0. data.json records the folder's classes and a digest of its files; each row below
changes the folder (or damages data.json) in a copy of one trained run and runs a command on it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from onebyone.cli import main
from onebyone.data import load_image_folder
from onebyone.train import TrainConfig, train
from onebyone.train.data_record import DATA_FILE, read_data_record

OPTIONS = ["--set", "width=0.25", "--val-size", "0", "--image-size", "16", "--batch-size", "8"]
OPTIONS += ["--precision", "fp32", "--no-progress"]


def photos(folder: Path, classes=("a", "b"), count: int = 5) -> Path:
    rng = np.random.default_rng(0)
    for label in classes:
        (folder / label).mkdir(parents=True)
        for index in range(count):
            pixels = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / label / f"{index}.png")
    return folder


def train_on(folder: Path, out: Path, epochs: int = 1, stop_after_epoch: int | None = None) -> Path:
    train(TrainConfig(
        model="nin-fashion", model_overrides={"width": 0.25}, data=f"folder:{folder}", val_size=0,
        epochs=epochs, batch_size=8, image_size=16, out=str(out), progress=False, precision="fp32",
        stop_after_epoch=stop_after_epoch,
    ))  # fmt: skip
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    """A finished run on two classes of 5 photos."""
    root = tmp_path_factory.mktemp("folder-run")
    folder = photos(root / "photos")
    return {"photos": folder, "run": train_on(folder, root / "run")}


def copied(trained: dict[str, Path], tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the photos and of the run, whose config.json names the copy."""
    folder, copy = tmp_path / "photos", tmp_path / "run"
    shutil.copytree(trained["photos"], folder)
    shutil.copytree(trained["run"], copy)
    record = json.loads((copy / "config.json").read_text())
    record["config"]["data"] = f"folder:{folder}"
    (copy / "config.json").write_text(json.dumps(record))
    return folder, copy


def stopped(tmp_path: Path) -> tuple[Path, Path]:
    """Photos and a run of them stopped after its first of 2 epochs (a checkpoint records its data too)."""
    folder = photos(tmp_path / "photos")
    return folder, train_on(folder, tmp_path / "stopped", epochs=2, stop_after_epoch=1)


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _add(folder: Path) -> None:
    shutil.copy(folder / "a" / "0.png", folder / "a" / "new.png")


def _replace(folder: Path) -> None:  # the same number of files, one of another size
    Image.new("RGB", (20, 20), (9, 9, 9)).save(folder / "a" / "0.png")


def _unreadable(folder: Path) -> None:  # skipped with a warning by the loader: one image fewer
    path = folder / "b" / "1.png"
    path.write_bytes(path.read_bytes()[:40])


CHANGES = {
    "file-added": (_add, ["has changed since training", "10 images then, 11 now", "20% test split"]),
    "file-removed": (lambda f: (f / "b" / "0.png").unlink(), ["10 images then, 9 now"]),
    "file-replaced": (_replace, ["10 images then and now, but other files or sizes"]),
    "file-unreadable": (_unreadable, ["10 images then, 9 now", "now unreadable"]),
    "class-renamed": (lambda f: (f / "b").rename(f / "c"), ["class c added, class b removed", "2: a, b"]),
    "class-added": (lambda f: shutil.copytree(f / "a", f / "c"), ["now has 3 classes (a, b, c)"]),
}


def test_an_unchanged_folder_evaluates(trained, tmp_path, capfd):
    """A copy of the folder elsewhere is the same folder: the digest names files under their class."""
    _, run = copied(trained, tmp_path)
    record = read_data_record(run)
    assert record is not None and record["classes"] == ["a", "b"] and record["images"] == 10
    assert main(["eval", str(run), "--format", "json"]) == 0
    assert json.loads(capfd.readouterr().out)["images"] == 2  # the 20% test split


@pytest.mark.parametrize("command", ["eval {run}", "inspect sparsity {run}"])
@pytest.mark.parametrize("change", list(CHANGES))
def test_a_folder_changed_since_training_is_refused(trained, tmp_path, capfd, change, command):
    folder, run = copied(trained, tmp_path)
    alter, words = CHANGES[change]
    alter(folder)
    capfd.readouterr()
    assert main(command.format(run=run).split()) == 2
    error = one_line(capfd.readouterr().err)
    assert error.startswith("onebyone: error: ") and f"folder:{folder}" in error, error
    for word in words:
        assert word in error, error
    assert sorted(p.name for p in run.iterdir()) == sorted(p.name for p in trained["run"].iterdir())


@pytest.mark.parametrize("change", ["file-added", "file-removed", "class-renamed"])
def test_resume_refuses_a_folder_changed_since_the_run_started(tmp_path, capfd, change):
    folder, run = stopped(tmp_path)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    CHANGES[change][0](folder)
    capfd.readouterr()
    argv = ["train", "nin-fashion", "--data", f"folder:{folder}", "--epochs", "2", *OPTIONS]
    assert main([*argv, "--out", str(run), "--resume"]) == 2
    error = one_line(capfd.readouterr().err)
    assert "has changed since training" in error, error
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.name != ".lock"} == before


def test_resume_on_the_same_folder_finishes(tmp_path):
    folder, run = stopped(tmp_path)
    record = (run / DATA_FILE).read_bytes()
    argv = ["train", "nin-fashion", "--data", f"folder:{folder}", "--epochs", "2", *OPTIONS]
    assert main([*argv, "--out", str(run), "--resume", "--format", "json"]) == 0
    assert (run / "model.safetensors").is_file()
    assert (run / DATA_FILE).read_bytes() == record


def _record(run: Path) -> dict:
    return json.loads((run / DATA_FILE).read_text())


BAD_RECORDS = {
    "digest-short": (lambda r: {**r, "digest": "abc"}, "digest must be a sha256 digest"),
    "digest-upper": (lambda r: {**r, "digest": r["digest"].upper()}, "digest must be a sha256 digest"),
    "digest-int": (lambda r: {**r, "digest": 5}, "digest must be a sha256 digest"),
    "digest-missing": (lambda r: {k: v for k, v in r.items() if k != "digest"}, "digest is missing"),
    "images-text": (lambda r: {**r, "images": "10"}, "images must be an integer from 1"),
    "images-huge": (lambda r: {**r, "images": 2**70}, "2,147,483,647, got 1180591620717411303424"),
    "classes-empty": (lambda r: {**r, "classes": []}, "classes must be a list of 1 to"),
    "classes-int": (lambda r: {**r, "classes": ["a", 5]}, "classes[1] must be a string"),
    "classes-twice": (lambda r: {**r, "classes": ["a", "a"]}, "classes must be sorted, each name once"),
    "classes-unsorted": (lambda r: {**r, "classes": ["b", "a"]}, "classes must be sorted, each name once"),
    "classes-hidden": (lambda r: {**r, "classes": [".a", "b"]}, "classes[0] '.a' is not a class folder's"),
    "classes-path": (lambda r: {**r, "classes": ["a", "b/c"]}, "classes[1] 'b/c' is not a class folder's"),
    "classes-empty-name": (lambda r: {**r, "classes": ["", "b"]}, "classes[0] '' is not a class folder's"),
    "classes-three": (
        lambda r: {**r, "classes": ["a", "b", "c"]},
        "records 3 classes, but the run's model has",
    ),
    "unknown-field": (lambda r: {**r, "zz": 1}, "unknown field 'zz'"),
    "version-2": (lambda r: {**r, "schema_version": 2}, "written by a newer onebyone"),
    "version-0": (lambda r: {**r, "schema_version": 0}, "schema version 0 is not one"),
    "a-list": (lambda r: [r], "expected a JSON object"),
}


@pytest.mark.parametrize("command", ["eval {run}", "predict {run} --image {photo}", "profile {run}"])
@pytest.mark.parametrize("bad", [*BAD_RECORDS, "truncated", "not-utf8", "deep"])
def test_a_damaged_data_record_is_refused_in_one_line(trained, tmp_path, capfd, bad, command):
    """Read strictly whenever the run is opened, as config.json is: any command that opens it."""
    folder, run = copied(trained, tmp_path)
    record = _record(run)
    if bad in BAD_RECORDS:
        change, words = BAD_RECORDS[bad]
        (run / DATA_FILE).write_text(json.dumps(change(record)))
    else:
        text = {"truncated": json.dumps(record)[:-3], "not-utf8": "\udcff", "deep": "[" * 5000 + "]" * 5000}
        (run / DATA_FILE).write_bytes(text[bad].encode("utf-8", "surrogateescape"))
        words = "unreadable data record"
    capfd.readouterr()
    assert main(command.format(run=run, photo=folder / "a" / "0.png").split()) == 2
    error = one_line(capfd.readouterr().err)
    assert f"{run / DATA_FILE}" in error and words in error, error


def test_a_run_written_before_data_json_reads_as_before(trained, tmp_path, capfd):
    """No data.json: the folder is not checked beyond its number of classes (the old behaviour)."""
    folder, run = copied(trained, tmp_path)
    (run / DATA_FILE).unlink()
    _add(folder)
    assert main(["eval", str(run)]) == 0
    shutil.copytree(folder / "a", folder / "c")
    capfd.readouterr()
    assert main(["eval", str(run)]) == 2
    assert "now has 3 classes" in one_line(capfd.readouterr().err)


def test_resume_of_a_run_stopped_before_its_config_was_written(tmp_path):
    """data.json is written before config.json: a folder holding only it is a run not yet started."""
    folder, run = stopped(tmp_path)
    for path in run.iterdir():
        if path.name != DATA_FILE:
            path.unlink()
    argv = ["train", "nin-fashion", "--data", f"folder:{folder}", "--epochs", "1", *OPTIONS]
    assert main([*argv, "--out", str(run), "--resume", "--format", "json"]) == 0
    assert (run / "config.json").is_file() and (run / "model.safetensors").is_file()


def test_the_digest_is_of_the_sorted_class_file_size_list(tmp_path):
    folder = photos(tmp_path / "photos", count=2)
    source = load_image_folder(folder, size=8).source
    files = sorted((c, f"{i}.png", (folder / c / f"{i}.png").stat().st_size) for c in "ab" for i in range(2))
    listing = json.dumps([list(entry) for entry in files], separators=(",", ":"))
    assert source == {
        "classes": ["a", "b"],
        "images": 4,
        "digest": hashlib.sha256(listing.encode()).hexdigest(),
    }
    (folder / "a" / "notes.txt").write_text("not an image")  # not an image suffix: never loaded
    assert load_image_folder(folder, size=8).source == source


@pytest.fixture(scope="module")
def trained_fc(tmp_path_factory) -> dict[str, Path]:
    """A finished run with a fully connected head (so fc2conv has a layer to convert; it is sized for
    nin-fashion's 28×28 input)."""
    root = tmp_path_factory.mktemp("folder-run-fc")
    folder = photos(root / "photos")
    train(TrainConfig(
        model="nin-fashion", model_overrides={"width": 0.25, "head": "fc"}, data=f"folder:{folder}",
        val_size=0, epochs=1, batch_size=8, image_size=28, out=str(root / "run"), progress=False,
        precision="fp32",
    ))  # fmt: skip
    return {"photos": folder, "run": root / "run"}


MADE = {
    "compress": "compress {run} --budget 0.9 --finetune-epochs 0 --repeats 1 --batch 1 --out {out}",
    "convert fc2conv": "convert fc2conv {run} --out {out}",
}


@pytest.mark.parametrize("made", list(MADE))
def test_a_run_made_from_a_folder_run_checks_the_folder_too(trained_fc, tmp_path, capfd, made):
    """compress and convert fc2conv carry data.json into the run they write: its folder is checked."""
    folder, run = copied(trained_fc, tmp_path)
    out = tmp_path / "made"
    assert main([*MADE[made].format(run=run, out=out).split(), "--no-progress"]) == 0
    assert read_data_record(out) == read_data_record(run)
    assert main(["eval", str(out)]) == 0
    _add(folder)
    capfd.readouterr()
    assert main(["eval", str(out)]) == 2
    error = one_line(capfd.readouterr().err)
    assert "has changed since training" in error and "10 images then, 11 now" in error, error


def test_predict_names_the_classes_trained_on(trained, tmp_path, capfd):
    """predict needs no test split: it runs on a changed (or removed) folder, naming the classes of
    data.json, not the folder's names of now."""
    folder, run = copied(trained, tmp_path)
    photo = folder / "a" / "0.png"
    kept = tmp_path / "photo.png"
    shutil.copy(photo, kept)
    (folder / "b").rename(folder / "c")
    capfd.readouterr()
    assert main(["predict", str(run), "--image", str(kept), "--format", "json"]) == 0
    names = {row["class"] for row in json.loads(capfd.readouterr().out)["predictions"]}
    assert names == {"a", "b"}
    shutil.rmtree(folder)
    assert main(["predict", str(run), "--image", str(kept), "--format", "json"]) == 0
    assert {row["class"] for row in json.loads(capfd.readouterr().out)["predictions"]} == {"a", "b"}
    assert main(["predict", str(run), "--image", str(kept), "--top", "3"]) == 2
    assert "--top must be between 1 and 2, got 3" in one_line(capfd.readouterr().err)
