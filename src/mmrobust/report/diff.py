"""`mmrobust diff REV_A [REV_B]`: the result tables of two git revisions, cell by cell.

Tables are read from the revisions themselves (`git show`), never from the work tree, so a diff
says what two commits' results are, whatever is checked out. A row is identified by its key
columns (experiment, method, k, train_set, alpha where present); every other cell is compared,
numbers with their delta. `--table`, `--experiment` and `--tol` narrow it (diff_filter.py); the
last line sums up what is shown, and only what is shown counts for --fail-on-change.
"""

from __future__ import annotations

import csv
import io
import subprocess
from decimal import Decimal
from pathlib import Path

from tabulate import tabulate

from ..errors import MmrobustError
from .diff_filter import select_experiments, select_tables, to_decimal

TABLES = "results/tables"
KEY_COLUMNS = ("experiment", "method", "k", "train_set", "alpha")


def _git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise MmrobustError(
            f"git {' '.join(args)}: "
            f"{result.stderr.strip().splitlines()[-1] if result.stderr.strip() else 'failed'}"
        )
    return result.stdout


def read_tables(repo: Path, rev: str) -> dict[str, list[dict]]:
    """{table name: rows} of every CSV under results/tables/ at `rev`."""
    if subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], capture_output=True
    ).returncode:
        raise MmrobustError(f"{rev}: not a revision of the git repository {repo}")
    names = (
        [n for n in _git(repo, "ls-tree", "--name-only", f"{rev}:{TABLES}").split() if n.endswith(".csv")]
        if _has_tables(repo, rev)
        else []
    )
    return {
        n.removesuffix(".csv"): list(csv.DictReader(io.StringIO(_git(repo, "show", f"{rev}:{TABLES}/{n}"))))
        for n in sorted(names)
    }


def _has_tables(repo: Path, rev: str) -> bool:
    return (
        subprocess.run(
            ["git", "-C", str(repo), "cat-file", "-e", f"{rev}:{TABLES}"], capture_output=True
        ).returncode
        == 0
    )


def _key(row: dict) -> tuple:
    return tuple(row[c] for c in KEY_COLUMNS if c in row)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def compare(
    old: dict[str, list[dict]], new: dict[str, list[dict]], tol: Decimal | None = None
) -> tuple[list[list], list[list], int]:
    """(changed cells: table, row, column, old, new, delta), (added / removed rows and tables),
    how many numeric changes were within `tol` and left out."""
    changed, rows, hidden = [], [], 0
    for table in sorted(old.keys() | new.keys()):
        if table not in new or table not in old:
            rows.append([table, "(whole table)", "removed" if table not in new else "added"])
            continue
        a, b = ({_key(r): r for r in t} for t in (old[table], new[table]))
        for key in sorted(a.keys() | b.keys()):
            label = "/".join(key)
            if key not in b or key not in a:
                rows.append([table, label, "removed" if key not in b else "added"])
                continue
            for column in a[key]:
                if column in KEY_COLUMNS or a[key][column] == b[key].get(column):
                    continue
                if _within(a[key][column], b[key].get(column), tol):
                    hidden += 1
                    continue
                x, y = _number(a[key][column]), _number(b[key].get(column, ""))
                delta = f"{y - x:+.2f}" if x is not None and y is not None else ""
                changed.append([table, label, column, a[key][column], b[key].get(column, "(none)"), delta])
    return changed, rows, hidden


def _within(old: str, new: str | None, tol: Decimal | None) -> bool:
    """|new - old| <= tol, compared exactly (as decimals); never for text or a missing cell."""
    x, y = to_decimal(old), to_decimal(new)
    return tol is not None and x is not None and y is not None and abs(y - x) <= tol


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary(changed: list[list], rows: list[list], hidden: int, compared: int, tol: Decimal | None) -> str:
    """One line: what is shown, counted, and the tolerance that hid the rest."""

    def count(whole: bool, change: str) -> int:
        return sum(1 for r in rows if (r[1] == "(whole table)") == whole and r[2] == change)

    differ = len({r[0] for r in changed + rows})
    text = (
        f"summary: {_plural(len(changed), 'cell')} changed, {_plural(count(False, 'added'), 'row')} added, "
        f"{_plural(count(False, 'removed'), 'row')} removed, {_plural(count(True, 'added'), 'table')} added, "
        f"{_plural(count(True, 'removed'), 'table')} removed (in {differ} of {_plural(compared, 'table')} "
        "compared); "
    )
    if tol is None:
        return text + "no tolerance"
    return text + f"tolerance {tol}, {_plural(hidden, 'numeric change')} within it not shown"


def diff(
    repo: Path,
    rev_a: str,
    rev_b: str = "HEAD",
    tables: list[str] | None = None,
    experiments: list[str] | None = None,
    tol: Decimal | None = None,
) -> tuple[str, bool]:
    """(report text, whether anything is shown as changed)."""
    old, new = read_tables(repo, rev_a), read_tables(repo, rev_b)
    revs = f"{rev_a} or {rev_b}"
    old, new = select_tables(old, new, tables or [], revs)
    old, new = select_experiments(old, new, experiments or [], revs)
    changed, rows, hidden = compare(old, new, tol)
    header = f"result tables, {rev_a} -> {rev_b}"
    narrowed = [
        f"{flag} {', '.join(values)}"
        for flag, values in (("tables", tables), ("experiments", experiments))
        if values
    ]
    parts = [header + (f" ({'; '.join(narrowed)})" if narrowed else "")]
    if changed:
        parts.append(
            tabulate(
                changed,
                ["table", "row", "column", "old", "new", "delta"],
                tablefmt="github",
                disable_numparse=True,
            )
        )
    if rows:
        parts.append(tabulate(rows, ["table", "row", "change"], tablefmt="github"))
    if not changed and not rows:
        parts.append("no change")
    parts.append(summary(changed, rows, hidden, len(old.keys() | new.keys()), tol))
    return "\n\n".join(parts), bool(changed or rows)
