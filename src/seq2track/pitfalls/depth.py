"""Pitfall 4, confounding by sequencing depth: train on a deep track, test on a shallow one.

The same assay at two depths (the simulator's ``condA_deep`` / ``condA_shallow``, thinned
from the same fragments; or MNase G2 vs M on yeast chrII, 2.06x apart). Arms, same model and
budget, all tested on the held-out test windows:

* **deep->deep**, **shallow->shallow** (sound: training and test depth match);
* **deep->shallow**, **shallow->deep** (pitfall: MSE is biased by the depth ratio while the
  correlation, which ignores scale, survives);
* fixes of deep->shallow, each fitted on training data only:
  **depth-ratio scaling** (prediction in coverage units times the ratio of the two tracks'
  total signal on the training chromosomes), **mean_scale** (``normalize: mean_scale`` fitted
  on each track's training split; the prediction is mapped to the shallow track's scale by
  the shallow track's own training mean), and **downsampling** (the deep fragments thinned to
  the depth ratio with ``pileup --fraction``, seeded, and the model retrained on that).
"""

from __future__ import annotations

import time

import numpy as np

from .common import AuditSpec, Comparison, Lab, PitfallResult, align, finish, record, to_transformed, train_pair
from .roles import role_track

NAME = "depth"
TITLE = "Confounding by sequencing depth"
QUESTION = "Does a depth difference between training and test tracks bias the metrics, and do depth corrections fix it?"

A_DD = "deep->deep"
A_SS = "shallow->shallow"
A_DS = "deep->shallow"
A_SD = "shallow->deep"
A_FIX_RATIO = "deep->shallow, depth-ratio scaling"
A_FIX_MS = "deep->shallow, mean_scale"
A_FIX_DOWN = "deep->shallow, downsampled deep fragments"


def depth_ratio(deep_ds, shallow_ds) -> float:
    """Total raw signal of the shallow over the deep track on the training split (same windows)."""
    d = float(np.sum(deep_ds.meta["stats"]["splits"]["train"]["depth"]))
    s = float(np.sum(shallow_ds.meta["stats"]["splits"]["train"]["depth"]))
    return s / d if d > 0 else float("nan")


def rescale(pred_t: np.ndarray, ratio: float, transform: str) -> np.ndarray:
    """Transformed-unit prediction -> coverage units, times ``ratio``, -> transformed units."""
    from ..data import transforms

    return transforms.forward(transforms.inverse(pred_t, transform) * np.float32(ratio), transform)


def run(lab: Lab) -> PitfallResult:
    from ..io.pileup import pileup

    t0 = time.perf_counter()
    sh = lab.need("shallow")
    recs: list[dict] = []
    specs: dict[str, AuditSpec] = {}
    notes: list[str] = []
    for seed in lab.seeds:
        pr = train_pair(lab, seed, sh)
        sD, sS, dsD, dsS, rD, obsS = pr.sA, pr.sB, pr.dsA, pr.dsB, pr.rA, pr.obsB
        recs += [
            record(seed, A_DD, pr.pA, pr.obsA),
            record(seed, A_SS, pr.pB, pr.obsB),
            record(seed, A_DS, pr.pA, pr.obsB),  # same windows, same input: same prediction
            record(seed, A_SD, pr.pB, pr.obsA),
        ]
        ratio = depth_ratio(dsD, dsS)
        recs.append(record(seed, A_FIX_RATIO, rescale(pr.pA, ratio, dsD.transform), obsS, depth_ratio=ratio))
        ms = {"normalize": "mean_scale"}
        sDm, sSm = lab.make(seed, changes=ms), lab.make(seed, track=sh, changes=ms)
        dsDm, dsSm = lab.prepare(sDm), lab.prepare(sSm)
        trDm = lab.train(sDm, dsDm)
        _, rDm = align(dsD, rD, dsDm, strict=True)
        recs.append(record(seed, A_FIX_MS, to_transformed(lab.predict(trDm, dsDm, rDm), dsDm, eval_ds=dsSm), obsS))
        if lab.roles.fragments is not None and 0 < ratio < 1:
            bw = lab.work / "data" / f"{lab.roles.primary.name}_down_{ratio:.4f}_seed{sD.seed}.bw"
            if not bw.exists():
                pileup(lab.roles.fragments, sD.genome, bw, fraction=ratio, seed=int(sD.seed))
            down = role_track(f"{lab.roles.primary.name}_down", bw, lab.roles.primary)
            sDown = lab.make(seed, track=down)
            dsDown = lab.prepare(sDown)
            trDown = lab.train(sDown, dsDown)
            _, rDd = align(dsD, rD, dsDown, strict=True)
            recs.append(record(seed, A_FIX_DOWN, to_transformed(lab.predict(trDown, dsDown, rDd), dsDown), obsS,
                               fraction=ratio))
            if seed == lab.seeds[0]:
                specs[A_FIX_DOWN] = AuditSpec(sDown, eval_study=sS)
        elif seed == lab.seeds[0]:
            notes.append("no fragment file (--fragments) or the shallow track is not shallower: "
                         "the downsampling fix was skipped")
        if seed == lab.seeds[0]:
            specs[A_DD] = AuditSpec(sD)
            specs[A_DS] = AuditSpec(sD, eval_study=sS)
            specs[A_SD] = AuditSpec(sS, eval_study=sD)
            specs[A_FIX_MS] = AuditSpec(sDm, eval_study=sSm)
            notes.append(f"shallow/deep total signal on the training chromosomes: {ratio:.3f}")
    comps = [
        Comparison("deep->shallow vs shallow->shallow: MSE", A_DS, A_SS, "mse", "higher",
                   "a model trained on the deep track has a biased (higher) MSE on the shallow track"),
        Comparison("deep->shallow vs shallow->shallow: Pearson", A_DS, A_SS, "pearson", "not lower",
                   "the correlation survives the depth difference"),
        Comparison("shallow->deep vs deep->deep: MSE", A_SD, A_DD, "mse", "higher",
                   "a model trained on the shallow track has a biased (higher) MSE on the deep track"),
        Comparison("unfixed vs depth-ratio scaling: MSE", A_DS, A_FIX_RATIO, "mse", "higher",
                   "scaling the prediction by the depth ratio (fitted on training chromosomes) removes most of the bias"),
        Comparison("unfixed vs mean_scale: MSE", A_DS, A_FIX_MS, "mse", "higher",
                   "normalize: mean_scale (each track's training mean) removes most of the bias"),
    ]
    arms = {
        A_DD: f"trained and tested on {lab.roles.primary.name}",
        A_SS: f"trained and tested on {sh.name}",
        A_DS: f"trained on {lab.roles.primary.name}, tested on {sh.name}",
        A_SD: f"trained on {sh.name}, tested on {lab.roles.primary.name}",
        A_FIX_RATIO: "deep model; prediction x (shallow / deep total signal on the training chromosomes)",
        A_FIX_MS: "deep model trained with normalize: mean_scale; prediction rescaled by the shallow track's training mean",
    }
    if any(r["arm"] == A_FIX_DOWN for r in recs):
        comps.append(Comparison("unfixed vs downsampled deep: MSE", A_DS, A_FIX_DOWN, "mse", "higher",
                                "training on deep fragments downsampled to the shallow depth removes the bias"))
        arms[A_FIX_DOWN] = "deep fragments thinned to the depth ratio (pileup --fraction, seeded), model retrained"
    return finish(lab, (NAME, TITLE, QUESTION), arms, recs, comps, specs, notes, t0)
