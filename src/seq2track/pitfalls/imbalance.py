"""Pitfall 3, unbalanced classes: thresholded windows, auPRC's baseline, weighted BCE.

Peaks as classification: a bin is positive when its transformed signal reaches the 90th
percentile of the training bins (``train.loss: bce``, ``train.bce_threshold``). Arms, same
model and budget, all scored on *all* test windows:

* **all windows, unweighted BCE** (sound);
* **thresholded windows**: trained (and, as such studies report, tested) only on windows
  whose mean target reaches the training median (the book's Tutorial 1 filter,
  ``filter: {threshold, keep_below_fraction: 0}``); scored on all test windows and on the
  thresholded test windows;
* **weighted BCE**: ``pos_weight = n_negative / n_positive`` of the training bins.

auROC is reported next to auPRC and auPRC's no-skill baseline (the prevalence), and the
Brier score measures calibration.
"""

from __future__ import annotations

import time

import numpy as np

from .common import AuditSpec, Comparison, Lab, PitfallResult, classification, finish

NAME = "imbalance"
TITLE = "Unbalanced classes: thresholded windows, prevalence and weighted BCE"
QUESTION = "What do thresholding windows and weighting the loss do to auROC, auPRC and calibration on the genome?"

POS_QUANTILE = 0.9
A_ALL = "all windows, unweighted BCE"
A_THR = "thresholded windows: scored on all test windows"
A_THR_OWN = "thresholded windows: scored on thresholded test windows"
A_W = "all windows, weighted BCE"


def thresholds(ds) -> tuple[float, float, float]:
    """``(bin threshold, window-mean threshold, n_neg / n_pos)`` from the training split (model units)."""
    y = ds.targets(ds.rows("train")).astype(np.float64)
    thr = float(np.quantile(y, POS_QUANTILE))
    pos = float((y >= thr).mean())
    wthr = float(np.median(y.mean(axis=(1, 2))))
    return thr, wthr, (1 - pos) / max(pos, 1e-9)


def run(lab: Lab) -> PitfallResult:
    t0 = time.perf_counter()
    recs: list[dict] = []
    specs: dict[str, AuditSpec] = {}
    ds0 = lab.prepare(lab.make(lab.seeds[0]))
    thr, wthr, pw = thresholds(ds0)
    if ds0.norm_state.get("kind", "none") != "none":
        # the filter acts on transformed (not normalised) window means
        from ..data import transforms

        wthr = float(transforms.invert(np.full((1, 1, 1), wthr, np.float32), ds0.norm_state)[0, 0, 0])
    bce = {"train.loss": "bce", "train.bce_threshold": thr, "train.pos_weight": None}
    for seed in lab.seeds:
        sS = lab.make(seed, changes=bce)
        sF = lab.make(seed, changes={**bce, "filter.threshold": wthr, "filter.keep_below_fraction": 0.0})
        sW = lab.make(seed, changes={**bce, "train.pos_weight": pw})
        dsS, dsF, dsW = lab.prepare(sS), lab.prepare(sF), lab.prepare(sW)
        test = lab.rows(dsS, "test")
        labels = dsS.targets(test) >= thr
        for arm, st, d in ((A_ALL, sS, dsS), (A_THR, sF, dsF), (A_W, sW, dsW)):
            tr = lab.train(st, d)
            prob = lab.predict(tr, dsS, test)
            recs.append({"seed": seed, "arm": arm, **classification(prob, labels)})
            if arm == A_THR:
                own = lab.rows(dsF, "test")
                recs.append({"seed": seed, "arm": A_THR_OWN,
                             **classification(lab.predict(tr, dsF, own), dsF.targets(own) >= thr)})
        if seed == lab.seeds[0]:
            specs = {A_ALL: AuditSpec(sS), A_THR: AuditSpec(sF), A_W: AuditSpec(sW)}
    comps = [
        Comparison("thresholded vs all windows: calibration", A_THR, A_ALL, "brier", "higher",
                   "a model trained on thresholded windows is miscalibrated on the genome (higher Brier score)"),
        Comparison("thresholded vs all windows: ranking", A_THR, A_ALL, "auprc", "lower",
                   "a model trained on thresholded windows ranks the genome's bins worse (lower auPRC)"),
        Comparison("thresholded test set vs all windows", A_THR_OWN, A_THR, "auprc_baseline", "higher",
                   "a thresholded test set raises the prevalence, so auPRC's no-skill baseline moves with it"),
        Comparison("thresholded test set vs all windows: auROC", A_THR_OWN, A_THR, "auroc", "lower",
                   "removing low-signal windows removes easy negatives, so auROC drops on a thresholded test set"),
        Comparison("weighted vs unweighted BCE: calibration", A_W, A_ALL, "brier", "higher",
                   "weighted BCE overstates probabilities (higher Brier score)"),
        Comparison("weighted vs unweighted BCE: ranking", A_W, A_ALL, "auroc", "same",
                   "weighted BCE does not change ranking (auROC) much", tol=0.01),
    ]
    arms = {
        A_ALL: f"BCE on all windows, positives = bins >= q{POS_QUANTILE:g} of training bins ({thr:.3g})",
        A_THR: f"trained on windows with mean target >= {wthr:.3g} only (filter, keep_below_fraction 0); "
               "scored on all test windows",
        A_THR_OWN: "the thresholded model, scored on the thresholded test windows (as such a study reports)",
        A_W: f"BCE with pos_weight = n_neg/n_pos = {pw:.3g}, all windows",
    }
    notes = [f"positive threshold {thr:.4g} (q{POS_QUANTILE:g} of training bins), window filter {wthr:.4g} "
             "(median training window mean)"]
    return finish(lab, (NAME, TITLE, QUESTION), arms, recs, comps, specs, notes, t0)
