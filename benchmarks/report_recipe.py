"""Choose the report's ablation recipe on validation images, with seeds the report never uses.

Trains nin-fashion variants (the report's `VARIANTS`, or the report's no-BN network with other
optimizer settings) with a candidate recipe and scores each on the training images it saw and on
5,000 held-out training images that no run trains on (the training split is shuffled by the seed
and the first N images are used; images N … N+4999 are the validation set). The test set is not
used (the training run itself scores one test image, which is ignored). Prints one JSON line per run.

    python benchmarks/report_recipe.py --variants gap,no1x1,fc,fc-dropout --seeds 100,101
    python benchmarks/report_recipe.py --variants gap-nobn --seeds 100,101,102 \
        --set optimizer=adamw --set lr=0.002

docs/report.md lists the runs that chose the recipe in onebyone/report/config.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import torch

from onebyone.report import ReportConfig
from onebyone.report.context import ReportContext
from onebyone.report.variants import scores
from onebyone.train import load_data, train

VALIDATION = 5000


def parse_value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", default="gap,no1x1,fc,fc-dropout,gap-nobn")
    parser.add_argument(
        "--seeds", default="100,101", help="seeds the report does not use (its default runs use 0–7)"
    )
    parser.add_argument("--subset", type=int, default=ReportConfig.train_subset)
    parser.add_argument("--epochs", type=int, default=ReportConfig.epochs)
    parser.add_argument("--width", type=float, default=ReportConfig.width)
    parser.add_argument("--augment", action="store_true")
    parser.add_argument(
        "--set", action="append", default=[], metavar="FIELD=VALUE", help="TrainConfig change"
    )
    args = parser.parse_args()
    changes = dict(item.split("=", 1) for item in args.set)
    config = ReportConfig(
        out="/tmp/report-recipe",
        train_subset=args.subset,
        epochs=args.epochs,
        width=args.width,
        augment=args.augment,
        device="cpu",
    )
    ctx = ReportContext(config)
    for variant in args.variants.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            wanted = ctx._train_config(variant, seed)
            wanted = dataclasses.replace(
                wanted, **{k: parse_value(v) for k, v in changes.items()}, test_size=1
            )
            started = time.perf_counter()
            result = train(wanted)
            seconds = time.perf_counter() - started
            run = result.config
            data = load_data(run)
            rest = load_data(dataclasses.replace(run, subset=None)).train  # same shuffle, all images
            held_out = rest.subset(torch.arange(len(data.train), len(data.train) + VALIDATION))
            model = result.model.float().eval()
            preprocess = lambda x: ctx.normalise(x, run)  # noqa: B023, E731
            seen = scores(model, data.train.images, data.train.labels, preprocess)
            val = scores(model, held_out.images, held_out.labels, preprocess)
            print(json.dumps({
                "variant": variant, "seed": seed, "changes": changes,
                "train_acc": round(100 * seen.accuracy, 2), "val_acc": round(100 * val.accuracy, 2),
                "acc_gap": round(100 * (seen.accuracy - val.accuracy), 2),
                "train_loss": round(seen.loss, 3), "val_loss": round(val.loss, 3),
                "loss_gap": round(val.loss - seen.loss, 3), "seconds": round(seconds, 1),
                "threads": torch.get_num_threads(),
            }), flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
