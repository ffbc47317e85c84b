"""`onebyone eval RUN_DIR`: test accuracy, per-class accuracy and the confusion matrix of a run."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from rich.console import Console

from onebyone.commands.common import add_code_arguments, print_warnings
from onebyone.errors import OneByOneError
from onebyone.files import PLOT_FORMATS, check_output_file, save_figure
from onebyone.progress import Progress, add_progress_argument, progress_for
from onebyone.records import json_text
from onebyone.runs import Run, open_run
from onebyone.tables import Column, print_table
from onebyone.train import predict


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="evaluate a training run on its test set",
        description="Test accuracy, per-class accuracy and confusion matrix (table and PNG) of a run folder.",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by `onebyone train --out`")
    parser.add_argument("--split", choices=["test", "val"], default="test", help="which split (default test)")
    parser.add_argument("--data-dir", metavar="DIR", help="Fashion-MNIST folder, if not the run's own")
    parser.add_argument(
        "--png",
        metavar="PATH",
        help="confusion-matrix image: .png, .pdf or .svg, or a device (default RUN_DIR/confusion.png)",
    )
    parser.add_argument(
        "--tta-flip",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="average each image with its mirror image (default: as the run was tested)",
    )
    parser.add_argument("--format", choices=["table", "json"], default="table", help="output format")
    add_progress_argument(parser)
    add_code_arguments(parser)
    parser.set_defaults(func=run)


def confusion_matrix(labels: torch.Tensor, predictions: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(classes, classes) counts: row = true class, column = predicted class."""
    flat = labels * num_classes + predictions
    return torch.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def evaluate_run(
    run: Run,
    split: str = "test",
    data_dir: str | None = None,
    tta: bool | None = None,
    progress: Progress | None = None,
) -> dict:
    """Accuracy, per-class accuracy and confusion matrix of a run on its `split`."""
    run_dir = run.name
    if data_dir is not None and (run.config is None or run.config.data != "fashion-mnist"):
        trained_on = run.config.data if run.config is not None else "no recorded data set"
        raise OneByOneError(
            f"--data-dir is Fashion-MNIST's IDX folder; {run_dir!r} was trained on {trained_on}"
        )
    if data_dir is not None and not Path(data_dir).is_dir():  # before loading anything
        raise OneByOneError(f"data folder {data_dir!r} not found")
    if run.config is not None and data_dir is not None:
        run.config.data_dir = data_dir
    if progress is not None:
        progress.stage("loading the data and the model")
    data = run.data()
    model, config = run.model(), run.config
    assert config is not None  # run.data() refused a run without a training configuration
    dataset = data.test if split == "test" else data.val
    if len(dataset) == 0:
        raise OneByOneError(
            f"{run_dir!r} has no {split} images (it was trained with val_size 0); use --split test"
        )
    config.device = "cpu"
    tta = config.test_time_flip if tta is None else tta
    on_batch = None
    if progress is not None:
        mirrored = " and their mirror images" if tta else ""
        progress.stage(f"predicting {len(dataset):,} {split} images{mirrored}", total=len(dataset))
        on_batch = progress.advance
    predictions = predict(model, dataset, config, tta=tta, on_batch=on_batch)
    matrix = confusion_matrix(dataset.labels, predictions, len(dataset.classes))
    per_class = (matrix.diag().float() / matrix.sum(1).clamp(min=1).float()).tolist()
    return {
        "schema_version": 1,
        "run_dir": str(run_dir),
        "model": config.model,
        "data": config.data,
        "split": split,
        "tta_flip": tta,
        "images": len(dataset),
        "accuracy": (predictions == dataset.labels).float().mean().item(),
        "classes": list(dataset.classes),
        "per_class_accuracy": per_class,
        "confusion_matrix": matrix.tolist(),
        "skipped": list(data.skipped),  # image files that could not be read (image folders)
    }


def save_confusion_png(report: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = report["confusion_matrix"]
    classes = report["classes"]
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * len(classes), 0.8 + 0.6 * len(classes)))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    peak = max(max(row) for row in matrix) or 1
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            ax.text(
                j,
                i,
                str(count),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if count > peak / 2 else "black",
            )
    ax.set_title(f"{report['model']} on {report['data']} {report['split']}: {report['accuracy']:.2%}")
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)
    return path


def run(args: argparse.Namespace) -> int:
    run = open_run(args.run_dir, code=args.model_code, trust_code=args.trust_code)
    png = check_output_file(
        Path(args.run_dir) / "confusion.png" if args.png is None else args.png, tuple(PLOT_FORMATS)
    )
    with progress_for(args, "eval") as progress:
        report = evaluate_run(run, args.split, args.data_dir, args.tta_flip, progress)
        progress.stage("drawing the confusion matrix")
        report["png"] = str(save_confusion_png(report, png))
    if report["skipped"]:
        first = report["skipped"][0]
        more = f" (and {len(report['skipped']) - 1} more)" if len(report["skipped"]) > 1 else ""
        print_warnings([f"skipped {len(report['skipped'])} unreadable image file(s): {first}{more}"])
    if args.format == "json":
        print(json_text(report, indent=2))
        return 0
    console = Console()
    console.print(
        f"[bold]{report['model']}[/] on {report['data']} {report['split']} "
        f"({report['images']:,} images): accuracy [bold]{report['accuracy']:.2%}[/]"
    )
    print_confusion(console, report)
    console.print(f"confusion matrix image: {report['png']}")
    return 0


COMPACT_ABOVE = 20  # classes: a larger confusion matrix is summed up per class (the PNG and JSON hold it)


def print_confusion(console: Console, report: dict) -> None:
    """The confusion matrix, split into blocks of columns when the console is narrow; above
    COMPACT_ABOVE classes, each class's accuracy and the class it is most often taken for."""
    classes, matrix, accuracy = report["classes"], report["confusion_matrix"], report["per_class_accuracy"]
    if len(classes) > COMPACT_ABOVE:
        rows = []
        for index, (name, row) in enumerate(zip(classes, matrix, strict=True)):
            wrong = [(count, j) for j, count in enumerate(row) if j != index]
            count, other = max(wrong) if wrong else (0, index)
            mistaken = f"{other} {classes[other]} ({count:,})" if count else "–"
            rows.append([f"{index} {name}", f"{sum(row):,}", f"{accuracy[index]:.1%}", mistaken])
        columns = [
            Column("class", "left", 9, "text"),
            Column("images", "right", 5),
            Column("accuracy", "right", 8),
            Column("most often taken for", "left", 7, "text"),
        ]
        print_table(console, "per class (the whole matrix: the PNG, or --format json)", columns, rows)
        return
    columns = [Column("class", "left", 9, "text")]
    columns += [Column(str(index), "right", 5) for index in range(len(classes))]
    columns.append(Column("accuracy", "right", 8))
    rows = [
        [f"{index} {name}", *(f"{c:,}" for c in row), f"{accuracy[index]:.1%}"]
        for index, (name, row) in enumerate(zip(classes, matrix, strict=True))
    ]
    print_table(console, "confusion matrix (rows: true class, columns: predicted)", columns, rows, blocks=1)
