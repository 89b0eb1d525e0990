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

from .common import AuditSpec, Comparison, Lab, PitfallResult, finish, record, train_pair

NAME = "shift"
TITLE = "Distributional differences: another condition at test time"
QUESTION = "How much worse is a model of condition A on condition B than a model trained on B?"

A_AA = "A->A (within condition)"
A_AB = "A->B (across conditions)"
A_BB = "B->B (within condition)"


def run(lab: Lab) -> PitfallResult:
    t0 = time.perf_counter()
    other = lab.need("other")
    recs: list[dict] = []
    specs: dict[str, AuditSpec] = {}
    for seed in lab.seeds:
        pr = train_pair(lab, seed, other, strict=True)
        recs += [
            record(seed, A_AA, pr.pA, pr.obsA),
            record(seed, A_AB, pr.pA, pr.obsB),
            record(seed, A_BB, pr.pB, pr.obsB),
        ]
        if seed == lab.seeds[0]:
            specs = {A_AA: AuditSpec(pr.sA), A_AB: AuditSpec(pr.sA, eval_study=pr.sB), A_BB: AuditSpec(pr.sB)}
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
    return finish(lab, (NAME, TITLE, QUESTION), arms, recs, comps, specs, [], t0)
