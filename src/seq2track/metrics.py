"""Evaluation metrics on numpy arrays (scipy / scikit-learn do the arithmetic).

- ``regression_metrics(pred, obs)``: Pearson, Spearman, MSE, MAE, R^2 over all bins per track,
  averaged over tracks; per track; and on per-window totals.
- ``classification_metrics(scores, labels)``: AUROC, AUPRC and its no-skill baseline.
- ``per_group(pred, obs, groups)``: regression metrics per group (chromosome).
- ``mean_ci(d)``: the t-interval (vectorised); ``interval(values)``: mean and 95% interval (t or percentile bootstrap).

Undefined values (a constant input, one class absent, fewer than 2 values) are NaN, never
an exception or a warning. Non-finite pairs are left out and counted in ``n``.
"""

from __future__ import annotations

import warnings
from typing import Any, Hashable, NamedTuple, Sequence

import numpy as np

#: the headline regression metrics, in report order: the one list every table and summary uses
REGRESSION_KEYS = ("pearson", "spearman", "mse", "mae", "r2")


def _nanmean(values: Sequence[float]) -> float:
    a = np.asarray(values, dtype=np.float64)
    a = a[np.isfinite(a)]
    return float(a.mean()) if a.size else float("nan")


def _pair_metrics(p: np.ndarray, o: np.ndarray) -> dict[str, float]:
    """Metrics of two 1-D arrays (non-finite pairs dropped)."""
    from scipy import stats
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    p = np.asarray(p, dtype=np.float64).ravel()
    o = np.asarray(o, dtype=np.float64).ravel()
    ok = np.isfinite(p) & np.isfinite(o)
    p, o = p[ok], o[ok]
    nan = float("nan")
    out: dict[str, float] = {"pearson": nan, "spearman": nan, "mse": nan, "mae": nan, "r2": nan, "n": int(p.size)}
    if p.size == 0:
        return out
    out["mse"] = float(mean_squared_error(o, p))
    out["mae"] = float(mean_absolute_error(o, p))
    if p.size < 2:
        return out
    p_const, o_const = bool(np.ptp(p) == 0), bool(np.ptp(o) == 0)
    if not o_const:
        out["r2"] = float(r2_score(o, p))
    if not (p_const or o_const):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # near-constant float inputs may still warn
            out["pearson"] = float(stats.pearsonr(p, o).statistic)
            out["spearman"] = float(stats.spearmanr(p, o).statistic)
    return out


def _by_track(pred: np.ndarray, obs: np.ndarray, track_names: Sequence[str] | None) -> dict[str, Any]:
    """``pred, obs: [n, T, ...]`` -> headline (mean over tracks) + ``per_track``."""
    n_tracks = pred.shape[1]
    if track_names is not None and len(track_names) != n_tracks:
        raise ValueError(f"{len(track_names)} track_names for {n_tracks} tracks")
    per_track: dict[int, dict[str, Any]] = {}
    for t in range(n_tracks):
        m = _pair_metrics(pred[:, t], obs[:, t])
        if track_names is not None:
            m["name"] = str(track_names[t])
        per_track[t] = m
    out: dict[str, Any] = {k: _nanmean([m[k] for m in per_track.values()]) for k in REGRESSION_KEYS}
    out["n"] = int(sum(m["n"] for m in per_track.values()))
    out["per_track"] = per_track
    return out


def _check_3d(pred: np.ndarray, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, obs = np.asarray(pred), np.asarray(obs)
    if pred.shape != obs.shape or pred.ndim != 3:
        raise ValueError(f"pred {pred.shape} and obs {obs.shape} must both be [n_windows, n_tracks, n_bins]")
    return pred, obs


def pearson(pred: np.ndarray, obs: np.ndarray) -> float:
    """The headline Pearson of :func:`regression_metrics` alone (fast, for resampling loops):
    per track over all bins of ``pred, obs: float[n, T, B]`` (non-finite pairs dropped), averaged
    over the tracks where it is defined."""
    pred, obs = _check_3d(pred, obs)
    r = []
    for t in range(pred.shape[1]):
        a, b = pred[:, t].ravel().astype(np.float64), obs[:, t].ravel().astype(np.float64)
        ok = np.isfinite(a) & np.isfinite(b)
        a, b = a[ok], b[ok]
        if a.size > 1 and np.ptp(a) > 0 and np.ptp(b) > 0:
            r.append(float(np.corrcoef(a, b)[0, 1]))
    return _nanmean(r)


def regression_metrics(
    pred: np.ndarray, obs: np.ndarray, track_names: Sequence[str] | None = None
) -> dict[str, Any]:
    """Regression metrics of ``pred, obs: float32[n, T, B]``.

    Returns ``{pearson, spearman, mse, mae, r2, n}`` computed per track over all n*B bins then
    averaged over tracks (tracks with an undefined value are skipped in the mean),
    ``per_track: {t: {..., name}}`` and ``window_total: {...same, per_track}`` on the
    per-window sums over bins.
    """
    pred, obs = _check_3d(pred, obs)
    out = _by_track(pred, obs, track_names)
    totals_p = pred.astype(np.float64).sum(-1, keepdims=True)
    totals_o = obs.astype(np.float64).sum(-1, keepdims=True)
    out["window_total"] = _by_track(totals_p, totals_o, track_names)
    return out


def classification_metrics(scores: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """AUROC / AUPRC of ``scores: float[m]`` against ``labels: bool[m]``.

    ``auprc_baseline`` = prevalence (the AUPRC of a no-skill classifier). One class absent
    -> NaN AUROC/AUPRC. Non-finite scores are left out.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    s = np.asarray(scores, dtype=np.float64).ravel()
    lab = np.asarray(labels).ravel().astype(bool)
    if s.shape != lab.shape:
        raise ValueError(f"scores {s.shape} and labels {lab.shape} differ in size")
    ok = np.isfinite(s)
    s, lab = s[ok], lab[ok]
    n, n_pos = int(s.size), int(lab.sum())
    prevalence = n_pos / n if n else float("nan")
    out = {
        "auroc": float("nan"), "auprc": float("nan"), "auprc_baseline": prevalence,
        "prevalence": prevalence, "n_pos": n_pos, "n": n,
    }
    if 0 < n_pos < n:
        out["auroc"] = float(roc_auc_score(lab, s))
        out["auprc"] = float(average_precision_score(lab, s))
    return out


def per_group(
    pred: np.ndarray, obs: np.ndarray, groups: np.ndarray, track_names: Sequence[str] | None = None
) -> dict[Hashable, dict[str, Any]]:
    """``regression_metrics`` for each value of ``groups: array[n]`` (e.g. chromosome), sorted."""
    pred, obs = _check_3d(pred, obs)
    g = np.asarray(groups)
    if g.shape != (pred.shape[0],):
        raise ValueError(f"groups {g.shape} must have one entry per window ({pred.shape[0]})")
    out: dict[Hashable, dict[str, Any]] = {}
    for key in np.unique(g):
        sel = g == key
        out[key.item() if hasattr(key, "item") else key] = regression_metrics(pred[sel], obs[sel], track_names)
    return out


class MeanCI(NamedTuple):
    """Mean with a two-sided Student-t confidence interval (per column), its sd and n."""

    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    sd: np.ndarray
    n: int


def mean_ci(d: np.ndarray, level: float = 0.95) -> MeanCI:
    """Mean and t-interval of ``d: float[n, ...]`` along axis 0 (``n >= 2``): the package's one t-interval."""
    from scipy import stats

    d = np.asarray(d, dtype=np.float64)
    n = d.shape[0]
    if n < 2:
        raise ValueError("a confidence interval needs at least 2 values")
    m = d.mean(axis=0)
    sd = d.std(axis=0, ddof=1)
    half = stats.t.ppf(0.5 + level / 2, n - 1) * sd / np.sqrt(n)
    return MeanCI(m, m - half, m + half, sd, n)


def interval(
    values: np.ndarray,
    level: float = 0.95,
    method: str = "t",
    seed: int = 0,
    n_resamples: int = 9999,
) -> tuple[float, float, float]:
    """``(mean, lo, hi)`` of ``values: float[k]`` (e.g. a metric difference across seeds or folds).

    ``method="t"``: Student-t interval (:func:`mean_ci`; fits a handful of seeds); ``"bootstrap"``:
    percentile bootstrap of the mean with ``numpy.random.default_rng(seed)``. Non-finite values
    are dropped; fewer than 2 values give NaN bounds, zero spread gives the mean itself.
    """
    from scipy import stats

    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    nan = float("nan")
    if v.size == 0:
        return nan, nan, nan
    mean = float(v.mean())
    if v.size < 2:
        return mean, nan, nan
    if np.ptp(v) == 0:
        return mean, mean, mean
    if method == "t":
        ci = mean_ci(v, level)
        return mean, float(ci.low), float(ci.high)
    if method == "bootstrap":
        res = stats.bootstrap(
            (v,), np.mean, confidence_level=level, n_resamples=n_resamples, method="percentile",
            rng=np.random.default_rng(seed),
        )
        lo, hi = res.confidence_interval
        return mean, float(lo), float(hi)
    raise ValueError(f"interval method {method!r}: use 't' or 'bootstrap'")
