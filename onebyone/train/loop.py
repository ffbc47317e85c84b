"""The training loop: one-cycle SGD/AdamW, label smoothing, EMA, bf16 autocast, exact resume.

Read `train` top to bottom: open the run folder (one writer, resume or start), set up (seeds,
data, model, optimizer), maybe restore the checkpoint, then for each epoch: shuffled augmented
batches → forward under autocast → loss → backward → step → EMA; validate; check that nothing is
non-finite; write an atomic checkpoint and the epoch's metrics row. Under `torchrun` the same code
runs one process per rank with DistributedDataParallel, each rank on its own shard of the data.
The recipe's pieces are in `recipe.py`, the run folder in `writer.py`, the checks in `checks.py`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import torch
from torch import nn

from onebyone.data import BatchIterator, ImageDataset
from onebyone.models.loading import load_model
from onebyone.torch_typing import to_memory_format
from onebyone.train.checkpoint import TrainState, restore_state, state_groups
from onebyone.train.checks import check_classes, check_input, check_normalisation
from onebyone.train.config import TrainConfig
from onebyone.train.distributed import (
    average_buffers,
    barrier,
    pick_device,
    setup_distributed,
    sum_over_ranks,
    wrap,
)
from onebyone.train.evaluate import accuracy, averaged_model
from onebyone.train.guard import TrainingDiverged, check_finite
from onebyone.train.recipe import EMA, build_optimizer, lr_at, memory_format, train_step
from onebyone.train.run import RunData, load_data, resolve_overrides
from onebyone.train.writer import RunWriter


@dataclass
class TrainResult:
    """What a run reached. Accuracies are fractions in [0, 1]."""

    config: TrainConfig
    epochs_done: int
    val_accuracy: float | None
    test_accuracy: float | None  # None when the run stopped early (stop_after_epoch)
    parameters: int
    seconds: float  # wall time of this process's training, without data loading
    images_per_second: float
    history: list[dict] = field(default_factory=list)
    stopped_early: bool = False
    run_dir: str | None = None
    model: nn.Module | None = field(default=None, repr=False)  # the final (EMA if enabled) model
    skipped: list[str] = field(default_factory=list)  # unreadable files of an image-folder data set


@dataclass
class Training:
    """Everything one training process holds while it runs."""

    config: TrainConfig
    writer: RunWriter
    data: RunData
    batches: BatchIterator
    model: nn.Module  # the model itself (its state is what is saved)
    net: nn.Module  # what the steps call: the model, or DDP around it
    optimizer: torch.optim.Optimizer
    ema: EMA | None
    state: TrainState
    device: torch.device
    world_size: int
    seconds: float = 0.0  # training time of this process, without data loading or validation
    images: int = 0  # images seen by all ranks


def train(config: TrainConfig) -> TrainResult:
    """Train `config.model` on `config.data`; write the run folder if `config.out` is set."""
    config.validate()
    device = pick_device(config)
    rank, world_size = setup_distributed(device)
    with RunWriter.open(config, writes=rank == 0) as writer:  # one writer; resume, start or overwrite
        run = set_up(writer, device, rank, world_size)
        config = run.config  # on resume: the run's saved config
        stopped_early = False
        from onebyone.train.progress import make_progress  # rendering only, kept out of the loop's logic

        shown = config.progress if rank == 0 else False
        with make_progress(shown, run.state.epoch, config.epochs, len(run.batches)) as progress:
            for epoch in range(run.state.epoch, config.epochs):
                task = progress.start_epoch(epoch + 1, config.epochs, len(run.batches))
                row = train_epoch(run, epoch, progress, task)
                if len(run.data.val):  # the EMA weights if enabled; plain predictions (flip TTA
                    # would double this pass every epoch, and it is for monitoring only)
                    evaluated = averaged_model(run.model, run.ema)
                    row["val_accuracy"] = accuracy(evaluated, run.data.val, config, tta=False)
                save_epoch(run, epoch, row)  # checked before its line: a diverged run ends in one error line
                progress.end_epoch(task, row)
                barrier(world_size)
                if (
                    config.stop_after_epoch is not None
                    and config.stop_after_epoch <= epoch + 1 < config.epochs
                ):
                    stopped_early = True
                    break
        return finish(run, stopped_early)


def set_up(writer: RunWriter, device: torch.device, rank: int, world_size: int) -> Training:
    """Seeds, data, model, optimizer and EMA of the writer's config; its checkpoint restored if any."""
    config = writer.config
    seed_everything(config)
    data = prepare_data(config)
    writer.check_data(data.source)  # on resume: the image folder the run started on
    batches = BatchIterator.from_config(data.train, config, rank=rank, world_size=world_size)
    model = build_model(config, data.train, device)
    optimizer = build_optimizer(model, config)
    ema = EMA(model, config.ema_decay) if config.ema_decay > 0 else None
    state = TrainState()
    if writer.checkpoint is not None:
        assert writer.folder is not None, "a checkpoint is only read from a run folder"
        state = restore_state(writer.folder, writer.checkpoint, model, optimizer, ema, device)
    writer.begin(config, state.history, writer.checkpoint[1] if writer.checkpoint else None, data.source)
    net = wrap(model, device, world_size)
    return Training(config, writer, data, batches, model, net, optimizer, ema, state, device, world_size)


def seed_everything(config: TrainConfig) -> None:
    torch.manual_seed(config.seed)
    if config.deterministic:
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def prepare_data(config: TrainConfig) -> RunData:
    """The run's splits (in-memory uint8 tensors, normalised per batch); fills in the config's
    normalisation (measured on the training split) and the model options the data decides."""
    data = load_data(config)
    check_classes(data.train, config)
    if config.mean is None or config.std is None:
        pixels = data.train.images.float() / 255.0
        config.mean = round(pixels.mean().item(), 4) if config.mean is None else config.mean
        config.std = round(pixels.std().item(), 4) if config.std is None else config.std
    check_normalisation(config)
    config.model_overrides = resolve_overrides(config, data.train)
    return data


def build_model(config: TrainConfig, train: ImageDataset, device: torch.device) -> nn.Module:
    """The configured model on `device` in the recipe's layout, checked to take the data's images."""
    model = load_model(config.model, dict(config.model_overrides))
    model = to_memory_format(model, memory_format(config), device)
    check_input(model, train, config, device)
    return model


def train_epoch(run: Training, epoch: int, progress, task) -> dict:
    """One pass over the training batches; returns the epoch's metrics row (val_accuracy: None)."""
    config, state = run.config, run.state
    total_steps = len(run.batches) * config.epochs
    run.net.train()
    run.batches.set_epoch(epoch)
    loss_sum = torch.zeros((), dtype=torch.float64)
    correct = torch.zeros((), dtype=torch.long)
    seen, started, lr = 0, time.perf_counter(), config.lr
    try:
        for x, y in run.batches:
            lr = lr_at(state.step, total_steps, config)
            loss, logits = train_step(
                run.net, x, y, run.optimizer, lr, config, run.device, epoch=epoch, step=state.step
            )
            if run.ema is not None:
                run.ema.update(run.model)
            state.step += 1
            loss_sum += loss.detach().double().cpu() * len(y)
            correct += (logits.argmax(1).cpu() == y).sum()
            seen += len(y)
            elapsed = time.perf_counter() - started
            progress.advance(
                task, loss_sum.item() / seen, correct.item() / seen, seen * run.world_size / elapsed
            )
    except TrainingDiverged as exc:
        raise diverged(run, exc) from None
    epoch_seconds = time.perf_counter() - started
    run.seconds, run.images = run.seconds + epoch_seconds, run.images + seen * run.world_size
    average_buffers(run.model, run.ema, run.world_size)
    loss_total, correct_total, seen_total = sum_over_ranks(loss_sum, correct, seen, run.world_size)
    return {
        "epoch": epoch + 1,
        "step": state.step,
        "lr": lr,
        "train_loss": loss_total / seen_total,
        "train_accuracy": correct_total / seen_total,
        "val_accuracy": None,
        "images_per_second": seen * run.world_size / epoch_seconds,
        "epoch_seconds": epoch_seconds,
    }


def save_epoch(run: Training, epoch: int, row: dict) -> None:
    """Check that nothing is non-finite, then write the checkpoint and the epoch's metrics row."""
    groups, optimizer_rest = state_groups(run.model, run.optimizer, run.ema)
    try:
        check_finite(groups, epoch, run.state.step, row["lr"])
    except TrainingDiverged as exc:
        raise diverged(run, exc) from None
    run.state.history.append(row)
    info = {
        "epoch": epoch + 1,
        "step": run.state.step,
        "history": run.state.history,
        "optimizer": optimizer_rest,
        "config": run.config.to_dict(),
    }
    run.writer.save_epoch(groups, info, row)


def diverged(run: Training, exc: TrainingDiverged) -> TrainingDiverged:
    """Record a divergence in metrics.jsonl; the error, saying which checkpoint survives."""
    run.writer.append({"diverged": True, "epoch": exc.epoch + 1, "step": exc.step, "reason": exc.what})
    return exc.keeping(run.writer.kept(run.state.history))


def finish(run: Training, stopped_early: bool) -> TrainResult:
    """Test the final (EMA) model and save its weights, unless the run stopped early."""
    config, history = run.config, run.state.history
    final = averaged_model(run.model, run.ema)
    parameters = sum(p.numel() for p in run.model.parameters())
    test_accuracy = None
    if not stopped_early:
        test_accuracy = accuracy(final, run.data.test, config)
        weights = final.state_dict()
        check_finite({"model": weights}, config.epochs - 1, run.state.step, config.lr)
        run.writer.save_final(
            weights, {"final": True, "test_accuracy": test_accuracy, "parameters": parameters}
        )
    return TrainResult(
        config,
        len(history),
        history[-1]["val_accuracy"] if history else None,
        test_accuracy,
        parameters,
        run.seconds,
        run.images / run.seconds if run.seconds else 0.0,
        history,
        stopped_early,
        config.out,
        final,
        run.data.skipped,
    )
