"""`onebyone inspect`: feature maps, sparsity by depth, class activation maps, receptive-field boxes
and dense prediction of a trained run (or of a zoo/user model), each as a table and a PNG."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table
from torch import Tensor, nn

from onebyone.commands.common import add_model_arguments, load_model_and_input
from onebyone.data import FASHION_MNIST_CLASSES, ImageDataset, load_fashion_mnist
from onebyone.errors import OneByOneError
from onebyone.inspect import (
    capture_activations,
    compose_scenes,
    dense_prediction,
    gap_class_map_network,
    load_image,
    measure_sparsity,
    plots,
    relu_layers,
    strongest_unit_box,
)
from onebyone.inspect.boxes import output_geometry


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="see inside a model: feature maps, sparsity, CAM, receptive-field boxes, dense prediction",
        description="Measure and draw what a trained network computes on real images. RUN_OR_MODEL is "
        "a training run folder (its weights, normalisation and test set) or a zoo/user model (untrained; "
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
        commands, "sparsity", "fraction of exactly-zero activations after each ReLU, by depth"
    )
    sparsity.add_argument("--images", type=int, default=2000, help="test images to measure on (default 2000)")
    sparsity.add_argument("--batch-size", type=int, default=256, help="images per forward pass")
    sparsity.set_defaults(func=run_sparsity)

    cam = _command(commands, "cam", "class activation maps of a GAP network, overlaid on one image")
    _add_image_arguments(cam)
    cam.add_argument("--top", type=int, default=3, help="classes to draw, highest score first (default 3)")
    cam.set_defaults(func=run_cam)

    box = _command(commands, "box", "the input box seen by a layer's strongest unit on one image")
    _add_image_arguments(box)
    box.add_argument("--layer", metavar="NAME", help="module path (default: the last ReLU)")
    box.set_defaults(func=run_box)

    dense = _command(commands, "dense", "run the model as a dense predictor on scenes of test images")
    dense.add_argument("--scenes", type=int, default=100, help="scenes to compose (default 100)")
    dense.add_argument("--canvas", type=int, default=144, help="canvas side in pixels (default 144)")
    dense.add_argument("--items", type=int, default=4, help="test images per scene (default 4)")
    dense.add_argument("--seed", type=int, default=0, help="seeds where items go")
    dense.set_defaults(func=run_dense)


def _command(commands, name: str, help: str) -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".")
    add_model_arguments(parser)
    parser.add_argument(
        "--out",
        metavar="PATH",
        help=f"PNG to write (default: RUN/inspect-{name}.png, or ./{name}.png for a model)",
    )
    parser.add_argument("--format", choices=["table", "json"], default="table", help="output format")
    return parser


def _add_image_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--image", metavar="PATH", help="an image file (converted and resized to the input)")
    group.add_argument("--index", type=int, help="index into the test set (default 0)")


@dataclass
class Subject:
    """What the subcommands look at: a model, its input size, how to preprocess, where its data is."""

    model: nn.Module
    input_size: tuple[int, int, int]
    name: str
    run_config: object | None  # TrainConfig of a run folder
    _test: ImageDataset | None = field(default=None, repr=False)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Subject:
        model, input_size, name = load_model_and_input(args)
        config = None
        if Path(args.model).is_dir():
            from onebyone.train.run import read_run_config

            config = read_run_config(args.model)
        return cls(model.eval(), input_size, name, config)

    def preprocess(self, images: Tensor) -> Tensor:
        """uint8 images → model input: the run's normalisation, or [0, 1] for an untrained model."""
        config = self.run_config
        if config is not None and config.mean is not None and config.std is not None:
            from onebyone.train.run import normalise

            return normalise(images, config)
        return images.float() / 255.0

    def test_set(self) -> ImageDataset:
        """The run's test split; Fashion-MNIST's test set for a model that takes 1×28×28 input."""
        if self._test is None:
            if self.run_config is not None:
                from onebyone.train import load_data

                self._test = load_data(self.run_config).test
            elif self.input_size == (1, 28, 28):
                self._test = load_fashion_mnist("test")
            else:
                raise OneByOneError(
                    f"{self.name} takes {'x'.join(map(str, self.input_size))} input and has no data set; "
                    "give a training run folder (or --image for one image)"
                )
        return self._test

    @property
    def classes(self) -> tuple[str, ...]:
        data = getattr(self.run_config, "data", "fashion-mnist" if self.input_size == (1, 28, 28) else None)
        if data == "fashion-mnist":
            return FASHION_MNIST_CLASSES
        return self.test_set().classes if data is not None else ()

    def out_path(self, args: argparse.Namespace, name: str) -> Path:
        if args.out:  # matplotlib would add ".png" to a bare name behind our back: add it here
            out = Path(args.out)
            return out if out.suffix else out.with_name(out.name + ".png")
        return (
            Path(args.model) / f"inspect-{name}.png" if self.run_config is not None else Path(f"{name}.png")
        )

    def image(self, args: argparse.Namespace) -> tuple[Tensor, int | None, str]:
        """(1, C, H, W) uint8, its label if known, and where it came from."""
        if args.image:
            return (
                load_image(args.image, channels=self.input_size[0], size=self.input_size[1:]),
                None,
                args.image,
            )
        data = self.test_set()
        index = 0 if args.index is None else args.index
        if not 0 <= index < len(data):
            raise OneByOneError(f"--index must be in 0..{len(data) - 1} ({data.name}), got {index}")
        return data.images[index : index + 1], int(data.labels[index]), f"{data.name}[{index}]"


def _print_table(title: str, columns: list[str], rows: list[list], notes: list[str]) -> None:
    console = Console()
    table = Table(title=title)
    for index, column in enumerate(columns):
        table.add_column(column, justify="left" if index == 0 or column == "layer" else "right")
    for row in rows:
        table.add_row(*(str(v) for v in row))
    console.print(table)
    for note in notes:
        console.print(note)


def _emit(
    args: argparse.Namespace, data: dict, title: str, columns: list[str], rows: list[list], notes: list[str]
) -> int:
    if args.format == "json":
        print(json.dumps(data, indent=2))
    else:
        _print_table(title, columns, rows, notes)
    return 0


def run_feature_maps(args: argparse.Namespace) -> int:
    if args.max_tiles < 2:
        raise OneByOneError(f"--max-tiles must be ≥ 2, got {args.max_tiles}")
    subject = Subject.from_args(args)
    image, label, where = subject.image(args)
    layers = args.layer
    if not layers:
        relus = relu_layers(subject.model)
        layers = (
            list(dict.fromkeys(relus[i] for i in (0, len(relus) // 2, len(relus) - 1))) if relus else None
        )
    activations = capture_activations(subject.model, subject.preprocess(image), layers)
    out = subject.out_path(args, "feature-maps")
    rows, records = [], []
    for name, activation in activations.items():
        if activation.dim() != 4:
            raise OneByOneError(f"layer {name!r} outputs {tuple(activation.shape)}, not feature maps")
        path = out if len(activations) == 1 else out.with_name(f"{out.stem}-{name}{out.suffix or '.png'}")
        plots.plot_feature_maps(activation[0], path, layer=name, image=image[0], max_tiles=args.max_tiles)
        zero = float((activation == 0).float().mean())
        shape = list(activation.shape[1:])
        records.append(
            {
                "layer": name,
                "shape": shape,
                "zero_fraction": zero,
                "max": float(activation.max()),
                "png": str(path),
            }
        )
        rows.append([name, "×".join(map(str, shape)), f"{zero:.1%}", f"{float(activation.max()):.3g}", path])
    data = {"model": subject.name, "image": where, "label": label, "layers": records}
    return _emit(
        args,
        data,
        f"{subject.name}: feature maps of {where}",
        ["layer", "C×h×w", "zero", "max", "png"],
        rows,
        [],
    )


def run_sparsity(args: argparse.Namespace) -> int:
    if args.images < 1 or args.batch_size < 1:
        raise OneByOneError("--images and --batch-size must be ≥ 1")
    subject = Subject.from_args(args)
    data = subject.test_set()
    images = subject.preprocess(data.images[: args.images])
    result = measure_sparsity(subject.model, images, args.batch_size, name=subject.name)
    png = plots.plot_sparsity(result, subject.out_path(args, "sparsity"))
    report = {**result.to_dict(), "data": data.name, "png": str(png)}
    rows = [
        [r.depth, r.layer, "×".join(map(str, r.shape)), f"{r.zero_fraction:.3f}", f"{r.mean_activation:.3f}"]
        for r in result.rows
    ]
    notes = [f"slope of the zero fraction against depth: {result.slope:+.4f} per layer", f"plot: {png}"]
    return _emit(
        args,
        report,
        f"{subject.name}: after each ReLU, {result.images:,} images of {data.name}",
        ["depth", "layer", "C×h×w", "zero fraction", "mean activation"],
        rows,
        notes,
    )


def run_cam(args: argparse.Namespace) -> int:
    if args.top < 1:
        raise OneByOneError(f"--top must be ≥ 1, got {args.top}")
    subject = Subject.from_args(args)
    image, label, where = subject.image(args)
    shape = (1, *subject.input_size)
    network = gap_class_map_network(subject.model, shape).eval()
    x = subject.preprocess(image)
    with torch.no_grad():
        cams = network(x)[0]  # (num_classes, h, w)
    classes = subject.classes or tuple(str(c) for c in range(cams.shape[0]))
    if len(classes) != cams.shape[0]:
        classes = tuple(str(c) for c in range(cams.shape[0]))
    geometry = output_geometry(network, shape)
    png = plots.plot_cam(
        image[0],
        cams,
        subject.out_path(args, "cam"),
        geometry=geometry,
        classes=classes,
        label=label,
        top=args.top,
    )
    scores = cams.mean((1, 2))
    probabilities = scores.softmax(0)
    order = scores.argsort(descending=True)[: args.top].tolist()
    top = [
        {"class": classes[c], "index": c, "score": float(scores[c]), "probability": float(probabilities[c])}
        for c in order
    ]
    data = {
        "model": subject.name,
        "image": where,
        "label": label,
        "map_size": list(cams.shape[1:]),
        "map_stride": list(geometry.stride),
        "top": top,
        "png": str(png),
    }
    rows = [[t["class"], f"{t['score']:.3f}", f"{t['probability']:.1%}"] for t in top]
    truth = f" (true class {classes[label]})" if label is not None else ""
    return _emit(
        args,
        data,
        f"{subject.name}: class activation maps of {where}{truth}",
        ["class", "score = map mean", "probability"],
        rows,
        [f"image: {png}"],
    )


def run_box(args: argparse.Namespace) -> int:
    subject = Subject.from_args(args)
    image, label, where = subject.image(args)
    layer = args.layer
    if layer is None:
        relus = relu_layers(subject.model)
        if not relus:
            raise OneByOneError(f"{subject.name} has no nn.ReLU module; name the layer with --layer")
        layer = relus[-1]
    x = subject.preprocess(image)
    box = strongest_unit_box(subject.model, x, layer)
    channel_map = capture_activations(subject.model, x, [layer])[layer][0, box.channel]
    png = plots.plot_box(image[0], box, subject.out_path(args, "box"), channel_map=channel_map)
    data = {"model": subject.name, "image": where, "label": label, **box.to_dict(), "png": str(png)}
    rows = [
        ["unit (channel, y, x)", f"({box.channel}, {box.y}, {box.x})"],
        ["activation", f"{box.value:.4g}"],
        ["field size", f"{box.field_size[0]:g}×{box.field_size[1]:g}"],
        ["stride", f"{box.stride[0]:g}×{box.stride[1]:g}"],
        ["centre (y, x)", f"({box.centre[0]:g}, {box.centre[1]:g})"],
        ["box (top, left, bottom, right)", ", ".join(f"{v:g}" for v in box.box)],
        ["inside the image", ", ".join(f"{v:g}" for v in box.clipped_box)],
    ]
    return _emit(
        args,
        data,
        f"{subject.name}: strongest unit of {layer} on {where}",
        ["", "value"],
        rows,
        [f"image: {png}"],
    )


def run_dense(args: argparse.Namespace) -> int:
    if args.scenes < 1:
        raise OneByOneError(f"--scenes must be ≥ 1, got {args.scenes}")
    subject = Subject.from_args(args)
    data = subject.test_set()
    needed = args.scenes * args.items
    if needed > len(data):
        raise OneByOneError(
            f"{args.scenes} scenes of {args.items} items need {needed} test images; "
            f"{data.name} has {len(data)}"
        )
    scenes = compose_scenes(
        data.images[:needed],
        data.labels[:needed],
        canvas=args.canvas,
        items_per_scene=args.items,
        seed=args.seed,
        classes=data.classes,
    )
    result = dense_prediction(subject.model, scenes, preprocess=subject.preprocess)
    png = plots.plot_class_map(scenes, result, subject.out_path(args, "dense"))
    report = {
        "model": subject.name,
        "data": data.name,
        "scenes": len(scenes),
        "canvas": args.canvas,
        **result.to_dict(),
        "png": str(png),
    }
    rows = [
        ["items", result.n_items],
        ["predicted at their centre", f"{result.n_hits} ({result.hit_fraction:.1%})"],
        ["by the mean over each item", f"{result.region_hit_fraction:.1%}"],
        ["accuracy on the items alone", f"{result.item_accuracy:.1%}"],
        [
            "class map",
            f"{result.map_size[0]}×{result.map_size[1]} cells, stride {result.geometry.stride[0]:g} px",
        ],
        ["how", result.method],
    ]
    return _emit(
        args,
        report,
        f"{subject.name}: dense prediction on {len(scenes)} scenes of {args.canvas}×{args.canvas}",
        ["", "value"],
        rows,
        [f"image: {png}"],
    )
