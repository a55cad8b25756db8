"""The report's surrogate section (``workflow: distill``): where the labels came from, how fine-tuning moved
the surrogate's errors against the oracle, what it explored and labelled, and the base ACE fitted on it."""

from __future__ import annotations

import html
from collections import Counter

import numpy as np

from pyacemaker.app.report_html import fig_html, html_table, none_line, num
from pyacemaker.schemas.campaign import CampaignDoc

ERRORS = [("energy_mae_meV_atom", "energy MAE (meV/atom)"), ("forces_mae_meV_A", "forces MAE (meV/A)"),
          ("stress_mae_GPa", "stress MAE (GPa)")]  # fmt: skip


def label_sources(records) -> str:
    """Every label by its source: oracle name and settings identity, and the records' status."""
    counts = Counter((r.labels.oracle, r.labels.settings_hash[:12], r.status) for r in records if r.labels)
    rows = [
        [html.escape(o), f"<code>{h}</code>", html.escape(st), str(n)]
        for (o, h, st), n in sorted(counts.items())
    ]
    return (
        html_table(["source", "settings", "status", "structures"], rows, left=3)
        if rows
        else none_line("no labels yet")
    )


def surrogate_section(doc: CampaignDoc, records) -> str:
    sources = "<h3>Labels by source</h3>" + label_sources(records)
    s = doc.surrogate
    if s is None:
        return none_line("workflow: loop (no surrogate)") + sources
    import matplotlib.pyplot as plt

    keys = [(k, t) for k, t in ERRORS if k in s.before or k in s.after]
    rows = [[t, num(s.before.get(k)), num(s.after.get(k)), num(s.test_set.get(k))] for k, t in keys]
    body = (f"<p>{html.escape(s.model)} fine-tuned for {s.epochs} epochs on {s.n_train} oracle labels "
            f"({html.escape(s.finetuned_on or '')}); errors on {s.n_test} held-out oracle labels before "
            f"(pretrained weights, energy zero re-fitted) and after, and on the campaign's held-out test set at its end "
            f"(oracle-labelled MD snapshots of the final potentials, {s.test_set.get('n', 0):.0f}). Weights sha256 "
            f"<code>{html.escape(str((s.weights or {}).get('sha256', '-'))[:16])}</code>, labels' settings "
            f"<code>{s.settings_hash[:12]}</code>.</p>")  # fmt: skip
    body += html_table(["error against the oracle", "before", "after", "test set"], rows)
    if keys:
        fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 2.8))
        stages = [("before", s.before, "#999"), ("after", s.after, "#2a6"), ("test set", s.test_set, "#36c")]
        points = 0
        for ax, (k, t) in zip(np.atleast_1d(axes), keys, strict=True):
            values = [part.get(k, np.nan) for _, part, _ in stages]
            points += int(np.isfinite(values).sum())
            ax.bar(range(3), values, color=[c for *_, c in stages])
            ax.set_xticks(range(3), [name for name, *_ in stages])
            ax.set_title(t, fontsize=9)
        fig.tight_layout()
        body += fig_html(fig, points, "the surrogate against oracle labels it was not fitted to", "surrogate")
    body += (f"<p>Surrogate MD pool: {s.pool} snapshots; {s.chosen} chosen, {s.labelled} labelled by the surrogate "
             f"({s.rejected} rejected) in {num(s.label_wall_time_s, '.3g')} s.</p>")  # fmt: skip
    if s.base_potential:
        m = s.base_metrics
        body += (f"<p>Base ACE <code>{html.escape(s.base_potential)}</code> on the surrogate's labels: energy RMSE "
                 f"{num(m.get('surrogate_train_energy_rmse_meV_atom'))} meV/atom, forces RMSE "
                 f"{num(m.get('surrogate_train_forces_rmse_meV_A'))} meV/A; the first fit on the oracle's labels "
                 "starts from it.</p>")  # fmt: skip
    return body + sources
