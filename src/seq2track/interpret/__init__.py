"""Interpretation of a trained model: motif marginalisation, variant effects, attributions.

The core functions take a *predictor* ``f(x: float32[n, 4, L]) -> float32[n, T, B]`` (numpy
in, numpy out, predictions on the target scale; ``seq2track.predict``) and sequence codes
``uint8[n, L]`` (A0 C1 G2 T3 N4), so that they run on any model, including toy models in
tests. ``seq2track.predict.torch_predictor`` turns a trained torch model (+ its loss link)
into one; ``seq2track.rundir.Run.open(RUN)`` opens a trained run.

Modules: ``motifs`` (reading PFMs), ``marginalize`` (insert a motif into shuffled
backgrounds), ``variants`` (ref vs alt predictions), ``ism`` (in-silico mutagenesis,
Integrated Gradients, logos). This module holds what they share: background sampling and
the report section.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..rundir import RunPaths


def split_backgrounds(prepared: Any, n: int, rng: np.random.Generator, split: str = "test") -> np.ndarray:
    """``uint8[n, L]`` codes of ``n`` windows of ``split`` (N-free ones first), drawn with ``rng`` in random order."""
    from ..errors import DataError

    rows = prepared.rows(split)
    if len(rows) == 0:
        raise DataError(f"the {split} split of {prepared.root} has no windows; check `split:` in the study")
    codes = prepared.codes(rows)
    clean = np.flatnonzero((codes == 4).sum(axis=1) == 0)
    pool = clean if len(clean) >= min(n, len(rows)) else np.arange(len(rows))
    pick = rng.choice(pool, size=n, replace=len(pool) < n)
    return codes[pick]  # random order: any prefix is a random subset too


# --- report section ------------------------------------------------------------------------
def _fmt(v: Any) -> str:
    try:
        x = float(v)
    except (TypeError, ValueError):
        import html

        return html.escape(str(v))
    if not np.isfinite(x):
        return "–"
    return f"{x:.3g}"


def report_html(run_dir: str | Path) -> str:
    """The "Interpretation" report fragment from whatever ``RUN/interpret/`` holds ('' if nothing)."""
    import html

    import pandas as pd

    from ..report.html import figure_html

    d = RunPaths(run_dir).interpret
    parts: list[str] = []
    if (d / "motifs.tsv").exists():
        t = pd.read_csv(d / "motifs.tsv", sep="\t")
        planted = "planted_effect" in t and t["planted_effect"].notna().any()
        units = "effect_units" in t and t["effect_units"].notna().any()
        true = "truth_effect" in t and t["truth_effect"].notna().any()
        head = "<tr><th>motif</th><th>inserted</th><th>track</th><th>effect [95% CI]</th>" + (
            "<th>track units [95% CI]</th>" if units else "") + (
            "<th>planted effect</th>" if planted else "") + (
            "<th>true effect of the same insertions [95% CI]</th>" if true else "") + "<th>reading</th></tr>"
        rows = []
        for r in t.itertuples(index=False):
            lo, hi = float(r.ci_low), float(r.ci_high)
            reading = "raises the prediction" if lo > 0 else "lowers the prediction" if hi < 0 else "no detectable effect"
            rows.append(
                f"<tr><td>{html.escape(f'{r.motif} {r.name}')}</td><td>{html.escape(r.kind)}</td>"
                f"<td>{html.escape(str(r.track))}</td><td>{_fmt(r.effect)} [{_fmt(lo)}, {_fmt(hi)}]</td>"
                + (f"<td>{_fmt(r.effect_units)} [{_fmt(r.units_ci_low)}, {_fmt(r.units_ci_high)}]</td>" if units else "")
                + (f"<td>{_fmt(r.planted_effect)}</td>" if planted else "")
                + (f"<td>{_fmt(r.truth_effect)} [{_fmt(r.truth_ci_low)}, {_fmt(r.truth_ci_high)}]</td>" if true else "")
                + f"<td>{reading}</td></tr>"
            )
        n = int(t["n"].iloc[0])
        parts.append(
            f"<h3>Motif marginalisation</h3><p>Each motif was inserted at the centre of {n} dinucleotide-shuffled "
            "test-split sequences, in both orientations; the effect is the mean change of the predicted signal over "
            "the target region (model scale, and back-transformed to track units), with a 95% t-interval over backgrounds. <em>sampled</em>: a site "
            "drawn from the motif's frequencies; <em>shuffled</em>: the consensus of the motif with its columns "
            "permuted (a control that should show no effect, unless the model or the biology responds to base "
            "composition)." + (" <em>True effect</em>: the simulator's exact expected signal for the very same "
            "insertions (gene-body domain taken as 0), on the model scale." if true else "") + "</p>"
            f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"
        )
    for name, cap in (("sweep.png", "Effect of the consensus against its distance from the window centre "
                       "(95% bands; the shaded band is the target region)."),
                      ("spacing.png", "Two motifs at increasing centre-to-centre distance: joint effect and "
                       "interaction f(AB) - f(A) - f(B) + f(background).")):
        if (d / name).exists():
            parts.append(figure_html((d / name).read_bytes(), cap, alt=name))
    if (d / "variants.tsv").exists():
        v = pd.read_csv(d / "variants.tsv", sep="\t")
        js = d / "variants.json"
        info = json.loads(js.read_text()) if js.exists() else {}
        st = ", ".join(f"{k}: {n}" for k, n in info.get("status", {}).items() if n)
        truth = "".join(
            f"<li>{html.escape(tr)}: motif-breaking vs neutral auROC {_fmt(m.get('auroc_break_vs_neutral'))}; "
            f"Pearson {_fmt(m.get('pearson'))}, Spearman {_fmt(m.get('spearman'))} with the true effect</li>"
            for tr, m in info.get("truth", {}).items()
        )
        ok = v[v["status"] == "ok"].copy()
        ok["abs"] = ok["log2fc"].abs()
        top = ok.sort_values("abs", ascending=False, kind="stable").head(10)
        rows = "".join(
            f"<tr><td>{html.escape(str(r.variant))}</td><td>{html.escape(str(r.track))}</td><td>{_fmt(r.pred_ref)}</td>"
            f"<td>{_fmt(r.pred_alt)}</td><td>{_fmt(r.diff)}</td><td>{_fmt(r.log2fc)}</td></tr>"
            for r in top.itertuples(index=False)
        )
        parts.append(
            f"<h3>Variant effects</h3><p>{len(v['variant'].unique())} alleles ({html.escape(st)}). Reference and "
            "alternative windows are centred on the allele and reverse-complement averaged.</p>"
            + (f"<ul>{truth}</ul>" if truth else "")
            + "<table><thead><tr><th>variant</th><th>track</th><th>ref</th><th>alt</th><th>difference</th>"
            f"<th>log2 fold change</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    att = d / "attributions" / "attributions.tsv"
    if att.exists():
        a = pd.read_csv(att, sep="\t")
        parts.append("<h3>Attributions</h3><p>In-silico mutagenesis (ISM) and Integrated Gradients (IG) drawn at "
                     "the observed bases; known motif sites (simulated data) are shaded.</p>")
        for r in a.head(3).itertuples(index=False):
            png = d / "attributions" / str(r.png)
            if png.exists():
                cap = (f"{html.escape(str(r.window))}: predicted {_fmt(r.prediction)}; sites "
                       f"{html.escape(str(r.sites)) if isinstance(r.sites, str) else '–'}; attribution inside sites vs "
                       f"outside: ISM {_fmt(r.ism_site_enrichment)}x, IG {_fmt(r.ig_site_enrichment)}x")
                parts.append(figure_html(png.read_bytes(), cap, alt=str(r.window)))
    return "".join(parts)


def update_report(run_dir: str | Path) -> Path | None:
    """Persist the "Interpretation" section in the run's report and re-render it (None if nothing to show)."""
    from ..report.html import Section, add_section

    frag = report_html(run_dir)
    if not frag:
        return None
    return add_section(run_dir, Section("Interpretation", frag, order=150, id="interpretation"))


__all__ = ["report_html", "split_backgrounds", "update_report"]
