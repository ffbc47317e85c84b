"""Train one recipe with several seeds: one after the other, or all at once as one grouped network.

`train_seeds(config, seeds)` gives one ordinary run folder per seed (`OUT/seed<N>/`, which `eval`,
`inspect` and `open_run` open as any training run). With `grouped=True` the K seeds are trained
as one network whose layers are grouped K ways (`grouped_model.group_models`), and each seed keeps
everything it has when trained alone: its initial weights (built after `torch.manual_seed(seed)`
as `train` builds them), its validation split, batch order and augmentation (its own
`BatchIterator`), its dropout masks (drawn from a copy of the RNG state its own run would draw
from), its own loss (the step minimises the sum of the K per-seed losses, so each seed's
gradient is its own) and an elementwise optimizer step (SGD, AdamW, weight decay). So grouping
changes the speed, not the weights (tests/train/test_grouped.py, fp32).

Grouped runs write no per-epoch checkpoints (an interrupted grouped run is trained again), and
take neither EMA, `--resume`, `--stop-after-epoch` nor torchrun; benchmarks/grouped_training.py
measures whether grouping is faster on a machine (on the 2-core CPU of docs/report.md it is not).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time

import torch
import torch.nn.functional as F

from onebyone.data import BatchIterator
from onebyone.errors import OneByOneError
from onebyone.torch_typing import to_memory_format
from onebyone.train.config import TrainConfig
from onebyone.train.distributed import pick_device
from onebyone.train.evaluate import accuracy
from onebyone.train.grouped_model import group_models, split_state
from onebyone.train.guard import TrainingDiverged, check_finite
from onebyone.train.loop import TrainResult, build_model, prepare_data, seed_everything, train
from onebyone.train.recipe import autocast, build_optimizer, lr_at, memory_format
from onebyone.train.writer import RunWriter


def seed_configs(config: TrainConfig, seeds: list[int]) -> list[TrainConfig]:
    """One config per seed; with `config.out`, seed N writes `OUT/seed<N>`."""
    if not seeds or len(set(seeds)) != len(seeds):
        raise OneByOneError(f"--seeds: expected distinct seeds, got {seeds}")
    return [
        dataclasses.replace(config, seed=s, out=None if config.out is None else f"{config.out}/seed{s}")
        for s in seeds
    ]


def train_seeds(config: TrainConfig, seeds: list[int], *, grouped: bool = False) -> list[TrainResult]:
    """Train `config` once per seed; one TrainResult per seed, in the order of `seeds`."""
    configs = [c.validate() for c in seed_configs(config, list(seeds))]
    if not grouped:
        return [train(c) for c in configs]
    refused = {
        "ema_decay": config.ema_decay > 0,
        "resume": config.resume,
        "stop_after_epoch": config.stop_after_epoch is not None,
        "torchrun": int(os.environ.get("WORLD_SIZE", "1")) > 1,
    }
    if any(refused.values()):
        names = ", ".join(name for name, bad in refused.items() if bad)
        raise OneByOneError(f"grouped training of several seeds does not take {names}")
    with contextlib.ExitStack() as stack:
        writers = [stack.enter_context(RunWriter.open(c)) for c in configs]
        return _train_grouped(configs, writers)


def _train_grouped(configs: list[TrainConfig], writers: list[RunWriter]) -> list[TrainResult]:
    device = pick_device(configs[0])
    runs = []
    for config, writer in zip(configs, writers, strict=True):  # as `train.set_up` does, per seed
        seed_everything(config)
        data = prepare_data(config)
        model = build_model(config, data.train, device)
        generator = torch.Generator(device)  # this seed's dropout masks, as its own run draws them
        cuda = device.type == "cuda"
        generator.set_state(torch.cuda.get_rng_state(device) if cuda else torch.get_rng_state())
        writer.begin(config, [], None, data.source)
        runs.append((config, data, BatchIterator.from_config(data.train, config), model, generator, writer))
    if len({len(batches) for _, _, batches, *_ in runs}) != 1:
        raise OneByOneError("grouped training needs as many batches per epoch for every seed")
    k, config = len(runs), configs[0]
    net = group_models([r[3] for r in runs], [r[4] for r in runs])
    net = to_memory_format(net, memory_format(config), device)
    optimizer = build_optimizer(net, config)
    template = runs[0][3].state_dict()
    steps_per_epoch, step, seconds = len(runs[0][2]), 0, 0.0
    histories: list[list[dict]] = [[] for _ in runs]
    for epoch in range(config.epochs):
        net.train()
        for _, _, batches, *_ in runs:
            batches.set_epoch(epoch)
        loss_sums, correct, seen = torch.zeros(k, dtype=torch.float64), torch.zeros(k, dtype=torch.long), 0
        started = time.perf_counter()
        for batch in zip(*(r[2] for r in runs), strict=True):
            lr = lr_at(step, steps_per_epoch * config.epochs, config)
            x = torch.cat([xb for xb, _ in batch], dim=1)  # (B, K·C, H, W): seed k's images in its channels
            x = x.to(device, memory_format=memory_format(config))
            y = torch.stack([yb for _, yb in batch], dim=1).to(device)  # (B, K)
            for group in optimizer.param_groups:
                group["lr"] = lr
            with autocast(config, device):
                logits = net(x)  # (B, K·classes)
            logits = logits.float().view(len(y), k, -1)  # (B, K, classes)
            losses = F.cross_entropy(
                logits.permute(0, 2, 1), y, label_smoothing=config.label_smoothing, reduction="none"
            ).mean(0)  # (K,): each seed's mean loss over its batch
            if not torch.isfinite(losses).all().item():
                values = zip(configs, losses.tolist(), strict=True)
                bad = [c.seed for c, value in values if not math.isfinite(value)]
                raise TrainingDiverged(f"loss is not finite for seed(s) {bad}", epoch, step, lr)
            optimizer.zero_grad(set_to_none=True)
            losses.sum().backward()
            optimizer.step()
            step += 1
            loss_sums += losses.detach().double().cpu() * len(y)
            correct += (logits.argmax(2).cpu() == y.cpu()).sum(0)
            seen += len(y)
        epoch_seconds = time.perf_counter() - started
        seconds += epoch_seconds
        check_finite({"model": net.state_dict()}, epoch, step, lr)
        states = split_state(net, template, k)
        for index, (run_config, data, _, model, _, writer) in enumerate(runs):
            row = {
                "epoch": epoch + 1,
                "step": step,
                "lr": lr,
                "train_loss": loss_sums[index].item() / seen,
                "train_accuracy": correct[index].item() / seen,
                "val_accuracy": None,
                "images_per_second": k * seen / epoch_seconds,  # all K seeds' images together
                "epoch_seconds": epoch_seconds,
            }
            if len(data.val):
                model.load_state_dict(states[index])
                row["val_accuracy"] = accuracy(model, data.val, run_config, tta=False)
            histories[index].append(row)
            writer.append(row)
    return _finish(runs, split_state(net, template, k), histories, seconds)


def _finish(runs, states, histories, seconds: float) -> list[TrainResult]:
    """Each seed's model gets its weights, is tested and saved into its run folder."""
    results = []
    for (config, data, _, model, _, writer), state, history in zip(runs, states, histories, strict=True):
        model.load_state_dict(state)
        test_accuracy = accuracy(model, data.test, config)
        parameters = sum(p.numel() for p in model.parameters())
        writer.save_final(state, {"final": True, "test_accuracy": test_accuracy, "parameters": parameters})
        results.append(
            TrainResult(
                config,
                len(history),
                history[-1]["val_accuracy"],
                test_accuracy,
                parameters,
                seconds,
                history[-1]["images_per_second"],
                history,
                False,
                config.out,
                model.eval(),
                data.skipped,
            )
        )
    return results
