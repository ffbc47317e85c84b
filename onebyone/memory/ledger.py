"""Live bytes of a simulated run, by storage and by kind, observed at the ATen dispatch level.

A `Ledger` is a TorchDispatchMode: every op output that allocates a new storage adds its bytes;
a weakref finalizer on every tensor that views the storage counts its holders, and the bytes
leave when the last one is gone. Tensors that autograd holds from C++ (gradients in flight, the
graph's buffers) keep their Python object alive (PyTorch preserves it while C++ refers to the
tensor), so their finalizers fire when autograd lets go, not when the forward drops them.

Each live storage has a kind, and the ledger keeps the total per kind at every moment, so that
the peak is known with its parts:
- ``saved``: held by autograd for the backward pass (marked by a saved-tensors pack hook);
- ``gradients``: a parameter's ``.grad`` (marked after the gradient is accumulated);
- ``transient``: everything else (the batch, activations in flight, temporaries).
Constant parts (weights, optimizer state) are added by the caller with `add_constant`.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

KINDS = ("weights", "optimizer", "gradients", "saved", "transient")


class _Entry:
    __slots__ = ("holders", "nbytes", "kind", "saved_refs", "owner", "ever_saved")

    def __init__(self, nbytes: int, owner: str | None) -> None:
        self.holders = 0  # Python tensors viewing the storage, plus saved-tensor holders
        self.nbytes = nbytes
        self.kind = "transient"
        self.saved_refs = 0
        self.owner = owner  # the module whose op allocated it (None: outside every module)
        self.ever_saved = False


class Ledger(TorchDispatchMode):
    """Tracks live bytes per kind through the ops it sees; `peak` and `peak_parts` at the end."""

    def __init__(
        self,
        owner: Callable[[], str | None] = lambda: None,
        workspace: Callable[[str, tuple, object], int] | None = None,
    ) -> None:
        """`owner()` names the module running now; `workspace(op, args, out)` is the most an op
        has live at once beyond its inputs (kernels.cpu_workspace), where kernels allocate more."""
        super().__init__()
        self._owner = owner
        self._workspace = workspace
        self._entries: dict[int, _Entry] = {}
        self._constant: set[int] = set()
        self.totals = dict.fromkeys(KINDS, 0)
        self.live = 0
        self.peak = 0
        self.peak_parts = dict(self.totals)
        self.saved_by_owner: dict[str | None, int] = {}  # bytes kept for backward, by producer
        self.ops = 0

    # -- kinds ---------------------------------------------------------------------------------
    def add_constant(self, kind: str, tensors) -> None:
        """Storages alive for the whole run (parameters, buffers, optimizer state), once each."""
        for tensor in tensors:
            key = tensor.untyped_storage()._cdata
            if key in self._constant or key in self._entries:
                continue
            self._constant.add(key)
            self.add_bytes(kind, tensor.untyped_storage().nbytes())

    def add_bytes(self, kind: str, nbytes: int) -> None:
        """`nbytes` more of `kind` from now on (e.g. optimizer state measured elsewhere)."""
        self.totals[kind] += nbytes
        self.live += nbytes
        if self.live > self.peak:
            self.peak = self.live
            self.peak_parts = dict(self.totals)

    def _move(self, entry: _Entry, kind: str) -> None:
        self.totals[entry.kind] -= entry.nbytes
        self.totals[kind] += entry.nbytes
        entry.kind = kind

    def mark_gradient(self, tensor: torch.Tensor) -> None:
        entry = self._entries.get(tensor.untyped_storage()._cdata)
        if entry is not None:
            self._move(entry, "gradients")

    def pack(self, tensor: torch.Tensor) -> _Saved:
        """Saved-tensors pack hook: hold `tensor` for backward and count its storage as saved."""
        key = tensor.untyped_storage()._cdata
        entry = self._entries.get(key)
        if entry is not None:
            entry.saved_refs += 1
            if entry.kind == "transient":
                self._move(entry, "saved")
            if not entry.ever_saved:
                entry.ever_saved = True
                self.saved_by_owner[entry.owner] = self.saved_by_owner.get(entry.owner, 0) + entry.nbytes
        return _Saved(tensor, self, key if entry is not None else None)

    def _unsave(self, key: int) -> None:
        entry = self._entries.get(key)
        if entry is None:
            return
        entry.saved_refs -= 1
        if entry.saved_refs == 0 and entry.kind == "saved":
            self._move(entry, "transient")

    # -- lifetimes -----------------------------------------------------------------------------
    def track(self, tensor: torch.Tensor) -> int:
        """Start following `tensor`; returns the bytes of a newly allocated storage (0 for a view)."""
        storage = tensor.untyped_storage()
        key = storage._cdata
        if key in self._constant:
            return 0
        entry = self._entries.get(key)
        new_bytes = 0
        if entry is None:
            new_bytes = storage.nbytes()
            entry = self._entries[key] = _Entry(new_bytes, self._owner())
            self.add_bytes("transient", new_bytes)
        entry.holders += 1
        weakref.finalize(tensor, self._release, key)
        return new_bytes

    def _release(self, key: int) -> None:
        entry = self._entries.get(key)
        if entry is None:
            return
        entry.holders -= 1
        if entry.holders == 0:
            self.totals[entry.kind] -= entry.nbytes
            self.live -= entry.nbytes
            del self._entries[key]

    def reserve(self, nbytes: int) -> None:
        """A moment with `nbytes` more live than now (a temporary measured elsewhere)."""
        if self.live + nbytes > self.peak:
            self.peak = self.live + nbytes
            self.peak_parts = {**self.totals, "transient": self.totals["transient"] + nbytes}

    def __torch_dispatch__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        self.ops += 1
        live_before = self.live
        out = func(*args, **(kwargs or {}))
        seen: set[int] = set()
        for tensor in _tensors(out):
            if id(tensor) not in seen and not _is_input(tensor, args):
                seen.add(id(tensor))
                self.track(tensor)
        if self._workspace is not None:
            extra = self._workspace(func._overloadpacket.__name__, args, out)
            if extra:
                self.reserve(live_before + extra - self.live)
        return out


class _Saved:
    """What autograd holds for a saved tensor: the tensor, and a note to the ledger when released."""

    __slots__ = ("tensor", "__weakref__")

    def __init__(self, tensor: torch.Tensor, ledger: Ledger, key: int | None) -> None:
        self.tensor = tensor
        if key is not None:
            weakref.finalize(self, ledger._unsave, key)


def unpack(saved: _Saved) -> torch.Tensor:
    return saved.tensor


def _is_input(tensor: torch.Tensor, args) -> bool:
    """An in-place op returns its argument: it is followed already."""
    return any(tensor is a for a in args)


def _tensors(value) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in _tensors(item)]
    return []
