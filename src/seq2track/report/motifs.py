"""The report's "Motifs" section: the TF-MoDISco patterns of ``seq2track motifs`` with their logos.

Reads ``patterns.json`` (written by ``interpret/modisco.py``; this module imports nothing from
``interpret``, which sits above the report layer) from every attribution folder of a run
(``RUN/interpret/attributions/*/`` or any ``RUN/*/`` holding one). Positive and negative
patterns are shown apart (a repressor is a negative pattern); per pattern: a logomaker logo of
the untrimmed contribution matrix (``cwm_full: float[4, W]``) with the trimmed core shaded, the
seqlet count, the core's information, and the best JASPAR match (ID, name, q) or why it was not
matched.
"""

from __future__ import annotations

import html
import io
import json
from pathlib import Path
from typing import Any

import numpy as np


def find_patterns(run_dir: str | Path) -> list[Path]:
    """``patterns.json`` files of the run's attribution folders, sorted (empty when there are none)."""
    run_dir = Path(run_dir)
    found = set(run_dir.glob("interpret/attributions/*/patterns.json")) | set(run_dir.glob("*/patterns.json"))
    return sorted(found)


def logo_png(cwm: np.ndarray, trim: tuple[int, int] | None = None, title: str = "") -> bytes:
    """PNG bytes of a logomaker logo of ``cwm: float[4, W]`` (ACGT rows; negative values drawn below
    the axis), the columns ``[trim[0], trim[1])`` shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import logomaker
    import matplotlib.pyplot as plt
    import pandas as pd

    cwm = np.asarray(cwm, dtype=np.float64)
    df = pd.DataFrame(cwm.T, columns=list("ACGT"))
    fig, ax = plt.subplots(figsize=(max(3.0, 0.16 * cwm.shape[1]), 1.3), dpi=80)
    try:
        logo = logomaker.Logo(df, ax=ax, color_scheme="classic", baseline_width=0.3)
        if trim is not None and trim[1] > trim[0]:
            logo.highlight_position_range(pmin=int(trim[0]), pmax=int(trim[1]) - 1, color="#fff2b3")
        ax.set_xticks([])
        ax.tick_params(labelsize=6)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        if title:
            ax.set_title(title, fontsize=7, loc="left")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", bbox_inches="tight")
    finally:
        plt.close(fig)
    return buf.getvalue()


def _q(v: Any) -> str:
    return "–" if v is None else f"{float(v):.2g}"


def _pattern_row(p: dict[str, Any], figure_html) -> str:
    trim = tuple(p.get("trim") or (0, 0))
    logo = ""
    if p.get("cwm_full"):
        logo = figure_html(logo_png(np.asarray(p["cwm_full"]), trim), alt=f"{p['sign']} pattern {p['index']}")
    if p.get("skipped"):
        best = f"<span class='muted'>not matched: {html.escape(str(p['skipped']))}</span>"
    elif p.get("match_id") is None:
        best = "<span class='muted'>–</span>"
    else:
        name = f"{html.escape(str(p['match_id']))} {html.escape(str(p['match_name']))}"
        best = f"<b>{name}</b>" if p.get("significant") else name
        best += f" (q {_q(p.get('q_value'))}{'' if p.get('significant') else ', not significant'})"
    return (f"<tr><td>{int(p['index'])}</td><td>{logo}</td><td>{int(p['n_seqlets']):,}</td>"
            f"<td>{int(p.get('width', 0))} bp, {float(p.get('ic_total', 0.0)):.1f} bits</td><td>{best}</td></tr>")


def patterns_html(patterns_json: str | Path, max_per_sign: int = 20) -> str:
    """The HTML fragment of one ``patterns.json``: positive and negative patterns in separate tables
    (the ``max_per_sign`` with the most seqlets each)."""
    from .html import figure_html

    path = Path(patterns_json)
    doc = json.loads(path.read_text())
    pats = doc.get("patterns", [])
    n_sig = sum(bool(p.get("significant")) for p in pats)
    tax = doc.get("tax_group") or "all taxa"
    parts = [f"<p><code>{html.escape(str(path.parent))}</code>: {doc.get('n_windows', '?')} windows, "
             f"{len(pats)} patterns, {n_sig} matched to JASPAR ({html.escape(str(doc.get('release')))} CORE, "
             f"{html.escape(str(tax))}) at q &lt; {doc.get('q_max')}. Logo: the pattern's contribution "
             "matrix, the trimmed core (what TOMTOM compared) shaded.</p>"]
    for sign, meaning in (("positive", "raise the prediction (activators)"),
                          ("negative", "lower the prediction (repressors)")):
        rows = sorted((p for p in pats if p.get("sign") == sign), key=lambda p: -int(p["n_seqlets"]))
        parts.append(f"<h3>{sign.capitalize()} patterns: {meaning}</h3>")
        if not rows:
            parts.append("<p class='muted'>None found.</p>")
            continue
        body = "".join(_pattern_row(p, figure_html) for p in rows[:max_per_sign])
        more = (f"<p class='muted'>{len(rows) - max_per_sign} more in patterns.tsv.</p>"
                if len(rows) > max_per_sign else "")
        parts.append("<table><tr><th>#</th><th>logo</th><th>seqlets</th><th>core</th><th>best JASPAR match</th>"
                     f"</tr>{body}</table>{more}")
    return "".join(parts)


def section_html(run_dir: str | Path) -> str:
    """The "Motifs" section of a run: one block per attribution folder with ``patterns.json`` ('' if none)."""
    return "".join(patterns_html(p) for p in find_patterns(run_dir))


__all__ = ["find_patterns", "logo_png", "patterns_html", "section_html"]
