"""The claims C1–C15, one registration each (report.registry): importing this package registers them.

exact: C1, C2, C12, C15 · architecture: C4, C7, C11 · timing: C6, C8, C10 · ablation: C3, C5 ·
sparsity: C13 · localisation: C9, C14 (photo_localisation: their EfficientNet-Lite0 parts).
"""

from onebyone.report.claims import ablation, architecture, exact, localisation, sparsity, timing

__all__ = ["ablation", "architecture", "exact", "localisation", "sparsity", "timing"]
