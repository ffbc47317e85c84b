"""Verdicts are pure functions of an estimate's interval and the criterion's bands (table-tested)."""

import math

import pytest

from onebyone.report.verdicts import (
    APPROXIMATELY,
    DOES_NOT_HOLD,
    HOLDS,
    NOT_SHOWN,
    Band,
    Criterion,
    above,
    around,
    below,
    combine,
    decide,
    judge,
)
from onebyone.stats import Estimate, mean_interval


def interval(low, high, n=3) -> Estimate:
    return Estimate((low + high) / 2, low, high, n, "seeds")


ONE_SEED = Estimate(0.7, None, None, 1, "seeds")
ABOUT_3_7 = dict(holds=around(3.7, 0.2), approximately=around(3.7, 0.5))  # 2.96–4.44, 1.85–5.55


@pytest.mark.parametrize(
    "estimate, bands, expected",
    [
        # "A is larger than B": the difference's interval against 0
        (interval(0.5, 1.5), dict(holds=above(0)), HOLDS),  # a clear effect
        (interval(-0.3, 0.8), dict(holds=above(0)), NOT_SHOWN),  # an effect inside the noise
        (interval(-1.2, -0.4), dict(holds=above(0)), DOES_NOT_HOLD),  # the opposite
        (ONE_SEED, dict(holds=above(0)), NOT_SHOWN),  # one seed: no interval, nothing shown
        (interval(-2.0, -0.1), dict(holds=below(0)), HOLDS),
        # "about 3.7×"
        (interval(3.4, 3.6), ABOUT_3_7, HOLDS),
        (interval(2.8, 3.3), ABOUT_3_7, APPROXIMATELY),  # over the narrow band's edge, inside the wide one
        (interval(2.0, 2.5), ABOUT_3_7, APPROXIMATELY),
        (interval(1.0, 1.5), ABOUT_3_7, DOES_NOT_HOLD),
        (interval(6.0, 9.0), ABOUT_3_7, DOES_NOT_HOLD),
        (interval(1.5, 2.2), ABOUT_3_7, NOT_SHOWN),  # over the wide band's edge
        # a trend: holds when clearly positive and large, approximately when only positive
        (interval(0.6, 0.95), dict(holds=above(0.5), approximately=above(0)), HOLDS),
        (interval(0.2, 0.7), dict(holds=above(0.5), approximately=above(0)), APPROXIMATELY),
        (interval(-0.1, 0.7), dict(holds=above(0.5), approximately=above(0)), NOT_SHOWN),
        (interval(-0.9, -0.2), dict(holds=above(0.5), approximately=above(0)), DOES_NOT_HOLD),
        # exact counts: an interval of width zero
        (Estimate.exact(0), dict(holds=Band(0, 0)), HOLDS),
        (Estimate.exact(2), dict(holds=Band(0, 0)), DOES_NOT_HOLD),
        (Estimate.exact(8.73), dict(holds=around(12, 0.1), approximately=around(12, 0.2)), DOES_NOT_HOLD),
        (Estimate.exact(10.5), dict(holds=around(12, 0.1), approximately=around(12, 0.2)), APPROXIMATELY),
    ],
)
def test_decide(estimate, bands, expected):
    assert decide(estimate, **bands) == expected


@pytest.mark.parametrize(
    "decisions, expected",
    [
        ([HOLDS], HOLDS),
        ([HOLDS, HOLDS], HOLDS),
        ([NOT_SHOWN, NOT_SHOWN], NOT_SHOWN),
        ([DOES_NOT_HOLD], DOES_NOT_HOLD),
        ([HOLDS, DOES_NOT_HOLD], APPROXIMATELY),  # part of the claim holds
        ([HOLDS, NOT_SHOWN], APPROXIMATELY),
        ([APPROXIMATELY, HOLDS], APPROXIMATELY),
        ([DOES_NOT_HOLD, NOT_SHOWN], DOES_NOT_HOLD),
    ],
)
def test_combine(decisions, expected):
    assert combine(decisions) == expected


def test_combine_needs_a_part():
    with pytest.raises(ValueError):
        combine([])


def test_criterion_sentence_states_every_band():
    criterion = Criterion("t", "about 3.7× slower", "time ratio", **ABOUT_3_7)
    assert criterion.sentence() == (
        "holds if the 95% interval of time ratio lies within 2.96–4.44; holds approximately if it lies "
        "within 1.85–5.55; does not hold if it lies wholly outside 1.85–5.55; otherwise not shown."
    )
    sign = Criterion("d", "GAP overfits less", "GAP − FC gap", holds=below(0))
    assert sign.sentence() == (
        "holds if the 95% interval of GAP − FC gap lies ≤ 0; does not hold if it lies wholly > 0; "
        "otherwise not shown."
    )


def test_judge_says_what_budget_would_decide_an_effect_inside_the_noise():
    criterion = Criterion("d", "A beats B", "A − B (points)", holds=above(0))
    verdict = judge(criterion, mean_interval([0.5, -0.1, 0.8]))  # mean 0.4, sd 0.46: straddles 0
    assert verdict.decision == NOT_SHOWN
    assert verdict.needs.startswith("about ") and verdict.needs.endswith(
        " seeds at this spread would decide it"
    )
    assert int(verdict.needs.split()[1]) > 3
    assert judge(criterion, ONE_SEED).needs == "one seed gives no interval; at least 2 are needed"
    assert judge(criterion, mean_interval([0.5, 0.7, 0.9])).needs == ""  # decided: no budget needed


def test_bands_describe_themselves():
    assert Band(0, 0).describe() == "= 0" and Band(0, 0).describe_outside() == "≠ 0"
    assert above(1).describe() == "≥ 1" and below(1).describe_outside() == "> 1"
    assert Band(-math.inf, math.inf).describe() == "anywhere"
