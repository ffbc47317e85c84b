"""`onebyone report`: every claim measured with verdicts and criteria, numbers from this run, a page
that renders."""

import importlib.util
import json
import os
import shutil
import subprocess

import pytest

from onebyone.data import FASHION_MNIST_DIR
from onebyone.report import (
    VERDICTS,
    ReportConfig,
    build_report,
    claims_in_order,
    write_html,
    write_json,
    write_markdown,
)
from onebyone.report.build import measure_claim
from onebyone.report.context import ReportContext
from onebyone.report.photos import REQUIRED, SUBJECT, Unavailable, missing
from onebyone.report.render import SCHEMA_VERSION
from onebyone.report.verdicts import DOES_NOT_HOLD, HOLDS

needs_data = pytest.mark.skipif(
    not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file(), reason="Fashion-MNIST not installed"
)
needs_photos = pytest.mark.skipif(
    any(importlib.util.find_spec(module) is None for module in REQUIRED.values()),
    reason=f"one of {', '.join(REQUIRED)} is not installed (the dev extra installs them)",
)
PHOTOS_INSTALLED = missing() is None
PNG = b"\x89PNG\r\n\x1a\n"
EXACT = ("C1", "C2", "C4", "C11", "C12", "C15")  # no training, no timing: verdicts are exact


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """One --quick report for the whole module (trains five quarter-width NIN variants × 2 seeds)."""
    if not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("Fashion-MNIST not installed")
    out = tmp_path_factory.mktemp("report")
    report = build_report(ReportConfig.quick_preset(out=str(out), device="cpu"))
    paths = {
        "html": write_html(report, out / "report.html"),
        "md": write_markdown(report, out / "report.md"),
        "json": write_json(report, out / "report.json"),
    }
    return report, out, paths


@needs_data
def test_every_claim_has_verdicts_with_criteria_and_a_way_to_reproduce(quick):
    report, _, _ = quick
    assert [c.id for c in report.claims] == [f"C{i}" for i in range(1, 16)]
    if (os.cpu_count() or 1) >= 2:  # the claims' `needs` name every model they use: all trained up front
        assert any(note.startswith("trained 12 models in 2 processes") for note in report.notes)
    for claim in report.claims:
        assert claim.verdict in VERDICTS and claim.reason and claim.statement and claim.reproduce, claim.id
        assert claim.verdicts and (claim.tables or claim.figures), claim.id
        for verdict in claim.verdicts:
            assert verdict.decision in VERDICTS and verdict.criterion.sentence().startswith(
                "holds if the 95%"
            )


@needs_data
def test_trained_and_timed_parts_rest_on_intervals_over_seeds_and_rounds(quick):
    report, _, _ = quick
    over = {(c.id, v.criterion.key): v.estimate for c in report.claims for v in c.verdicts}
    for key in [
        ("C3", "relu_effect"),
        ("C3", "accuracy_effect"),
        ("C5", "accuracy_gap_vs_fc"),
        ("C5", "loss_gap_vs_fc-dropout"),
        ("C13", "rise_bn"),
        ("C13", "rise_nobn"),
        ("C14", "cam_rate"),
    ]:
        estimate = over[key]
        assert estimate.over == "seeds" and estimate.n == 2 and len(estimate.samples) == 2, key
        assert estimate.low <= estimate.value <= estimate.high, key
    for key in [("C8", "time_ratio"), ("C10", "time_ratio")]:
        assert over[key].over == "rounds" and over[key].n == ReportConfig.quick_preset().latency_rounds
    c13 = {v.criterion.subject for v in report.claim("C13").verdicts}
    nin = {"nin-fashion (batch norm)", "nin-fashion without batch norm (as in the NIN paper)"}
    assert c13 == nin | ({SUBJECT} if PHOTOS_INSTALLED else set())


@needs_data
@needs_photos
def test_efficientnet_parts_on_photos_have_subjects_intervals_and_verdicts(quick):
    report, _, paths = quick
    parts = {
        (c.id, v.criterion.key): v
        for c in report.claims
        for v in c.verdicts
        if v.criterion.subject == SUBJECT
    }
    assert set(parts) == {
        ("C9", "max_diff_effnet"),
        ("C9", "halves_named_effnet"),
        ("C13", "rise_effnet"),
        ("C14", "cam_rate_effnet"),
    }
    assert parts[("C9", "max_diff_effnet")].decision == HOLDS  # the head as a 1×1 conv: the same scores
    assert parts[("C9", "max_diff_effnet")].estimate.value < 1e-4
    collages = 6 * 5  # quick: every ordered pair of the six photos, one view each
    for key in [("C9", "halves_named_effnet"), ("C14", "cam_rate_effnet")]:
        estimate = parts[key].estimate  # a share of the 2 photos × 30 collages, with a Wilson interval
        assert estimate.over == "placements" and estimate.n == 2 * collages and len(estimate.samples) == 60
        assert estimate.value == sum(estimate.samples) / 60
        assert estimate.low <= estimate.value <= estimate.high
    rise = parts[("C13", "rise_effnet")].estimate
    assert rise.over == "photos" and rise.n == 6
    written = {
        (c["id"], v["measurement"]): v
        for c in json.loads(paths["json"].read_text())["claims"]
        for v in c["verdicts"]
    }
    for (claim_id, _), verdict in parts.items():
        part = written[(claim_id, verdict.criterion.measurement)]
        assert part["subject"] == SUBJECT and part["decision"] == verdict.decision in VERDICTS
    assert "top-1 on the photo alone" in " ".join(report.claim("C14").findings)
    c8 = {row[0]: row for row in report.claim("C8").tables[1].rows}  # the profiler's exact counts
    assert c8["1×1 convs"] == ["1×1 convs", "3,146,112", "67.6%", "338,537,472", "87.9%"]


@needs_data
def test_without_the_weights_the_photo_parts_say_they_were_not_measured_and_why(quick):
    _, out, _ = quick
    ctx = ReportContext(ReportConfig.quick_preset(out=str(out), device="cpu"))
    ctx.photos = missing({"no-such-weights": "no_such_weights"})  # what report.photos gives
    assert isinstance(ctx.photos, Unavailable)
    for claim in claims_in_order():
        if claim.id in ("C9", "C13", "C14"):
            result = measure_claim(claim, ctx)  # the NIN's parts from the cached models, judged as usual
            assert result.verdicts and all(v.criterion.subject != SUBJECT for v in result.verdicts)
            assert (
                "not measured: no-such-weights is not installed (pip install no-such-weights" in result.reason
            )


@needs_data
def test_exact_claims_get_the_verdict_their_numbers_support(quick):
    report, _, _ = quick
    for claim_id in EXACT:
        assert report.claim(claim_id).verdict == HOLDS, (claim_id, report.claim(claim_id).reason)
    c7 = report.claim("C7")
    assert c7.verdict == DOES_NOT_HOLD and "8.73×" in c7.reason  # 61,100,840 / 6,998,552
    assert c7.verdicts[0].estimate.value == pytest.approx(61_100_840 / 6_998_552)
    c6_rows = {row[0]: row for row in report.claim("C6").tables[0].rows}
    assert c6_rows["kernel weights (no biases, no pool projection)"][1:3] == ["387,072", "157,184"]
    assert c6_rows["output channels"][1:3] == [416, 256]
    assert [v.decision for v in report.claim("C6").verdicts] == [HOLDS, HOLDS]


@needs_data
def test_figures_are_pngs_and_markdown_and_json_carry_the_verdicts(quick):
    report, out, paths = quick
    figures = [f for c in report.claims for f in c.figures]
    assert len(figures) >= 6
    for figure in figures:
        assert figure.path.read_bytes()[:8] == PNG
    markdown = paths["md"].read_text()
    for figure in figures:
        assert f"]({figure.path.relative_to(out)})" in markdown
    data = json.loads(paths["json"].read_text())
    assert data["schema_version"] == SCHEMA_VERSION == 2 and len(data["claims"]) == 15
    assert data["machine"]["device"] == "cpu" and "ran on cpu" in markdown
    for claim, written in zip(report.claims, data["claims"], strict=True):
        assert written["verdict"] == claim.verdict
        for verdict, part in zip(claim.verdicts, written["verdicts"], strict=True):
            assert (
                part["decision"] == verdict.decision and part["estimate"]["value"] == verdict.estimate.value
            )
            assert part["criterion"] == verdict.criterion.sentence() and part["criterion"] in markdown


@needs_data
def test_trained_models_are_cached_and_reused(quick):
    report, out, _ = quick
    again = build_report(ReportConfig.quick_preset(out=str(out), device="cpu"), only=["C5"])
    assert sum("loaded from" in note for note in again.notes) == 6  # three heads × two seeds
    assert again.claim("C5").tables[0].rows == report.claim("C5").tables[0].rows


def test_inception_table_follows_the_widths_it_is_given(tmp_path):
    c6 = next(claim for claim in claims_in_order() if claim.id == "C6")
    default = measure_claim(c6, ReportContext(ReportConfig.quick_preset(out=str(tmp_path), device="cpu")))
    changed = ReportConfig.quick_preset(
        out=str(tmp_path), device="cpu", inception_widths=(32, 48, 64, 8, 16, 16)
    )
    result = measure_claim(c6, ReportContext(changed))
    rows = {row[0]: row for row in result.tables[0].rows}
    # naive: 192·32 + 9·192·64 + 25·192·16; reduced: 192·32 + 192·48 + 9·48·64 + 192·8 + 25·8·16
    assert rows["kernel weights (no biases, no pool projection)"][1:3] == ["193,536", "47,744"]
    assert rows["output channels"][1:3] == [32 + 64 + 16 + 192, 32 + 64 + 16 + 16]
    assert result.verdicts[1].estimate.value == pytest.approx(47_744 / 193_536)
    assert result.tables[0].rows != default.tables[0].rows


@needs_data
@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium package is not installed")
def test_page_renders_in_headless_chromium_with_every_figure_loaded(quick):
    report, _, paths = quick
    dom = subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=5000",
            "--dump-dom",
            paths["html"].resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    figures = sum(len(c.figures) for c in report.claims)
    assert f'data-figures-total="{figures}"' in dom and f'data-figures-loaded="{figures}"' in dom
    for claim in report.claims:
        assert f'id="{claim.id}" data-verdict="{claim.verdict}"' in dom
    parts = sum(len(c.verdicts) for c in report.claims)
    assert dom.count('class="part"') == parts and dom.count("Criterion: holds if the 95% interval") == parts
