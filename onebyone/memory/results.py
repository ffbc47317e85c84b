"""What a memory estimate returns: plain, JSON-serialisable peaks with their parts, in bytes."""

from __future__ import annotations

from dataclasses import dataclass, field

PARTS = {
    "weights": "parameters and buffers",
    "optimizer": "optimizer state kept between steps",
    "gradients": "parameter gradients live at the peak",
    "saved": "activations autograd keeps for the backward pass, live at the peak",
    "transient": "the rest live at the peak: the batch, activations in flight, temporaries",
}


@dataclass
class ModuleMemory:
    """Bytes of a module's own outputs (its ops' allocations) that autograd kept for backward;
    "(outside modules)" is the batch and what the forward made outside every module (the loss)."""

    path: str
    type: str
    saved_bytes: int


@dataclass
class StepMemory:
    """The peak of one pass (inference) or one training step, and its parts at that moment."""

    peak_bytes: int
    parts: dict[str, int]  # PARTS -> bytes; they add up to peak_bytes
    modules: list[ModuleMemory] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"peak_bytes": self.peak_bytes, **self.parts}


@dataclass
class BatchFit:
    """The largest batch whose predicted peak fits a budget, and the peaks either side of it."""

    budget_bytes: int
    batch_size: int  # 0: not even one sample fits
    peak_bytes: int | None  # predicted at batch_size (None when it is 0)
    next_peak_bytes: int | None  # predicted at batch_size + 1 (None when the search hit its cap)
    phase: str  # "training" or "inference"
    simulations: int  # full simulations the search ran

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class MemoryResult:
    """Predicted peaks of inference and (when asked) of a training step, at one input shape."""

    input_shape: list[int]
    optimizer: str
    autocast: str
    channels_last: bool
    inference: StepMemory
    training: StepMemory | None = None
    fits: BatchFit | None = None
    device: str = "cpu"  # the device the step is predicted for (estimate.DEVICES)

    def to_dict(self) -> dict:
        return {
            "input_shape": self.input_shape,
            "optimizer": self.optimizer,
            "autocast": self.autocast,
            "channels_last": self.channels_last,
            "device": self.device,
            "parts": PARTS,
            "inference": self.inference.to_dict(),
            "training": self.training.to_dict() if self.training else None,
            "saved_by_module": [m.__dict__ for m in self.training.modules] if self.training else [],
            "fits": self.fits.to_dict() if self.fits else None,
        }
