"""judge_claim: every part is judged; a claim's optional parts are left out only with a reason."""

import pytest

from onebyone.report.registry import Claim, Measured, Rendered, judge_claim
from onebyone.report.verdicts import HOLDS, NOT_SHOWN, Criterion, above
from onebyone.stats import Estimate, mean_interval

FIXED = Criterion("fixed", "an exact part", "a count", holds=above(0))
OPTIONAL = Criterion("photos", "a part on photos", "a share", holds=above(0.5), subject="a pretrained net")
CLAIM = Claim(
    "C99",
    "a claim",
    "the article's words",
    (FIXED,),
    lambda ctx: None,
    lambda m, ctx: Rendered(""),
    optional=(OPTIONAL,),
)


def test_optional_parts_are_judged_when_measured():
    measured = Measured({"fixed": Estimate.exact(3), "photos": mean_interval([0.4, 0.9, 0.6])}, None)
    verdicts = judge_claim(CLAIM, measured)
    assert [(v.criterion.key, v.decision) for v in verdicts] == [("fixed", HOLDS), ("photos", NOT_SHOWN)]


def test_optional_parts_are_left_out_only_when_the_measurement_says_why():
    measured = Measured({"fixed": Estimate.exact(3)}, None, unmeasured="not measured: weights not installed")
    assert [v.criterion.key for v in judge_claim(CLAIM, measured)] == ["fixed"]
    with pytest.raises(KeyError, match="no estimate for \\['photos'\\]"):
        judge_claim(CLAIM, Measured({"fixed": Estimate.exact(3)}, None))  # a bug, not a missing package
