"""Metrics against direct numpy/scipy computations on seeded random data."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats

from seq2track.metrics import interval, classification_metrics, per_group, regression_metrics


def _pair(seed: int = 0, shape: tuple[int, int, int] = (40, 3, 8)) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    obs = rng.gamma(2.0, 1.0, shape).astype(np.float32)
    pred = (obs * rng.uniform(0.5, 1.5, shape) + rng.normal(0, 0.5, shape)).astype(np.float32)
    return pred, obs


def _direct(p: np.ndarray, o: np.ndarray) -> dict[str, float]:
    p, o = p.astype(np.float64).ravel(), o.astype(np.float64).ravel()
    return {
        "pearson": np.corrcoef(p, o)[0, 1],
        "spearman": np.corrcoef(stats.rankdata(p), stats.rankdata(o))[0, 1],
        "mse": np.mean((p - o) ** 2),
        "mae": np.mean(np.abs(p - o)),
        "r2": 1 - np.sum((o - p) ** 2) / np.sum((o - o.mean()) ** 2),
    }


def test_regression_matches_direct() -> None:
    pred, obs = _pair()
    m = regression_metrics(pred, obs, track_names=["a", "b", "c"])
    per = [_direct(pred[:, t], obs[:, t]) for t in range(3)]
    for key in ("pearson", "spearman", "mse", "mae", "r2"):
        assert m[key] == pytest.approx(np.mean([d[key] for d in per]), rel=1e-6)
        for t in range(3):
            assert m["per_track"][t][key] == pytest.approx(per[t][key], rel=1e-6)
    assert m["per_track"][1]["name"] == "b"
    assert m["n"] == pred.size
    tot = [_direct(pred[:, t].sum(-1), obs[:, t].sum(-1)) for t in range(3)]
    for key in ("pearson", "spearman", "mse", "r2"):
        assert m["window_total"][key] == pytest.approx(np.mean([d[key] for d in tot]), rel=1e-5)
    assert m["window_total"]["n"] == 40 * 3


def test_constant_inputs_give_nan_without_warnings() -> None:
    pred, obs = _pair(1, (10, 2, 4))
    pred[:, 0] = 1.0  # constant prediction on track 0
    obs[:, 1] = 2.0  # constant observation on track 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = regression_metrics(pred, obs)
    assert np.isnan(m["per_track"][0]["pearson"]) and np.isnan(m["per_track"][0]["spearman"])
    assert np.isfinite(m["per_track"][0]["r2"])
    assert np.isnan(m["per_track"][1]["pearson"]) and np.isnan(m["per_track"][1]["r2"])
    assert m["per_track"][1]["mse"] == pytest.approx(np.mean((pred[:, 1] - 2.0) ** 2), rel=1e-6)
    # every track undefined -> NaN headline, still no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m2 = regression_metrics(np.ones((3, 1, 2), np.float32), np.ones((3, 1, 2), np.float32))
    assert np.isnan(m2["pearson"]) and np.isnan(m2["r2"]) and m2["mse"] == 0.0


def test_non_finite_pairs_are_dropped() -> None:
    pred, obs = _pair(2, (20, 1, 4))
    obs[3, 0, 1] = np.nan
    m = regression_metrics(pred, obs)
    ok = np.isfinite(obs[:, 0]).ravel()
    d = _direct(pred[:, 0].ravel()[ok], obs[:, 0].ravel()[ok])
    assert m["pearson"] == pytest.approx(d["pearson"], rel=1e-6)
    assert m["n"] == 79


def test_classification_matches_direct() -> None:
    rng = np.random.default_rng(3)
    labels = rng.random(500) < 0.2
    scores = rng.normal(0, 1, 500) + 1.5 * labels
    m = classification_metrics(scores.astype(np.float32), labels)
    # AUROC = Mann-Whitney U / (n_pos * n_neg)
    u = stats.mannwhitneyu(scores[labels], scores[~labels]).statistic
    assert m["auroc"] == pytest.approx(u / (labels.sum() * (~labels).sum()), rel=1e-5)
    # average precision = mean over positives of precision at their rank (no ties)
    order = np.argsort(-scores)
    hits = labels[order]
    precision = np.cumsum(hits) / np.arange(1, 501)
    assert m["auprc"] == pytest.approx(precision[hits].mean(), rel=1e-5)
    assert m["prevalence"] == m["auprc_baseline"] == pytest.approx(labels.mean())
    assert (m["n_pos"], m["n"]) == (int(labels.sum()), 500)


def test_classification_one_class() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = classification_metrics(np.arange(5.0), np.zeros(5, bool))
    assert np.isnan(m["auroc"]) and np.isnan(m["auprc"]) and m["prevalence"] == 0.0 and m["n_pos"] == 0


def test_per_group() -> None:
    pred, obs = _pair(4, (30, 2, 4))
    groups = np.array(["chrII", "chrI", "chrIII"] * 10)
    res = per_group(pred, obs, groups)
    assert list(res) == ["chrI", "chrII", "chrIII"]
    sel = groups == "chrII"
    assert res["chrII"]["pearson"] == pytest.approx(
        np.mean([_direct(pred[sel, t], obs[sel, t])["pearson"] for t in range(2)]), rel=1e-6
    )
    with pytest.raises(ValueError, match="one entry per window"):
        per_group(pred, obs, groups[:5])


def test_interval() -> None:
    rng = np.random.default_rng(5)
    v = rng.normal(0.1, 0.05, 6)
    mean, lo, hi = interval(v)
    half = stats.t.ppf(0.975, 5) * v.std(ddof=1) / np.sqrt(6)
    assert mean == pytest.approx(v.mean())
    assert (lo, hi) == pytest.approx((v.mean() - half, v.mean() + half), rel=1e-9)
    b1 = interval(v, method="bootstrap", seed=1, n_resamples=2000)
    assert b1 == interval(v, method="bootstrap", seed=1, n_resamples=2000)  # seeded
    assert b1[1] < mean < b1[2]
    # percentile bootstrap vs a direct resampling of the mean
    assert b1[1] > v.min() and b1[2] < v.max()
    assert np.isnan(interval([1.0])[1]) and np.isnan(interval([])[0])
    assert interval([2.0, 2.0, 2.0]) == (2.0, 2.0, 2.0)


def test_fast_pearson_is_the_headline_pearson():
    from seq2track.metrics import pearson, regression_metrics

    rng = np.random.default_rng(3)
    obs = rng.gamma(2.0, 1.0, size=(50, 3, 8))
    pred = obs + rng.normal(0, 1.0, size=obs.shape)
    pred[0, 1, 2] = np.nan  # a non-finite pair is dropped, as in regression_metrics
    pred[:, 2] = 1.0  # a constant track has no Pearson and is left out of the mean
    assert pearson(pred, obs) == pytest.approx(regression_metrics(pred, obs)["pearson"], rel=1e-9)
