"""Pitfall 1, dependent examples: a random window split, and the cross-cell-type trap.

*Random split.* Windows tile a chromosome with overlapping inputs and autocorrelated signal,
so a random split puts neighbours of every test window in training. Arms (same model and
budget): **chromosome split** (sound; tested on a held-out chromosome) and **random split**
over the other chromosomes (the held-out chromosome is excluded from it), evaluated on its
own random test windows (what such a study reports) and on the held-out chromosome (what it
would get on new DNA).

The lab's small CNN underfits at its budget (training loss about equal to validation loss), so
it has memorised nothing a neighbour could leak; the **1-nearest-neighbour memoriser**
(each window gets the targets of the training window with the closest k-mer profile) is run
on the very same splits to show what a model that does memorise reports.

*Cross-cell-type trap* (Schreiber, Singh, Bilmes & Noble 2020, Genome Biology 21:45): a
model trained on condition A is tested on condition B at the *same* loci it was trained on
(A's training chromosomes) versus on held-out chromosomes; next to it the "average of the
training track" baseline, which predicts B by A's observed signal at that locus and needs no
sequence model at all.
"""

from __future__ import annotations

import time

import numpy as np

from .common import (
    AuditSpec, Comparison, Lab, PitfallResult, align, finish, observed, record, to_transformed, train_chroms,
)

NAME = "leakage"
TITLE = "Dependent examples: random splits and the cross-cell-type trap"
QUESTION = "Do overlapping windows across splits, or testing another cell type at training loci, inflate test metrics?"

A_CHROM = "chromosome split: held-out chromosome"
A_RAND = "random split: its own random test windows"
A_RAND_HELD = "random split: model on the held-out chromosome"
A_B_SAME = "A->B: B at A's training loci"
A_B_HELD = "A->B: B on held-out chromosomes"
A_BASE_SAME = "A's track as prediction: B at A's training loci"
A_BASE_HELD = "A's track as prediction: B on held-out chromosomes"
A_NN_CHROM = "1-NN memoriser, chromosome split: held-out chromosome"
A_NN_RAND = "1-NN memoriser, random split: its own random test windows"
A_NN_RAND_HELD = "1-NN memoriser, random split: on the held-out chromosome"


def window_profiles(ds, rows: np.ndarray, k_max: int = 5, chunk: int = 2000) -> np.ndarray:
    """k-mer counts (k = 1..k_max) of each window's whole input: ``float32[n, sum(4**k)]``."""
    from ..model.kmer import kmer_features

    parts = [kmer_features(ds.codes(rows[i : i + chunk]), 0, ds.input_length, k_max, 0)
             for i in range(0, len(rows), chunk)]
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)


def nn_predict(train_ds, train_rows: np.ndarray, eval_ds, eval_rows: np.ndarray) -> np.ndarray:
    """The memoriser: each eval window gets the targets of the training window with the nearest k-mer profile.

    Returns ``float32[n, T, B]`` in the training cache's model units. A random split hands it
    an overlapping neighbour (75% shared sequence at stride 512) whose target lies next door.
    """
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.preprocessing import StandardScaler

    x = window_profiles(train_ds, train_rows)
    y = train_ds.targets(train_rows)
    sc = StandardScaler().fit(x)
    knn = KNeighborsRegressor(n_neighbors=1).fit(sc.transform(x), y.reshape(len(y), -1))
    p = knn.predict(sc.transform(window_profiles(eval_ds, eval_rows)))
    return p.reshape(len(eval_rows), *y.shape[1:]).astype(np.float32)


def run(lab: Lab) -> PitfallResult:
    t0 = time.perf_counter()
    recs: list[dict] = []
    other = lab.roles.other
    specs: dict[str, AuditSpec] = {}
    for seed in lab.seeds:
        sA = lab.make(seed)  # the held-out chromosome rotates with the seed (Lab.fold)
        dsA = lab.prepare(sA)
        trA = lab.train(sA, dsA)
        test = lab.rows(dsA, "test")
        obsA = observed(dsA, test)
        recs.append(record(seed, A_CHROM, to_transformed(lab.predict(trA, dsA, test), dsA), obsA))

        excl = list(sA.windows.exclude_chroms) + list(sA.split.test)
        sR = lab.make(seed, changes={"split.strategy": "random", "windows.exclude_chroms": excl})
        dsR = lab.prepare(sR)
        trR = lab.train(sR, dsR)
        rtest = lab.rows(dsR, "test")
        recs.append(record(seed, A_RAND, to_transformed(lab.predict(trR, dsR, rtest), dsR), observed(dsR, rtest)))
        recs.append(record(seed, A_RAND_HELD, to_transformed(lab.predict(trR, dsA, test), dsR), obsA))
        for rec, tr in ((recs[-3], trA), (recs[-2], trR), (recs[-1], trR)):
            rec.update(train_loss=tr.train_loss, val_loss=tr.val_loss)
        # the same split, a model that can memorise
        nn = {A_NN_CHROM: (dsA, dsA, test), A_NN_RAND: (dsR, dsR, rtest), A_NN_RAND_HELD: (dsR, dsA, test)}
        for arm, (dtr, dev, rows) in nn.items():
            pred = to_transformed(nn_predict(dtr, dtr.rows("train"), dev, rows), dtr)
            recs.append(record(seed, arm, pred, observed(dev, rows)))
        if seed == lab.seeds[0]:
            specs[A_CHROM] = AuditSpec(sA)
            specs[A_RAND] = AuditSpec(sR)

        if other is not None:
            sB = lab.make(seed, track=other)
            dsB = lab.prepare(sB)
            same = lab.rows(dsB, "train", salt=1)
            held = lab.rows(dsB, "test")
            for rows, arm, base in ((same, A_B_SAME, A_BASE_SAME), (held, A_B_HELD, A_BASE_HELD)):
                rb, ra = align(dsB, rows, dsA)
                obsB = observed(dsB, rb)
                pred = to_transformed(lab.predict(trA, dsB, rb), dsA)
                recs.append(record(seed, arm, pred, obsB))
                recs.append(record(seed, base, observed(dsA, ra), obsB))
            if seed == lab.seeds[0]:
                tc = train_chroms(dsA)
                sB_same = lab.make(seed, track=other, changes={"split.test": tc, "split.val": list(sA.split.val)})
                specs[A_B_SAME] = AuditSpec(sA, eval_study=sB_same)
                specs[A_B_HELD] = AuditSpec(sA, eval_study=sB)

    comps = [
        Comparison("random vs chromosome split", A_RAND, A_CHROM, "pearson", "higher",
                   "a random window split reports a higher test Pearson than a chromosome split"),
        Comparison("random split: reported vs held-out", A_RAND, A_RAND_HELD, "pearson", "higher",
                   "the same random-split model scores higher on its own test windows than on a held-out chromosome"),
        Comparison("random vs chromosome split (MSE)", A_RAND, A_CHROM, "mse", "lower",
                   "a random window split reports a lower test MSE than a chromosome split"),
        Comparison("memoriser: random vs chromosome split", A_NN_RAND, A_NN_CHROM, "pearson", "higher",
                   "for a model that memorises (1-nearest neighbour), a random split reports a higher Pearson"),
        Comparison("memoriser: reported vs held-out", A_NN_RAND, A_NN_RAND_HELD, "pearson", "higher",
                   "the random-split memoriser scores higher on its own test windows than on a held-out chromosome"),
    ]
    arms = {
        A_CHROM: "trained on the training chromosomes of the study, tested on its test chromosome(s)",
        A_RAND: "random 80/10/10 window split over all but the test chromosome(s); its own test windows",
        A_RAND_HELD: "the random-split model, tested on the held-out test chromosome(s)",
        A_NN_CHROM: "1-nearest-neighbour regressor on whole-window k-mer profiles (k <= 5), chromosome split",
        A_NN_RAND: "the same memoriser fitted on the random split's training windows; its own test windows",
        A_NN_RAND_HELD: "the random-split memoriser on the held-out test chromosome(s)",
    }
    notes = []
    if other is not None:
        comps += [
            Comparison("A->B: training loci vs held-out", A_B_SAME, A_B_HELD, "pearson", "higher",
                       "a model of condition A looks better on condition B at its training loci than on held-out DNA"),
            Comparison("A->B vs A's own track at training loci", A_B_SAME, A_BASE_SAME, "pearson", "lower",
                       "at training loci, A's observed track predicts B better than the sequence model does "
                       "(Schreiber et al. 2020's average-activity baseline)"),
        ]
        arms.update({
            A_B_SAME: f"model trained on {lab.roles.primary.name}, tested on {other.name} at windows of A's training chromosomes",
            A_B_HELD: f"the same model, tested on {other.name} on the held-out test chromosome(s)",
            A_BASE_SAME: f"{lab.roles.primary.name}'s observed signal used as the prediction of {other.name} (training loci)",
            A_BASE_HELD: f"{lab.roles.primary.name}'s observed signal used as the prediction of {other.name} (held-out loci)",
        })
    else:
        notes.append("no second condition (--other): the cross-cell-type comparison was skipped")
    notes.append("held-out chromosome per seed (rotated so that no single chromosome's difficulty decides): "
                 + "; ".join(f"seed {lab.base.seed + s}: {','.join(lab.fold(s))}" for s in lab.seeds))
    return finish(lab, (NAME, TITLE, QUESTION), arms, recs, comps, specs, notes, t0)
