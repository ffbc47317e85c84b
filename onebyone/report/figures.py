"""The report's own plots: bars with 95% intervals as error bars (matplotlib, Agg, PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from onebyone.files import save_figure
from onebyone.report.results import Figure
from onebyone.stats import Estimate

COLOURS = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3"]


def _pyplot() -> Any:  # the matplotlib.pyplot module, on the Agg backend
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def error_bars(estimates: list[Estimate]) -> list[list[float]]:
    """matplotlib's yerr: distances from each estimate down and up to its interval's ends (0 if unbounded)."""
    low = [e.value - e.low if e.low is not None else 0.0 for e in estimates]
    high = [e.high - e.value if e.high is not None else 0.0 for e in estimates]
    return [low, high]


def interval_bars(
    path: Path, title: str, labels: list[str], panels: list[tuple[str, list[Estimate]]], caption: str
) -> Figure:
    """One panel per (y label, estimates): a bar per label, the 95% interval as the error bar."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.4), dpi=110, squeeze=False)
    for ax, (ylabel, estimates) in zip(axes[0], panels, strict=True):
        values = [e.value for e in estimates]
        ax.bar(
            range(len(values)), values, color=COLOURS[: len(values)], yerr=error_bars(estimates), capsize=4
        )
        for i, value in enumerate(values):
            ax.text(i + 0.08, value, f"{value:.2f}", ha="left", va="bottom", fontsize=7)
        ax.set_xticks(range(len(values)), labels, fontsize=7)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.axhline(0, color="grey", linewidth=0.6)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
    return Figure(title, path, caption)


def ratio_figure(
    path: Path, title: str, labels: list[str], mac_ratios: list[float], time_ratios: list[Estimate]
) -> Figure:
    """MAC ratio (exact) next to the measured time ratio with its 95% interval, per comparison."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=110)
    positions = range(len(labels))
    ax.bar(
        [p - 0.2 for p in positions], mac_ratios, width=0.4, label="MAC ratio (profiler)", color=COLOURS[0]
    )
    ax.bar(
        [p + 0.2 for p in positions],
        [t.value for t in time_ratios],
        width=0.4,
        color=COLOURS[1],
        yerr=error_bars(time_ratios),
        capsize=4,
        label="time ratio (measured, 95% interval)",
    )
    for p, (m, t) in enumerate(zip(mac_ratios, time_ratios, strict=True)):
        ax.text(p - 0.2, m, f"{m:.2f}×", ha="center", va="bottom", fontsize=8)
        ax.text(p + 0.2, t.high or t.value, f"{t.value:.2f}×", ha="center", va="bottom", fontsize=8)
    ax.axhline(1, color="grey", linewidth=0.8)
    ax.set_xticks(list(positions), labels, fontsize=8)
    ax.set_ylabel("without 1×1 reduction ÷ with")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
    return Figure(
        title,
        path,
        "Bars above 1: the form without the 1×1 reduction costs more. "
        "Error bars: 95% interval over the timing rounds.",
    )


def depth_curves(path: Path, title: str, curves: list[tuple[str, list[Estimate]]], caption: str) -> Figure:
    """Lines of a value against depth (1, 2, …), one per curve, with 95% intervals as error bars.

    Curves whose label ends in ", untrained" are drawn dashed in the colour of the curve before them.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=110)
    colour = 0
    for label, estimates in curves:
        untrained = label.endswith(", untrained")
        colour += 0 if untrained else 1
        depths = list(range(1, len(estimates) + 1))
        ax.errorbar(
            depths,
            [e.value for e in estimates],
            yerr=error_bars(estimates),
            capsize=3,
            marker="o",
            markersize=3,
            linestyle="--" if untrained else "-",
            color=COLOURS[(colour - 1) % len(COLOURS)],
            alpha=0.5 if untrained else 1.0,
            label=label,
        )
    ax.set_ylim(0, 1)
    ax.set_xlabel("depth (ReLU in forward order)")
    ax.set_ylabel("fraction exactly zero")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
    return Figure(title, path, caption)
