"""What the inspect subcommands share: which image, where the PNG goes, and table-or-JSON output."""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from torch import Tensor

from onebyone.commands.arguments import parse_input_shape
from onebyone.commands.common import read_photo
from onebyone.data import ImageDataset
from onebyone.errors import OneByOneError
from onebyone.files import PLOT_FORMATS, check_output_file
from onebyone.progress import Progress, progress_for
from onebyone.records import json_text
from onebyone.runs import Run
from onebyone.tables import Column, print_table


def out_path(args: argparse.Namespace, run: Run, name: str) -> Path:
    """The image to write, checked before any work: --out exactly as named (its suffix: .png, .pdf
    or .svg; a device such as /dev/null is written through), else RUN/inspect-NAME.png or ./NAME.png."""
    if args.out is not None:
        out = Path(args.out) if args.out else args.out  # "" is refused by check_output_file
    else:
        out = run.path / f"inspect-{name}.png" if run.path is not None else Path(f"{name}.png")  # a folder
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


@dataclass
class View:
    """What a subcommand measured: its JSON, and the table with the notes under it."""

    data: dict
    title: str
    columns: list[str]
    rows: Sequence[Sequence[object]]  # each cell printed as str(cell)
    notes: list[str]


def shown(command: str) -> Callable:
    """Run `measure(args, progress)` under the progress display of `onebyone inspect COMMAND`, then
    print its View (after the display has closed, so the two never share the terminal)."""

    def decorate(measure: Callable[[argparse.Namespace, Progress], View]) -> Callable:
        @functools.wraps(measure)
        def run(args: argparse.Namespace) -> int:
            with progress_for(args, f"inspect {command}") as progress:
                view = measure(args, progress)
            return emit(args, view)

        return run

    return decorate


def _column(index: int, name: str, count: int) -> Column:
    """Names and paths read left and may be shortened ("layer") or wrap; numbers stay whole."""
    text = index == 0 or name in ("layer", "class", "png")
    kind = "name" if name == "layer" else ("text" if text else "value")
    return Column(name, "left" if text else "right", count - index if index else count + 1, kind)


def emit(args: argparse.Namespace, view: View) -> int:
    """Print the view's data as JSON (--format json) or as a titled table followed by notes."""
    if args.format == "json":
        print(json_text(view.data, indent=2))
        return 0
    console = Console()
    columns = [_column(i, name, len(view.columns)) for i, name in enumerate(view.columns)]
    print_table(console, view.title, columns, [[str(v) for v in row] for row in view.rows])
    for note in view.notes:
        console.print(note, highlight=False)
    return 0
