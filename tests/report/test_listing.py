"""`onebyone report --list-claims` and docs/claims.md: every registered claim and criterion, in sync."""

from pathlib import Path

from onebyone.cli import main
from onebyone.report import claims_in_order
from onebyone.report.listing import claims_markdown

DOCS = Path(__file__).resolve().parents[2] / "docs" / "claims.md"


def test_every_claim_and_criterion_is_listed_with_its_rule():
    text = claims_markdown()
    for claim in claims_in_order():
        assert f"## {claim.id}: {claim.title}" in text
        for criterion in claim.criteria + claim.optional:
            assert criterion.sentence() in text


def test_the_cli_prints_the_listing_and_measures_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["report", "--list-claims"]) == 0
    assert capsys.readouterr().out == claims_markdown() + "\n"
    assert list(tmp_path.iterdir()) == []


def test_docs_claims_md_is_the_current_listing():
    # regenerate with: onebyone report --list-claims > docs/claims.md
    assert DOCS.read_text() == claims_markdown() + "\n"
