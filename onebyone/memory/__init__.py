"""Will it fit? The peak memory of inference and of a training step, predicted and measured.

`estimate_memory(model, (64, 3, 224, 224), MemorySetup("adamw", "bfloat16"))` runs the step on fake
tensors under a ledger of live bytes (docs/memory.md); `largest_batch` finds the batch that fits a
budget; `memory.measure` reads the CPU allocator during a real step, to check the prediction.
"""

from onebyone.memory.estimate import MemorySetup, estimate_memory
from onebyone.memory.fit import largest_batch
from onebyone.memory.results import BatchFit, MemoryResult, StepMemory

__all__ = ["BatchFit", "MemoryResult", "MemorySetup", "StepMemory", "estimate_memory", "largest_batch"]
