"""The plain measurements some claims decide on, on hand-made inputs with known answers."""

import pytest

from onebyone.insight import SparsityResult, SparsityRow
from onebyone.report.claims.sparsity import rank_correlation, rise
from onebyone.report.variants import SCORES_FILE, Scores, load_scores, paired_difference, save_scores


def sparsity(zeros: list[float]) -> SparsityResult:
    rows = [SparsityRow(f"relu{i}", i + 1, z, 0.0, 1, [1]) for i, z in enumerate(zeros)]
    return SparsityResult("toy", 10, rows)


@pytest.mark.parametrize(
    "zeros, rho, up",
    [
        ([0.40, 0.45, 0.50, 0.55, 0.60, 0.65], 1.0, 0.20),  # sparser at every step
        # ranks 1, 2, 3, 5.5, 4, 8, 5.5, 8, 8: ρ = 53.5 / √(60 · 57.5); rise (0.52 + 0.53 + 0.53 − 1.47) / 3
        ([0.48, 0.49, 0.50, 0.52, 0.51, 0.53, 0.52, 0.53, 0.53], 53.5 / (60 * 57.5) ** 0.5, 0.11 / 3),
        ([0.7, 0.6, 0.5], -1.0, -0.2),
    ],
)
def test_rank_correlation_and_rise_of_zero_fraction(zeros, rho, up):
    result = sparsity(zeros)
    assert rank_correlation(result) == pytest.approx(rho, abs=1e-4)
    assert rise(result) == pytest.approx(up, abs=1e-4)


class Run:
    def __init__(self, seed, value):
        self.seed, self.value = seed, value


def test_paired_difference_pairs_seed_by_seed():
    first = [Run(0, 3.0), Run(1, 5.0), Run(2, 4.0)]
    second = [Run(0, 1.0), Run(1, 2.0), Run(2, 2.0)]
    estimate = paired_difference(first, second, lambda run: run.value)
    assert estimate.samples == (2.0, 3.0, 2.0) and estimate.value == pytest.approx(7 / 3)
    with pytest.raises(ValueError):
        paired_difference(first, second[::-1], lambda run: run.value)


def test_scores_are_kept_beside_a_cached_model(tmp_path):
    train, test = Scores(0.9975, 0.048), Scores(0.8744, 0.381)
    save_scores(tmp_path, train, test)
    assert load_scores(tmp_path) == (train, test)
    (tmp_path / SCORES_FILE).write_text('{"train": {"accuracy": 1}}')
    assert load_scores(tmp_path) is None  # damaged: scored again from the weights
    assert load_scores(tmp_path / "missing") is None
