"""What the inspect subcommands share: which image, where the PNG goes, and table-or-JSON output."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table
from torch import Tensor

from onebyone.commands.arguments import parse_input_shape
from onebyone.commands.common import read_photo
from onebyone.data import ImageDataset
from onebyone.errors import OneByOneError
from onebyone.files import PLOT_FORMATS, check_output_file
from onebyone.records import json_text
from onebyone.runs import Run


def out_path(args: argparse.Namespace, run: Run, name: str) -> Path:
    """The image to write, checked before any work: --out exactly as named (its suffix: .png, .pdf
    or .svg; a device such as /dev/null is written through), else RUN/inspect-NAME.png or ./NAME.png."""
    if args.out is not None:
        out = Path(args.out) if args.out else args.out  # "" is refused by check_output_file
    else:
        out = run.path / f"inspect-{name}.png" if run.is_folder else Path(f"{name}.png")
    return check_output_file(out, tuple(PLOT_FORMATS))


def pick_image(args: argparse.Namespace, run: Run) -> tuple[Tensor, int | None, str]:
    """(1, C, H, W) uint8 from --image or --index into the test set, its label if known, and its source."""
    if args.image:  # scaled and centre-cropped as the model's data was prepared
        return read_photo(args, run, args.image), None, args.image
    data = test_images(args, run)
    index = 0 if args.index is None else args.index
    if not 0 <= index < len(data):
        raise OneByOneError(f"--index must be in 0..{len(data) - 1} ({data.name}), got {index}")
    return data.images[index : index + 1], int(data.labels[index]), f"{data.name}[{index}]"


def test_images(args: argparse.Namespace, run: Run) -> ImageDataset:
    """The test set whose images are measured; --input, which sizes a photo (--image), must match them."""
    data = run.test_set()
    if args.input:
        given, own = parse_input_shape(args.input)[-3:], tuple(data.images.shape[1:])
        if tuple(given) != own:
            raise OneByOneError(
                f"--input {args.input} does not match the {'×'.join(map(str, own))} images of {data.name} "
                "(--input sizes a photo given with --image)"
            )
    return data


def emit(
    args: argparse.Namespace, data: dict, title: str, columns: list[str], rows: list[list], notes: list[str]
) -> int:
    """Print `data` as JSON (--format json) or as a titled table followed by notes."""
    if args.format == "json":
        print(json_text(data, indent=2))
        return 0
    console = Console()
    table = Table(title=title)
    for index, column in enumerate(columns):
        text = index == 0 or column == "layer"  # paths and names fold onto more lines; numbers stay whole
        table.add_column(column, justify="left" if text else "right", overflow="fold", no_wrap=not text)
    for row in rows:
        table.add_row(*(str(v) for v in row))
    console.print(table)
    for note in notes:
        console.print(note)
    return 0
