"""Structural re-parameterisation: train wide, deploy narrow, for any model fx can trace.

A 1×1 conv is a k×k conv that is zero off-centre; an identity is a 1×1 conv of the identity matrix;
parallel linear branches summed are one conv with the summed kernel; k×k then 1×1 with nothing
between is one k×k conv. RepVGG, ACNet, DBB and MobileOne train such branches and ship a method
per block class that merges them; here the merges are found on a torch.fx trace by what the nodes
compute (`onebyone.deploy.rewrites`), so a model needs no method of its own.

Each merge is made inside the smallest module whose forward holds all of its nodes: that module
gets the new conv as a child, and becomes an instance of a subclass of its own class, of the same
name, whose forward is the rewritten graph; the merged layers leave the module tree. The model
keeps its class (or, when a merge is in its own forward, such a subclass of it) and its methods,
and every module above a merge keeps its own forward. (A dynamic class cannot be pickled whole:
save the state_dict, or export.) Rounds repeat until nothing merges: a merge can make the next one
possible (BN after a summed block, a chain that became one conv).
"""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass, field

from torch import fx, nn
from torch.nn.modules.batchnorm import _BatchNorm

from onebyone.deploy.rewrites import Finder, Refusal, Rewrite
from onebyone.graph import layer_kinds

MAX_ROUNDS = 200


@dataclass
class Merge:
    """Nodes of the training-time graph that became one conv of the deployed model."""

    into: str  # the new conv's name in the model
    replaced: list[str]
    kind: str  # "parallel" (branches summed) or "sequential" (a chain)
    parts: str  # e.g. "conv + conv + norm" or "conv→conv→norm"
    kernel: str  # the merged kernel, e.g. "3×3" or "3×3 depthwise s2"


@dataclass
class ReparamResult:
    """What reparameterize() merged, and what it left alone and why."""

    merges: list[Merge] = field(default_factory=list)
    left: list[Refusal] = field(default_factory=list)
    method: str = "fx"  # "fx", "off", or why the model was not traced
    convs: tuple[int, int] = (0, 0)  # Conv2d modules before, after
    norms: tuple[int, int] = (0, 0)  # batch norms before, after


def count_layers(model: nn.Module) -> tuple[int, int]:
    """(Conv2d modules, batch norms) in `model`'s tree."""
    modules = list(model.modules())
    return sum(isinstance(m, nn.Conv2d) for m in modules), sum(isinstance(m, _BatchNorm) for m in modules)


def reparameterize(model: nn.Module) -> tuple[nn.Module, ReparamResult]:
    """A copy of `model` in eval mode with every exact structural merge made. The original is unchanged."""
    result = copy.deepcopy(model).eval()
    before = count_layers(result)
    report = ReparamResult()
    blocked: dict[tuple, str] = {}
    barren: set[str] = set()  # modules merged in to no avail since their subtree last changed
    for _ in range(MAX_ROUNDS):
        try:
            whole = _trace(result)
        except Exception as exc:  # fx cannot trace every model (data-dependent control flow, ...)
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            report.method = f"not traced by torch.fx: {message}"
            break
        calls = Counter(n.target for n in whole.nodes if n.op == "call_module")
        # A dry search over the whole model says where merges may be; each place is then traced
        # alone, and merged there as far as exactness and cost allow.
        places, _ = Finder(result, "", calls, blocked, dry=True).find(whole)
        owners = _owners(places, barren)
        if not owners:
            report.left += Finder(result, "", calls, blocked).find(whole)[1]
            break
        for owner in owners:
            if _merge_in(result, owner, calls, blocked, report):
                barren -= {other for other in barren if _inside(owner, other)}
            else:
                barren.add(owner)
    after = count_layers(result)
    report.convs, report.norms = (before[0], after[0]), (before[1], after[1])
    return result, report


def _owners(rewrites: list[Rewrite], barren: set[str]) -> list[str]:
    """The module paths to rewrite this round: each rewrite's smallest enclosing module, deepest first,
    none inside another (a rewrite in an outer module re-traces the inner ones)."""
    found = []
    for rewrite in rewrites:
        stacks = [_scope(node) for node in rewrite.nodes]
        common = stacks[0]
        for stack in stacks[1:]:
            length = 0
            while length < min(len(common), len(stack)) and common[length] == stack[length]:
                length += 1
            common = common[:length]
        owner = common[-1] if common else ""
        if owner not in barren:
            found.append(owner)
    chosen: list[str] = []
    for path in sorted(set(found), key=lambda p: -len(p.split(".")) if p else 0):
        if not any(_inside(path, other) or _inside(other, path) for other in chosen):
            chosen.append(path)
    return chosen


def _scope(node: fx.Node) -> list[str]:
    """The module paths whose forward was running when `node` was traced, outermost first."""
    stack = [path for path, _ in node.meta.get("nn_module_stack", {}).values()]
    return stack[:-1] if node.op == "call_module" else stack


def _inside(path: str, outer: str) -> bool:
    return outer == "" or path == outer or path.startswith(outer + ".")


def _merge_in(model: nn.Module, owner: str, calls: Counter, blocked: dict, report: ReparamResult) -> bool:
    """Trace the module at `owner` alone, merge in it until nothing merges, and install the result."""
    module = model.get_submodule(owner)
    try:
        graph = _trace(module)
    except Exception:  # traced inside the model but not alone (an argument it needs): leave it
        return False
    prefix = f"{owner}." if owner else ""
    finder = Finder(module, prefix, calls, blocked)
    removed: list[str] = []
    merges: list[Merge] = []
    try:
        progress = True
        while progress:
            progress = False
            for rewrite in finder.find(graph)[0]:
                name = _free_name(module)
                if finder.apply(rewrite, graph, name) is None:
                    continue  # blocked now; the next find leaves it out
                calls[prefix + name] = 1  # the new conv is called once: it may merge on at once
                kernel = rewrite.kernel.describe()
                merges.append(
                    Merge(prefix + name, rewrite.replaced(finder.name), rewrite.kind, rewrite.parts, kernel)
                )
                removed += [m for m in rewrite.modules if m not in removed]
                progress = True
                break  # the graph changed: find again
        if not merges:
            return False
        graph.lint()
        code = fx.GraphModule(module, graph, type(module).__name__)
    except Exception as exc:  # a graph this module cannot rebuild from: leave the module as it was
        for merge in merges:
            delattr(module, merge.into.rpartition(".")[2])
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        report.left.append(Refusal([owner or type(module).__name__], f"not rewritten: {reason}"))
        return False
    base = type(module).__dict__.get("_reparam_base", type(module))
    # A subclass of the module's own class, of the same name, whose forward is the rewritten graph:
    # isinstance and every other method hold, and fx, TorchScript and torch.compile see the new forward.
    module.__class__ = type(base.__name__, (base,), {"forward": type(code).forward, "_reparam_base": base,
                                                      "__module__": base.__module__})  # fmt: skip
    for target in removed:
        _delete(module, target)
    report.merges += merges
    return True


def _trace(module: nn.Module) -> fx.Graph:
    """The module's graph as `layer_kinds.LayerTracer` sees it (conv, norm, activation layers whole)."""
    return layer_kinds.LayerTracer().trace(module)


def _free_name(module: nn.Module) -> str:
    name, index = "reparam_conv", 0
    while hasattr(module, name):
        index += 1
        name = f"reparam_conv_{index}"
    return name


def _delete(root: nn.Module, target: str) -> None:
    """Take the merged layer `target` out of the tree, then each container above it that it leaves
    empty. A plain module's attribute becomes None (as a deployed RepVGG block's unused branch)."""
    parts = target.split(".")
    try:
        root.get_submodule(target)
    except AttributeError:  # already gone with a container emptied before
        return
    while parts:
        parent = root.get_submodule(".".join(parts[:-1]))
        if isinstance(parent, (nn.Sequential, nn.ModuleList, nn.ModuleDict)):
            del parent._modules[parts[-1]]
        else:
            setattr(parent, parts[-1], None)
        parts = parts[:-1]
        if not parts or _holds_anything(parent):
            return


def _holds_anything(module: nn.Module) -> bool:
    children = any(child is not None for child in module._modules.values())
    return children or bool(module._parameters) or bool(module._buffers)
