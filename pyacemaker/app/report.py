"""report.html: one self-contained page about a campaign (no network; figures are PNGs embedded as base64).

It reads only the database (the typed campaign document, records, potential documents), so it works for partial
campaigns and on any machine that reaches the database. Each figure carries ``data-points`` (how many values it
plots) and each section a stable id, so tests and people can tell an empty plot from a broken one.
"""

from __future__ import annotations

import html
import json
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

from pyacemaker import __version__
from pyacemaker.app.report_html import fig_html, html_table, none_line, num
from pyacemaker.app.report_surrogate import surrogate_section
from pyacemaker.campaign.context import Context, potential_files
from pyacemaker.campaign.status import CampaignStatus, status_of
from pyacemaker.db import Database
from pyacemaker.schemas.campaign import CampaignDoc
from pyacemaker.schemas.potential import PotentialDoc
from pyacemaker.train.potential import Potential
from pyacemaker.validate.gate import PropertyReport

SECTIONS = [
    ("summary", "Summary"),
    ("learning", "Learning curves"),
    ("parity", "Parity on the test set"),
    ("gamma", "Extrapolation grade"),
    ("halts", "Halts per exploration condition"),
    ("dataset", "Dataset composition"),
    ("surrogate", "Surrogate (distillation)"),
    ("repairs", "Oracle repair log"),
    ("validation", "Validation against the oracle"),
    ("eos", "Equation of state"),
    ("phonons", "Phonons"),
    ("elastic", "Elastic constants"),
]

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1100px;padding:1em 2em;
color:#222} h1{margin-bottom:.2em} nav a{margin-right:1em} section{border-top:1px solid #ddd;margin-top:1.5em}
table{border-collapse:collapse;margin:.5em 0} td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f3f3f3} td.l,th.l{text-align:left} .pass{color:#17803d;font-weight:600}
.fail{color:#b3261e;font-weight:600} .muted{color:#777} figure{margin:.5em 0} img{max-width:100%}
.verdict{font-size:1.3em;padding:.3em .8em;border-radius:.3em;display:inline-block}
.go{background:#e3f4e8} .nogo{background:#fbe4e2}
"""


# Marks the page once loaded: how many images, how many failed to decode, and script errors (headless checks).
CHECK_JS = (
    "window.addEventListener('error',()=>{document.body.dataset.jsErrors=(+document.body.dataset.jsErrors||0)+1});"
    "window.addEventListener('load',()=>{const i=[...document.images];document.body.dataset.images=i.length;"
    "document.body.dataset.broken=i.filter(x=>!(x.complete&&x.naturalWidth>0)).length;"
    "document.body.dataset.sections=document.querySelectorAll('section h2').length;});"
)


# ----------------------------------------------------------------------------------------------- sections
def summary_section(doc: CampaignDoc, status: CampaignStatus) -> str:
    verdict = doc.validation.verdict if doc.validation else None
    badge = ""
    if verdict:
        cls = "go" if verdict == "go" else "nogo"
        badge = f'<p><span class="verdict {cls}">validation: {html.escape(verdict.upper())}</span></p>'
    cfg = doc.campaign_config()
    elements = cfg.elements if cfg else []
    oracle = cfg.oracle.model_dump(mode="json") if cfg else {}
    baseline = cfg.baseline.model_dump(mode="json") if cfg else {}
    rows = [
        ["campaign", html.escape(doc.name)],
        ["elements", html.escape(" ".join(elements))],
        ["oracle", html.escape(json.dumps(oracle))],
        ["baseline", html.escape(json.dumps(baseline))],
        ["state", html.escape(f"{status.state} {('(' + doc.end_reason + ')') if doc.end_reason else ''}")],
        ["iterations", str(len(status.iterations))],
        ["oracle calls", str(status.oracle_calls)],
        ["potential", html.escape(str(doc.current_potential or "-"))],
    ]  # fmt: skip
    tm = doc.test_metrics
    if tm:
        rows.append(["held-out test set", f"{tm.get('test_n_structures', 0):.0f} structures: energy RMSE "
                     f"{num(tm.get('test_energy_rmse_meV_atom'))} meV/atom, forces RMSE "
                     f"{num(tm.get('test_forces_rmse_meV_A'))} meV/&Aring;"])  # fmt: skip
    return badge + html_table(["", ""], rows, left=2)


def learning_section(status: CampaignStatus) -> str:
    import matplotlib.pyplot as plt

    its = [it for it in status.iterations if it.train_metrics]
    if not its:
        return none_line("no potential trained yet")
    x = [it.iteration for it in its]
    size = [it.dataset_size or 0 for it in its]
    fig, axes = plt.subplots(2, 2, figsize=(10, 6.5))
    n = 0
    for col, (key, unit) in enumerate((("energy_rmse_meV_atom", "meV/atom"), ("forces_rmse_meV_A", "meV/Å"))):
        for row, xs in enumerate((x, size)):
            ax = axes[row, col]
            tr = [it.train_metrics.get(f"train_{key}") for it in its]
            te = [it.test_metrics.get(key) for it in its]
            for ys, lab, m in ((tr, "train", "o-"), (te, "held-out families", "s--")):
                pts = [(a, b) for a, b in zip(xs, ys, strict=True) if b is not None]
                if pts:
                    ax.plot(*zip(*pts, strict=True), m, label=lab)
                    n += len(pts)
            ax.set_xlabel("iteration" if row == 0 else "labelled structures")
            ax.set_ylabel(f"{key.split('_')[0]} RMSE ({unit})")
            ax.set_yscale("log")
            ax.legend(fontsize=8)
    fig.tight_layout()
    return fig_html(
        fig, n, "errors of each iteration's potential against iteration and dataset size", "learning"
    )


def _potential(db: Database, ctx: Context, pot: PotentialDoc) -> Potential:
    """The handle of a stored potential, with the isolated-atom energies it was fitted with."""
    files = potential_files(db, ctx, pot.id)
    return Potential(id=pot.id, yaml=files["yaml"], asi=files.get("asi"), yace=files.get("yace"),
                     elements=tuple(ctx.config.elements), baseline=ctx.baseline,
                     reference_energies=pot.reference_energies)  # fmt: skip


def parity_section(db: Database, doc: CampaignDoc) -> str:
    import matplotlib.pyplot as plt

    pot_id = doc.current_potential
    if not pot_id:
        return none_line("no potential yet")
    pot = db.potential(pot_id)
    recs = [r for r in db.find_records({"campaign": doc.name, "status": "test"}) if r.labels]
    what = "held-out MD snapshots of the final potential (never trained on)"
    if not recs:
        recs = [r for r in db.get_records(pot.test_ids if pot else []) if r.labels]
        what = "held-out structure families of the latest potential"
    if not recs:
        return none_line("no test structures yet (the held-out set is labelled at the end of the campaign)")
    if pot is None:
        raise KeyError(f"potential {pot_id} not found")
    ctx = Context(doc.name, doc.campaign_config(), Path(doc.workdir or "."))
    calc = _potential(db, ctx, pot).calculator(with_gamma=False, absolute=True)
    e_ref, e_pred, f_ref, f_pred, s_ref, s_pred = [], [], [], [], [], []
    for r in recs:
        a = r.to_atoms(with_labels=False)
        a.calc = calc
        e_ref.append(r.labels.energy / len(a))
        e_pred.append(a.get_potential_energy() / len(a))
        f_ref += list(np.ravel(r.labels.forces))
        f_pred += list(np.ravel(a.get_forces()))
        if r.labels.stress is not None and a.cell.rank == 3:
            s_ref += list(np.asarray(r.labels.stress) * 160.21766)
            s_pred += list(a.get_stress() * 160.21766)
    panels = [("energy (eV/atom)", e_ref, e_pred), ("force components (eV/Å)", f_ref, f_pred)]
    if s_ref:
        panels.append(("stress components (GPa)", s_ref, s_pred))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4))
    for ax, (lab, ref, pred) in zip(np.atleast_1d(axes), panels, strict=True):
        ref, pred = np.asarray(ref), np.asarray(pred)
        lo, hi = float(min(ref.min(), pred.min())), float(max(ref.max(), pred.max()))
        ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
        ax.scatter(ref, pred, s=8, alpha=0.6)
        rmse = float(np.sqrt(np.mean((ref - pred) ** 2)))
        ax.set_title(f"{lab}\nRMSE {rmse:.3g}", fontsize=9)
        ax.set_xlabel("oracle")
        ax.set_ylabel("potential")
    fig.tight_layout()
    n = len(e_ref) + len(f_ref) + len(s_ref)
    return f"<p>{len(recs)} structures: {html.escape(what)}.</p>" + fig_html(
        fig, n, "potential vs oracle", "parity"
    )


def gamma_section(records) -> str:
    import matplotlib.pyplot as plt

    by_it: dict[int, list[float]] = defaultdict(list)
    by_cond: dict[str, list[float]] = defaultdict(list)
    for r in records:
        p = r.provenance
        if p.gamma is None or p.origin not in ("md_halt", "md_frame", "kmc_halt", "kmc_frame"):
            continue
        by_it[p.iteration - 1].append(p.gamma)
        by_cond[p.condition.name if p.condition else "0K"].append(p.gamma)
    if not by_it:
        return none_line("no extrapolative frames recorded yet")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    its = sorted(by_it)
    axes[0].boxplot([by_it[i] for i in its], tick_labels=[str(i) for i in its])
    axes[0].set_xlabel("exploration of iteration")
    axes[0].set_ylabel("max γ of kept frames")
    names = sorted(by_cond)
    axes[1].boxplot([by_cond[n] for n in names], tick_labels=names, vert=False)
    axes[1].set_xlabel("max γ of kept frames")
    for ax in axes:
        ax.set_xscale("linear")
    fig.tight_layout()
    n = sum(len(v) for v in by_it.values())
    return fig_html(
        fig, n, "extrapolation grade of the frames MD/kMC kept (halted frames are the highest)", "gamma"
    )


def halts_section(status: CampaignStatus) -> str:
    import matplotlib.pyplot as plt

    its = status.iterations
    names: list[str] = []
    for it in its:
        names += [c.name for c in it.conditions if c.name not in names]
    if not names:
        return none_line("no exploration run yet")
    grid = np.full((len(names), len(its)), np.nan)
    rows = []
    for j, it in enumerate(its):
        for c in it.conditions:
            grid[names.index(c.name), j] = 1.0 if c.halted else 0.0
    for name in names:
        runs = [c for it in its for c in it.conditions if c.name == name]
        rows.append([html.escape(name), str(len(runs)), str(sum(bool(c.halted) for c in runs)),
                     f"{sum(float(c.simulated_time_fs or 0) for c in runs if not c.halted) / 1000:.2f}",
                     num(max((c.max_gamma or 0 for c in runs), default=0)),
                     html.escape(", ".join(sorted({c.driver or "ase" for c in runs})))])  # fmt: skip
    fig, ax = plt.subplots(figsize=(1.2 + 0.6 * len(its), 0.5 + 0.4 * len(names)))
    ax.imshow(np.nan_to_num(grid, nan=-1), cmap=plt.matplotlib.colors.ListedColormap(["#eeeeee", "#9ad0a5", "#e0736a"]),
              vmin=-1, vmax=1, aspect="auto")  # fmt: skip
    ax.set_yticks(range(len(names)), names)
    ax.set_xticks(range(len(its)), [str(it.iteration) for it in its])
    ax.set_xlabel("iteration (red: halted on γ, green: ran its window)")
    fig.tight_layout()
    table = html_table(["condition", "runs", "halts", "halt-free time (ps)", "max γ", "driver"], rows)
    return fig_html(fig, int(np.isfinite(grid).sum()), "halts per condition and iteration", "halts") + table


def dataset_section(records) -> str:
    import matplotlib.pyplot as plt

    lab = [r for r in records if r.status == "labelled"]
    if not lab:
        return none_line("nothing labelled yet")
    counts: dict[str, Counter] = defaultdict(Counter)
    for r in lab:
        counts[r.provenance.origin][r.provenance.iteration] += 1
    its = sorted({i for c in counts.values() for i in c})
    fig, ax = plt.subplots(figsize=(7, 3.5))
    bottom = np.zeros(len(its))
    for origin in sorted(counts):
        h = np.array([counts[origin].get(i, 0) for i in its], dtype=float)
        ax.bar(range(len(its)), h, bottom=bottom, label=origin)
        bottom += h
    ax.set_xticks(range(len(its)), [str(i) for i in its])
    ax.set_xlabel("iteration the structure was added in")
    ax.set_ylabel("labelled structures")
    ax.legend(fontsize=8)
    fig.tight_layout()
    formulas = Counter(r.formula for r in lab)
    sizes = [len(r.atoms.symbols) for r in lab]
    table = html_table(
        ["formula", "structures"], [[html.escape(f), str(n)] for f, n in formulas.most_common(15)]
    )
    return (fig_html(fig, len(lab), "labelled structures by origin and iteration", "dataset")
            + f"<p>{len(lab)} labelled structures, {sum(sizes)} atoms ({min(sizes)}-{max(sizes)} per structure).</p>"
            + table)  # fmt: skip


def repairs_section(records) -> str:
    corr: Counter[tuple[str, str]] = Counter()
    for r in records:
        for c in r.labels.corrections if r.labels else []:
            corr[(c.handler, str(c.action))] += 1  # the action as text: a dict is no Counter key
    rejected = [r for r in records if r.status == "rejected"]
    out = []
    if corr:
        out.append(html_table(["handler", "action", "structures"], [[html.escape(h), html.escape(a), str(n)]
                                                                 for (h, a), n in corr.most_common()], left=2))  # fmt: skip
    else:
        out.append(none_line("no oracle run needed a correction"))
    if rejected:
        out.append(f"<p>{len(rejected)} structures rejected (never in a training set):</p>")
        out.append(html_table(["record", "origin", "reason"], [[html.escape(r.id.split(":")[-1]), r.provenance.origin,
                          html.escape(r.reject_reason or "-")] for r in rejected[:50]], left=3))  # fmt: skip
    else:
        out.append(none_line("no structure was rejected"))
    return "".join(out)


def validation_section(doc: CampaignDoc) -> str:
    v = doc.validation
    per_it = [(n, it.validation) for n, it in doc.iteration_docs() if it.validation]
    history = ""
    if per_it:
        history = "<p>Each iteration's potential (validation.every_iteration):</p>" + html_table(
            ["iteration", "potential", "verdict", "failed checks"],
            [[str(k), html.escape(str(x.potential_id)), html.escape(x.verdict),
              html.escape("; ".join(x.reasons) or "-")] for k, x in per_it],
            left=2, left_last=True,
        )  # fmt: skip
    if not v:
        return history + none_line("not validated yet (the gate runs on the final potential)")
    rows = []
    for el, checks in v.checks.items():
        for c in checks:
            cls = "pass" if c.passed else "fail"
            rows.append([html.escape(el), html.escape(c.name), num(c.value), num(c.threshold),
                         html.escape(c.unit), f'<span class="{cls}">{"pass" if c.passed else "FAIL"}</span>',
                         html.escape(c.reason)])  # fmt: skip
    head = f"<p>potential {html.escape(v.potential_id or '-')}: <b>{html.escape(v.verdict.upper())}</b></p>"
    table = html_table(["structure", "check", "value", "threshold", "unit", "result", "reason"], rows, left=2,
                   left_last=True)  # fmt: skip
    return head + table + history


class GateReports(BaseModel):
    """The part of a stored gate report the report draws: both property sets (limits and verdict are in
    :class:`~pyacemaker.schemas.stages.GateOut`)."""

    model_config = ConfigDict(extra="ignore")

    candidate: PropertyReport
    reference: PropertyReport

    def sides(self) -> tuple[tuple[str, PropertyReport], ...]:
        """(key, properties): the oracle's first, then the potential's."""
        return (("reference", self.reference), ("candidate", self.candidate))


def _reports(doc: CampaignDoc) -> dict[str, GateReports]:
    """Element -> the gate's property sets of the campaign's validated potential."""
    stored = (doc.validation.reports if doc.validation else None) or {}
    return {el: GateReports.model_validate(r) for el, r in stored.items()}


def eos_section(doc: CampaignDoc) -> str:
    import matplotlib.pyplot as plt

    reps = {
        el: r for el, r in _reports(doc).items() if r.candidate.result("eos") or r.reference.result("eos")
    }
    if not reps:
        return none_line("no equation of state computed yet")
    fig, axes = plt.subplots(1, len(reps), figsize=(5 * len(reps), 3.8), squeeze=False)
    n, rows = 0, []
    styles = {"reference": "ko", "candidate": "-"}
    for ax, (el, r) in zip(axes[0], reps.items(), strict=True):
        for key, side in r.sides():
            eos = side.result("eos")
            if not eos:
                continue
            pts = [(vv, e) for vv, e in zip(eos.volumes, eos.energies, strict=True) if e is not None]
            if pts:
                ax.plot(*zip(*pts, strict=True), styles[key], label=f"{side.label}")
                n += len(pts)
            rows.append([html.escape(f"{el} {side.label}"), num(eos.a0, ".4f"), num(eos.v0, ".3f"),
                         num(eos.b0_GPa, ".1f"), num(eos.b0_prime, ".2f")])  # fmt: skip
        ax.set_title(el)
        ax.set_xlabel("volume (Å³/atom)")
        ax.set_ylabel("energy (eV/atom)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    table = html_table(["model", "a0 (Å)", "V0 (Å³/atom)", "B0 (GPa)", "B0'"], rows)
    return fig_html(fig, n, "Birch-Murnaghan equation of state, potential vs oracle", "eos") + table


def _band(side: PropertyReport):
    ph = side.result("phonons")
    return ph.band if ph else None


def phonon_section(doc: CampaignDoc) -> str:
    import matplotlib.pyplot as plt

    reps = {el: r for el, r in _reports(doc).items() if _band(r.candidate)}
    if not reps:
        return none_line("no phonons computed (validation.properties without phonons, or not validated yet)")
    fig, axes = plt.subplots(len(reps), 2, figsize=(11, 3.8 * len(reps)), squeeze=False,
                             gridspec_kw={"width_ratios": [3, 1]})  # fmt: skip
    n = 0
    for (ax, axd), (el, r) in zip(axes, reps.items(), strict=True):
        for (_, side), color, ls in zip(r.sides(), ("k", "C0"), ("--", "-"), strict=True):
            ph = side.result("phonons")
            band = ph.band if ph else None
            if not band:
                continue
            for seg, (d, fr) in enumerate(zip(band.distances, band.frequencies, strict=True)):
                f = np.array([[np.nan if x is None else x for x in q] for q in fr], dtype=float)
                ax.plot(d, f, color=color, ls=ls, lw=1, label=side.label if seg == 0 else None)
                n += int(np.isfinite(f).sum())
            if ph.dos:
                axd.plot(ph.dos.total_dos, ph.dos.frequency_points, color=color, ls=ls)
        band = _band(r.candidate)
        ax.set_xticks(band.tick_positions, band.tick_labels)
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_ylabel("frequency (THz)")
        ax.set_title(f"{el}: band structure")
        handles, labels = ax.get_legend_handles_labels()
        ax.legend(dict(zip(labels, handles, strict=True)).values(), dict(zip(labels, handles, strict=True)).keys(),
                  fontsize=8)  # fmt: skip
        axd.set_xlabel("DOS")
        axd.set_title("density of states")
    fig.tight_layout()
    return fig_html(fig, n, "phonon dispersion and DOS: potential (solid) vs oracle (dashed)", "phonons")


def elastic_section(doc: CampaignDoc) -> str:
    out = []
    for el, r in _reports(doc).items():
        for side in (r.candidate, r.reference):
            e = side.result("elastic")
            if not e or not e.cij_GPa:
                continue
            c = np.array([[np.nan if x is None else x for x in row] for row in e.cij_GPa], dtype=float)
            rows = [[f"C{i + 1}j"] + [num(c[i, j], ".1f") for j in range(6)] for i in range(6)]
            failed = e.born.failed if e.born else []
            stable = "Born-stable" if not failed else f"Born-unstable ({', '.join(failed)})"
            out.append(f"<h3>{html.escape(el)}: {html.escape(side.label)} ({html.escape(str(e.crystal_system))}, "
                       f"{html.escape(stable)})</h3>" + html_table(["GPa", "1", "2", "3", "4", "5", "6"], rows))  # fmt: skip
    return "".join(out) or none_line("no elastic constants computed yet")


# ----------------------------------------------------------------------------------------------- page
def build_report(db: Database, campaign: str) -> str:
    """The report page of ``campaign`` as an HTML string (sections with nothing to show say so)."""
    import matplotlib

    matplotlib.use("Agg")

    doc = db.campaign_doc(campaign)
    if doc is None:
        raise KeyError(f"no campaign named {campaign!r}")
    status = status_of(db, doc)
    records = db.find_records({"campaign": campaign})
    builders = {
        "summary": lambda: summary_section(doc, status),
        "learning": lambda: learning_section(status),
        "parity": lambda: parity_section(db, doc),
        "gamma": lambda: gamma_section(records),
        "halts": lambda: halts_section(status),
        "dataset": lambda: dataset_section(records),
        "surrogate": lambda: surrogate_section(doc, records),
        "repairs": lambda: repairs_section(records),
        "validation": lambda: validation_section(doc),
        "eos": lambda: eos_section(doc),
        "phonons": lambda: phonon_section(doc),
        "elastic": lambda: elastic_section(doc),
    }
    parts = []
    for sid, title in SECTIONS:
        try:
            body = builders[sid]()
        except Exception as exc:  # noqa: BLE001 - one broken section must not cost the whole report
            body = f'<p class="fail">this section could not be drawn: {html.escape(type(exc).__name__)}: {html.escape(str(exc))}</p>'
        parts.append(f'<section id="{sid}"><h2>{title}</h2>{body}</section>')
    nav = "".join(f'<a href="#{sid}">{title}</a>' for sid, title in SECTIONS)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>pyacemaker report: '
            f'{html.escape(campaign)}</title><style>{CSS}</style></head><body><h1>Campaign {html.escape(campaign)}</h1>'
            f'<p class="muted">pyacemaker {__version__}, written {stamp}</p><nav>{nav}</nav>{"".join(parts)}'
            f"<script>{CHECK_JS}</script></body></html>")  # fmt: skip


def write_report(db: Database, campaign: str, out: Path) -> Path:
    """Write the report atomically (a half-written page never replaces a good one)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    tmp.write_text(build_report(db, campaign), encoding="utf-8")
    tmp.replace(out)
    return out
