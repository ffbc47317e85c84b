"""`onebyone inspect`: feature maps, sparsity by depth, class activation maps, receptive-field boxes
and dense prediction of a run (or of a zoo/user model), each as a table and a PNG."""

from __future__ import annotations

import argparse

from onebyone.commands.common import add_model_arguments
from onebyone.commands.inspect.views import run_box, run_cam, run_dense, run_feature_maps, run_sparsity
from onebyone.progress import add_progress_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="see inside a model: feature maps, sparsity, CAM, receptive-field boxes, dense prediction",
        description="Measure and draw what a trained network computes on real images. RUN_OR_MODEL is "
        "a run folder (its weights, normalisation and test set) or a zoo/user model (untrained; "
        "Fashion-MNIST's test set when it takes 1x28x28 input).",
    )
    commands = parser.add_subparsers(dest="inspect_command", metavar="WHAT", required=True)

    maps = _command(commands, "feature-maps", "a PNG grid of each chosen layer's channels for one image")
    _add_image_arguments(maps)
    maps.add_argument(
        "--layer",
        action="append",
        metavar="NAME",
        help="module path, repeatable (default: first, middle and last ReLU)",
    )
    maps.add_argument(
        "--max-tiles", type=int, default=32, help="tiles per PNG: input + channels (default 32)"
    )
    maps.set_defaults(func=run_feature_maps)

    sparsity = _command(
        commands, "sparsity", "fraction of exactly-zero outputs of each activation (ReLU, ReLU6, …), by depth"
    )
    sparsity.add_argument(
        "--images", type=int, help="test images to measure on (default 2000; not with --image)"
    )
    sparsity.add_argument(
        "--image", action="append", metavar="PATH", help="measure on these photos instead (repeatable)"
    )
    sparsity.add_argument("--batch-size", type=int, default=256, help="images per forward pass (≤ 4096)")
    sparsity.set_defaults(func=run_sparsity)

    cam = _command(commands, "cam", "class activation maps of a GAP network, overlaid on one image")
    _add_image_arguments(cam)
    cam.add_argument(
        "--top",
        type=int,
        default=3,
        help="classes to draw, highest score first, 1 to the classes (default 3)",
    )
    cam.set_defaults(func=run_cam)

    box = _command(commands, "box", "the input box seen by a layer's strongest unit on one image")
    _add_image_arguments(box)
    box.add_argument("--layer", metavar="NAME", help="module path (default: the last ReLU)")
    box.set_defaults(func=run_box)

    dense = _command(
        commands, "dense", "run the model as a dense predictor on scenes of test images, or over a photo"
    )
    dense.add_argument("--image", metavar="PATH", help="a photo: a class map over all of it, not scenes")
    dense.add_argument(
        "--side",
        type=int,
        help="--image: its shorter side in pixels as fed, from the input's to 2048 (default: twice the "
        "input's)",
    )
    dense.add_argument("--top", type=int, help="--image: classes to draw, 1 to the classes (default 4)")
    dense.add_argument("--scenes", type=int, help="without --image: scenes to compose (default 100)")
    dense.add_argument("--canvas", type=int, help="without --image: canvas side in pixels (default 144)")
    dense.add_argument("--items", type=int, help="without --image: test images per scene (default 4)")
    dense.add_argument("--seed", type=int, help="without --image: seeds where items go (default 0)")
    dense.set_defaults(func=run_dense)


def _command(commands, name: str, help: str) -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".")
    add_model_arguments(parser)
    parser.add_argument(
        "--out",
        metavar="PATH",
        help="image to write, named with its format's suffix (.png, .pdf, .svg) or a device such as "
        f"/dev/null (default: RUN/inspect-{name}.png, or ./{name}.png for a model)",
    )
    parser.add_argument("--format", choices=["table", "json"], default="table", help="output format")
    add_progress_argument(parser)
    return parser


def _add_image_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--image", metavar="PATH", help="an image file (converted and resized to the input)")
    group.add_argument("--index", type=int, help="index into the test set (default 0)")
