"""The report's HTML pieces: an embedded figure, a table, a number, an empty section's line."""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import numpy as np


def fig_html(fig, points: int, caption: str, name: str) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    b64 = base64.b64encode(buf.getvalue()).decode()
    return (f'<figure data-figure="{name}" data-points="{points}"><img alt="{html.escape(caption)}" '
            f'src="data:image/png;base64,{b64}"><figcaption class="muted">{html.escape(caption)}</figcaption></figure>')  # fmt: skip


def html_table(header: list[str], rows: list[list[Any]], left: int = 1, left_last: bool = False) -> str:
    """Numbers right-aligned; the first ``left`` columns (and the last, for prose) left-aligned."""

    def cls(i: int) -> str:
        return "l" if i < left or (left_last and i == len(header) - 1) else ""

    th = "".join(f'<th class="{cls(i)}">{html.escape(str(h))}</th>' for i, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(f'<td class="{cls(i)}">{c}</td>' for i, c in enumerate(r)) + "</tr>" for r in rows
    )
    return f"<table><tr>{th}</tr>{body}</table>"


def num(v: Any, fmt: str = ".3g") -> str:
    return format(v, fmt) if isinstance(v, (int, float)) and np.isfinite(v) else "-"


def none_line(what: str) -> str:
    return f'<p class="muted">{html.escape(what)}</p>'
