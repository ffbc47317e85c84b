"""The README's console blocks, run as written, print the lines the README shows (scripts/check_readme.py).

The rule (check_readme's module doc): each shown line must be an output line, in the order shown; a
trailing `  # …` comment is not compared, and numbers match any number only where that comment says
`varies`. The first tests pin the rule down on made-up output; the slow one runs the whole README.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import check_readme  # noqa: E402

OUTPUT = """nin-fashion on fashion-mnist test (10,000 images): accuracy 82.89%
│ Egyptian cat │      2.573 │           34% │
│ espresso     │      1.630 │           48% │
trained in 12.5 s
"""


def test_shown_lines_in_order_pass_and_comments_are_not_compared():
    shown = ["│ Egyptian cat │      2.573 │           34% │      # a class map", "trained in 12.5 s"]
    assert check_readme.missing_lines(shown, OUTPUT) == []
    # a table's columns widen with rows the README leaves out: runs of spaces match runs of spaces
    assert check_readme.missing_lines(["│ espresso │ 1.630 │ 48% │"], OUTPUT) == []
    assert check_readme.missing_lines(["│ espresso │ 1.630 │ 48 % │"], OUTPUT) != []


@pytest.mark.parametrize(
    "shown",
    [
        ["│ Egyptian cat │      2.573 │           35% │"],  # one number off
        ["│ espresso     │      1.630 │           48% │", "│ Egyptian cat │      2.573 │           34% │"],
        ["nin-fashion on fashion-mnist test (10,000 images): accuracy 82.89"],  # part of a line only
        ["trained in 9.1 s  # a comment without the word"],
    ],
)
def test_a_line_that_was_not_printed_fails(shown):
    assert check_readme.missing_lines(shown, OUTPUT) != []


def test_numbers_vary_only_where_the_comment_says_so():
    assert check_readme.missing_lines(["trained in 9.1 s  # the time varies"], OUTPUT) == []
    assert check_readme.missing_lines(["trained in 9.1 min  # the time varies"], OUTPUT) != []


def test_the_tour_blocks_are_found_with_their_shown_lines():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    steps = check_readme.steps(readme)
    assert steps[0].command == "onebyone models"
    dense = next(s for s in steps if s.command.startswith("onebyone inspect dense"))
    assert dense.shown and all("│" in line for line in dense.shown)
    assert "scripts/make_photos.py" in readme  # the photos the tour reads are made as the README says


@pytest.mark.readme  # the whole README: 23 min on 2 cores at load 7-9 (training 5.5 min, compress 7.3 min)
def test_the_readme_runs_as_written_and_prints_what_it_shows(tmp_path, capsys):
    assert check_readme.main(["--keep", str(tmp_path)]) == 0, capsys.readouterr().out
