"""C3 (ablation), C5, C9, C13, C14: claims that need networks trained on Fashion-MNIST.

The trained models are nin-fashion variants (ReportContext.VARIANTS), trained once per seed and
cached in the report folder.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import torch

from onebyone.report.claims_math import c3_depth_without_field
from onebyone.report.context import VARIANT_NAMES, ReportContext
from onebyone.report.results import APPROXIMATELY, DOES_NOT_HOLD, HOLDS, ClaimResult, Figure, Table


def variant_stats(ctx: ReportContext, variant: str) -> dict:
    """Parameters and accuracies of one variant over the configured seeds (accuracies in %)."""
    runs = [ctx.trained(variant, seed) for seed in range(ctx.config.seeds)]
    tests = [100 * r.test_accuracy for r in runs]
    gaps = [100 * (r.train_accuracy - r.test_accuracy) for r in runs]
    return {
        "name": VARIANT_NAMES[variant],
        "params": runs[0].parameters,
        "test": statistics.mean(tests),
        "test_range": (min(tests), max(tests)),
        "train": statistics.mean(100 * r.train_accuracy for r in runs),
        "gap": statistics.mean(gaps),
        "gap_range": (min(gaps), max(gaps)),
        "seeds": len(runs),
    }


def _spread(value: float, bounds: tuple[float, float], seeds: int) -> str:
    if seeds < 2:
        return f"{value:.2f}"
    return f"{value:.2f} ({bounds[0]:.2f}–{bounds[1]:.2f})"


def _stats_rows(stats: list[dict]) -> list[list]:
    return [
        [
            s["name"],
            f"{s['params']:,}",
            f"{s['train']:.2f}",
            _spread(s["test"], s["test_range"], s["seeds"]),
            _spread(s["gap"], s["gap_range"], s["seeds"]),
        ]
        for s in stats
    ]


STATS_COLUMNS = ["nin-fashion variant", "parameters", "train acc. %", "test acc. %", "train − test (pt)"]


def _training_caption(ctx: ReportContext) -> str:
    c = ctx.config
    subset = "all" if c.train_subset is None else f"{c.train_subset:,}"
    return (
        f"Fashion-MNIST, {subset} training images, {c.epochs} epochs, width {c.width:g}, "
        f"{c.seeds} seed(s); ranges are min–max over seeds"
    )


def _ablation_figure(ctx: ReportContext, stats: list[dict]) -> Figure:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.4), dpi=110)
    names = [s["name"].replace(", ", ",\n") for s in stats]
    colours = ["#4c72b0", "#dd8452", "#55a868"][: len(stats)]
    for ax, key, label in ((left, "test", "test accuracy (%)"), (right, "gap", "train − test (points)")):
        values = [s[key] for s in stats]
        low = [s[key] - s[f"{key}_range"][0] for s in stats]
        high = [s[f"{key}_range"][1] - s[key] for s in stats]
        ax.bar(range(len(stats)), values, color=colours, yerr=[low, high], capsize=4)
        for i, value in enumerate(values):
            ax.text(i, value, f"{value:.2f}", ha="center", va="bottom", fontsize=8)
        ax.set_xticks(range(len(stats)), names, fontsize=8)
        ax.set_ylabel(label)
        if key == "test":
            floor = min(values) - 5
            ax.set_ylim(max(0, floor), min(100, max(values) + 2))
    fig.suptitle("Trained ablations: " + _training_caption(ctx), fontsize=8)
    fig.tight_layout()
    path = ctx.figure_path("ablations")
    fig.savefig(path)
    plt.close(fig)
    return Figure(
        "Head and 1×1-layer ablations on Fashion-MNIST",
        path,
        "Error bars: min–max over seeds. Parameters are in the table.",
    )


def c3_with_ablation(ctx: ReportContext) -> ClaimResult:
    result = c3_depth_without_field(ctx)
    with_, without = variant_stats(ctx, "gap"), variant_stats(ctx, "no1x1")
    delta = with_["test"] - without["test"]
    result.findings.append(
        f"trained on Fashion-MNIST, the 1×1 layers change test accuracy by {delta:+.2f} points "
        f"({without['test']:.2f}% → {with_['test']:.2f}%) for "
        f"{with_['params'] - without['params']:+,} parameters"
    )
    result.tables.append(
        Table(
            "With vs without the 1×1 layers: " + _training_caption(ctx),
            STATS_COLUMNS,
            _stats_rows([with_, without]),
        )
    )
    result.reproduce += "; onebyone train nin-fashion --set pointwise_layers=0 --out runs/no1x1"
    return result


def c5_gap_head(ctx: ReportContext) -> ClaimResult:
    gap, fc, plain = variant_stats(ctx, "gap"), variant_stats(ctx, "fc"), variant_stats(ctx, "no1x1")
    fewer = gap["params"] < fc["params"]
    less_overfit = gap["gap"] < fc["gap"]
    verdict = HOLDS if fewer and less_overfit else APPROXIMATELY if fewer else DOES_NOT_HOLD
    overfit_text = f"its train–test gap is {gap['gap']:.2f} vs {fc['gap']:.2f} points" + (
        "" if less_overfit else ": no less overfitting in this short training"
    )
    return ClaimResult(
        "C5",
        "Global average pooling replaces the FC head: fewer parameters, less overfitting",
        "Replacing the fully connected head by global average pooling removes most parameters and "
        "overfits less (NIN paper, CIFAR-10 test error: FC 11.59%, FC + dropout 10.88%, GAP 10.41%).",
        verdict,
        f"the GAP head has {fc['params'] - gap['params']:,} fewer parameters "
        f"({gap['params']:,} vs {fc['params']:,}); "
        f"{overfit_text}; test accuracy {gap['test']:.2f}% vs {fc['test']:.2f}%",
        tables=[Table(_training_caption(ctx), STATS_COLUMNS, _stats_rows([gap, fc, plain]))],
        figures=[_ablation_figure(ctx, [gap, fc, plain])],
        reproduce='onebyone compare nin-fashion "nin-fashion head=fc"; '
        "onebyone train nin-fashion --set head=fc --out runs/fc",
    )


# --- C13: sparsity by depth -------------------------------------------------------------------


def _untrained(ctx: ReportContext, variant: str):
    from onebyone.models.loading import load_model

    trained = ctx.trained(variant, 0)
    torch.manual_seed(0)
    return load_model(trained.config.model, dict(trained.config.model_overrides)).eval()


def c13_sparsity(ctx: ReportContext) -> ClaimResult:
    from onebyone.inspect import measure_sparsity
    from onebyone.inspect.plots import plot_sparsity

    trained = ctx.trained("gap", 0)
    images, _, _ = ctx.test_images(trained.config, ctx.config.eval_size)
    result = measure_sparsity(trained.model, images, name="nin-fashion (trained)")
    baseline = measure_sparsity(_untrained(ctx, "gap"), images, name="nin-fashion (untrained)")
    zeros = [r.zero_fraction for r in result.rows]
    rises = sum(b > a for a, b in zip(zeros, zeros[1:], strict=False))
    steps = max(1, len(zeros) - 1)
    untrained_mean = sum(r.zero_fraction for r in baseline.rows) / len(baseline.rows)
    if result.slope > 0 and rises >= 0.7 * steps:
        verdict = HOLDS
    elif result.slope > 0:
        verdict = APPROXIMATELY
    else:
        verdict = DOES_NOT_HOLD
    figure_path = plot_sparsity(result, ctx.figure_path("sparsity"))
    rows = [
        [
            r.depth,
            r.layer.removeprefix("features."),
            "×".join(map(str, r.shape)),
            f"{r.zero_fraction:.3f}",
            f"{u.zero_fraction:.3f}",
            f"{r.mean_activation:.3f}",
        ]
        for r, u in zip(result.rows, baseline.rows, strict=True)
    ]
    return ClaimResult(
        "C13",
        "Feature maps get sparser with depth",
        "In a trained CNN the feature maps become sparser with depth: ReLU zeroes most units.",
        verdict,
        f"exactly-zero fraction {zeros[0]:.2f} after the first ReLU, {zeros[-1]:.2f} after the last; "
        f"it rises at {rises} of {steps} steps (slope {result.slope:+.3f} per layer); the untrained "
        f"network stays near {untrained_mean:.2f} everywhere",
        tables=[
            Table(
                f"After each ReLU, {result.images:,} Fashion-MNIST test images",
                ["depth", "layer", "map", "zero fraction", "untrained", "mean activation"],
                rows,
            )
        ],
        figures=[
            Figure(
                "Sparsity by depth of the trained NIN (GAP head)",
                figure_path,
                "Top: fraction of exactly-zero outputs after each ReLU; bottom: mean activation.",
            )
        ],
        reproduce=f"onebyone inspect sparsity {trained.run_dir}",
    )


# --- C14: localisation from the strongest activation and from class activation maps ------------


def _single_item_scenes(ctx: ReportContext, count: int, canvas: int):
    from onebyone.inspect import compose_scenes

    trained = ctx.trained("gap", 0)
    test = ctx.data(trained.config).test
    count = min(count, len(test))
    return compose_scenes(
        test.images[:count],
        test.labels[:count],
        canvas=canvas,
        items_per_scene=1,
        seed=0,
        classes=test.classes,
    )


def c14_localisation(ctx: ReportContext) -> ClaimResult:
    from onebyone.inspect import gap_class_map_network, strongest_unit_box
    from onebyone.inspect.boxes import output_geometry
    from onebyone.inspect.plots import plot_box, plot_cam
    from onebyone.train.run import normalise

    trained = ctx.trained("gap", 0)
    canvas = 56
    scenes = _single_item_scenes(ctx, min(ctx.config.eval_size, 500), canvas)
    x = normalise(scenes.canvases, trained.config)  # (S, 1, 56, 56)
    shape = (1, *x.shape[1:])
    network = gap_class_map_network(trained.model, shape).eval()
    geometry = output_geometry(network, shape)
    with torch.no_grad():
        maps = network(x).float()  # (S, classes, h, w)
    _, _, height, width = maps.shape
    centres_y = geometry.start[0] + geometry.stride[0] * torch.arange(height)
    centres_x = geometry.start[1] + geometry.stride[1] * torch.arange(width)
    inside = lambda cy, cx, box: box[0] <= cy <= box[2] and box[1] <= cx <= box[3]  # noqa: E731
    cam_hits, chance, box_hits = 0, 0.0, 0
    layer = "features.stage3"
    field = None
    for i, box in enumerate(scenes.boxes.tolist()):
        label = int(scenes.labels[i])
        peak = int(maps[i, label].argmax())
        cy, cx = float(centres_y[peak // width]), float(centres_x[peak % width])
        cam_hits += inside(cy, cx, box)
        in_y = ((centres_y >= box[0]) & (centres_y <= box[2])).float().mean()
        in_x = ((centres_x >= box[1]) & (centres_x <= box[3])).float().mean()
        chance += float(in_y * in_x)
        if i < 100:  # the strongest unit of the last mlpconv stage: its field's centre
            unit = strongest_unit_box(trained.model, x[i], layer)
            box_hits += inside(*unit.centre, box)
            field = unit.field_size
    n, n_box = len(scenes.boxes), min(100, len(scenes.boxes))
    cam_rate, box_rate, chance = cam_hits / n, box_hits / n_box, chance / n
    if cam_rate >= 0.8 and cam_rate >= 2 * chance:
        verdict = HOLDS
    elif cam_rate >= 2 * chance or box_rate >= 2 * chance:
        verdict = APPROXIMATELY
    else:
        verdict = DOES_NOT_HOLD
    first_label = int(scenes.labels[0])
    cam_figure = plot_cam(
        scenes.canvases[0].float(),
        maps[0],
        ctx.figure_path("cam"),
        geometry=geometry,
        classes=scenes.classes,
        label=first_label,
    )
    unit = strongest_unit_box(trained.model, x[0], layer)
    from onebyone.inspect import capture_activations

    channel_map = capture_activations(trained.model, x[:1], [layer])[layer][0, unit.channel]
    box_figure = plot_box(
        scenes.canvases[0].float(), unit, ctx.figure_path("rf_box"), channel_map=channel_map
    )
    return ClaimResult(
        "C14",
        "The strongest activation's receptive field localises the object; GAP makes CAMs direct",
        "Back-projecting the receptive field of the strongest last-layer activation gives the image region "
        "that caused it; with global average pooling the class activation maps show where each class is.",
        verdict,
        f"on {n} Fashion-MNIST test items placed at random on a {canvas}×{canvas} canvas, the peak of "
        f"the true class's CAM lies inside the item for {cam_rate:.0%} (a random cell: {chance:.0%}); the "
        f"strongest {layer.removeprefix('features.')} unit's field is centred on the item for "
        f"{box_rate:.0%} of {n_box}",
        findings=[
            f"CAM: the NIN's last 1×1 conv output, {height}×{width} cells {geometry.stride[0]:g} px apart, "
            f"each seeing {geometry.field_size[0]:g}×{geometry.field_size[1]:g} px",
            f"receptive field of one {layer.removeprefix('features.')} unit: {field[0]:g}×{field[1]:g} px "
            "(from the profiler)"
            if field
            else "no strongest-unit boxes measured",
        ],
        figures=[
            Figure(
                "Class activation maps on a composed scene",
                Path(cam_figure),
                "The item sits on an empty canvas; each map is the NIN's last 1×1 conv output for one class.",
            ),
            Figure(
                "Receptive-field box of the strongest unit",
                Path(box_figure),
                "The box is the profiler's receptive field of the most active unit, back-projected.",
            ),
        ],
        reproduce=f"onebyone inspect cam {trained.run_dir} --index 0; onebyone inspect box {trained.run_dir} "
        f"--index 0 --layer {layer}",
    )


# --- C9: FC → conv and dense prediction ---------------------------------------------------------


def c9_fc_to_conv(ctx: ReportContext) -> ClaimResult:
    from onebyone.inspect import compose_scenes, dense_prediction
    from onebyone.inspect.plots import plot_class_map
    from onebyone.surgery.fc_to_conv import fc_to_conv
    from onebyone.train.run import normalise

    fc_model = ctx.trained("fc", 0)
    images, _, _ = ctx.test_images(fc_model.config, 256)
    converted = fc_to_conv(fc_model.model, (1, *images.shape[1:])).eval()
    with torch.no_grad():
        original, same_size = fc_model.model(images).float(), converted(images).float()
        larger = converted(torch.zeros(1, *images.shape[1:2], 84, 84)).float()
    difference = (original - same_size.reshape(original.shape)).abs().max().item()
    test = ctx.data(fc_model.config).test
    count = min(ctx.config.eval_size, len(test)) // 4 * 4
    scenes = compose_scenes(
        test.images[:count], test.labels[:count], canvas=84, items_per_scene=4, seed=1, classes=test.classes
    )
    preprocess = lambda batch: normalise(batch, fc_model.config)  # noqa: E731
    dense_fc = dense_prediction(fc_model.model, scenes, preprocess=preprocess)
    dense_gap = dense_prediction(ctx.trained("gap", 0).model, scenes, preprocess=preprocess)
    figure = plot_class_map(scenes, dense_fc, ctx.figure_path("class_map"), scene=0)
    is_map = larger.dim() == 4 and larger.shape[-1] > 1
    verdict = HOLDS if difference <= 1e-4 and is_map else DOES_NOT_HOLD
    rows = [
        [
            label,
            d.method,
            "×".join(map(str, d.map_size)),
            f"{d.item_accuracy:.1%}",
            f"{d.hit_fraction:.1%}",
            f"{d.region_hit_fraction:.1%}",
        ]
        for label, d in (
            ("NIN, FC head → fc_to_conv", dense_fc),
            ("NIN, GAP head (already convolutional)", dense_gap),
        )
    ]
    return ClaimResult(
        "C9",
        "A 1×1 conv is an FC layer that accepts any input size",
        "A 1×1×D conv computes what a fully connected layer does, but a network built this way, given a "
        "larger image, outputs a W×H×classes map instead of one vector.",
        verdict,
        f"the converted FC-head NIN matches the original to {difference:.1e} at 28×28 and returns a "
        f"{'×'.join(map(str, larger.shape[1:]))} class map on an 84×84 input; on composed scenes it names "
        f"{dense_fc.hit_fraction:.0%} of the items at their location (the classifier alone: "
        f"{dense_fc.item_accuracy:.0%} of the same items)",
        tables=[
            Table(
                f"Dense prediction on {len(scenes)} scenes of 4 Fashion-MNIST test items (84×84)",
                ["model", "how", "map cells", "items alone", "hit at item centre", "hit over item"],
                rows,
            )
        ],
        figures=[
            Figure(
                "Class map of a composed scene (FC head converted to convs)",
                Path(figure),
                "Left: the scene with true → predicted class per item; right: the class map's argmax.",
            )
        ],
        reproduce=f"onebyone convert fc2conv {fc_model.run_dir} --out fc2conv; "
        f"onebyone inspect dense {fc_model.run_dir}",
    )
