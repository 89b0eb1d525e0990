"""Interpretation of a trained model: motif marginalisation, variant effects, attributions.

The core functions take a *predictor* ``f(x: float32[n, 4, L]) -> float32[n, T, B]`` (numpy
in, numpy out, predictions on the target scale) and sequence codes ``uint8[n, L]``
(A0 C1 G2 T3 N4), so that they run on any model, including toy models in tests.
:func:`torch_predictor` turns a trained torch model (+ its loss link) into one.

Modules: ``motifs`` (reading PFMs), ``marginalize`` (insert a motif into shuffled
backgrounds), ``variants`` (ref vs alt predictions), ``ism`` (in-silico mutagenesis,
Integrated Gradients, logos).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

#: a predictor: one-hot ``float32[n, 4, L]`` -> predictions ``float32[n, T, B]``
Predictor = Callable[[np.ndarray], np.ndarray]


def onehot(codes: np.ndarray) -> np.ndarray:
    """uint8[n, L] codes -> float32[n, 4, L] one-hot (A, C, G, T; N is all zeros)."""
    from ..data.cache import onehot as _onehot

    return _onehot(np.asarray(codes, dtype=np.uint8))


def torch_predictor(model: Any, loss: Any = None, track_perm: np.ndarray | None = None, rc_average: bool = True) -> Predictor:
    """Wrap a torch model ``z = model(x)`` into a numpy predictor ``loss.predict(z)``.

    rc_average: average the raw outputs of ``x`` and its reverse complement (tracks
    re-ordered by ``track_perm: int[T]``) before the link, as ``train.predict`` does.
    """
    import torch

    from ..model.architectures import rc_average as rc_avg

    device = next(model.parameters()).device
    perm = None if track_perm is None else torch.as_tensor(np.asarray(track_perm), dtype=torch.long, device=device)

    def f(x: np.ndarray) -> np.ndarray:
        model.eval()
        with torch.inference_mode():
            xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(device)
            z = rc_avg(model, xt, perm) if rc_average else model(xt)
            y = loss.predict(z) if loss is not None else z
            return y.float().cpu().numpy()

    return f


def predict_codes(f: Predictor, codes: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Predictions ``float32[n, T, B]`` for sequence codes ``uint8[n, L]``, in batches."""
    codes = np.asarray(codes, dtype=np.uint8)
    out: list[np.ndarray] = []
    for lo in range(0, len(codes), batch_size):
        y = np.asarray(f(onehot(codes[lo : lo + batch_size])), dtype=np.float32)
        if y.ndim != 3:
            raise ValueError(f"a predictor must return float32[n, T, B]; got shape {y.shape}")
        out.append(y)
    if not out:
        raise ValueError("no sequences to predict")
    return np.concatenate(out)


def region_mean(
    f: Predictor, codes: np.ndarray, bins: slice | None = None, batch_size: int = 256,
    to_units: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Mean prediction over the target bins (or ``bins``): ``float64[n, T]``.

    to_units: maps predictions ``float[n, T, B]`` to track units before the mean (e.g.
    ``Run.to_units()``); the model scale when None.
    """
    y = predict_codes(f, codes, batch_size)
    if bins is not None:
        y = y[..., bins]
    if to_units is not None:
        y = to_units(y)
    return y.mean(axis=-1, dtype=np.float64)


class MeanCI(NamedTuple):
    """Mean of paired differences with a two-sided t confidence interval (per column)."""

    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    sd: np.ndarray
    n: int


def mean_ci(d: np.ndarray, level: float = 0.95) -> MeanCI:
    """Mean and t-interval of ``d: float[n, ...]`` along axis 0 (``n >= 2``)."""
    from scipy import stats

    d = np.asarray(d, dtype=np.float64)
    n = d.shape[0]
    if n < 2:
        raise ValueError("a confidence interval needs at least 2 values")
    m = d.mean(axis=0)
    sd = d.std(axis=0, ddof=1)
    half = stats.t.ppf(0.5 + level / 2, n - 1) * sd / np.sqrt(n)
    return MeanCI(m, m - half, m + half, sd, n)


# --- the edge: a trained run directory ------------------------------------------------
OUT_DIR = "interpret"


class Run(NamedTuple):
    """A trained run: model (eval mode), loss (link), study and prepared cache (``RUN/data``)."""

    dir: Path
    model: Any
    loss: Any
    study: Any
    prepared: Any

    @property
    def out(self) -> Path:
        """``RUN/interpret``: where interpretation artefacts go."""
        return self.dir / OUT_DIR

    def predictor(self, rc_average: bool = True) -> Predictor:
        """Numpy predictor on the target scale, reverse-complement averaged like ``train.predict``."""
        return torch_predictor(self.model, self.loss, self.prepared.rc_perm, rc_average)

    def to_units(self) -> Callable[[np.ndarray], np.ndarray] | None:
        """Predictions -> track units (undo normalisation and transform); None for probabilities (BCE)."""
        if getattr(self.loss, "name", "") == "bce":
            return None
        return self.prepared.to_track_units

    def truth(self) -> dict | None:
        """The simulator's ``truth.json`` beside the study genome, if this run is on simulated data."""
        from ..data.simulate.oracle import load_truth
        from ..errors import DataError

        p = Path(self.study.genome).parent / "truth.json"
        if not p.exists():
            return None
        try:
            return load_truth(p)
        except DataError:  # a truth.json that is not the simulator's
            return None


def load_run(run_dir: str | Path) -> Run:
    """Load ``(model, loss, study)`` with ``train.load_model`` and open the cache in ``RUN/data``."""
    from ..data.cache import PreparedDataset
    from ..errors import DataError
    from ..train import load_model

    run_dir = Path(run_dir)
    if not (run_dir / "data").exists():
        raise DataError(f"{run_dir} has no prepared data (RUN/data); run `seq2track run STUDY --out {run_dir}` first")
    model, loss, study = load_model(run_dir)
    return Run(run_dir, model, loss, study, PreparedDataset.open(run_dir / "data"))


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

    d = Path(run_dir) / OUT_DIR
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


__all__ = [
    "MeanCI", "Predictor", "Run", "load_run", "mean_ci", "onehot", "predict_codes", "region_mean",
    "report_html", "split_backgrounds", "torch_predictor", "update_report",
]
