"""Figures of a run as PNG bytes (matplotlib, Agg backend; imported inside each function).

Every function takes arrays and returns ``bytes`` of a PNG; the caller writes them
(atomically) or embeds them in the HTML report. Same inputs -> byte-identical PNGs (no
timestamps in the metadata).
"""

from __future__ import annotations

import io
from typing import Any, Sequence

import numpy as np

_META = {"Software": None}
CNN_COLOR = "#1f6fb4"
BASE_COLOR = "#d9822b"
OBS_COLOR = "#6b6b6b"


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata=_META)
    _plt().close(fig)
    return buf.getvalue()


def training_curves(history: Sequence[dict[str, float]]) -> bytes:
    """Train / validation loss per epoch (left) and learning rate (right)."""
    plt = _plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.2))
    ep = [int(h["epoch"]) + 1 for h in history]
    a.plot(ep, [h["train_loss"] for h in history], "o-", color=CNN_COLOR, label="training")
    a.plot(ep, [h["val_loss"] for h in history], "s-", color=BASE_COLOR, label="validation")
    if history:
        best = int(np.nanargmin([h["val_loss"] for h in history]))
        a.axvline(ep[best], color="#999", ls=":", lw=1, label=f"best (epoch {ep[best]})")
    a.set_xlabel("epoch")
    a.set_ylabel("loss")
    a.legend(frameon=False, fontsize=8)
    a.set_title("loss", fontsize=10)
    b.plot(ep, [h["lr"] for h in history], "o-", color="#555")
    b.set_xlabel("epoch")
    b.set_ylabel("learning rate")
    b.set_yscale("log")
    b.set_title("learning rate", fontsize=10)
    for ax in (a, b):
        ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return _png(fig)


def scatter(obs: np.ndarray, preds: dict[str, np.ndarray], unit: str = "transformed signal") -> bytes:
    """Hexbin of predicted against observed bins, one panel per model (``preds: name -> float[m]``)."""
    plt = _plt()
    obs = np.asarray(obs, dtype=np.float64).ravel()
    n = len(preds)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.8), squeeze=False)
    lo = float(np.nanmin(obs)) if obs.size else 0.0
    hi = float(np.nanmax(obs)) if obs.size else 1.0
    for ax, (name, p) in zip(axes[0], preds.items()):
        p = np.asarray(p, dtype=np.float64).ravel()
        ok = np.isfinite(p) & np.isfinite(obs)
        hb = ax.hexbin(obs[ok], p[ok], gridsize=45, bins="log", mincnt=1, cmap="viridis")
        top = max(hi, float(np.nanmax(p[ok])) if ok.any() else hi)
        ax.plot([lo, top], [lo, top], color="#c33", lw=1, ls="--", label="y = x")
        r = np.corrcoef(obs[ok], p[ok])[0, 1] if ok.sum() > 1 and np.ptp(p[ok]) > 0 else float("nan")
        ax.set_title(f"{name}: Pearson r = {r:.3f}", fontsize=10)
        ax.set_xlabel(f"observed ({unit})")
        ax.set_ylabel(f"predicted ({unit})")
        ax.legend(frameon=False, fontsize=8, loc="upper left")
        fig.colorbar(hb, ax=ax, label="bins (log)")
    fig.tight_layout()
    return _png(fig)


def roc_pr(curves: dict[str, tuple[np.ndarray, np.ndarray]], prevalence: float) -> bytes:
    """ROC (left) and precision-recall (right) of ``curves: name -> (scores float[m], labels bool[m])``;
    the PR panel shows the no-skill line at ``prevalence``."""
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

    plt = _plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.8))
    colors = [CNN_COLOR, BASE_COLOR, "#2a9d55", "#8e44ad"]
    for (name, (s, lab)), col in zip(curves.items(), colors):
        s = np.asarray(s, dtype=np.float64).ravel()
        lab = np.asarray(lab, dtype=bool).ravel()
        ok = np.isfinite(s)
        s, lab = s[ok], lab[ok]
        if lab.all() or not lab.any():
            continue
        fpr, tpr, _ = roc_curve(lab, s)
        prec, rec, _ = precision_recall_curve(lab, s)
        a.plot(fpr, tpr, color=col, label=f"{name} (auROC {roc_auc_score(lab, s):.3f})")
        b.plot(rec, prec, color=col, label=f"{name} (auPRC {average_precision_score(lab, s):.3f})")
    a.plot([0, 1], [0, 1], color="#999", ls=":", lw=1, label="no skill (0.5)")
    b.axhline(prevalence, color="#999", ls=":", lw=1, label=f"no skill = prevalence ({prevalence:.3f})")
    a.set_xlabel("false positive rate")
    a.set_ylabel("true positive rate")
    a.set_title("ROC", fontsize=10)
    b.set_xlabel("recall")
    b.set_ylabel("precision")
    b.set_ylim(0, 1.02)
    b.set_title("precision-recall", fontsize=10)
    for ax in (a, b):
        ax.legend(frameon=False, fontsize=8, loc="lower right" if ax is a else "upper right")
        ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return _png(fig)


def browser(regions: list[dict[str, Any]], unit: str = "transformed signal") -> bytes:
    """Genome-browser-like panels: observed signal (grey area) with model predictions as lines.

    ``regions``: dicts with ``title``, ``x: float[m]`` (bin centres, bp), ``obs: float[m]`` and
    ``preds: {name: float[m]}``.
    """
    plt = _plt()
    n = max(1, len(regions))
    fig, axes = plt.subplots(n, 1, figsize=(10, 2.3 * n), squeeze=False)
    colors = [CNN_COLOR, BASE_COLOR, "#2a9d55"]
    for ax, reg in zip(axes[:, 0], regions):
        x = np.asarray(reg["x"], dtype=np.float64) / 1000.0
        ax.fill_between(x, 0, reg["obs"], step="mid", color=OBS_COLOR, alpha=0.45, lw=0, label="observed")
        for (name, p), col in zip(reg["preds"].items(), colors):
            ax.plot(x, p, color=col, lw=1.3 if col == CNN_COLOR else 1.0,
                    ls="-" if col == CNN_COLOR else "--", label=name, drawstyle="steps-mid")
        ax.set_title(reg["title"], fontsize=9, loc="left")
        ax.set_ylabel(unit, fontsize=8)
        ax.spines[["top", "right"]].set_visible(False)
        ax.set_xlim(x.min(), x.max())
    axes[0, 0].legend(frameon=False, fontsize=8, ncol=4, loc="upper right")
    axes[-1, 0].set_xlabel("position (kb)")
    fig.tight_layout()
    return _png(fig)


def gc_balance(splits: dict[str, dict[str, Any]], edges: Sequence[float]) -> bytes:
    """GC of peak windows vs their negatives, one panel per split (the prepared cache's ``meta['peaks']``).

    ``splits``: ``{split: {"hist_peaks": int[b], "hist_negatives": int[b], "ks_gc": float, ...}}``;
    ``edges``: float[b + 1] GC bin edges (at the peaks' GC quantiles, so bins are unequal: drawn
    as densities, count / width / total, so the two shapes compare).
    """
    plt = _plt()
    e = np.asarray(edges, dtype=np.float64)
    w = np.diff(e)
    n = max(1, len(splits))
    fig, axes = plt.subplots(1, n, figsize=(3.4 * n, 2.9), squeeze=False, sharey=True)
    order = sorted(splits, key=lambda s: (["train", "val", "test"] + [s]).index(s))
    for ax, name in zip(axes[0], order):
        d = splits[name]
        for key, col, label in (("hist_peaks", CNN_COLOR, "peaks"), ("hist_negatives", "#333333", "negatives")):
            h = np.asarray(d.get(key) or np.zeros(len(w)), dtype=np.float64)
            dens = h / np.where(w > 0, w, 1) / max(h.sum(), 1)
            lab = f"{label} ({int(h.sum()):,})"
            if key == "hist_peaks":  # filled, so the negatives' line stays visible on top of it
                ax.stairs(dens, e, fill=True, color=col, alpha=0.35, label=lab)
            else:
                ax.stairs(dens, e, color=col, lw=1.1, label=lab)
        if len(e) >= 4:  # the outer bins reach 0 and 1: zoom on the inner bins, where the windows are
            pad = 0.5 * (e[-2] - e[1])
            ax.set_xlim(max(0.0, e[1] - pad), min(1.0, e[-2] + pad))
        ks = d.get("ks_gc")
        ax.set_title(f"{name}: KS {ks:.4f}" if ks is not None else f"{name}: KS –", fontsize=10)
        ax.set_xlabel("GC fraction of the input window")
        ax.legend(frameon=False, fontsize=8)
        ax.spines[["top", "right"]].set_visible(False)
    axes[0, 0].set_ylabel("density")
    fig.tight_layout()
    return _png(fig)
