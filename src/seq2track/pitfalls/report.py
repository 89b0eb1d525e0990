"""The pitfall lab's figures, HTML sections and Markdown table (from the JSON results).

``figure(result) -> bytes`` (PNG; one panel per comparison: the sound and the pitfall arm's
value per seed, joined by a line, with the mean difference and its 95% CI in the title);
``section_html(result, png)``; ``sections(folder)`` gives ``report.html.Section`` objects
for ``render_report(..., extra_sections=...)``; ``markdown_table(results)`` is the table of
``docs/pitfalls.md``.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .common import PitfallResult

COLORS = {"confirmed": "#2a7d2a", "opposite": "#b22222", "changed": "#b22222", "unresolved": "#777777"}
SOUND_COLOR = "#1f6fb4"
PIT_COLOR = "#d9822b"


class _Section(NamedTuple):
    title: str
    html: str


def figure(res: PitfallResult) -> bytes:
    """PNG bytes of one pitfall's comparisons (byte-identical for the same result)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    comps = res.comparisons
    n = max(len(comps), 1)
    cols = min(n, 3)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.0 * rows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    for ax, c in zip(axes.ravel(), comps):
        sv, pv = np.asarray(c["sound_values"], float), np.asarray(c["pitfall_values"], float)
        for a, b in zip(sv, pv):
            ax.plot([0, 1], [a, b], "-", color="#bbbbbb", lw=1, zorder=1)
        ax.scatter(np.zeros(len(sv)), sv, color=SOUND_COLOR, zorder=2, s=18)
        ax.scatter(np.ones(len(pv)), pv, color=PIT_COLOR, zorder=2, s=18)
        if len(sv):
            ax.hlines([np.nanmean(sv)], -0.15, 0.15, color=SOUND_COLOR, lw=2)
            ax.hlines([np.nanmean(pv)], 0.85, 1.15, color=PIT_COLOR, lw=2)
        ax.set_xticks([0, 1], [_wrap(c["sound"]), _wrap(c["pitfall"])], fontsize=6.5)
        ax.set_xlim(-0.5, 1.5)
        ax.set_ylabel(c["metric"], fontsize=8)
        lo, hi, m = c.get("ci_low"), c.get("ci_high"), c.get("mean_diff")
        ci = f"[{lo:+.3g}, {hi:+.3g}]" if lo is not None and hi is not None and np.isfinite([lo, hi]).all() else "[n/a]"
        mm = f"{m:+.3g}" if m is not None and np.isfinite(m) else "n/a"
        ax.set_title(f"{_wrap(c['name'], 34)}\nΔ {mm} {ci}: {c['status']}", fontsize=7.5,
                     color=COLORS.get(c["status"], "#000"))
        ax.tick_params(axis="y", labelsize=7)
        ax.spines[["top", "right"]].set_visible(False)
    fig.suptitle(res.title, fontsize=9.5)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _wrap(text: str, width: int = 22) -> str:
    words, lines, cur = text.split(), [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}".strip()
    if cur:
        lines.append(cur)
    return "\n".join(lines[:4])


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.3g}" if np.isfinite(v) else "n/a"
    return html.escape(str(v))


def section_html(res: PitfallResult, png: bytes | None) -> str:
    """An HTML fragment: question, verdicts, figure, arms, audit of each arm, notes."""
    e = html.escape
    out = [f"<p><b>{e(res.question)}</b></p>"]
    if res.skipped:
        out.append(f"<p>Skipped: {e(res.skipped)}</p>")
        return "\n".join(out)
    out.append("<ul>")
    for c in res.comparisons:
        color = COLORS.get(c["status"], "#000")
        out.append(f'<li style="color:{color}">{e(c["verdict"])}</li>')
    out.append("</ul>")
    if png:
        out.append(f'<img alt="{e(res.name)}" src="data:image/png;base64,{base64.b64encode(png).decode()}"/>')
    out.append("<table><tr><th>arm</th><th>what</th><th>audit</th></tr>")
    for arm, what in res.arms.items():
        a = res.audits.get(arm)
        st = "" if a is None else f"{a['status']}" + (f" ({', '.join(a['failed'])})" if a["failed"] else "")
        out.append(f"<tr><td>{e(arm)}</td><td>{e(what)}</td><td>{e(st)}</td></tr>")
    out.append("</table>")
    metrics = sorted({k for r in res.records for k, v in r.items() if isinstance(v, (int, float)) and k != "seed"})
    arms = list(dict.fromkeys(r["arm"] for r in res.records))
    out.append("<details><summary>all metrics (mean over seeds)</summary><table><tr><th>arm</th>"
               + "".join(f"<th>{e(m)}</th>" for m in metrics) + "</tr>")
    for a in arms:
        vals = []
        for m in metrics:
            v = np.array([r[m] for r in res.records if r["arm"] == a and r.get(m) is not None], dtype=float)
            v = v[np.isfinite(v)]
            vals.append(float(v.mean()) if v.size else float("nan"))
        out.append(f"<tr><td>{e(a)}</td>" + "".join(f"<td>{_fmt(v)}</td>" for v in vals) + "</tr>")
    out.append("</table></details>")
    for n in res.notes:
        out.append(f"<p><i>{e(n)}</i></p>")
    out.append(f"<p><small>seeds and held-out chromosomes {e(str(res.settings.get('test_chromosomes', {})))}; "
               f"settings {e(str(res.settings.get('overrides', {})))}</small></p>")
    return "\n".join(out)


def write_outputs(res: PitfallResult, folder: str | Path) -> dict[str, Path]:
    """``<name>.json``, ``<name>.png`` and ``<name>.html`` (fragment) in ``folder``, atomically."""
    from .. import atomic

    folder = Path(folder)
    paths = {"json": res.write(folder)}
    png = None
    if not res.skipped and res.comparisons:
        png = figure(res)
        with atomic.atomic_path(folder / f"{res.name}.png") as tmp:
            tmp.write_bytes(png)
        paths["png"] = folder / f"{res.name}.png"
    atomic.write_text(folder / f"{res.name}.html", section_html(res, png))
    paths["html"] = folder / f"{res.name}.html"
    return paths


def load_results(folder: str | Path) -> list[PitfallResult]:
    """Every ``<name>.json`` of the lab in ``folder``, in the lab's order."""
    from .registry import PITFALLS

    folder = Path(folder)
    return [PitfallResult.read(folder / f"{n}.json") for n in PITFALLS if (folder / f"{n}.json").exists()]


def sections(folder: str | Path) -> list[Any]:
    """Report sections (``report.html.Section`` when available) of the results in ``folder``."""
    try:
        from ..report.html import Section  # type: ignore[attr-defined]
    except ImportError:  # the report module is optional here
        Section = _Section  # noqa: N806
    out = []
    folder = Path(folder)
    for res in load_results(folder):
        png_p = folder / f"{res.name}.png"
        png = png_p.read_bytes() if png_p.exists() else None
        out.append(Section(f"Pitfall: {res.title}", section_html(res, png)))
    return out


def write_index(folder: str | Path) -> Path:
    """A standalone ``index.html`` with every pitfall section in ``folder``."""
    from .. import atomic

    folder = Path(folder)
    body = []
    for s in sections(folder):
        body.append(f"<section><h2>{html.escape(s.title)}</h2>\n{s.html}</section>")
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>seq2track pitfalls</title>"
            "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse;"
            "font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px}img{max-width:100%}</style></head><body>"
            "<h1>seq2track pitfall lab</h1>" + "\n".join(body) + "</body></html>")
    atomic.write_text(folder / "index.html", page)
    return folder / "index.html"


def markdown_table(results: list[PitfallResult]) -> str:
    """One row per comparison: pitfall, claim, metric, sound mean, pitfall mean, Δ [95% CI], verdict."""
    lines = ["| pitfall | comparison (pitfall arm vs sound arm) | metric | sound | pitfall | Δ (95% CI) | verdict |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        if r.skipped:
            lines.append(f"| {r.name} | skipped: {r.skipped} | | | | | |")
            continue
        for c in r.comparisons:
            sv = np.nanmean(np.asarray(c["sound_values"], float)) if c["sound_values"] else np.nan
            pv = np.nanmean(np.asarray(c["pitfall_values"], float)) if c["pitfall_values"] else np.nan
            lo, hi, m = c.get("ci_low"), c.get("ci_high"), c.get("mean_diff")
            ci = f"{_num(m)} ({_num(lo)} to {_num(hi)})"
            lines.append(f"| {r.name} | {c['pitfall']} vs {c['sound']} | {c['metric']} | {_num(sv, False)} | {_num(pv, False)} | "
                         f"{ci} | {c['status']} (expected {c['expect']}) |")
    return "\n".join(lines)


def _num(v: Any, signed: bool = True) -> str:
    if v is None:
        return "n/a"
    v = float(v)
    if not np.isfinite(v):
        return "n/a"
    return f"{v:+.3g}" if signed else f"{v:.3g}"
