"""`onebyone report`: every claim measured with a verdict, numbers from this run, a page that renders."""

import json
import shutil
import subprocess

import pytest

from onebyone.data import FASHION_MNIST_DIR
from onebyone.report import VERDICTS, ReportConfig, build_report, write_html, write_markdown
from onebyone.report.claims_cost import c6_inception
from onebyone.report.context import ReportContext
from onebyone.report.render import write_json
from onebyone.report.results import DOES_NOT_HOLD, HOLDS

needs_data = pytest.mark.skipif(
    not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file(), reason="Fashion-MNIST not installed"
)
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """One --quick report for the whole module (trains three half-width NINs on 3,000 images)."""
    if not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("Fashion-MNIST not installed")
    out = tmp_path_factory.mktemp("report")
    report = build_report(ReportConfig.quick_preset(out=str(out), progress=False))
    paths = {
        "html": write_html(report, out / "report.html"),
        "md": write_markdown(report, out / "report.md"),
        "json": write_json(report, out / "report.json"),
    }
    return report, out, paths


@needs_data
def test_every_claim_has_a_verdict_a_reason_and_a_way_to_reproduce(quick):
    report, _, _ = quick
    assert [c.id for c in report.claims] == [f"C{i}" for i in range(1, 16)]
    for claim in report.claims:
        assert claim.verdict in VERDICTS and claim.reason and claim.statement and claim.reproduce, claim.id
        assert claim.tables or claim.figures, claim.id


@needs_data
def test_exact_claims_get_the_verdict_their_numbers_support(quick):
    report, _, _ = quick
    for claim_id in ("C1", "C2", "C3", "C4", "C6", "C8", "C11", "C12", "C15"):
        assert report.claim(claim_id).verdict == HOLDS, (claim_id, report.claim(claim_id).reason)
    c7 = report.claim("C7")
    assert c7.verdict == DOES_NOT_HOLD and "8.73×" in c7.reason  # 61,100,840 / 6,998,552
    c6_rows = {row[0]: row for row in report.claim("C6").tables[0].rows}
    assert c6_rows["kernel weights (no biases, no pool projection)"][1:3] == ["387,072", "157,184"]
    assert c6_rows["output channels"][1:3] == [416, 256]


@needs_data
def test_figures_are_pngs_and_the_markdown_links_them(quick):
    report, out, paths = quick
    figures = [f for c in report.claims for f in c.figures]
    assert len(figures) >= 6
    for figure in figures:
        assert figure.path.read_bytes()[:8] == PNG
    markdown = paths["md"].read_text()
    for figure in figures:
        assert f"]({figure.path.relative_to(out)})" in markdown
    data = json.loads(paths["json"].read_text())
    assert data["schema_version"] == 1 and len(data["claims"]) == 15


@needs_data
def test_trained_models_are_cached_and_reused(quick):
    report, out, _ = quick
    again = build_report(ReportConfig.quick_preset(out=str(out), progress=False), only=["C5"])
    assert any("loaded from" in note for note in again.notes)
    assert again.claim("C5").tables[0].rows == report.claim("C5").tables[0].rows


def test_inception_table_follows_the_widths_it_is_given(tmp_path):
    default = c6_inception(ReportContext(ReportConfig.quick_preset(out=str(tmp_path))))
    changed = ReportConfig.quick_preset(out=str(tmp_path), inception_widths=(32, 48, 64, 8, 16, 16))
    result = c6_inception(ReportContext(changed))
    rows = {row[0]: row for row in result.tables[0].rows}
    # naive: 192·32 + 9·192·64 + 25·192·16; reduced: 192·32 + 192·48 + 9·48·64 + 192·8 + 25·8·16
    assert rows["kernel weights (no biases, no pool projection)"][1:3] == ["193,536", "47,744"]
    assert rows["output channels"][1:3] == [32 + 64 + 16 + 192, 32 + 64 + 16 + 16]
    assert result.tables[0].rows != default.tables[0].rows


@needs_data
@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium package is not installed")
def test_page_renders_in_headless_chromium_with_every_figure_loaded(quick):
    report, _, paths = quick
    dom = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
         "--dump-dom", paths["html"].resolve().as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout
    figures = sum(len(c.figures) for c in report.claims)
    assert f'data-figures-total="{figures}"' in dom and f'data-figures-loaded="{figures}"' in dom
    for claim in report.claims:
        assert f"id=\"{claim.id}\" data-verdict=\"{claim.verdict}\"" in dom
