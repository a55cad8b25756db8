"""The data-efficiency benchmark's tables and plot, from its ``results.json`` rows: test-set errors per method and
budget (mean and spread over seeds), the oracle calls each method needs to reach the targets with the ratio to
each random baseline run, the errors per test family, and the learning curves (errors against mean calls) as a
PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

METHODS = ("loop", "random", "random_conditions", "gamma", "seeds", "cold", "distill", "distill_joint")
TARGETS = ((2.0, 50.0), (1.0, 30.0))  # (meV/atom, meV/A) pairs the calls-needed table asks for
console = Console(width=200, highlight=False)


def stat(rows: list[dict], key: str, fam: str | None = None) -> tuple[float, float]:
    vals = [(r["families"][fam] if fam else r["all"]).get(key, float("nan")) for r in rows]
    return float(np.mean(vals)), float(np.std(vals))


def prop(rows: list[dict], name: str, fmt: str) -> str:
    """Mean of a property over runs and elements; runs where the model gave none (an EOS without a minimum, a
    collapsing cell) are counted, not averaged away."""
    got = [v.get(name) for r in rows for v in r["properties"].values()]
    vals = [x for x in got if x is not None]
    text = format(float(np.mean(vals)), fmt) if vals else "-"
    return text + (f" ({len(got) - len(vals)} none)" if len(vals) < len(got) else "")


def mean_calls(rows: list[dict]) -> float:
    """The oracle calls the seeds of one point spent, on average (a loop may stop before its budget)."""
    return float(np.mean([r["calls"] for r in rows]))


def by_point(rows: list[dict]) -> dict[str, dict[int, list[dict]]]:
    """One system's runs grouped by method (in METHODS' order) and budget (ascending): the seeds of each point."""
    out: dict[str, dict[int, list[dict]]] = {}
    for m in METHODS:
        for b in sorted({r["budget"] for r in rows if r["method"] == m}):
            out.setdefault(m, {})[b] = [r for r in rows if r["method"] == m and r["budget"] == b]
    return out


def report(results: list[dict], work: Path) -> None:
    for system in sorted({r["system"] for r in results}):
        rows = [r for r in results if r["system"] == system]
        t = Table(title=f"{system}: test-set errors (mean ± spread over seeds) against oracle calls")
        for col in ("method", "budget", "calls", "seeds", "E meV/atom", "F meV/A", "S GPa", "a0 %", "B0 %",
                    "Cij max %", "phonon THz", "Go", "wall s"):  # fmt: skip
            t.add_column(col, justify="right")
        points = by_point(rows)
        methods = list(points)
        for m in methods:
            for b, g in points[m].items():
                e, f, s = (
                    stat(g, "energy_rmse_meV_atom"),
                    stat(g, "forces_rmse_meV_A"),
                    stat(g, "stress_rmse_GPa"),
                )
                go = sum(all(v["go"] for v in r["properties"].values()) for r in g)
                t.add_row(m, str(b), f"{mean_calls(g):.0f}", str(len(g)),
                          f"{e[0]:.2f} ± {e[1]:.2f}", f"{f[0]:.1f} ± {f[1]:.1f}", f"{s[0]:.3f} ± {s[1]:.3f}",
                          prop(g, "a0_error", ".2f"), prop(g, "b0_error", ".1f"), prop(g, "cij_error", ".1f"),
                          prop(g, "phonon_rmse", ".3f"), f"{go}/{len(g)}",
                          f"{np.mean([r['wall_s'] for r in g]):.0f}")  # fmt: skip
        console.print(t)
        need = Table(title=f"{system}: oracle calls needed (mean calls of the smallest budget whose mean errors meet "
                           "both targets) and the ratio to each random baseline")  # fmt: skip
        need.add_column("method")
        baselines = [b for b in ("random", "random_conditions") if b in points]
        for e_t, f_t in TARGETS:
            need.add_column(f"{e_t:g} meV/atom & {f_t:g} meV/A")
            for base in baselines:
                need.add_column(f"{base} / method")
        first: dict[tuple[str, int], float] = {}
        for m in methods:
            for k, (e_t, f_t) in enumerate(TARGETS):
                ok = [mean_calls(g) for g in points[m].values()
                      if stat(g, "energy_rmse_meV_atom")[0] <= e_t and stat(g, "forces_rmse_meV_A")[0] <= f_t]  # fmt: skip
                first[(m, k)] = ok[0] if ok else float("inf")
        for m in methods:
            cells = []
            for k in range(len(TARGETS)):
                b = first[(m, k)]
                cells.append("> max" if b == float("inf") else f"{b:.0f}")
                for base in baselines:
                    rb = first[(base, k)]
                    if b == float("inf") or base == m:
                        cells.append("-")
                    elif rb == float("inf"):
                        # the baseline never got there: at least its largest calls over these
                        most = max(mean_calls(g) for g in points[base].values())
                        cells.append(f"> {most / b:.1f}")
                    else:
                        cells.append(f"{rb / b:.1f}")
            need.add_row(m, *cells)
        console.print(need)
        top = {m: max(points[m]) for m in methods}
        fams = sorted({f for r in rows for f in r["families"]})
        ft = Table(title=f"{system}: energy / force RMSE per test family at each method's largest budget "
                         "(meV/atom / meV/A)")  # fmt: skip
        ft.add_column("family")
        for m in methods:
            ft.add_column(f"{m} ({top[m]})", justify="right")
        for fam in fams:
            cells = []
            for m in methods:
                g = points[m][top[m]]
                cells.append(f"{stat(g, 'energy_rmse_meV_atom', fam)[0]:.2f} / {stat(g, 'forces_rmse_meV_A', fam)[0]:.0f}"
                             if g else "-")  # fmt: skip
            ft.add_row(fam, *cells)
        console.print(ft)
    plot(results, work / "learning_curves.png")


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = sorted({r["system"] for r in results})
    fig, axes = plt.subplots(len(systems), 2, figsize=(10, 4 * len(systems)), squeeze=False)
    for i, system in enumerate(systems):
        points = by_point([r for r in results if r["system"] == system])
        curves = (("energy_rmse_meV_atom", "energy RMSE (meV/atom)", [t[0] for t in TARGETS]),
                  ("forces_rmse_meV_A", "force RMSE (meV/A)", [t[1] for t in TARGETS]))  # fmt: skip
        for j, (key, label, targets) in enumerate(curves):
            ax = axes[i][j]
            for m, by_budget in points.items():
                st = [stat(g, key) for g in by_budget.values()]
                calls = [mean_calls(g) for g in by_budget.values()]
                ax.errorbar(
                    calls, [s[0] for s in st], yerr=[s[1] for s in st], marker="o", capsize=3, label=m
                )
            for y in targets:
                ax.axhline(y, color="grey", lw=0.8, ls="--")
            ax.set(xscale="log", yscale="log", xlabel="oracle calls (training labels)", ylabel=label,
                   title=f"{system}: {label.split(' (')[0]} on the independent test set")  # fmt: skip
            ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    console.print(f"learning curves: {path}")
