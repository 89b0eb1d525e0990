"""``RUN/report.html``: one self-contained page a biologist would rather read than JSON.

Built from the run directory's files (study.yaml, data/meta.json, history.csv, metrics.json,
plots/*.png, timings.json); plots are embedded as base64 PNG, so the page needs nothing
else. Later stages (pitfalls, tuning, interpretation) append their own sections::

    add_section(run_dir, Section("Pitfalls", "<p>...</p>", order=200))   # persisted, re-renders
    render_report(run_dir, extra_sections=[Section(...)])               # one-off

A ``Section`` is a title plus a trusted HTML fragment; ``figure_html(png_bytes, caption)``
embeds an image the same way the built-in sections do.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .. import atomic
from ..rundir import RunPaths
from ..version import __version__

SECTIONS_DIR = RunPaths.SECTIONS


@dataclass
class Section:
    """A report section: ``title``, a trusted HTML fragment ``html``; sorted by ``order``
    (built-in sections use 10-90; appended ones default to 100)."""

    title: str
    html: str
    order: int = 100
    id: str | None = None

    @property
    def anchor(self) -> str:
        return self.id or re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-") or "section"


def figure_html(png: bytes, caption: str = "", alt: str = "figure") -> str:
    """An ``<figure>`` with the PNG embedded as base64 and an optional caption."""
    b64 = base64.b64encode(png).decode("ascii")
    cap = f"<figcaption>{caption}</figcaption>" if caption else ""
    return f'<figure><img src="data:image/png;base64,{b64}" alt="{html.escape(alt)}">{cap}</figure>'


def add_section(run_dir: str | Path, section: Section) -> Path:
    """Persist ``section`` in ``RUN/report_sections/`` (replacing one with the same anchor) and re-render."""
    run_dir = Path(run_dir)
    atomic.write_json(run_dir / SECTIONS_DIR / f"{section.anchor}.json", asdict(section))
    return render_report(run_dir)


def _stored_sections(run_dir: Path) -> list[Section]:
    d = run_dir / SECTIONS_DIR
    if not d.exists():
        return []
    return [Section(**json.loads(p.read_text())) for p in sorted(d.glob("*.json"))]


# --- formatting helpers ----------------------------------------------------------------------
def _f(v: Any, nd: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, (int,)) and not isinstance(v, bool):
        return f"{v:,}"
    if isinstance(v, float):
        if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5):
            return f"{v:.2e}"
        return f"{v:.{nd}f}"
    return html.escape(str(v))


def _get(d: dict | None, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def _diff_phrase(cnn: float | None, base: float | None, higher_better: bool = True) -> str:
    if cnn is None or base is None:
        return ""
    delta = cnn - base
    better = delta > 0 if higher_better else delta < 0
    if abs(delta) < 0.01 * max(abs(base), 1e-9) and abs(delta) < 0.005:
        return "about the same as the k-mer baseline"
    return f"{'better' if better else 'worse'} than the k-mer baseline ({_f(base)})"


def _metric_rows(m: dict, res: int, unit: str) -> list[dict[str, str]]:
    """Rows of the headline metrics table with a plain-language reading of each."""
    t, b = m.get("test", {}), _get(m, "baseline", "test") or {}
    v, bv = m.get("val", {}), _get(m, "baseline", "val") or {}

    def row(name, key, reading, sub=None, higher=True):
        get = (lambda d: _get(d, sub, key)) if sub else (lambda d: d.get(key))
        c_t, b_t, c_v, b_v = get(t), get(b), get(v), get(bv)
        comp = _diff_phrase(c_t, b_t, higher)
        return {"name": name, "cnn_test": _f(c_t), "base_test": _f(b_t), "cnn_val": _f(c_v), "base_val": _f(b_v),
                "reading": reading(c_t) + (f"; {comp}." if comp else ".")}

    prev = t.get("auprc_baseline")
    rows = [
        row("Pearson r", "pearson", lambda x: (
            f"Predicted and observed {res}-bp signal rise and fall together with r = {_f(x)} "
            "(1 = perfectly, 0 = not at all)")),
        row("Spearman ρ", "spearman", lambda x: (
            f"The same on ranks (ρ = {_f(x)}), so a few extreme bins cannot inflate it")),
        row("R²", "r2", lambda x: (
            f"{_f(100 * x if x is not None else None, 1)}% of the bin-to-bin variance of the {unit} is explained; "
            "below 0 would be worse than always predicting the mean")),
        row("MSE", "mse", lambda x: f"Mean squared error in {unit} units (lower is better)", higher=False),
        row("MAE", "mae", lambda x: f"Typical absolute error per bin: {_f(x)} {unit} units", higher=False),
        row("Window-total Pearson", "pearson", lambda x: (
            f"Ranking whole windows by their total signal: r = {_f(x)} (coarser than single bins, "
            "usually higher)"), sub="window_total"),
        row("auROC (peak bins)", "auroc", lambda x: (
            f"A random peak bin outscores a random background bin {_f(100 * x if x is not None else None, 1)}% "
            "of the time (50% = chance)")),
    ]
    au = row("auPRC (peak bins)", "auprc", lambda x: (
        f"Precision-recall area {_f(x)} against {_f(prev)} for a no-skill guess (the share of peak bins): "
        + (f"{x / prev:.1f}x over chance" if x is not None and prev else "")))
    au["cnn_test"] += f" <span class='muted'>(no-skill {_f(prev)})</span>"
    rows.append(au)
    return rows


# --- sections ---------------------------------------------------------------------------------
def _study_html(study: dict) -> str:
    w = study.get("windows", {})
    tr = study.get("tracks", [])
    sp = study.get("split", {})
    mo = study.get("model", {})
    tn = study.get("train", {})
    items = [
        ("Genome", study.get("genome")),
        ("Tracks", "; ".join(f"{t['name']} ({Path(t['path']).name})" for t in tr)),
        ("Windows", f"{w.get('input_length')} bp input, {w.get('target_length')} bp predicted in "
                    f"{w.get('resolution')}-bp bins, stride {w.get('stride')} bp"),
        ("Target transform", f"{study.get('transform')}, normalise: {study.get('normalize')}"),
        ("Split", f"{sp.get('strategy')}: validation {', '.join(sp.get('val') or []) or '–'}; "
                  f"test {', '.join(sp.get('test') or []) or '–'}"),
        ("Model", f"{mo.get('arch')}, {mo.get('channels')} channels, {mo.get('n_dilated')} dilated layers, "
                  f"dropout {mo.get('dropout')}"),
        ("Training", f"loss {tn.get('loss')}, AdamW lr {tn.get('lr')}, batch {tn.get('batch_size')}, "
                     f"≤ {tn.get('max_epochs')} epochs of {tn.get('epoch_windows') or 'all'} windows, "
                     f"patience {tn.get('patience')}, schedule {tn.get('schedule')}, "
                     f"RC-averaged evaluation: {tn.get('rc_average_eval')}"),
        ("Seed", study.get("seed")),
    ]
    if study.get("peaks"):
        items.append(("Peaks", study["peaks"]))
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{_f(v)}</td></tr>" for k, v in items)
    return f"<table class='kv'>{rows}</table>"


def _data_html(meta: dict | None) -> str:
    if not meta:
        return "<p class='muted'>No prepared-data summary found (RUN/data/meta.json).</p>"
    st = meta.get("stats", {})
    names = meta.get("track_names", [])
    head = "<tr><th>split</th><th>windows</th><th>chromosomes</th>" + "".join(
        f"<th>{html.escape(n)}: zero bins</th><th>{html.escape(n)}: median / q90 / q99</th>" for n in names) + "</tr>"
    body = ""
    for s, d in st.get("splits", {}).items():
        q = d.get("quantiles", {})
        cells = ""
        for i in range(len(names)):
            z = (d.get("zero_bin_fraction") or [None] * len(names))[i]
            qs = " / ".join(_f((q.get(k) or [None] * len(names))[i], 2) for k in ("0.5", "0.9", "0.99"))
            cells += f"<td>{_f(100 * z if z is not None else None, 1)}%</td><td>{qs}</td>"
        chroms = d.get("chroms", [])
        ch = ", ".join(chroms[:8]) + (f" … ({len(chroms)})" if len(chroms) > 8 else "")
        body += f"<tr><td>{s}</td><td>{_f(d.get('n_windows'))}</td><td>{html.escape(ch)}</td>{cells}</tr>"
    dropped = st.get("dropped") or {}
    drop = ", ".join(f"{k}: {v:,}" for k, v in dropped.items()) or "none"
    return (
        f"<p>{_f(st.get('n_candidates'))} candidate windows; dropped: {html.escape(drop)}. "
        f"Signal is shown after the <b>{html.escape(str(meta.get('transform')))}</b> transform "
        "(quantiles of the bins the model is trained on).</p>"
        f"<table>{head}{body}</table>"
    )


def _gc_balance_html(meta: dict | None, plots) -> str:
    """Peak-centred studies: GC of positives vs negatives per split (``meta['peaks']``); '' otherwise."""
    pk = (meta or {}).get("peaks")
    if not isinstance(pk, dict) or not pk.get("splits"):
        return ""
    order = sorted(pk["splits"], key=lambda s: (["train", "val", "test"] + [s]).index(s))
    splits = {s: pk["splits"][s] for s in order if pk["splits"][s].get("n_peaks")}

    def ks(v):
        return "–" if v is None else f"{v:.4f}"

    rows = "".join(
        f"<tr><td>{html.escape(s)}</td><td class='num'>{_f(d.get('n_peaks'))}</td>"
        f"<td class='num'>{_f(d.get('n_negatives'))}</td><td class='num'>{_f(d.get('n_candidates'))}</td>"
        f"<td class='num'>{_f(d.get('gc_mean_peaks'), 4)}</td><td class='num'>{_f(d.get('gc_mean_negatives'), 4)}</td>"
        f"<td class='num'><b>{ks(d.get('ks_gc'))}</b></td><td class='num'>{_f(d.get('n_from_nearest_bin'))}</td></tr>"
        for s, d in ((s, pk["splits"][s]) for s in order)
    )
    fig = figure_html(
        plots.gc_balance(splits, pk["gc_edges"]),
        "GC fraction of the input windows in each split: peak-centred windows (blue) and the negatives drawn for "
        "them (black line), as densities over the matching bins (edges at the peaks' GC quantiles). KS is the "
        "two-sample Kolmogorov–Smirnov statistic of the two GC distributions (0 = identical).",
        "GC balance",
    ) if splits and pk.get("gc_edges") else ""
    return (
        f"<p>Negatives were drawn away from peaks, {_f(pk.get('ratio'), 2)} per peak, matched on "
        f"<b>{html.escape(str(pk.get('match')))}</b> in {_f(pk.get('gc_bins'))} GC bins within each split (no "
        "negative serves two splits). A model can tell peaks from unmatched negatives by GC alone; the smaller "
        "the KS, the less that shortcut is open (the audit warns above its limit).</p>"
        + fig
        + "<table><tr><th>split</th><th>peaks</th><th>negatives</th><th>candidates</th><th>mean GC, peaks</th>"
        f"<th>mean GC, negatives</th><th>KS</th><th>from the nearest bin</th></tr>{rows}</table>"
    )


def _training_html(history: list[dict], m: dict, plots) -> str:
    tr = m.get("train") or {}
    parts = []
    if history:
        parts.append(figure_html(plots.training_curves(history),
                                 "Loss per epoch on the training windows (with augmentation) and the validation "
                                 "chromosomes; the dotted line marks the epoch whose weights are kept.", "training curves"))
    wps, wait = tr.get("windows_per_s"), tr.get("data_wait_fraction")
    stop = "stopped early (no improvement for `patience` epochs)" if tr.get("stopped_early") else "ran all epochs"
    parts.append(
        f"<p>{_f(tr.get('epochs'))} epochs, {stop}; best validation loss {_f(tr.get('best_val_loss'), 4)}. "
        f"Throughput {_f(wps, 0)} training windows/s; "
        f"{_f(100 * wait if wait is not None else None, 1)}% of step time was spent waiting for data.</p>"
    )
    return "".join(parts)


def _metrics_html(m: dict) -> str:
    res = m.get("resolution", "?")
    tf = m.get("transform", "")
    unit = f"{tf}-transformed signal" if tf and tf != "none" else "signal"
    rows = _metric_rows(m, res, unit)
    head = ("<tr><th>metric</th><th>CNN, test</th><th>k-mer ridge, test</th><th>CNN, val</th>"
            "<th>k-mer ridge, val</th><th>what it says</th></tr>")
    body = "".join(
        f"<tr><td>{r['name']}</td><td class='num'><b>{r['cnn_test']}</b></td><td class='num'>{r['base_test']}</td>"
        f"<td class='num'>{r['cnn_val']}</td><td class='num'>{r['base_val']}</td><td>{r['reading']}</td></tr>"
        for r in rows
    )
    labels = html.escape(_get(m, "labels", "source") or "")
    t, b = m.get("test", {}), _get(m, "baseline", "test") or {}
    summary = ""
    if t.get("pearson") is not None:
        gain = (t["pearson"] - b["pearson"]) if b.get("pearson") is not None else None
        summary = (
            f"<p class='lead'>On held-out test chromosomes the CNN predicts the {res}-bp signal with "
            f"<b>Pearson r = {_f(t['pearson'])}</b>"
            + (f", {_f(abs(gain))} {'above' if gain >= 0 else 'below'} the k-mer ridge baseline ({_f(b['pearson'])})"
               if gain is not None else "")
            + f"; whole-window totals reach r = {_f(_get(t, 'window_total', 'pearson'))}.</p>"
        )
    ref_html = ""
    for split in ("test",):
        for name, r in (_get(m, split, "reference") or {}).items():
            ref_html += (
                f"<p><b>Ceiling ({html.escape(name)}, {split}):</b> the noise-free reference "
                f"(<code>{html.escape(Path(r['path']).name)}</code>) correlates with the observed track at "
                f"r = {_f(r.get('ceiling_pearson'))} — no model can do much better against noisy observations. "
                f"The CNN correlates with the reference at r = {_f(r.get('model_vs_reference_pearson'))}"
                + (f" (k-mer baseline {_f(r.get('baseline_vs_reference_pearson'))})"
                   if r.get("baseline_vs_reference_pearson") is not None else "")
                + f"; window totals: {_f(r.get('model_vs_reference_window_total_pearson'))} "
                f"(ceiling {_f(r.get('ceiling_window_total_pearson'))}).</p>"
            )
    per_track = ""
    pt = t.get("per_track") or {}
    if len(pt) > 1:
        bpt = b.get("per_track") or {}
        per_track = "<h3>Per track (test)</h3><table><tr><th>track</th><th>Pearson</th><th>k-mer</th><th>auPRC</th><th>no-skill</th></tr>" + "".join(
            f"<tr><td>{html.escape(str(d.get('name', k)))}</td><td class='num'>{_f(d.get('pearson'))}</td>"
            f"<td class='num'>{_f(_get(bpt, k, 'pearson'))}</td><td class='num'>{_f(d.get('auprc'))}</td>"
            f"<td class='num'>{_f(d.get('auprc_baseline'))}</td></tr>" for k, d in pt.items()) + "</table>"
    return (
        summary + ref_html
        + f"<table class='metrics'>{head}{body}</table>"
        + f"<p class='muted'>All bins of each split at {res} bp on the {unit} scale, averaged over tracks. "
        f"Peak bins: {labels}. The k-mer ridge baseline is a linear model of k-mer counts around each bin, "
        "fitted on the training chromosomes: a CNN that does not beat it has not learned more than composition.</p>"
        + per_track
    )


def _per_chrom_html(m: dict) -> str:
    pc = m.get("per_chrom") or {}
    if not pc:
        return ""
    rows = "".join(
        f"<tr><td>{html.escape(c)}</td><td>{d.get('split')}</td><td class='num'>{_f(d.get('n_windows'))}</td>"
        f"<td class='num'>{_f(d.get('pearson'))}</td><td class='num'>{_f(d.get('baseline_pearson'))}</td>"
        f"<td class='num'>{_f(d.get('spearman'))}</td><td class='num'>{_f(d.get('r2'))}</td>"
        f"<td class='num'>{_f(d.get('window_total_pearson'))}</td></tr>"
        for c, d in pc.items()
    )
    return (
        "<p>Held-out chromosomes one by one: a model that is good on one chromosome only is fitting something "
        "local (a duplication, a repeat family), not the genome's rules.</p>"
        "<table><tr><th>chromosome</th><th>split</th><th>windows</th><th>Pearson</th><th>k-mer Pearson</th>"
        f"<th>Spearman</th><th>R²</th><th>window-total r</th></tr>{rows}</table>"
    )


def _plots_html(run_dir: Path) -> str:
    captions = {
        "scatter.png": ("Predicted against observed signal for every test bin (hexagon colour = number of bins, "
                        "log scale). Points on the dashed line are perfect predictions; a flat cloud means the "
                        "model predicts the average everywhere."),
        "roc_pr.png": ("Finding peak bins by the predicted signal. Left: ROC; right: precision-recall with the "
                       "no-skill line at the share of peak bins — auPRC is only meaningful next to it."),
        "browser.png": ("Test regions chosen evenly along the test chromosomes (not picked for looks): observed "
                        "signal (grey) with the CNN (blue) and the k-mer baseline (orange, dashed)."),
    }
    parts = []
    for name, cap in captions.items():
        p = RunPaths(run_dir).plot(name)
        if p.exists():
            parts.append(figure_html(p.read_bytes(), cap, name.removesuffix(".png")))
    return "".join(parts) or "<p class='muted'>No plots yet: run <code>seq2track evaluate RUN</code>.</p>"


def _files_html(run_dir: Path, timings: dict | None) -> str:
    rp = RunPaths(run_dir)
    names = [str(p.relative_to(run_dir)) for p in (rp.study, rp.metrics, rp.history, rp.prediction("test"),
                                                    rp.best_ckpt, rp.last_ckpt, rp.data / "meta.json", rp.mlflow_db)]
    items = "".join(f"<li><code>{n}</code></li>" for n in names if (run_dir / n).exists())
    tm = ""
    if timings:
        tm = "<p>Time per stage: " + ", ".join(
            f"{html.escape(k)} {v:.0f} s" for k, v in timings.items() if isinstance(v, (int, float))) + ".</p>"
    return f"{tm}<ul>{items}</ul>"


def render_report(run_dir: str | Path, extra_sections: list[Section] | None = None) -> Path:
    """Write ``RUN/report.html`` from the run's files (+ stored and ``extra_sections``); return its path."""
    import jinja2

    from ..train import read_history
    from . import motifs, plots

    run_dir = Path(run_dir)
    rp = RunPaths(run_dir)
    study = _read_yaml(rp.study)
    meta = _read_json(rp.data / "meta.json")
    m = _read_json(rp.metrics) or {}
    timings = _read_json(rp.timings)
    history = read_history(run_dir)
    sections = [
        Section("Results", _metrics_html(m) if m else "<p class='muted'>Not evaluated yet.</p>", 10, "results"),
        Section("Plots", _plots_html(run_dir), 20, "plots"),
        Section("Per chromosome", _per_chrom_html(m), 30, "per-chromosome"),
        Section("Training", _training_html(history, m, plots), 40, "training"),
        Section("Data", _data_html(meta), 50, "data"),
        Section("GC balance of peaks and negatives", _gc_balance_html(meta, plots), 55, "gc-balance"),
        Section("Study", _study_html(study), 60, "study"),
        Section("Files", _files_html(run_dir, timings), 90, "files"),
        Section("Motifs", motifs.section_html(run_dir), 160, "motifs"),  # TF-MoDISco patterns, if any
    ]
    sections = [s for s in sections if s.html]
    sections += _stored_sections(run_dir) + list(extra_sections or [])
    sections.sort(key=lambda s: s.order)
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("seq2track.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
    )
    page = env.get_template("report.html.j2").render(
        title=f"seq2track report — {study.get('name', run_dir.name)}",
        study_name=study.get("name", run_dir.name),
        run_dir=str(run_dir),
        version=__version__,
        sections=[{"title": s.title, "anchor": s.anchor, "html": s.html} for s in sections],
    )
    out = rp.report
    atomic.write_text(out, page)
    return out


def _read_json(p: Path) -> dict | None:
    return json.loads(p.read_text()) if p.exists() else None


def _read_yaml(p: Path) -> dict:
    import yaml

    return yaml.safe_load(p.read_text()) if p.exists() else {}
