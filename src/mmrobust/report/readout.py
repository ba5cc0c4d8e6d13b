"""The scientific read-out (issue 5, item 6), computed from the matrices: stated, never asserted."""

from __future__ import annotations

from ..evaluate import robustness as rb


def _fmt(a: float, b: float) -> str:
    return f"{100 * a:.1f} -> {100 * b:.1f} ({round(100 * (b - a), 1) + 0.0:+.1f})"  # + 0.0: no "-0.0"


def _higher(a: float, b: float) -> bool:
    """b beats a at the precision shown (0.1 point)."""
    return round(1000 * b) > round(1000 * a)


def _count(pairs: dict[str, tuple[float, float]], what: str) -> str:
    wins = sum(_higher(a, b) for a, b in pairs.values())
    detail = "; ".join(f"{e}: {_fmt(a, b)}" for e, (a, b) in pairs.items())
    return f"{what} in {wins} of {len(pairs)} experiments ({detail})"


def task_readout(
    task: str, metric: str, matrices: dict[tuple[str, str], rb.Matrix], baseline: str | None
) -> list[str]:
    """Seed 003's comparisons (MASD vs lp and ft, WiSE-FT vs MASD, more modalities for lp and masd),
    each stated when its methods are among the matrices; the baseline comparison covers every method."""
    experiments = sorted({e for e, _ in matrices})
    have = list(dict.fromkeys(m for _, m in matrices))
    s = {key: rb.strata(mat) for key, mat in matrices.items()}
    lines = [f"### {task} ({metric})", ""]

    def pairs(a: str, b: str, stratum: str, name: str) -> dict[str, tuple[float, float]]:
        return {e: (s[e, a][stratum][name], s[e, b][stratum][name]) for e in experiments}

    # Seed 003 measures MASD against the fine-tuned model (ft); lp is the cheaper baseline. P and R
    # both, so that a gain in R bought with P is said.
    for other in ("ft", "lp"):
        if {other, "masd"} <= set(have):
            for name in ("P", "R"):
                counted = _count(pairs(other, "masd", "overall", name), f"over {other}")
                lines.append(f"- MASD vs {other}, {name} overall: MASD raises {name} {counted}.")
    if {"masd", "wiseft"} <= set(have):
        lines.append(
            f"- WiSE-FT vs MASD, Missing-at-Test R: WiSE-FT raises it "
            f"{_count(pairs('masd', 'wiseft', 'missing', 'R'), 'over MASD')}; "
            f"Missing-at-Test P, {' / '.join(have)}: "
            + "; ".join(
                f"{e}: " + " / ".join(f"{100 * s[e, m]['missing']['P']:.1f}" for m in have)
                for e in experiments
            )
            + "."
        )
    for method in (m for m in ("lp", "masd") if m in have):
        rising = []
        for e in experiments:
            k = rb.same_sets(matrices[e, method])
            rising.append(
                f"{e}: " + " < ".join(f"{100 * k[i]:.1f}" for i in (1, 2, 3))
                if k[1] < k[2] < k[3]
                else f"{e}: not monotone (" + ", ".join(f"{100 * k[i]:.1f}" for i in (1, 2, 3)) + ")"
            )
        count = sum("not" not in r for r in rising)
        lines.append(
            f"- More modalities at |M_T| = |M_E| = k ({method}, k = 1, 2, 3): rises with k in {count} of "
            f"{len(experiments)} experiments ({'; '.join(rising)})."
        )
    if baseline in experiments:
        for other in (e for e in experiments if e != baseline):
            for name in ("P", "R"):
                by_method = {m: (s[baseline, m]["overall"][name], s[other, m]["overall"][name]) for m in have}
                wins = sum(_higher(a, b) for a, b in by_method.values())
                lines.append(
                    f"- {other} vs {baseline}, {name} overall: higher for {wins} of {len(by_method)} methods"
                    " (" + "; ".join(f"{m}: {_fmt(a, b)}" for m, (a, b) in by_method.items()) + ")."
                )
    return lines + [""]
