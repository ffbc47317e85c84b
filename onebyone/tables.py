"""Terminal tables that stay whole at any width: nothing inside a cell is ever cut to "…".

Every command prints its tables through `print_table`. A table too wide for the console (an
80-column terminal, or a pipe, where rich assumes 80 columns unless COLUMNS says otherwise) is
fitted in this order, each step only while it is still too wide:

1. dotted names (layer paths) are shortened from the middle: a part that recurs, such as
   `features`, `stage1` or `branch3x3_reduce`, becomes a short alias (`f`, `s1`, `b3x3r`) everywhere
   but in the last place (`f.s1.conv`), and a legend under the table spells each alias out; aliases
   never collide, so names stay distinct;
2. columns of prose (notes, descriptions) wrap between words;
3. a table with `blocks` (a matrix: the confusion matrix) is split into several tables of
   consecutive columns, each repeating the key columns;
4. otherwise whole columns are left out, lowest priority first, and a note says which.

Numbers and shapes never wrap. Everything the table leaves out is in the command's --format json.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.cells import cell_len
from rich.console import Console, JustifyMethod
from rich.table import Table

_PADDING = 3  # rich's default: one space each side and a border
_MIN_PROSE = 12  # a prose column narrower than this reads as a column of single words

KINDS = ("value", "text", "name")  # never wraps | wraps between words | dotted path, shortened


@dataclass(frozen=True)
class Column:
    name: str
    justify: JustifyMethod = "right"
    priority: float = 0  # columns of lower priority are left out first (ties: the rightmost first)
    kind: str = "value"


@dataclass
class Fitted:
    """The tables to print (several when a matrix is split into blocks) and the notes under them."""

    tables: list[Table]
    notes: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)
    kept: list[int] = field(default_factory=list)


def _longest_word(text: str) -> int:
    return max((cell_len(word) for word in text.split()), default=0)


def _width(cell: str) -> int:
    """Columns a cell takes: its longest line."""
    return max(cell_len(line) for line in cell.split("\n"))


def _natural(column: Column, cells: list[str]) -> int:
    """The width that shows every cell and the header on one line."""
    return max([cell_len(column.name), *(_width(c) for c in cells)])


def _least(column: Column, cells: list[str]) -> int:
    """The narrowest a column can be without cutting anything: headers wrap between words, prose
    (kind "text") too, down to _MIN_PROSE; values and names never wrap."""
    natural = _natural(column, cells)
    if column.kind == "text":
        return min(natural, max(_MIN_PROSE, _longest_word(column.name)))
    return max([_longest_word(column.name), *(_width(c) for c in cells)])


def _word_alias(word: str, letters: int) -> str:
    """`word`'s first `letters` letters and everything from its first digit on ('inception3a', 1 ->
    'i3a'; 'stage1' -> 's1'; 'reduce' -> 'r')."""
    first_digit = next((i for i, ch in enumerate(word) if ch.isdigit()), len(word))
    return word[: min(letters, first_digit)] + word[first_digit:]


def _alias(part: str, taken: set[str]) -> str | None:
    """A short name for `part`, not in `taken`: each `_`-separated word abbreviated by `_word_alias`
    ('branch3x3_reduce' -> 'b3x3r', 'pool_proj' -> 'pp'), with more letters of each word until it is
    free; None when no alias is shorter than the part."""
    words = [w for w in part.split("_") if w]
    for letters in range(1, max((len(w) for w in words), default=0)):
        alias = "".join(_word_alias(w, letters) for w in words)
        if alias not in taken and len(alias) + 1 < len(part):
            return alias
    return None


def shorten_names(names: list[str], width: int) -> tuple[list[str], dict[str, str]]:
    """Dotted `names` shortened from the middle until the longest is at most `width` (or nothing is
    left to shorten); also the legend, alias -> part. The last part of a name is never shortened, and
    distinct names stay distinct: each alias stands for one part and is never itself a part."""
    split = [name.split(".") for name in names]
    parts = {p for s in split for p in s}
    inner = sorted({p for s in split for p in s[:-1]}, key=lambda p: (-len(p), p))
    legend: dict[str, str] = {}
    current = list(names)
    for part in inner:
        if max((cell_len(n) for n in current), default=0) <= width:
            break
        alias = _alias(part, parts | set(legend))
        if alias is None:
            continue
        legend[alias] = part
        split = [[alias if p == part and i < len(s) - 1 else p for i, p in enumerate(s)] for s in split]
        current = [".".join(s) for s in split]
    return current, legend


def _total(widths) -> int:
    return sum(w + _PADDING for w in widths) + 1


def fit_table(
    title: str,
    columns: list[Column],
    rows: list[list[str]],
    width: int,
    *,
    total_row: bool = False,
    blocks: int = 0,
) -> Fitted:
    """Rich tables of `rows` that fit in `width` columns of text, with the notes to print under them.

    `total_row`: the last row is a total (bold, under a rule). `blocks`: the first `blocks` columns are
    keys (a matrix's row labels) repeated in every block when the other columns must be split."""
    rows = [[str(c) for c in row] for row in rows]
    cells = [[row[i] for row in rows] for i in range(len(columns))]
    notes: list[str] = []
    for i, column in enumerate(columns):  # 1. names shortened from the middle
        if column.kind != "name":
            continue
        others = sum(_least(c, cells[j]) + _PADDING for j, c in enumerate(columns) if j != i) + 1
        if _least(column, cells[i]) + _PADDING + others <= width:
            continue
        short, legend = shorten_names(cells[i], max(width - others - _PADDING, _longest_word(column.name)))
        if legend:
            cells[i] = short
            listed = ", ".join(f"{alias} = {part}" for alias, part in legend.items())
            notes.append(f"{column.name} names shortened: {listed}")
    natural = [_natural(c, cells[i]) for i, c in enumerate(columns)]
    least = [_least(c, cells[i]) for i, c in enumerate(columns)]
    kept = list(range(len(columns)))
    if blocks and _total(least) > width:  # 3. a matrix split into blocks of columns
        return _blocks(title, columns, cells, width, natural, least, blocks, notes)
    by_priority = sorted(kept, key=lambda i: (columns[i].priority, -i))
    while len(kept) > 1 and _total(least[i] for i in kept) > width:  # 4. columns left out
        kept.remove(by_priority.pop(0))
    left_out = [columns[i].name for i in range(len(columns)) if i not in kept]
    if left_out:
        notes.append(left_out_note(left_out, width))
    widths = _share(kept, natural, least, width)
    table = _table(title, [columns[i] for i in kept], [widths[i] for i in kept])
    for r in range(len(rows)):
        last = total_row and r == len(rows) - 1
        table.add_row(*(cells[i][r] for i in kept), style="bold" if last else None, end_section=last)
    return Fitted([table], notes, left_out, kept)


def _share(kept: list[int], natural: list[int], least: list[int], width: int) -> dict[int, int]:
    """Each kept column's width: its natural one, less what wrapped headers and prose (2.) give up,
    the widest first, so that wrapped columns end up alike."""
    widths = {i: natural[i] for i in kept}
    excess = _total(widths.values()) - width
    while excess > 0:
        shrinkable = [i for i in kept if widths[i] > least[i]]
        if not shrinkable:
            break
        widest = max(shrinkable, key=lambda i: widths[i])
        widths[widest] -= 1
        excess -= 1
    return widths


def _table(title: str, columns: list[Column], widths: Sequence[int | None]) -> Table:
    table = Table(title=title)
    for column, width in zip(columns, widths, strict=True):
        table.add_column(
            column.name,
            justify=column.justify,
            width=width,  # at least every value cell's length, so only prose and headers wrap
            overflow="fold",
        )
    return table


def _groups(natural: list[int], keys: int, key_width: int, width: int) -> list[list[int]]:
    """Consecutive non-key columns, as many to a block as fit beside the keys."""
    groups: list[list[int]] = []
    current: list[int] = []
    for i in range(keys, len(natural)):
        if current and key_width + _total(natural[j] for j in [*current, i]) > width:
            groups.append(current)
            current = []
        current.append(i)
    return [*groups, current]


def _blocks(title, columns, cells, width, natural, least, keys, notes) -> Fitted:
    """3.: the key columns at their natural width when that takes no more blocks, else wrapped."""
    groups = _groups(natural, keys, _total(least[:keys]) - 1, width)
    key_widths = least[:keys]
    wide = _groups(natural, keys, _total(natural[:keys]) - 1, width)
    if len(wide) == len(groups):
        groups, key_widths = wide, natural[:keys]
    tables = []
    for number, group in enumerate(groups, 1):
        shown = [*range(keys), *group]
        part = f"{title}, part {number} of {len(groups)}"
        table = _table(
            part, [columns[i] for i in shown], [key_widths[i] if i < keys else natural[i] for i in shown]
        )
        for r in range(len(cells[0])):
            table.add_row(*(cells[i][r] for i in shown))
        tables.append(table)
    return Fitted(tables, notes, [], list(range(len(columns))))


def print_table(
    console: Console,
    title: str,
    columns: list[Column],
    rows: list[list[str]],
    *,
    total_row: bool = False,
    blocks: int = 0,
) -> Fitted:
    """Fit the table to `console`'s width and print it, then its notes (legend, columns left out)."""
    fitted = fit_table(title, columns, rows, console.width, total_row=total_row, blocks=blocks)
    for table in fitted.tables:
        console.print(table)
    for note in fitted.notes:
        console.print(note, highlight=False)
    return fitted


def fitted_table(
    title: str, columns: list[Column], rows: list[list[str]], width: int
) -> tuple[Table, list[str], list[int]]:
    """The older interface (a table without rows, the names and indices of the columns left out)."""
    fitted = fit_table(title, columns, [[row[i] for i in range(len(columns))] for row in rows], width)
    table = _table(title, [columns[i] for i in fitted.kept], [c.width for c in fitted.tables[0].columns])
    return table, fitted.left_out, fitted.kept


def left_out_note(names: list[str], width: int) -> str:
    return (
        f"columns left out at width {width}: {', '.join(names)} "
        "(a wider terminal, or --format json, shows all)"
    )


def speed_text(ratio: float) -> str:
    """A ratio of times (old ÷ new) in words: '1.35× faster', or for a ratio under 1 '1.35× slower'
    (never '0.74× faster')."""
    if f"{ratio:.2f}" == "1.00":
        return "1.00× (the same speed)"
    return f"{ratio:.2f}× faster" if ratio > 1 else f"{1 / ratio:.2f}× slower"
