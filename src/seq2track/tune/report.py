"""The search's HTML report: validation curves per trial, ASHA rungs, the trials table and
parameter importance (Optuna fANOVA). matplotlib and Optuna are imported inside the functions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .space import METRIC


def importance(trials: pd.DataFrame, keys: list[str], score: str, seed: int = 0) -> dict[str, float]:
    """fANOVA importance of each key for the column ``score`` (Optuna); {} with < 3 finished trials."""
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    ok = trials[np.isfinite(trials[score].to_numpy(dtype=float))]
    if len(ok) < 3 or not keys:
        return {}
    dists: dict[str, Any] = {}
    for k in keys:
        vals = ok[k].tolist()
        if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in vals):
            lo, hi = float(min(vals)), float(max(vals))
            dists[k] = FloatDistribution(lo, hi if hi > lo else lo + 1.0)
        else:
            dists[k] = CategoricalDistribution(sorted({str(v) for v in vals}))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    st = optuna.create_study(direction="minimize")
    for _, r in ok.iterrows():
        params = {k: (str(r[k]) if isinstance(dists[k], CategoricalDistribution) else float(r[k])) for k in keys}
        st.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=float(r[score])))
    try:
        imp = optuna.importance.get_param_importances(st, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=seed))
    except (RuntimeError, ValueError):
        return {}
    return {k: float(v) for k, v in imp.items()}


def _fig_b64(fig) -> str:
    import base64
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    return base64.b64encode(buf.getvalue()).decode()


def report_section(out: str | Path) -> str:
    """An HTML fragment for a search directory: val curves, ASHA rungs, trials, parameter importance."""
    import html

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    summary = json.loads((out / "summary.json").read_text())
    trials = pd.read_csv(out / "trials.csv")
    curves = pd.read_csv(out / "curves.csv")
    keys, metric, best = list(summary["space"]), summary["metric"], summary["best_trial"]
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for t, g in curves.groupby("trial"):
        ax.plot(g["epoch"], g[metric], marker="o", ms=3, lw=2.2 if t == best else 1,
                alpha=1 if t == best else 0.55, label=f"trial {t} (best)" if t == best else None)
    for r in summary["rungs"]:
        ax.axvline(r, color="grey", ls=":", lw=1)
    if (curves[metric] > 0).all():  # a Poisson NLL without its constant can be negative
        ax.set_yscale("log")
    ax.set_xlabel("epoch (dotted: ASHA rungs)" if summary["rungs"] else "epoch")
    ax.set_ylabel(f"validation {metric.removeprefix('val_')}")
    ax.set_title(f"{summary['scheduler'].upper()}, {summary['search']} search, {summary['n_trials']} trials")
    ax.legend(frameon=False)
    img = _fig_b64(fig)
    plt.close(fig)
    rung_rows = "".join(f"<tr><td>{r}</td><td>{int((trials['epochs_run'] >= r).sum())}</td></tr>"
                        for r in summary["rungs"])
    imp = importance(trials, keys, f"best_{metric}")
    caveat = (" Trials cut by ASHA enter with their score at the rung where they stopped, so this favours "
              "what matters early in training." if summary["rungs"] else "")
    imp_html = ("<p>Parameter importance (Optuna fANOVA on the best validation score): "
                + ", ".join(f"{html.escape(k)} {v:.2f}" for k, v in imp.items()) + f".{caveat}</p>") if imp else ""
    test = summary.get("test") or {}
    test_html = html.escape(", ".join(f"{k} {v:.4g}" for k, v in test.items())) or "not run (--no-final)"
    why = (" Selection is on validation MSE of the predicted signal, because <code>train.loss</code> is "
           "searched and losses of different likelihoods are not on one scale." if metric != METRIC else "")
    show = trials[["trial", *keys, f"best_{metric}", "epochs_run", "stopped_by", "status"]].fillna({"stopped_by": ""})
    return (
        "<section id='tune'><h2>Hyper-parameter search</h2>"
        f"<p>{summary['n_trials']} trials, scheduler {summary['scheduler']}, search {summary['search']}: "
        f"{summary['search_seconds']:.1f} s, {summary['epochs_total']} epochs trained in all. "
        f"Best: trial {best}, {metric} {summary['best_score']:.4g}, "
        f"{html.escape(json.dumps(summary['best_params']))}.{why}</p>"
        "<p><b>Selection used the validation split only.</b> The test split was used once, after "
        f"selection, by the selected config ({'the best trial' + chr(39) + 's own weights: it ran its whole budget' if summary.get('retrain', {}).get('reused_trial') else 'retrained once with the study seed'}): {test_html}.</p>"
        f"<img alt='validation {metric} per trial and epoch' src='data:image/png;base64,{img}'/>"
        + (f"<table><tr><th>ASHA rung (epoch)</th><th>trials that reached it</th></tr>{rung_rows}</table>"
           if rung_rows else "")
        + imp_html + show.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0)
        + "</section>"
    )


def page(section: str) -> str:
    """A standalone HTML page around one ``section``."""
    return ("<!doctype html><html><head><meta charset='utf-8'><title>seq2track tune</title>"
            "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}td,th{padding:0 .6em}</style>"
            f"</head><body>{section}</body></html>\n")
