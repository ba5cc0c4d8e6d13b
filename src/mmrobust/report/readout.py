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
    experiments = sorted({e for e, _ in matrices})
    s = {key: rb.strata(mat) for key, mat in matrices.items()}
    lines = [f"### {task} ({metric})", ""]
    masd_r = {e: (s[e, "lp"]["overall"]["R"], s[e, "masd"]["overall"]["R"]) for e in experiments}
    lines.append(f"- MASD vs lp, R overall: MASD raises R {_count(masd_r, 'over lp')}.")
    ft_r = {e: (s[e, "ft"]["overall"]["R"], s[e, "masd"]["overall"]["R"]) for e in experiments}
    lines.append(f"- MASD vs ft, R overall: MASD raises R {_count(ft_r, 'over ft')}.")
    missing = {e: (s[e, "masd"]["missing"]["R"], s[e, "wiseft"]["missing"]["R"]) for e in experiments}
    lines.append(
        f"- WiSE-FT vs MASD, Missing-at-Test R: WiSE-FT raises it {_count(missing, 'over MASD')}; "
        "Missing-at-Test P, lp / ft / masd / wiseft: "
        + "; ".join(
            f"{e}: "
            + " / ".join(f"{100 * s[e, m]['missing']['P']:.1f}" for m in ("lp", "ft", "masd", "wiseft"))
            for e in experiments
        )
        + "."
    )
    for method in ("lp", "masd"):
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
                pairs = {
                    m: (s[baseline, m]["overall"][name], s[other, m]["overall"][name])
                    for m in ("lp", "ft", "masd", "wiseft")
                }
                wins = sum(_higher(a, b) for a, b in pairs.values())
                lines.append(
                    f"- {other} vs {baseline}, {name} overall: higher for {wins} of 4 methods ("
                    + "; ".join(f"{m}: {_fmt(a, b)}" for m, (a, b) in pairs.items())
                    + ")."
                )
    return lines + [""]
