"""Evaluation and audit checks for peak-centred studies (``windows.strategy: peaks``).

Torch-free functions on arrays and the prepared window table; the evaluation and audit
stages call them (``seq2track.evaluate`` / ``pitfalls.audit``):

* :func:`peak_metrics`: count Pearson/Spearman at peaks and at negatives **separately** (a
  pooled correlation is inflated by the peak/negative contrast alone), auPRC and auROC of the
  predicted count separating peaks from negatives, with the prevalence (the auPRC of a random
  ranking), and the profile Jensen-Shannon distance where a profile is predicted.
* :func:`audit_peak_windows`: negatives shared between splits, positives overlapping
  negatives, GC imbalance between positives and negatives per split, and peaks inside the
  input window of a peak of another split.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def _corr(a: np.ndarray, b: np.ndarray) -> dict[str, float | None]:
    from scipy.stats import pearsonr, spearmanr

    if len(a) < 3 or np.std(a) == 0 or np.std(b) == 0:
        return {"pearson": None, "spearman": None, "n": int(len(a))}
    return {"pearson": float(pearsonr(a, b)[0]), "spearman": float(spearmanr(a, b)[0]), "n": int(len(a))}


def profile_jsd(pred: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """float[n]: Jensen-Shannon distance (base 2) between predicted and observed profiles.

    pred, obs: float[n, B] non-negative (counts or rates) per window; each row is normalised to
    sum 1. Rows whose observed profile is all zero give NaN.
    """
    from scipy.spatial.distance import jensenshannon

    pred = np.clip(np.asarray(pred, dtype=np.float64), 0, None)
    obs = np.clip(np.asarray(obs, dtype=np.float64), 0, None)
    out = np.full(len(obs), np.nan)
    ok = (obs.sum(1) > 0) & (pred.sum(1) > 0)
    if ok.any():
        out[ok] = jensenshannon(pred[ok], obs[ok], axis=1, base=2)
    return out


def peak_metrics(pred_count: np.ndarray, obs_count: np.ndarray, is_peak: np.ndarray,
                 pred_profile: np.ndarray | None = None, obs_profile: np.ndarray | None = None) -> dict[str, Any]:
    """Metrics of one track on the test windows of a peak-centred study.

    pred_count, obs_count: float[n] per-window counts (e.g. the sum of the target bins, raw or
    log1p: correlations are computed on ``log1p`` of non-negative counts); is_peak: bool[n].
    pred_profile, obs_profile: optional float[n, B] raw profiles for the JSD.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    p = np.asarray(pred_count, dtype=np.float64)
    o = np.asarray(obs_count, dtype=np.float64)
    y = np.asarray(is_peak, dtype=bool)
    lp, lo = np.log1p(np.clip(p, 0, None)), np.log1p(np.clip(o, 0, None))
    out: dict[str, Any] = {
        "peaks": _corr(lp[y], lo[y]),
        "negatives": _corr(lp[~y], lo[~y]),
        "all": _corr(lp, lo),
        "prevalence": float(y.mean()) if len(y) else None,
    }
    if y.any() and (~y).any():
        out["auprc"] = float(average_precision_score(y, p))
        out["auroc"] = float(roc_auc_score(y, p))
    else:
        out["auprc"] = out["auroc"] = None
    if pred_profile is not None and obs_profile is not None:
        j = profile_jsd(pred_profile, obs_profile)
        out["jsd_median_peaks"] = float(np.nanmedian(j[y])) if np.isfinite(j[y]).any() else None
        out["jsd_median_negatives"] = float(np.nanmedian(j[~y])) if np.isfinite(j[~y]).any() else None
    return out


def audit_peak_windows(windows: pd.DataFrame, ks_limit: float = 0.1) -> dict[str, Any]:
    """Leak and balance checks on a prepared peak-centred window table.

    windows: the cache's ``windows.parquet`` (``chrom, start, end, split, keep, kind`` and
    ``gc``); only kept windows are checked. Returns counts and a ``problems`` list of one-line
    findings (empty when the design is sound).
    """
    import bioframe
    from scipy.stats import ks_2samp

    w = windows[windows["keep"]].reset_index(drop=True)
    pos, neg = w[w["kind"] == "peak"], w[w["kind"] == "negative"]
    problems: list[str] = []
    shared = neg.groupby(["chrom", "start"])["split"].nunique()
    n_shared = int((shared > 1).sum())
    if n_shared:
        problems.append(f"{n_shared} negative window(s) serve more than one split")
    ov = bioframe.overlap(pos[["chrom", "start", "end"]], neg[["chrom", "start", "end"]], how="inner")
    n_pn = int(len(ov))
    if n_pn:
        problems.append(f"{n_pn} positive/negative window pair(s) overlap: negatives must lie away from peaks")
    pp = bioframe.overlap(pos[["chrom", "start", "end", "split"]], pos[["chrom", "start", "end", "split"]],
                          how="inner", suffixes=("", "_2"))
    n_cross = int((pp["split"] != pp["split_2"]).sum() // 2)
    if n_cross:
        problems.append(f"{n_cross} peak window pair(s) from different splits overlap (shared input sequence)")
    ks: dict[str, float | None] = {}
    for s in ("train", "val", "test"):
        a = pos.loc[pos["split"] == s, "gc"].to_numpy() if "gc" in pos else np.zeros(0)
        b = neg.loc[neg["split"] == s, "gc"].to_numpy() if "gc" in neg else np.zeros(0)
        ks[s] = float(ks_2samp(a, b).statistic) if len(a) and len(b) else None
        if ks[s] is not None and ks[s] > ks_limit:
            problems.append(f"{s}: GC of positives vs negatives differs (KS {ks[s]:.3f} > {ks_limit})")
    return {
        "negatives_shared_between_splits": n_shared,
        "positives_overlapping_negatives": n_pn,
        "peaks_overlapping_peaks_of_other_splits": n_cross,
        "gc_ks": ks,
        "problems": problems,
    }
