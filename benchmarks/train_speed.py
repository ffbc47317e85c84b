"""onebyone's training recipe versus a plain PyTorch loop, same model, same data, one process.

The plain loop is what a first PyTorch script does: fp32, NCHW, eager, a DataLoader over a
TensorDataset, plain SGD with momentum at a fixed learning rate, no augmentation. The recipe is
`onebyone.train.train` with its defaults (one-cycle SGD-Nesterov, label smoothing, bf16 autocast,
channels_last, batch augmentation). Both validate after every epoch on the same held-out split;
the figure is the wall time until validation accuracy first reaches --target, and the ratio.

    python benchmarks/train_speed.py --target 0.90 --epochs 8
    python benchmarks/train_speed.py --subset 5000 --target 0.80 --epochs 4 --plain-max-epochs 12  # quick

Prints a table and writes JSON (--json) with the machine's load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from onebyone.models import create_model
from onebyone.train import TrainConfig, load_data, train


def plain_loop(config: TrainConfig, target: float, max_epochs: int, lr: float) -> dict:
    """The baseline: fp32, NCHW, eager, DataLoader, plain SGD(momentum=0.9), fixed lr."""
    torch.manual_seed(config.seed)
    data = load_data(config)
    mean, std = config.mean, config.std

    def tensors(split):
        return (split.images.float() / 255 - mean) / std, split.labels

    loader = DataLoader(TensorDataset(*tensors(data.train)), batch_size=config.batch_size, shuffle=True)
    val_x, val_y = tensors(data.val)
    model = create_model(config.model, num_classes=10, in_channels=1)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    history, train_seconds, images = [], 0.0, 0
    for epoch in range(max_epochs):
        model.train()
        started = time.perf_counter()
        for x, y in loader:
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            images += len(y)
        train_seconds += time.perf_counter() - started
        model.eval()
        with torch.no_grad():
            predictions = torch.cat([model(val_x[i : i + 500]).argmax(1) for i in range(0, len(val_x), 500)])
        accuracy = (predictions == val_y).float().mean().item()
        history.append({"epoch": epoch + 1, "val_accuracy": accuracy, "train_seconds": train_seconds})
        if accuracy >= target:
            break
    return {"history": history, "images_per_second": images / train_seconds}


def time_to_target(history: list[dict], target: float) -> float | None:
    for row in history:
        if row["val_accuracy"] >= target:
            return row["train_seconds"]
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="nin-fashion")
    parser.add_argument("--target", type=float, default=0.90, help="validation accuracy to reach")
    parser.add_argument("--epochs", type=int, default=8, help="epochs of the onebyone recipe")
    parser.add_argument(
        "--plain-max-epochs", type=int, default=20, help="give the plain loop up to this many"
    )
    parser.add_argument("--plain-lr", type=float, default=0.01)
    parser.add_argument("--subset", type=int, help="train on the first N training images only")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()

    load_before = os.getloadavg()
    config = TrainConfig(
        model=args.model,
        epochs=args.epochs,
        batch_size=args.batch_size,
        subset=args.subset,
        seed=args.seed,
        progress=False,
    )
    recipe = train(config)  # fills config.mean/std, shared with the plain loop
    recipe_history, elapsed = [], 0.0
    for row in recipe.history:
        elapsed += row["epoch_seconds"]
        recipe_history.append(
            {"epoch": row["epoch"], "val_accuracy": row["val_accuracy"], "train_seconds": elapsed}
        )
    plain = plain_loop(config, args.target, args.plain_max_epochs, args.plain_lr)
    ours, theirs = time_to_target(recipe_history, args.target), time_to_target(plain["history"], args.target)
    result = {
        "model": args.model,
        "target": args.target,
        "subset": args.subset,
        "threads": torch.get_num_threads(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "onebyone": {
            "images_per_second": recipe.images_per_second,
            "seconds_to_target": ours,
            "history": recipe_history,
            "test_accuracy": recipe.test_accuracy,
        },
        "plain": {
            "images_per_second": plain["images_per_second"],
            "seconds_to_target": theirs,
            "history": plain["history"],
        },
        "throughput_ratio": recipe.images_per_second / plain["images_per_second"],
        "time_to_target_ratio": (theirs / ours) if ours and theirs else None,
    }
    print(f"{'':12} {'images/s':>10} {'s to val ≥ ' + format(args.target, '.0%'):>16} {'best val':>9}")
    for name, key in (("onebyone", "onebyone"), ("plain", "plain")):
        best = max(row["val_accuracy"] for row in result[key]["history"])
        seconds = result[key]["seconds_to_target"]
        print(
            f"{name:12} {result[key]['images_per_second']:10.0f} "
            f"{(f'{seconds:.0f}' if seconds else 'not reached'):>16} {best:9.2%}"
        )
    ratio = result["time_to_target_ratio"]
    print(
        f"throughput ×{result['throughput_ratio']:.2f}; time to target ×"
        + (f"{ratio:.2f}" if ratio else "n/a (a loop did not reach the target)")
    )
    print(f"load average before {load_before}, after {result['load_average_after']}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()
