"""Pitfall 5, distributional differences: train on condition A, test on condition B.

On the simulator, condition B switches motifs off (FOXA1, the SOX2/POU5F1 pair) and on
(GATA1) and marks 70% of the gene bodies: the sequence-to-signal map itself changes. Arms,
same model and budget, all on the held-out test chromosome(s):

* **A->A** and **B->B** (sound: within condition);
* **A->B** (pitfall: a model of A applied to B).

A->B is compared with B->B on the same test windows and targets, so the only difference is
the training condition.
"""

from __future__ import annotations

import time

from .common import AuditSpec, Comparison, Lab, PitfallResult, align, audit_arms, observed, regression, summarise, to_transformed

NAME = "shift"
TITLE = "Distributional differences: another condition at test time"
QUESTION = "How much worse is a model of condition A on condition B than a model trained on B?"

A_AA = "A->A (within condition)"
A_AB = "A->B (across conditions)"
A_BB = "B->B (within condition)"


def run(lab: Lab) -> PitfallResult:
    t0 = time.perf_counter()
    other = lab.roles.other
    if other is None:
        raise ValueError("shift pitfall needs a second condition (--other)")
    recs: list[dict] = []
    specs: dict[str, AuditSpec] = {}
    for seed in lab.seeds:
        sA, sB = lab.make(seed), lab.make(seed, track=other)
        dsA, dsB = lab.prepare(sA), lab.prepare(sB)
        trA, trB = lab.train(sA, dsA), lab.train(sB, dsB)
        rA, rB = align(dsA, lab.rows(dsA, "test"), dsB, strict=True)
        obsA, obsB = observed(dsA, rA), observed(dsB, rB)
        pA = to_transformed(lab.predict(trA, dsA, rA), dsA)
        pB = to_transformed(lab.predict(trB, dsB, rB), dsB)
        recs += [
            {"seed": seed, "arm": A_AA, **regression(pA, obsA)},
            {"seed": seed, "arm": A_AB, **regression(pA, obsB)},
            {"seed": seed, "arm": A_BB, **regression(pB, obsB)},
        ]
        if seed == lab.seeds[0]:
            specs = {A_AA: AuditSpec(sA), A_AB: AuditSpec(sA, eval_study=sB), A_BB: AuditSpec(sB)}
    comps = [
        Comparison("A->B vs B->B: Pearson", A_AB, A_BB, "pearson", "lower",
                   "a model of condition A predicts condition B worse than a model trained on B"),
        Comparison("A->B vs B->B: MSE", A_AB, A_BB, "mse", "higher",
                   "a model of condition A has a higher MSE on condition B than a model trained on B"),
        Comparison("A->B vs A->A: Pearson", A_AB, A_AA, "pearson", "lower",
                   "a model of A scores lower on B than on A itself (same test loci)"),
    ]
    arms = {
        A_AA: f"trained and tested on {lab.roles.primary.name}",
        A_AB: f"trained on {lab.roles.primary.name}, tested on {other.name}",
        A_BB: f"trained and tested on {other.name}",
    }
    res = PitfallResult(NAME, TITLE, QUESTION, arms, recs, [summarise(recs, c) for c in comps],
                        audit_arms(lab, specs), [], lab.settings())
    res.seconds = time.perf_counter() - t0
    return res
