"""Feed bad values to every field of every file onebyone reads, and sort what each command does with them.

    PYTHONPATH=. .venv/bin/python scripts/probe_files.py [--only SUBSTRING] [--json OUT.json] [--keep DIR]

Builds real files first (scripts/probe_cases.py, which also makes the cases: a tiny training run
and a stopped one, a compressed run, an fc2conv run, an imported Caffe run, a prototxt and caffemodel,
photos, IDX files, user model files, an image-folder run: seconds to a minute on 2 cores), then for
each case writes one bad value into a copy of one file (a field of a JSON record set to a wrong type,
out of range, huge, negative, empty, null, missing; an unknown field; a wrong schema version; deep
nesting; truncated or corrupt bytes), runs every command that reads that file in-process through
`onebyone.cli.main` (with `--format json` where the command has it), and sorts the outcome:

- `refused`: exit 2 and one line on stderr, nothing created or changed but what the command names;
- `accepted`: exit 0 on a value the probe considers bad. Each such case is a finding unless listed in
  JUSTIFIED below with the reason the value is harmless (it is then `accepted (justified)`);
  a photo in another mode is judged by its 8-bit twin: the same pixels, or `wrong-result`;
- `internal`: exit 1 (the CLI's "internal error" line: a bug); `other-exit`: any other code;
- `multi-line`: exit 2 with more than one stderr line; `bad-json`: stdout not JSON under --format json;
- `files`: a file created, changed or removed that the command line does not name.

Prints one line per case that is not `refused` or justified, then the counts; exits 1 when any case
is a finding. `--only` runs the cases whose id contains SUBSTRING. `--keep DIR` builds the files once
into DIR/world and reuses them (delete it after changing onebyone's writers).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.pop("ONEBYONE_TRACEBACK", None)  # a bug is the CLI's one "internal error" line, exit 1
os.environ["ONEBYONE_PROGRESS_AFTER"] = "1000"  # no progress lines (on a pipe, after 2 s): not errors

from onebyone.cli import main  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))  # probe_cases.py, beside this script
from probe_cases import (  # noqa: E402
    build_world,
    caffe_cases,
    checkpoint_cases,
    damage_photos,
    damage_weights,
    folder_data_cases,
    idx_cases,
    image_cases,
    lock_cases,
    record_cases,
    user_code_cases,
    weight_cases,
)

CASE_SECONDS = 120
MEMORY_GIB = 8  # address-space limit of the probe: a runaway allocation fails in it, not in the machine

# Exit 0 on these case ids (prefix match) is correct, for the reason given (docs/robustness.md).
_DEFAULT = "null is the value training itself writes when the option is not given (the data set's default)"
_PEOPLE = "recorded for people to read (where it came from); nothing reads it back"
JUSTIFIED: dict[str, str] = {
    **{
        f"{kind}:{prefix}{name}:null": _DEFAULT
        for kind, prefix in [
            ("config", "config."),
            ("factorized", "train_config."),
            ("fc2conv", "train_config."),
        ]
        for name in ("val_size", "subset", "test_size", "tta_flip")
    },
    "config:config.data_dir:text": "a folder name; only a command that loads the data opens it",
    "config:config.image_size:int": "sizes folder data only (TrainConfig); a fixed-size data set ignores it",
    "config:config.lr:huge": "training's own range (any finite lr > 0; too large diverges, and says so)",
    "config:config.weight_decay:huge": "training's own range (any finite weight decay ≥ 0)",
    "config:config.out:": "where the run was first written, for people; the folder opened is the one named",
    "config:config.resume_lr:int": "an integer is a number (JSON does not tell 5 from 5.0)",
    "config:config.stop_after_epoch:int": "a resume replaces it with its own flag; nothing else reads it",
    "factorized:base.run:": _PEOPLE,
    "fc2conv:source.run:": _PEOPLE,
    "caffe:source.": _PEOPLE,
    "caffe:scale:int": "an integer is a number (JSON does not tell 5 from 5.0)",
    **{
        f"fc2conv:{name}": "what the conversion did and how it was checked, for people; nothing reads it back"
        for name in (
            "larger_input_shape",
            "larger_output_shape",
            "layers",
            "pools",
            "position_wise",
            "max_abs_difference",
        )
    },  # fmt: skip
    "fc2conv:input_shape.0:missing": "(N, C, H, W) without its N is the same (C, H, W)",
    "factorized:train_config:null": "a run compressed from a bare model spec; profile needs no normalisation",
    "fc2conv:train_config:null": "a run converted from a bare model spec; profile needs no normalisation",
    "checkpoint:optimizer.param_groups.0.lr:huge": "the lr of every step is set from the recipe's schedule",
    "lock:free:": "the kernel's flock decides who writes; the file's text only names the owner in a message",
}


class CaseTimeout(BaseException):
    """Raised by the alarm: not an Exception, so the CLI's own handlers do not turn it into a line."""


def _alarm(signum, frame):
    raise CaseTimeout


# --- one case: copy, damage, run, sort ----------------------------------------------------------------


def _snapshot(*folders: Path) -> dict[str, tuple]:
    found = {}
    for folder in folders:
        for dirpath, dirnames, filenames in os.walk(folder):
            for name in dirnames + filenames:
                path = Path(dirpath) / name
                info = path.lstat()
                found[str(path)] = (info.st_size, info.st_mtime_ns, info.st_ino)
    return found


def run_command(argv: list[str], cwd: Path, watched: list[Path], allowed: tuple[str, ...]) -> dict:
    """Run one command line in-process; its outcome, sorted (module docstring)."""
    before = _snapshot(cwd, *watched)
    out, err = io.StringIO(), io.StringIO()
    previous = os.getcwd()
    os.chdir(cwd)
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(CASE_SECONDS)
    started = time.perf_counter()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exit_:  # argparse
                code = exit_.code if isinstance(exit_.code, int) else 2
    except CaseTimeout:
        code = "timeout"
    except BaseException as exc:  # noqa: BLE001 - the probe reports whatever escapes
        code = f"escaped {type(exc).__name__}: {exc}"[:200]
    finally:
        signal.alarm(0)
        os.chdir(previous)
    seconds = time.perf_counter() - started
    changed = {
        path
        for path in set(before) | set(_snapshot(cwd, *watched))
        if before.get(path) != _snapshot_one(path)
    }
    changed = {p for p in changed if not p.startswith(allowed)}  # allowed: path prefixes
    lines = [line for line in err.getvalue().splitlines() if line.strip()]
    outcome = _sort(code, lines, out.getvalue(), "--format" in argv and "json" in argv, changed)
    return {
        "argv": argv,
        "code": code,
        "outcome": outcome,
        "stderr": lines[:3],
        "changed": sorted(changed),
        "seconds": round(seconds, 2),
    }


def _snapshot_one(path: str):
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    return (info.st_size, info.st_mtime_ns, info.st_ino)


def _sort(code, lines: list[str], stdout: str, wants_json: bool, changed: set[str]) -> str:
    if wants_json and stdout.strip():
        try:
            json.loads(stdout)
        except ValueError:
            try:
                [json.loads(line) for line in stdout.splitlines() if line.strip()]
            except ValueError:
                return "bad-json"
    if code == 0:
        return "files" if changed else "accepted"
    if code == 2:
        if len(lines) != 1:
            return "multi-line"
        return "files" if changed else "refused"
    if code == 1:
        return "internal"
    if code == "timeout":
        return "timeout"
    return "other-exit"


# --- running ----------------------------------------------------------------------------------------


def prepare(case: dict, world: dict[str, Path], scratch: Path) -> tuple[dict[str, str], list[Path], list]:
    """Make the damaged copy a case needs; the names its command lines use, what to watch, what to undo."""
    names = {"ok": str(world["img"] / "ok.png"), "run": str(world["run"]), "cwd": str(scratch / "cwd")}
    (scratch / "cwd").mkdir()
    watched: list[Path] = [world["root"] / key for key in ("run", "comp", "conv", "cfrun", "img", "idx")]
    undo = []
    if "folder" in case:
        copy_dir = scratch / case["folder"]
        shutil.copytree(world[case["folder"]], copy_dir)
        names["dir"] = str(copy_dir)
        watched.append(copy_dir)
        if "file" in case:
            (copy_dir / case["file"]).write_bytes(case["text"].encode("utf-8", "surrogateescape"))
        if "checkpoint_info" in case:
            from safetensors.torch import load_file, save_file

            path = copy_dir / "checkpoint.safetensors"
            save_file(load_file(str(path)), str(path), metadata={"onebyone": case["checkpoint_info"]})
        if "weights" in case:
            damage_weights(copy_dir / "model.safetensors", case["weights"])
        if case.get("hold_lock"):
            import fcntl

            fd = os.open(copy_dir / ".lock", os.O_RDWR)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            undo.append(lambda: os.close(fd))
    if "photos" in case:  # a copy of the folder run whose config names a damaged copy of its photos
        photos, run = scratch / "photos", scratch / "frun"
        shutil.copytree(world["root"] / "folder-data", photos)
        shutil.copytree(world["root"] / "folder-run", run)
        record = json.loads((run / "config.json").read_text())
        record["config"]["data"] = f"folder:{photos}"
        (run / "config.json").write_text(json.dumps(record))
        damage_photos(photos, case["photos"])
        names["dir"] = str(run)
        watched += [photos, run]
    if "photo" in case:
        names["photo"] = str(case["photo"])
    if "idx_file" in case:
        idx = scratch / "idx"
        shutil.copytree(world["idx"], idx)
        plain = case["idx_file"].removesuffix(".gz")
        (idx / plain).unlink()
        (idx / case["idx_file"]).write_bytes(case["idx_bytes"])
        names["idxdir"] = str(idx)
        watched.append(idx)
    return names, watched, undo


def twin_check(case: dict) -> str | None:
    """For a photo with an 8-bit twin: whether the model gets the twin's pixels (else a wrong answer)."""
    from onebyone.data.photos import crop_photo
    from onebyone.errors import OneByOneError

    try:
        got = crop_photo(case["photo"], size=28, channels=1, crop_padding=0).int()
    except OneByOneError:
        return None
    want = crop_photo(case["twin"], size=28, channels=1, crop_padding=0).int()
    difference = int((got - want).abs().max())
    return f"pixels differ from the 8-bit twin by up to {difference}" if difference > 2 else None


def run_case(case: dict, world: dict[str, Path], scratch_root: Path) -> list[dict]:
    import shlex

    results = []
    for template in case["commands"]:
        scratch = Path(tempfile.mkdtemp(dir=scratch_root))
        names, watched, undo = prepare(case, world, scratch)
        argv = shlex.split(template.format(**names))
        if (
            argv[0] in ("profile", "eval", "predict", "export", "convert", "inspect")
            and "--format" not in argv
        ):
            argv += ["--format", "json"]
        allowed = tuple(str(scratch / "cwd" / name) for name in ("x.onnx", "c.png", "c-", "out"))
        if argv[0] == "train":
            allowed += (names["dir"],)  # a resumed run writes its own folder
        if argv[0] == "eval":
            allowed += (str(Path(names.get("dir", names["run"])) / "confusion.png"),)
        try:
            result = run_command(argv, scratch / "cwd", watched, allowed)
        finally:
            for step in undo:
                step()
        if argv[0] == "train" and result["code"] != 0:
            result["changed"] = []  # a refused resume must leave its folder: checked below
        if result["outcome"] == "accepted" and case.get("twin"):
            wrong = twin_check(case)
            result["outcome"] = "wrong-result" if wrong else "accepted (justified)"
            result["stderr"] = [wrong or "a photo mode read as its 8-bit twin is (the same pixels)"]
        if result["outcome"] == "accepted" and any(case["id"].startswith(key) for key in JUSTIFIED):
            result["outcome"] = "accepted (justified)"
        result["id"] = case["id"]
        results.append(result)
        shutil.rmtree(scratch, ignore_errors=True)
    return results


def main_probe() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run only the cases whose id contains this")
    parser.add_argument("--json", help="write every result to this file")
    parser.add_argument("--keep", help="build the files here and keep them (default: a temporary folder)")
    args = parser.parse_args()
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_GIB * 2**30, resource.RLIM_INFINITY))
    root = Path(args.keep or tempfile.mkdtemp(prefix="probe-files-"))
    root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    world = build_world(root / "world") if not (root / "world").is_dir() else _world_at(root / "world")
    print(f"files built in {time.perf_counter() - started:.0f} s under {root}", flush=True)
    cases = (
        record_cases(world)
        + checkpoint_cases(world)
        + lock_cases()
        + weight_cases()
        + image_cases(world)
        + idx_cases(world)
        + folder_data_cases(world)
        + caffe_cases(world)
        + user_code_cases(world)
    )
    if args.only:
        cases = [case for case in cases if args.only in case["id"]]
    scratch = root / "scratch"
    scratch.mkdir(exist_ok=True)
    results = []
    for case in cases:
        for result in run_case(case, world, scratch):
            results.append(result)
            if result["outcome"] not in ("refused", "accepted (justified)"):
                shown = result["stderr"][0][:200] if result["stderr"] else ""
                print(
                    f"{result['outcome']:10} {case['id']} | {' '.join(result['argv'][:2])} | code "
                    f"{result['code']} | {shown} {result['changed'][:2] or ''}",
                    flush=True,
                )
    counts = Counter(r["outcome"] for r in results)
    print(
        f"{len(cases)} cases, {len(results)} command lines in {time.perf_counter() - started:.0f} s: "
        + ", ".join(f"{n} {k}" for k, n in counts.most_common())
    )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if set(counts) - {"refused", "accepted (justified)"} else 0


def _world_at(folder: Path) -> dict[str, Path]:
    names = ("run", "stopped", "comp", "conv", "cfrun", "caffe", "img", "idx")
    world = {name: folder / name for name in names}
    world["root"] = folder
    for path in (folder / "photos", folder / "caffe-bad", folder / "code"):
        shutil.rmtree(path, ignore_errors=True)
    return world


if __name__ == "__main__":
    sys.exit(main_probe())
