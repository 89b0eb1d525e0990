"""Pitfall 2, leaky preprocessing: a supervised step fitted before the split.

*Supervised k-mer selection* (the classic case; Ambroise & McLachlan 2002): the k-mer ridge
baseline with many candidate features (all k-mers up to ``K_MAX``) and few windows keeps the
``N_SELECT`` k-mers most correlated with the target (scikit-learn ``SelectKBest`` with
``f_regression``), then fits a ridge on the training windows and is scored on the test
windows. Sound arm: the selection sees the training windows only. Pitfall arm: it sees the
training *and test* windows, so it picks k-mers that happen to fit the test targets.

*Target z-scoring fitted on all windows* (``prepare(fit_on="all")``), the same ridge: a
control. A global affine normaliser is inverted before scoring, and ridge is equivariant to
an affine change of its target, so this leak cannot move the metrics (difference 0 up to
rounding); it is still a leak that ``audit`` fails, because a non-affine or per-window
transform fitted the same way would move them.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from .common import AuditSpec, Comparison, Lab, PitfallResult, finish, observed, regression, to_transformed

NAME = "leaky"
TITLE = "Leaky preprocessing: selection and normalisation fitted before the split"
QUESTION = "Does fitting a supervised selection (or a normaliser) on all windows inflate test metrics?"

K_MAX = 6  # 5,460 candidate k-mer features
CONTEXT = 128
N_SELECT = 50
N_TRAIN = 100  # windows (x n_bins rows): few windows, many features -> the leak shows
N_TEST = 150
N_DRAWS = 4  # data sets drawn per seed (metrics averaged)
ALPHA = 10.0
N_RIDGE = 1500  # windows for the z-score control

A_SEL_TRAIN = "k-mer selection fitted on training windows"
A_SEL_ALL = "k-mer selection fitted on all windows"
A_Z_TRAIN = "z-score fitted on the training split"
A_Z_ALL = "z-score fitted on all windows"


def selection_experiment(
    x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray, y_te: np.ndarray, n_select: int, alpha: float, leak: bool
) -> np.ndarray:
    """Select ``n_select`` columns by F-test with y (on train, or train+test when ``leak``), fit ridge on train.

    ``x_*: float32[rows, F]``, ``y_*: float32[rows]``. Returns predictions ``float32[len(x_te)]``.
    """
    from sklearn.feature_selection import SelectKBest, f_regression
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    xs = np.vstack([x_tr, x_te]) if leak else x_tr
    ys = np.concatenate([y_tr, y_te]) if leak else y_tr
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant k-mer columns give F = NaN: they are never selected
        sel = SelectKBest(f_regression, k=min(n_select, x_tr.shape[1])).fit(xs, ys)
    cols = sel.get_support(indices=True)
    model = make_pipeline(StandardScaler(), Ridge(alpha=alpha)).fit(x_tr[:, cols], y_tr)
    return model.predict(x_te[:, cols]).astype(np.float32)


def run(lab: Lab) -> PitfallResult:
    from ..model.kmer import fit_kmer_ridge, kmer_features

    t0 = time.perf_counter()
    recs: list[dict] = []
    specs: dict[str, AuditSpec] = {}
    for seed in lab.seeds:
        s = lab.make(seed)
        ds = lab.prepare(s)
        rng = np.random.default_rng([int(s.seed), 11])
        tr_all, te_all = ds.rows("train"), ds.rows("test")
        per_arm: dict[str, list[dict]] = {A_SEL_TRAIN: [], A_SEL_ALL: []}
        for _ in range(N_DRAWS):  # several small data sets per seed, averaged: a steadier per-seed value
            tr = np.sort(rng.choice(tr_all, size=min(N_TRAIN, len(tr_all)), replace=False))
            te = np.sort(rng.choice(te_all, size=min(N_TEST, len(te_all)), replace=False))
            x_tr, x_te = (kmer_features(ds.codes(r), ds.flank, ds.resolution, K_MAX, CONTEXT) for r in (tr, te))
            y_tr = ds.targets(tr)[:, 0, :].reshape(-1)
            y_te3 = ds.targets(te)[:, :1, :]
            for leak, arm in ((False, A_SEL_TRAIN), (True, A_SEL_ALL)):
                p = selection_experiment(x_tr, y_tr, x_te, y_te3.reshape(-1), N_SELECT, ALPHA, leak)
                pred = to_transformed(p.reshape(y_te3.shape), ds)
                per_arm[arm].append(regression(pred, observed(ds, te)[:, :1, :]))
        for arm, ms in per_arm.items():
            recs.append({"seed": seed, "arm": arm, "n_draws": len(ms),
                         **{k: float(np.mean([m[k] for m in ms])) for k in ms[0]}})

        sz = lab.make(seed, changes={"normalize": "zscore"})
        for fit_on, arm in (("train", A_Z_TRAIN), ("all", A_Z_ALL)):
            dz = lab.prepare(sz, fit_on=fit_on)
            rows = dz.rows("train")
            km = fit_kmer_ridge(dz.codes(rows), dz.targets(rows), dz.flank, dz.resolution, k_max=4,
                                context=CONTEXT, alpha=ALPHA, seed=int(sz.seed), max_windows=N_RIDGE)
            test = lab.rows(dz, "test")
            pred = to_transformed(km.predict(dz.codes(test)), dz)
            recs.append({"seed": seed, "arm": arm, **regression(pred, observed(dz, test))})
        if seed == lab.seeds[0]:
            specs[A_SEL_TRAIN] = AuditSpec(s, declared={"kmer_selection": "train"})
            specs[A_SEL_ALL] = AuditSpec(s, declared={"kmer_selection": "all"})
            specs[A_Z_TRAIN] = AuditSpec(sz)
            specs[A_Z_ALL] = AuditSpec(sz, fit_on="all")

    comps = [
        Comparison("selection on all vs train windows", A_SEL_ALL, A_SEL_TRAIN, "pearson", "higher",
                   "selecting k-mers on all windows inflates the ridge's test Pearson"),
        Comparison("selection on all vs train windows (MSE)", A_SEL_ALL, A_SEL_TRAIN, "mse", "lower",
                   "selecting k-mers on all windows lowers the ridge's test MSE"),
        Comparison("z-score on all vs train windows", A_Z_ALL, A_Z_TRAIN, "pearson", "same",
                   "a global z-score fitted on all windows leaves a ridge's test Pearson unchanged (affine, inverted)",
                   tol=1e-4),
    ]
    arms = {
        A_SEL_TRAIN: f"top {N_SELECT} of all k-mers (k <= {K_MAX}, +-{CONTEXT} bp) by F-test on {N_TRAIN} training "
                     f"windows; ridge (alpha {ALPHA}) fitted on them; {N_TEST} test windows; mean of {N_DRAWS} "
                     "random draws of the windows per seed",
        A_SEL_ALL: f"the same, but the selection sees the {N_TRAIN} training and the {N_TEST} test windows",
        A_Z_TRAIN: "k-mer ridge (k <= 4) on z-scored targets, mean/sd from the training split",
        A_Z_ALL: "the same, mean/sd from all windows (prepare(fit_on='all'))",
    }
    notes = ["the ridge arms need no GPU/CNN: this pitfall runs in seconds"]
    return finish(lab, (NAME, TITLE, QUESTION), arms, recs, comps, specs, notes, t0)
