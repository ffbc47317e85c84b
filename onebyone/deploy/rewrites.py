"""Find and apply re-parameterisation rewrites on one torch.fx graph: parallel sums and linear chains.

A parallel rewrite takes the addends of a sum tree that are linear maps of the same input (convs,
identities, batch norms, average pools, constant scales, each chain of them read by nothing else)
and replaces them by one conv whose kernel is their sum; a sequential rewrite replaces a chain of
linear ops by one conv whose kernel is their composition (`onebyone.deploy.kernels`). Neither is
made when the merged conv would cost more multiply-accumulates than its parts (a low-rank
bottleneck stays two convs). Every rewrite is checked on a seeded probe input against the nodes it
replaces before the graph changes; a rewrite that is refused says why.
"""

from __future__ import annotations

import operator
from collections import Counter
from dataclasses import dataclass, field

import torch
from torch import Tensor, fx, nn

from onebyone.deploy import kernels
from onebyone.deploy.kernels import Kernel
from onebyone.deploy.linear_ops import LinearOp, Term, chain, is_add, is_sub, linear_op, run_op, sum_terms
from onebyone.graph import layer_kinds


@dataclass
class Rewrite:
    """One merge found in a graph, not yet applied."""

    kind: str  # "parallel" or "sequential"
    source: fx.Node
    kernel: Kernel | None  # None from a dry search, which only says where merges may be
    merged: list[Term]  # a sequential rewrite has one term: its chain
    rest: list[Term] = field(default_factory=list)  # the sum's other addends, kept
    tree: list[fx.Node] = field(default_factory=list)  # the sum's own nodes, the root first
    parts: str = ""

    @property
    def nodes(self) -> list[fx.Node]:
        return [op.node for term in self.merged for op in term.ops if op.node is not None] + self.tree

    def replaced(self, name) -> list[str]:
        """The names of the merged nodes (`name` names one), an identity branch by its input."""
        found = []
        for term in self.merged:
            named = [name(op.node) for op in term.ops if op.node is not None and op.kind != "identity"]
            found += named or [f"identity of {name(term.source)}"]
        return found

    @property
    def modules(self) -> list[str]:
        return [op.module for term in self.merged for op in term.ops if op.module is not None]


@dataclass
class Refusal:
    nodes: list[str]
    reason: str


class Finder:
    """Rewrites and refusals in `graph`, whose call_module targets are relative to `root`.

    `prefix` turns those targets into the model's names; `calls` counts how often the model runs each
    module (one called twice is never merged: its other call would change); `blocked` holds the
    rewrites whose probe failed, by signature, with the reason.
    """

    def __init__(
        self, root: nn.Module, prefix: str, calls: Counter, blocked: dict[tuple, str], *, dry: bool = False
    ) -> None:
        self.root, self.prefix, self.calls, self.blocked, self.dry = root, prefix, calls, blocked, dry

    def name(self, node: fx.Node | None) -> str:
        if node is None:
            return "−"
        return self.prefix + (node.target if node.op == "call_module" else node.name)

    def signature(self, rewrite: Rewrite) -> tuple:
        return (rewrite.kind, *sorted(self.prefix + m for m in rewrite.modules))

    def usable(self, op: LinearOp) -> bool:
        return op.module is None or self.calls[self.prefix + op.module] == 1

    def find(self, graph: fx.Graph) -> tuple[list[Rewrite], list[Refusal]]:
        rewrites: list[Rewrite] = []
        refusals: list[Refusal] = []
        covered: set[fx.Node] = set()
        for node in reversed(list(graph.nodes)):
            if (is_add(node) or is_sub(node)) and node not in covered:
                terms, constants, tree = sum_terms(node, self.root, self.usable)
                covered.update(tree)
                if all(isinstance(c, (int, float)) and c == 0 for c in constants):
                    self._parallel(terms, tree, rewrites, refusals)
        for node in graph.nodes:
            if self._chain_end(node):
                self._sequential(node, rewrites, refusals)
        kept = []
        for rewrite in rewrites:
            reason = self.blocked.get(self.signature(rewrite))
            if reason is None:
                kept.append(rewrite)
            else:
                refusals.append(Refusal([self.name(n) for n in rewrite.nodes], reason))
        return kept, refusals

    # --- parallel branches summed ----------------------------------------------------------------

    def _parallel(self, terms: list[Term], tree: list[fx.Node], rewrites: list, refusals: list) -> None:
        by_source: dict[fx.Node, list[Term]] = {}
        for term in terms:
            by_source.setdefault(term.source, []).append(term)
        for source, group in by_source.items():
            if len(group) < 2:
                continue
            if self.dry:
                rewrites.append(Rewrite("parallel", source, None, group, tree=tree))
                continue
            channels = _channels(group)
            names = [self.name(op.node) for t in group for op in t.ops] or [self.name(source)]
            if channels is None:
                refusals.append(Refusal(names, f"the channel count of {self.name(source)} is not known"))
                continue
            built, cost = [], 0
            for term in group:
                found = _build(term.ops, channels)
                if isinstance(found, str):
                    refusals.append(Refusal([self.name(op.node) for op in term.ops], found))
                else:
                    built.append((term, found[0]))
                    cost += found[1]
            if len(built) < 2:
                continue
            merged = kernels.parallel_sum([k for _, k in built])
            if isinstance(merged, str):
                refusals.append(Refusal(names, merged))
                continue
            kept = [t for t in terms if all(t is not b for b, _ in built)]
            if any(t.outer for t in kept):
                refusals.append(Refusal(names, "another addend is scaled or subtracted and does not merge"))
                continue
            if merged.macs > cost:
                refusals.append(Refusal(names, _costlier(merged, cost)))
                continue
            parts = " + ".join(_describe(t.ops) for t, _ in built)
            rewrites.append(Rewrite("parallel", source, merged, [t for t, _ in built], kept, tree, parts))

    # --- linear chains ---------------------------------------------------------------------------

    def _chain_end(self, node: fx.Node) -> bool:
        op = linear_op(node, self.root)
        if op is None or not self.usable(op):
            return False
        if len(node.users) == 1:
            (user,) = node.users
            follower = linear_op(user, self.root)
            if follower is not None and self.usable(follower):
                return False
        return True

    def _sequential(self, end: fx.Node, rewrites: list, refusals: list) -> None:
        source, ops = chain(end, self.root, self.usable)
        if _work(ops) < 2:
            return  # a conv and identities (nn.Identity, eval dropout) is already one conv
        if self.dry:
            # Each neighbouring pair of working ops is a place of its own: a pair inside one block
            # is merged there even where the chain runs on into the next block (the model's own
            # methods keep calling its blocks' forwards).
            working = [index for index, op in enumerate(ops) if op.kind != "identity"]
            for first, second in zip(working, working[1:], strict=False):
                rewrites.append(Rewrite("sequential", source, None, [Term(source, ops[first : second + 1])]))
            return
        channels = _channels([Term(source, ops)])
        if channels is None:
            return
        start = 0
        while start < len(ops) - 1:
            stop, kernel = start + 1, ops[start].kernel(channels)
            cost = kernel.macs * _strides_after(ops[start + 1 :])
            while stop < len(ops):
                if ops[stop].kind == "identity":
                    stop += 1
                    continue
                following = ops[stop].kernel(kernel.out_channels)
                merged = kernels.compose(kernel, following)
                extra = following.macs * _strides_after(ops[stop + 1 :])
                if isinstance(merged, str) or merged.macs * _strides_after(ops[stop + 1 :]) > cost + extra:
                    reason = merged if isinstance(merged, str) else _costlier(merged, cost + extra)
                    before = next(
                        op for op in reversed(ops[:stop]) if op.kind != "identity" or op is ops[start]
                    )
                    refusals.append(Refusal([self.name(before.node), self.name(ops[stop].node)], reason))
                    break
                kernel, cost, stop = merged, cost + extra, stop + 1
            segment = ops[start:stop]
            if _work(segment) >= 2:
                head = source if start == 0 else ops[start - 1].node
                rewrites.append(
                    Rewrite("sequential", head, kernel, [Term(head, segment)], parts=_describe(segment))
                )
            channels, start = kernel.out_channels, stop

    # --- applying --------------------------------------------------------------------------------

    def apply(self, rewrite: Rewrite, graph: fx.Graph, new_name: str) -> nn.Conv2d | None:
        """Replace the rewrite's nodes by one call of a new conv (added to root as `new_name`), or
        None, the graph unchanged and the rewrite blocked, when the probe disagrees."""
        like = next(iter(self.root.parameters()), None)
        like = like if like is not None else next(self.root.buffers(), torch.zeros(()))
        conv = kernels.to_conv(rewrite.kernel, like.detach() if like.is_floating_point() else torch.zeros(()))
        kh, kw = conv.kernel_size
        x = torch.randn(2, conv.in_channels, kh + 3 * conv.stride[0] + 2, kw + 3 * conv.stride[1] + 3,
                        generator=torch.Generator().manual_seed(0)).to(conv.weight)  # fmt: skip
        if not layer_kinds.computes_like(conv, lambda v: self._reference(rewrite, v), x):
            self.blocked[self.signature(rewrite)] = (
                "the merged conv disagrees with the branches on a probe input"
            )
            return None
        self.root.add_module(new_name, conv)
        anchor = rewrite.tree[0] if rewrite.tree else rewrite.merged[0].chain[-1].node
        with graph.inserting_before(anchor):
            value = graph.call_module(new_name, (rewrite.source,))
            for term in rewrite.rest:
                value = graph.call_function(operator.add, (value, term.node))
        anchor.replace_all_uses_with(value)
        _erase_dead(graph, set(rewrite.nodes))
        return conv

    def _reference(self, rewrite: Rewrite, x: Tensor) -> Tensor:
        total = None
        for term in rewrite.merged:
            value = x
            for op in term.ops:
                value = run_op(op, value, self.root)
            total = value if total is None else total + value
        return total


def _channels(terms: list[Term]) -> int | None:
    """The channel count of the terms' input: the first op that knows it, before any that changes it."""
    for term in terms:
        for op in term.ops:
            if op.in_channels is not None:
                return op.in_channels
            if op.kind == "conv":
                break
    return None


def _build(ops: list[LinearOp], channels: int) -> tuple[Kernel, int] | str:
    """The composition of `ops` on `channels` channels and the MACs per output position of the parts."""
    if not ops:
        return kernels.identity(channels), 0
    kernel = ops[0].kernel(channels)
    cost = kernel.macs * _strides_after(ops[1:])
    for index, op in enumerate(ops[1:], start=1):
        if op.kind == "identity":
            continue
        following = op.kernel(kernel.out_channels)
        merged = kernels.compose(kernel, following)
        if isinstance(merged, str):
            return merged
        kernel, cost = merged, cost + following.macs * _strides_after(ops[index + 1 :])
    return kernel, cost


def _strides_after(ops: list[LinearOp]) -> int:
    """How many of an op's outputs each output of the chain needs: the product of later strides."""
    product = 1
    for op in ops:
        product *= op.stride[0] * op.stride[1]
    return product


def _work(ops: list[LinearOp]) -> int:
    return sum(op.kind != "identity" for op in ops)


def _costlier(merged: Kernel, cost: int) -> str:
    return (
        f"one {merged.describe()} conv costs {merged.macs:,} MACs a position against {cost:,} for its parts"
    )


def _describe(ops: list[LinearOp]) -> str:
    kinds = [op.kind for op in ops if op.kind != "identity"]
    return "→".join(kinds) if kinds else "identity"


def _erase_dead(graph: fx.Graph, candidates: set[fx.Node]) -> None:
    """Erase the replaced nodes and the constants only they read, once nothing reads them."""
    changed = True
    while changed:
        changed = False
        for node in reversed(list(graph.nodes)):
            if node in candidates and not node.users:
                inputs = [
                    n for n in node.all_input_nodes if n.op in ("get_attr", "call_method", "call_function")
                ]
                graph.erase_node(node)
                candidates.discard(node)
                candidates.update(n for n in inputs if all(i.op == "get_attr" for i in n.all_input_nodes))
                changed = True
