"""Costs of a layer at given ranks, and the allocation of ranks across layers to meet a budget.

Every factorisable layer gets a list of options (its original form, then ranks along a path of
shrinking cost); each option has a cost (MACs, parameters or measured seconds) and an error
proxy, −log(energy kept), where the relative squared error of the truncated weight is the energy
dropped (for Tucker-2 the HOSVD bound: the sum dropped in both modes). The log makes a layer
that keeps almost nothing very costly, so the budget is spread rather than one layer gutted.
The options' lower convex hull is walked greedily across all layers, always taking the step
that loses the least error per unit of cost saved, until the total is within budget (the classic
greedy for a multiple-choice knapsack on convex curves).
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

from torch import Tensor

from onebyone.errors import OneByOneError


@dataclass(frozen=True)
class LayerGeometry:
    """What the cost of a Conv2d or Linear depends on, as run on one input (batch 1).

    kind: "conv" (k×k, Tucker-2 ranks (r_in, r_out)), "pointwise" (1×1, SVD rank (r,)),
    "linear" (SVD rank (r,)). `in_pixels`/`out_pixels` are H·W of the input and output maps
    (for a linear layer both are the number of rows it is applied to).
    """

    name: str
    kind: str
    in_channels: int
    out_channels: int
    kernel_size: tuple[int, int]
    in_pixels: int
    out_pixels: int
    bias: bool

    @property
    def taps(self) -> int:
        return self.kernel_size[0] * self.kernel_size[1]

    @property
    def max_ranks(self) -> tuple[int, ...]:
        """Ranks beyond which a factorisation can only add cost (the unfoldings' ranks)."""
        if self.kind == "conv":
            return (
                min(self.in_channels, self.out_channels * self.taps),
                min(self.out_channels, self.in_channels * self.taps),
            )
        return (min(self.in_channels, self.out_channels),)

    def _outer(self, ranks: tuple[int, int], fold: bool) -> tuple[int, int]:
        """Ranks of the 1×1 layers that exist: 0 where a full rank is folded into the core."""
        r_in, r_out = ranks
        if fold:
            return (0 if r_in == self.in_channels else r_in, 0 if r_out == self.out_channels else r_out)
        return r_in, r_out

    def params(self, ranks: tuple[int, ...] | None = None, fold: bool = True) -> int:
        bias = self.out_channels if self.bias else 0
        if ranks is None:
            return self.in_channels * self.out_channels * self.taps + bias
        if self.kind == "conv":
            r_in, r_out = ranks
            outer_in, outer_out = self._outer((r_in, r_out), fold)
            core = r_in * r_out * self.taps
            return self.in_channels * outer_in + core + outer_out * self.out_channels + bias
        (rank,) = ranks
        return rank * (self.in_channels + self.out_channels) + bias

    def macs(self, ranks: tuple[int, ...] | None = None, fold: bool = True) -> int:
        """Multiply-accumulates for one sample (bias additions not counted)."""
        if ranks is None:
            return self.out_pixels * self.in_channels * self.out_channels * self.taps
        if self.kind == "conv":
            r_in, r_out = ranks
            outer_in, outer_out = self._outer((r_in, r_out), fold)
            return (
                self.in_pixels * self.in_channels * outer_in  # 1×1 reduce runs at the input resolution
                + self.out_pixels * (r_in * r_out * self.taps + outer_out * self.out_channels)
            )
        (rank,) = ranks
        return self.out_pixels * rank * (self.in_channels + self.out_channels)

    def cost(self, ranks: tuple[int, ...] | None, target: str, fold: bool = True) -> float:
        return float(self.params(ranks, fold) if target == "params" else self.macs(ranks, fold))


@dataclass(frozen=True)
class Option:
    """One way to run a layer: `ranks` None is the original layer."""

    ranks: tuple[int, ...] | None
    cost: float
    error: float  # −log(1 − relative squared error) of the weight, a proxy


def tail_energies(spectra: tuple[Tensor, ...]) -> tuple[list[float], ...]:
    """For each spectrum, t[r] = energy beyond the r leading values / the weight's total energy."""
    energies = [(s.double() ** 2).tolist() for s in spectra]
    total = sum(energies[0])
    tails = []
    for values in energies:
        tail = [0.0] * (len(values) + 1)
        for r in range(len(values) - 1, -1, -1):
            tail[r] = tail[r + 1] + values[r]
        tails.append([t / total if total > 0 else 0.0 for t in tail])
    return tuple(tails)


def error_proxy(kind: str, tails: tuple[list[float], ...], ranks: tuple[int, ...]) -> float:
    """−log of the energy kept by the truncation (Tucker-2: 1 − both modes' dropped energy)."""
    if kind == "conv":  # tails = (mode-0, mode-1); ranks = (r_in, r_out)
        out_tail, in_tail = tails
        r_in, r_out = ranks
        dropped = out_tail[min(r_out, len(out_tail) - 1)] + in_tail[min(r_in, len(in_tail) - 1)]
    else:
        (tail,) = tails
        (rank,) = ranks
        dropped = tail[min(rank, len(tail) - 1)]
    return -math.log(max(1.0 - dropped, 1e-9))


def allowed_ranks(limit: int, multiple: int) -> list[int]:
    """Ranks to try, largest first: `limit`, then the multiples of `multiple` below it.

    CPU conv kernels (oneDNN) work on blocks of 8 or 16 channels; a layer with, say, 18
    channels can run several times slower than one with 16, so ranks are rounded to blocks.
    A layer narrower than one block may take any rank from 1.
    """
    if limit <= multiple:
        return list(range(limit, 0, -1))
    return [limit, *(r for r in range((limit - 1) // multiple * multiple, 0, -multiple))]


def rank_path(
    geometry: LayerGeometry, spectra: tuple[Tensor, ...], target: str, multiple: int = 1
) -> list[Option]:
    """Options from the largest useful ranks down to the smallest allowed (1, or one block).

    For Tucker-2: a path where each step lowers whichever of r_in, r_out loses the least error
    per cost saved (costed as three layers), plus the one-sided paths that keep all input or all
    output channels (their 1×1 folds away, a Tucker-1).
    """
    tails = tail_energies(spectra)

    def option(ranks: tuple[int, ...]) -> Option:
        return Option(ranks, geometry.cost(ranks, target), error_proxy(geometry.kind, tails, ranks))

    if geometry.kind != "conv":
        return [option((rank,)) for rank in allowed_ranks(geometry.max_ranks[0], multiple)]
    steps = [allowed_ranks(limit, multiple) for limit in geometry.max_ranks]
    position = [0, 0]
    ranks = geometry.max_ranks
    path = [option(ranks)]
    while any(p + 1 < len(s) for p, s in zip(position, steps, strict=True)):
        best = None
        for axis in (0, 1):
            if position[axis] + 1 == len(steps[axis]):
                continue
            moved = list(position)
            moved[axis] += 1
            step = (steps[0][moved[0]], steps[1][moved[1]])
            saved = geometry.cost(ranks, target, fold=False) - geometry.cost(step, target, fold=False)
            saved = max(saved, 1e-12)
            score = (error_proxy("conv", tails, step) - error_proxy("conv", tails, ranks)) / saved
            if best is None or score < best[0]:
                best = (score, moved, step)
        assert best is not None, "the loop runs while an axis can move"
        _, position, ranks = best
        path.append(option(ranks))
    c_in, c_out = geometry.in_channels, geometry.out_channels
    path += [option((c_in, r)) for r in allowed_ranks(c_out, multiple)[1:]]
    path += [option((r, c_out)) for r in allowed_ranks(c_in, multiple)[1:]]
    return path


def lower_hull(options: list[Option]) -> list[Option]:
    """The options on the lower convex hull of (cost, error), ordered from the costliest down."""
    points = sorted(options, key=lambda o: (o.cost, o.error))
    hull: list[Option] = []
    for point in points:
        if hull and hull[-1].cost == point.cost:
            continue  # same cost, larger error
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            cross = (b.cost - a.cost) * (point.error - a.error) - (b.error - a.error) * (point.cost - a.cost)
            if cross > 0:
                break
            hull.pop()
        hull.append(point)
    # Keep only the part where a cheaper option costs more error (the curve may not rise to the right).
    hull.reverse()
    kept = [hull[0]]
    for option in hull[1:]:
        if option.error >= kept[-1].error:
            kept.append(option)
    return kept


def allocate(options: dict[str, list[Option]], limit: float, what: str) -> dict[str, Option]:
    """Pick one option per layer with total cost ≤ `limit`, greedily by error per cost saved.

    `options[name]` starts with the original layer and lists cheaper options (any order).
    Raises OneByOneError when even the cheapest option of every layer exceeds `limit`.
    """
    curves = {name: lower_hull(opts) for name, opts in options.items()}
    for name, curve in curves.items():
        if curve[0].ranks is not None:
            raise ValueError(f"{name}: the original layer must be the costliest option")
    cheapest = sum(curve[-1].cost for curve in curves.values())
    original = sum(curve[0].cost for curve in curves.values())
    if cheapest > limit * (1 + 1e-12):
        raise OneByOneError(
            f"budget too small: the smallest reachable {what} is {cheapest / original:.4f} of the original "
            f"(every factorisable layer at its smallest allowed rank), asked for {limit / original:.4f}"
        )
    position = {name: 0 for name in curves}
    total = original
    heap: list[tuple[float, str]] = []

    def push(name: str) -> None:
        curve, i = curves[name], position[name]
        if i + 1 < len(curve):
            saved = curve[i].cost - curve[i + 1].cost
            heapq.heappush(heap, ((curve[i + 1].error - curve[i].error) / saved, name))

    for name in curves:
        push(name)
    while total > limit and heap:
        _, name = heapq.heappop(heap)
        curve, i = curves[name], position[name]
        total -= curve[i].cost - curve[i + 1].cost
        position[name] = i + 1
        push(name)
    return {name: curves[name][position[name]] for name in curves}
