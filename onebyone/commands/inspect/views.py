"""The five `onebyone inspect` subcommands: each measures with `onebyone.insight` and draws a PNG."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from onebyone.commands.common import input_size, open_subject, read_photo
from onebyone.commands.inspect.shared import View, out_path, pick_image, shown, test_images
from onebyone.data import MAX_PHOTO_SIDE, fit_photo
from onebyone.errors import OneByOneError
from onebyone.files import check_output_file, writes_through
from onebyone.insight import (
    capture_activations,
    compose_scenes,
    dense_prediction,
    gap_class_map_network,
    measure_sparsity,
    photo_class_map,
    plots,
    relu_layers,
    strongest_unit_box,
)
from onebyone.insight.activations import resolve_layers
from onebyone.insight.boxes import output_geometry
from onebyone.progress import Progress

MAX_BATCH = 4096  # images per forward pass: more only asks for memory
DEFAULT_IMAGES = 2000  # test images sparsity measures on


@shown("feature-maps")
def run_feature_maps(args: argparse.Namespace, progress: Progress) -> View:
    if args.max_tiles < 2:
        raise OneByOneError(f"--max-tiles must be ≥ 2, got {args.max_tiles}")
    run = open_subject(args)
    out = out_path(args, run, "feature-maps")
    image, label, where = pick_image(args, run)
    layers = resolve_layers(run.model(), args.layer) if args.layer else None
    if not layers:
        relus = relu_layers(run.model(), run.preprocess(image))
        layers = (
            list(dict.fromkeys(relus[i] for i in (0, len(relus) // 2, len(relus) - 1))) if relus else None
        )
    paths = _layer_paths(out, layers)  # checked before the forward pass
    progress.stage(f"capturing activations of {where}")
    activations = capture_activations(run.model(), run.preprocess(image), layers)
    if not layers:  # no ReLU: the layers capture_activations chose
        paths = _layer_paths(out, list(activations))
    rows, records = [], []
    for name, activation in activations.items():
        if activation.dim() != 4:
            raise OneByOneError(f"layer {name!r} outputs {tuple(activation.shape)}, not feature maps")
        path = paths.get(name, out)
        progress.stage(f"drawing {path.name}")
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
        rows.append(
            [name, "×".join(map(str, shape)), f"{zero:.1%}", f"{float(activation.max()):.3g}", path.name]
        )
    data = {"model": run.name, "image": where, "label": label, "layers": records}
    return View(
        data,
        f"{run.name}: feature maps of {where}",
        ["layer", "C×h×w", "zero", "max"],
        rows,
        [f"PNG: {records[0]['png']}" if len(records) == 1 else f"PNGs: {out.with_name(out.stem)}-LAYER.png"],
    )


def _layer_paths(out: Path, layers: list[str] | None) -> dict[str, Path]:
    """One image per layer: OUT itself for one layer, OUT-STEM-LAYER.SUFFIX beside it for several."""
    if not layers or len(layers) == 1:
        return {}
    if writes_through(out):
        raise OneByOneError(
            f"{len(layers)} layers make {len(layers)} images, named after --out; {str(out)!r} is a device, "
            "not a file name (give one --layer, or a file name)"
        )
    return {name: check_output_file(out.with_name(f"{out.stem}-{name}{out.suffix}")) for name in layers}


@shown("sparsity")
def run_sparsity(args: argparse.Namespace, progress: Progress) -> View:
    if args.images is not None and args.image:
        raise OneByOneError("--images counts test images; with --image the photos given are measured")
    count = DEFAULT_IMAGES if args.images is None else args.images
    if not 1 <= count or not 1 <= args.batch_size <= MAX_BATCH:
        raise OneByOneError(f"--images must be ≥ 1 and --batch-size in 1..{MAX_BATCH}")
    run = open_subject(args)
    out = out_path(args, run, "sparsity")
    if args.image:
        source = f"{len(args.image)} photo(s)"
        images = torch.cat([read_photo(args, run, path) for path in args.image])
    else:
        data = test_images(args, run)
        source, images = data.name, data.images[:count]
    progress.stage(f"measuring on {len(images):,} images of {source}", total=len(images))
    result = measure_sparsity(
        run.model(),
        images,
        args.batch_size,
        name=run.name,
        preprocess=run.preprocess,
        on_batch=progress.advance,
    )
    progress.stage(f"drawing {out.name}")
    png = plots.plot_sparsity(result, out)
    report = {**result.to_dict(), "data": source, "png": str(png)}
    rows = [
        [
            r.depth,
            r.layer,
            r.kind,
            "×".join(map(str, r.shape)),
            f"{r.zero_fraction:.3f}",
            f"{r.mean_activation:.3f}",
        ]
        for r in result.rows
    ]
    notes = [f"slope of the zero fraction against depth: {result.slope:+.4f} per layer", f"plot: {png}"]
    return View(
        report,
        f"{run.name}: after each activation, {result.images:,} images of {source}",
        ["depth", "layer", "kind", "C×h×w", "zero fraction", "mean activation"],
        rows,
        notes,
    )


def _check_top(top: int, classes) -> None:
    """--top against the classes a run names (none named: checked once the scores say how many there are)."""
    if classes and top > len(classes):
        raise OneByOneError(f"--top must be from 1 to {len(classes)} (the classes), got {top}")


@shown("cam")
def run_cam(args: argparse.Namespace, progress: Progress) -> View:
    if args.top < 1:
        raise OneByOneError(f"--top must be ≥ 1, got {args.top}")
    run = open_subject(args)
    _check_top(args.top, run.classes)  # before the work, when the run names its classes
    out = out_path(args, run, "cam")
    image, label, where = pick_image(args, run)
    progress.stage(f"class maps of {where}")
    shape = (1, *input_size(args, run))
    network = gap_class_map_network(run.model(), shape).eval()
    x = run.preprocess(image)
    with torch.no_grad():
        cams = network(x)[0]  # (num_classes, h, w)
    classes = run.classes or tuple(str(c) for c in range(cams.shape[0]))
    if len(classes) != cams.shape[0]:
        classes = tuple(str(c) for c in range(cams.shape[0]))
    if args.top > len(classes):
        raise OneByOneError(f"--top must be from 1 to {len(classes)} (the classes), got {args.top}")
    geometry = output_geometry(network, shape)
    progress.stage(f"drawing {out.name}")
    png = plots.plot_cam(
        image[0],
        cams,
        out,
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
        "model": run.name,
        "image": where,
        "label": label,
        "map_size": list(cams.shape[1:]),
        "map_stride": list(geometry.stride),
        "top": top,
        "png": str(png),
    }
    rows = [[t["class"], f"{t['score']:.3f}", f"{t['probability']:.1%}"] for t in top]
    truth = f" (true class {classes[label]})" if label is not None else ""
    return View(
        data,
        f"{run.name}: class activation maps of {where}{truth}",
        ["class", "score = map mean", "probability"],
        rows,
        [f"image: {png}"],
    )


@shown("box")
def run_box(args: argparse.Namespace, progress: Progress) -> View:
    run = open_subject(args)
    out = out_path(args, run, "box")
    image, label, where = pick_image(args, run)
    layer = args.layer
    x = run.preprocess(image)
    if layer is not None:
        resolve_layers(run.model(), [layer])  # a name the model does not have: before the work
    if layer is None:
        relus = relu_layers(run.model(), x)
        if not relus:
            raise OneByOneError(
                f"{run.name} has no activation that outputs zeros; name the layer with --layer"
            )
        layer = relus[-1]
    progress.stage(f"the strongest unit of {layer}")
    box = strongest_unit_box(run.model(), x, layer)
    channel_map = capture_activations(run.model(), x, [layer])[layer][0, box.channel]
    progress.stage(f"drawing {out.name}")
    png = plots.plot_box(image[0], box, out, channel_map=channel_map)
    data = {"model": run.name, "image": where, "label": label, **box.to_dict(), "png": str(png)}
    rows = [
        ["unit (channel, y, x)", f"({box.channel}, {box.y}, {box.x})"],
        ["activation", f"{box.value:.4g}"],
        ["field size", f"{box.field_size[0]:g}×{box.field_size[1]:g}"],
        ["stride", f"{box.stride[0]:g}×{box.stride[1]:g}"],
        ["centre (y, x)", f"({box.centre[0]:g}, {box.centre[1]:g})"],
        ["box (top, left, bottom, right)", ", ".join(f"{v:g}" for v in box.box)],
        ["inside the image", ", ".join(f"{v:g}" for v in box.clipped_box)],
    ]
    return View(
        data,
        f"{run.name}: strongest unit of {layer} on {where}",
        ["", "value"],
        rows,
        [f"image: {png}"],
    )


DENSE_SCENE_DEFAULTS = {"scenes": 100, "canvas": 144, "items": 4, "seed": 0}  # scenes of test images
DENSE_PHOTO_DEFAULTS = {"side": None, "top": 4}  # --image: None is twice the input's side


@shown("dense")
def run_dense(args: argparse.Namespace, progress: Progress) -> View:
    unused = DENSE_SCENE_DEFAULTS if args.image else DENSE_PHOTO_DEFAULTS
    given = [f"--{name}" for name in unused if getattr(args, name) is not None]
    if given:
        mode = "a photo (--image)" if args.image else "scenes of test images (no --image)"
        raise OneByOneError(f"{', '.join(given)} does not apply to {mode}")
    for name, default in {**DENSE_SCENE_DEFAULTS, **DENSE_PHOTO_DEFAULTS}.items():
        setattr(args, name, default if getattr(args, name) is None else getattr(args, name))
    if args.scenes < 1 or args.items < 1:
        raise OneByOneError(f"--scenes and --items must be ≥ 1, got {args.scenes} and {args.items}")
    run = open_subject(args)
    out = out_path(args, run, "dense")
    if args.image:
        return _dense_photo(args, run, out, progress)
    data = test_images(args, run)
    needed = args.scenes * args.items
    if needed > len(data):
        raise OneByOneError(
            f"{args.scenes} scenes of {args.items} items need {needed} test images; "
            f"{data.name} has {len(data)}"
        )
    scenes = compose_scenes(  # quick, and it checks --canvas and --seed: before the stage line
        data.images[:needed],
        data.labels[:needed],
        canvas=args.canvas,
        items_per_scene=args.items,
        seed=args.seed,
        classes=data.classes,
    )
    progress.stage(f"predicting densely on {args.scenes} composed scenes")
    result = dense_prediction(run.model(), scenes, preprocess=run.preprocess)
    progress.stage(f"drawing {out.name}")
    png = plots.plot_class_map(scenes, result, out)
    report = {
        "model": run.name,
        "data": data.name,
        "scenes": len(scenes),
        "canvas": args.canvas,
        **result.to_dict(),
        "png": str(png),
    }
    rows: list[list[object]] = [
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
    return View(
        report,
        f"{run.name}: dense prediction on {len(scenes)} scenes of {args.canvas}×{args.canvas}",
        ["", "value"],
        rows,
        [f"image: {png}"],
    )


def _dense_photo(args: argparse.Namespace, run, out, progress: Progress) -> View:
    """A class map over a whole photo: the network slid over it as a dense predictor (claim C9)."""
    channels, height, width = input_size(args, run)
    side = 2 * min(height, width) if args.side is None else args.side
    if not min(height, width) <= side <= MAX_PHOTO_SIDE or args.top < 1:
        raise OneByOneError(
            f"--side must be in {min(height, width)}..{MAX_PHOTO_SIDE} and --top ≥ 1, "
            f"got {side} and {args.top}"
        )
    _check_top(args.top, run.classes)  # before the work, when the run names its classes
    photo = fit_photo(args.image, shorter_side=side, channels=channels)  # (1, C, H', W') uint8
    progress.stage(f"a class map over {args.image}")
    result = photo_class_map(run.model(), run.preprocess(photo), (1, channels, height, width))
    classes = run.classes or tuple(str(c) for c in range(result.class_maps.shape[0]))
    if args.top > len(classes):
        raise OneByOneError(f"--top must be from 1 to {len(classes)} (the classes), got {args.top}")
    png = plots.plot_photo_class_map(photo[0], result, out, classes=classes, top=args.top)
    chosen = result.top_classes(min(args.top, len(classes)))
    shares = result.share(chosen)
    means = result.class_maps.mean((1, 2))
    top = [
        {"class": classes[c], "index": c, "mean_score": float(means[c]), "cell_share": share}
        for c, share in zip(chosen, shares, strict=True)
    ]
    report = {"model": run.name, "image": args.image, **result.to_dict(), "top": top, "png": str(png)}
    h, w = result.class_maps.shape[-2:]
    rows = [[t["class"], f"{t['mean_score']:.3f}", f"{t['cell_share']:.0%}"] for t in top]
    stride = result.geometry.stride[0]
    notes = [f"class map {h}×{w} cells, stride {stride:g} px ({result.method})", f"image: {png}"]
    return View(
        report,
        f"{run.name}: class map over {args.image} ({photo.shape[-1]}×{photo.shape[-2]})",
        ["class", "mean score", "cells it wins"],
        rows,
        notes,
    )
