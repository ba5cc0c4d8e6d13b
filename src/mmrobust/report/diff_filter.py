"""Narrowing `mmrobust diff`: which tables, which experiments' rows, and how small a change to ignore.

Names are checked against both revisions, so a typo is one error line naming the known ones rather
than a silent "no change" (which a CI gate would read as a pass).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from fnmatch import fnmatchcase

from ..errors import MmrobustError

Tables = dict[str, list[dict]]


def parse_tol(text: str | None) -> Decimal | None:
    """--tol as an exact decimal, so a change of 0.01 is within 0.01 (floats make it 0.0100000001)."""
    if text is None:
        return None
    value = to_decimal(text)
    if value is None or value < 0:
        raise MmrobustError(f"--tol {text}: not a number >= 0")
    return value


def to_decimal(text: str | None) -> Decimal | None:
    """A finite number, or None (text, empty, nan, inf: compared as text, never within a tolerance)."""
    try:
        value = Decimal((text or "").strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def select_tables(old: Tables, new: Tables, patterns: list[str], revs: str) -> tuple[Tables, Tables]:
    """Only the tables whose name (with or without .csv) matches a pattern (a name or a glob)."""
    if not patterns:
        return old, new
    known = sorted(old.keys() | new.keys())
    for pattern in patterns:
        if not any(fnmatchcase(name, pattern.removesuffix(".csv")) for name in known):
            raise MmrobustError(
                f"--table {pattern}: matches no table at {revs}; known: {', '.join(known) or '(none)'}"
            )
    keep = {n for n in known if any(fnmatchcase(n, p.removesuffix(".csv")) for p in patterns)}
    return ({n: t for n, t in old.items() if n in keep}, {n: t for n, t in new.items() if n in keep})


def select_experiments(old: Tables, new: Tables, experiments: list[str], revs: str) -> tuple[Tables, Tables]:
    """Only the rows whose `experiment` is one of `experiments`.

    Tables without an experiment column are kept whole (their rows may belong to any experiment).
    A table present in one revision only is dropped when none of its rows are selected, so that
    `--experiment vatt` does not report another experiment's new table as added.
    """
    if not experiments:
        return old, new
    known = sorted({r["experiment"] for t in (*old.values(), *new.values()) for r in t if "experiment" in r})
    for name in experiments:
        if name not in known:
            raise MmrobustError(
                f"--experiment {name}: no row of the selected tables has it at {revs}; "
                f"known: {', '.join(known) or '(none)'}"
            )

    def narrow(tables: Tables) -> Tables:
        return {
            n: [r for r in t if "experiment" not in r or r["experiment"] in experiments]
            for n, t in tables.items()
        }

    a, b = narrow(old), narrow(new)
    emptied = {n for n in a.keys() ^ b.keys() if not (a.get(n) or b.get(n)) and (old.get(n) or new.get(n))}
    return (
        {n: t for n, t in a.items() if n not in emptied},
        {n: t for n, t in b.items() if n not in emptied},
    )
