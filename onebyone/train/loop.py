"""The training loop: one-cycle SGD/AdamW, label smoothing, EMA, bf16 autocast, exact resume.

Read `train` top to bottom: set up (seeds, data, model, optimizer), maybe resume, then for each
epoch: shuffled augmented batches → forward under autocast → loss → backward → step → EMA;
validate; write metrics and an atomic checkpoint. Under `torchrun` the same code runs one
process per rank with DistributedDataParallel, each rank on its own shard of the data.
"""

from __future__ import annotations

import json
import math
import os
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from onebyone.data import BatchIterator, ImageDataset
from onebyone.errors import OneByOneError
from onebyone.models.loading import load_model
from onebyone.train.checkpoint import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    METRICS_FILE,
    MODEL_FILE,
    load_checkpoint,
    optimizer_from_flat,
    optimizer_to_flat,
    restore_rng_state,
    rng_state_tensors,
    save_checkpoint,
    save_weights,
)
from onebyone.train.config import TrainConfig, read_config, write_config
from onebyone.train.run import load_data, resolve_overrides


class TrainingDiverged(OneByOneError):
    """The loss stopped being finite; the last good checkpoint is kept."""


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


def lr_at(step: int, total_steps: int, config: TrainConfig) -> float:
    """One-cycle schedule: linear warm-up from peak/25 to the peak, then cosine down."""
    warmup = max(1, int(total_steps * config.warmup_fraction))
    floor = config.lr * config.final_lr_fraction
    if step < warmup:
        return config.lr / 25 + (config.lr - config.lr / 25) * step / warmup
    progress = (step - warmup) / max(1, total_steps - warmup)
    return floor + (config.lr - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


class EMA:
    """Exponential moving average of the float parameters and buffers, kept in fp32."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.state = {
            k: v.detach().clone().float() for k, v in model.state_dict().items() if v.dtype.is_floating_point
        }

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for name, value in model.state_dict().items():
            if name in self.state:
                self.state[name].lerp_(value.float(), 1 - self.decay)

    def copy_to(self, model: nn.Module) -> None:
        current = model.state_dict()
        merged = {k: (self.state[k].to(v.dtype) if k in self.state else v) for k, v in current.items()}
        model.load_state_dict(merged)


def _setup_distributed(config: TrainConfig, device: torch.device) -> tuple[int, int]:
    """(rank, world_size) from torchrun's environment; starts the process group if > 1."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    rank = dist.get_rank() if world_size > 1 else 0
    return rank, world_size


def _device(config: TrainConfig) -> torch.device:
    if config.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if config.device == "cuda":
        if not torch.cuda.is_available():
            raise OneByOneError(
                f"--device cuda: no CUDA device available (this torch: {torch.__version__}); use --device cpu"
            )
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def _autocast(config: TrainConfig, device: torch.device):
    if config.precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


@torch.no_grad()
def predict(
    model: nn.Module,
    data: ImageDataset,
    config: TrainConfig,
    *,
    batch_size: int = 500,
    device: torch.device | None = None,
    tta: bool | None = None,
) -> Tensor:
    """Predicted class of every image, (N,) int64, in eval mode.

    With test-time augmentation (`tta`, default `config.test_time_flip`), the logits of each image and
    of its left-right mirror are averaged.
    """
    tta = config.test_time_flip if tta is None else tta
    device = device or next(model.parameters()).device
    model.eval()
    batches = BatchIterator(data, batch_size, shuffle=False, mean=config.mean, std=config.std)
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    predictions = []
    for x, _ in batches:
        x = x.to(device, memory_format=memory_format)
        with _autocast(config, device):
            logits = model(x).float()  # (B, classes)
            if tta:
                logits = logits + model(x.flip(3)).float()
        predictions.append(logits.argmax(1).cpu())
    return torch.cat(predictions)


def accuracy(model: nn.Module, data: ImageDataset, config: TrainConfig, *, tta: bool | None = None) -> float:
    return (predict(model, data, config, tta=tta) == data.labels).float().mean().item()


def _measure_normalisation(config: TrainConfig, train: ImageDataset) -> None:
    if config.mean is None or config.std is None:
        pixels = train.images.float() / 255.0
        config.mean = round(pixels.mean().item(), 4) if config.mean is None else config.mean
        config.std = round(pixels.std().item(), 4) if config.std is None else config.std


def train(config: TrainConfig) -> TrainResult:
    """Train `config.model` on `config.data`; write the run folder if `config.out` is set."""
    config.validate()
    run_dir = Path(config.out) if config.out else None
    if config.resume:
        # The saved config decides the run; only how far to go may change on resume.
        saved = read_config(run_dir / CONFIG_FILE)
        saved.resume, saved.stop_after_epoch, saved.progress = True, config.stop_after_epoch, config.progress
        saved.device = config.device
        if config.resume_lr is not None:
            saved.lr = config.resume_lr
        config = saved
    elif run_dir is not None and run_dir.exists() and any(run_dir.iterdir()):
        raise OneByOneError(
            f"run folder {str(run_dir)!r} exists and is not empty (use --resume or a new --out)"
        )

    device = _device(config)
    rank, world_size = _setup_distributed(config, device)
    torch.manual_seed(config.seed)
    if config.deterministic:
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

    # --- data: in-memory uint8 tensors, normalised per batch ---
    data = load_data(config)
    _measure_normalisation(config, data.train)
    config.model_overrides = resolve_overrides(config, data.train)
    batches = BatchIterator(
        data.train,
        config.batch_size,
        shuffle=True,
        drop_last=len(data.train) >= 2 * config.batch_size,
        augment=config.augment,
        crop_padding=config.crop_padding,
        hflip=config.hflip,
        erase=config.erase,
        mean=config.mean,
        std=config.std,
        seed=config.seed,
        rank=rank,
        world_size=world_size,
    )
    steps_per_epoch = len(batches)
    total_steps = steps_per_epoch * config.epochs

    # --- model and optimizer ---
    model = load_model(config.model, dict(config.model_overrides))
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    model = model.to(device, memory_format=memory_format)
    parameters = sum(p.numel() for p in model.parameters())
    # No weight decay on biases and norm scales (1-d tensors): it only fights BN.
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if config.optimizer == "sgd":
        optimizer = torch.optim.SGD(
            groups, lr=config.lr, momentum=config.momentum, nesterov=config.momentum > 0
        )
    else:
        optimizer = torch.optim.AdamW(groups, lr=config.lr, betas=(config.momentum, 0.999))
    ema = EMA(model, config.ema_decay) if config.ema_decay > 0 else None

    start_epoch, step, history = 0, 0, []
    if config.resume:
        tensors, info = load_checkpoint(run_dir)
        model.load_state_dict(tensors["model"])
        optimizer.load_state_dict(optimizer_from_flat(tensors.get("optimizer", {}), info["optimizer"]))
        if ema is not None:
            ema.state = {k: v.to(device) for k, v in tensors["ema"].items()}
        restore_rng_state(tensors["rng"])
        start_epoch, step, history = info["epoch"], info["step"], info["history"]
    elif run_dir is not None and rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_config(run_dir / CONFIG_FILE, config)
        (run_dir / METRICS_FILE).write_text("")

    net = model
    if world_size > 1:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )

    from onebyone.train.progress import make_progress  # rendering only, kept out of the loop's logic

    progress = make_progress(enabled=config.progress and rank == 0)
    train_seconds, images_seen = 0.0, 0
    stopped_early = False
    val_accuracy = history[-1]["val_accuracy"] if history else None
    with progress:
        for epoch in range(start_epoch, config.epochs):
            net.train()
            batches.set_epoch(epoch)
            task = progress.start_epoch(epoch + 1, config.epochs, steps_per_epoch)
            loss_sum = torch.zeros((), dtype=torch.float64)
            correct = torch.zeros((), dtype=torch.long)
            seen, started = 0, time.perf_counter()
            for x, y in batches:
                x = x.to(device, memory_format=memory_format, non_blocking=True)  # (B, C, H, W)
                y = y.to(device, non_blocking=True)  # (B,)
                lr = lr_at(step, total_steps, config)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                with _autocast(config, device):
                    logits = net(x)  # (B, classes)
                loss = F.cross_entropy(logits.float(), y, label_smoothing=config.label_smoothing)
                if not torch.isfinite(loss).item():
                    raise _diverged(config, run_dir, epoch, step, lr, loss.item(), history)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if ema is not None:
                    ema.update(model)
                step += 1
                loss_sum += loss.detach().double().cpu() * len(y)
                correct += (logits.argmax(1) == y).sum().cpu()
                seen += len(y)
                elapsed = time.perf_counter() - started
                progress.advance(
                    task, loss_sum.item() / seen, correct.item() / seen, seen * world_size / elapsed
                )
            epoch_seconds = time.perf_counter() - started
            train_seconds += epoch_seconds
            images_seen += seen * world_size
            if world_size > 1:
                _average_buffers(model, ema, world_size)
            if world_size > 1:  # the whole batch's loss and accuracy, not one rank's
                totals = torch.tensor([loss_sum.item(), correct.item(), seen], dtype=torch.float64)
                dist.all_reduce(totals)
                loss_sum, correct, seen = totals[0], totals[1], int(totals[2].item())

            # --- validate (EMA weights if enabled), log, checkpoint ---
            evaluated = _eval_model(model, ema)
            # Monitoring only: plain predictions (flip TTA would double this pass every epoch).
            val_accuracy = accuracy(evaluated, data.val, config, tta=False) if len(data.val) else None
            row = {
                "epoch": epoch + 1,
                "step": step,
                "lr": lr,
                "train_loss": float(loss_sum) / seen,
                "train_accuracy": float(correct) / seen,
                "val_accuracy": val_accuracy,
                "images_per_second": seen * world_size / epoch_seconds,
                "epoch_seconds": epoch_seconds,
            }
            history.append(row)
            progress.end_epoch(task, row)
            if run_dir is not None and rank == 0:
                with open(run_dir / METRICS_FILE, "a") as handle:
                    handle.write(json.dumps(row) + "\n")
                _save(run_dir, config, model, optimizer, ema, epoch + 1, step, history)
            if world_size > 1:
                dist.barrier()
            if (
                config.stop_after_epoch is not None
                and epoch + 1 >= config.stop_after_epoch
                and epoch + 1 < config.epochs
            ):
                stopped_early = True
                break

    final = _eval_model(model, ema)
    test_accuracy = None
    if not stopped_early:
        test_accuracy = accuracy(final, data.test, config)
        if run_dir is not None and rank == 0:
            save_weights(run_dir / MODEL_FILE, final.state_dict())
            with open(run_dir / METRICS_FILE, "a") as handle:
                handle.write(
                    json.dumps({"final": True, "test_accuracy": test_accuracy, "parameters": parameters})
                    + "\n"
                )
    return TrainResult(
        config,
        len(history),
        val_accuracy,
        test_accuracy,
        parameters,
        train_seconds,
        images_seen / train_seconds if train_seconds else 0.0,
        history,
        stopped_early,
        str(run_dir) if run_dir else None,
        final,
        data.skipped,
    )


@torch.no_grad()
def _average_buffers(model: nn.Module, ema: EMA | None, world_size: int) -> None:
    """Average BN running statistics (and the EMA) over ranks.

    DDP keeps the parameters equal, but each rank's last forward passes update its own running
    statistics; averaging them makes every rank hold the same model (parameters are equal, so
    their average is exactly themselves).
    """
    tensors = [b for b in model.buffers() if b.dtype.is_floating_point]
    if ema is not None:
        tensors += list(ema.state.values())
    for tensor in tensors:
        dist.all_reduce(tensor)
        tensor.div_(world_size)


def _eval_model(model: nn.Module, ema: EMA | None) -> nn.Module:
    """The model to evaluate: the EMA weights in a copy, or the model itself."""
    if ema is None:
        return model
    import copy

    averaged = copy.deepcopy(model)
    ema.copy_to(averaged)
    return averaged


def _save(
    run_dir: Path,
    config: TrainConfig,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    ema: EMA | None,
    epoch: int,
    step: int,
    history: list[dict],
) -> None:
    optimizer_tensors, optimizer_rest = optimizer_to_flat(optimizer.state_dict())
    groups = {"model": model.state_dict(), "optimizer": optimizer_tensors, "rng": rng_state_tensors()}
    if ema is not None:
        groups["ema"] = ema.state
    info = {
        "epoch": epoch,
        "step": step,
        "history": history,
        "optimizer": optimizer_rest,
        "config": config.to_dict(),
    }
    save_checkpoint(run_dir, groups, info)


def _diverged(
    config: TrainConfig,
    run_dir: Path | None,
    epoch: int,
    step: int,
    lr: float,
    loss: float,
    history: list[dict],
) -> TrainingDiverged:
    kept = (
        f"last good checkpoint (epoch {history[-1]['epoch']}) kept in {str(run_dir / CHECKPOINT_FILE)!r}"
        if history and run_dir is not None
        else "no checkpoint yet"
    )
    if run_dir is not None and (run_dir / METRICS_FILE).exists():
        with open(run_dir / METRICS_FILE, "a") as handle:
            handle.write(
                json.dumps({"diverged": True, "epoch": epoch + 1, "step": step, "loss": repr(loss)}) + "\n"
            )
    return TrainingDiverged(
        f"training diverged: loss is {loss} at epoch {epoch + 1}, step {step} (lr {lr:.3g}); "
        f"try a lower --lr; {kept}"
    )
