import itertools

import numpy as np
import pytest
from scipy import stats

from seq2track.interpret.marginalize import (
    centre_start,
    dinucleotide_counts,
    dinucleotide_shuffle,
    insert,
    marginalize,
    pair_starts,
    position_sweep,
    revcomp,
    shuffle_backgrounds,
    spacing_experiment,
    sweep_offsets,
)
from seq2track.data.cache import onehot
from seq2track.interpret.motifs import Motif

B = 4  # output bins of the toy models


def _motif(seq: str, name: str) -> Motif:
    counts = np.full((4, len(seq)), 0.5)
    for k, ch in enumerate(seq):
        counts["ACGT".index(ch), k] = 8.5
    return Motif.from_counts(name, name, counts)


def _scores(x: np.ndarray, motif: Motif) -> np.ndarray:
    """float[n, L-w+1]: best-strand log-odds of every site of one-hot x[n, 4, L]."""
    lo = np.log2(motif.prob / 0.25)
    win = np.lib.stride_tricks.sliding_window_view(x, motif.width, axis=2)  # [n, 4, P, w]
    fwd = np.einsum("nbpk,bk->np", win, lo)
    rc = np.einsum("nbpk,bk->np", win, lo[::-1, ::-1])
    return np.maximum(fwd, rc)


def toy_model(motif: Motif, weight: float = 1.0, half_window: int | None = None):
    """f(x) = weight * sum over sites of relu(score - 0.6 max score), optionally near the centre only."""
    thr = 0.6 * np.log2(motif.prob.max(axis=0) / 0.25).sum()

    def f(x):
        s = np.maximum(_scores(x, motif) - thr, 0.0)
        if half_window is not None:
            c = x.shape[2] // 2 - motif.width // 2
            s = s[:, max(c - half_window, 0) : c + half_window + 1]
        return np.repeat((weight * s.sum(axis=1))[:, None, None], B, axis=2).astype(np.float32)

    return f


def coop_model(a: Motif, b: Motif, max_dist: int = 50):
    """Two additive motifs plus a bonus of 5 when an A site and a B site lie within ``max_dist``."""

    def hits(x, m):
        thr = 0.6 * np.log2(m.prob.max(axis=0) / 0.25).sum()
        return (_scores(x, m) >= thr).astype(np.float64)

    def f(x):
        ha, hb = hits(x, a), hits(x, b)
        n = min(ha.shape[1], hb.shape[1])
        ha, hb = ha[:, :n], hb[:, :n]
        near = np.stack([np.convolve(r, np.ones(2 * max_dist + 1), mode="same") for r in hb]) > 0
        bonus = 5.0 * ((ha * near).sum(axis=1) > 0)
        y = ha.sum(axis=1) + hb.sum(axis=1) + bonus
        return np.repeat(y[:, None, None], B, axis=2).astype(np.float32)

    return f


def _backgrounds(n=60, L=300, seed=0):
    rng = np.random.default_rng(seed)
    return shuffle_backgrounds(rng.integers(0, 4, size=(n, L)).astype(np.uint8), rng)


# --- dinucleotide shuffle ---------------------------------------------------------------
@pytest.mark.parametrize("seed", range(5))
def test_shuffle_keeps_dinucleotide_counts_exactly(seed):
    rng = np.random.default_rng(seed)
    s = rng.choice(5, size=500, p=[0.3, 0.2, 0.2, 0.25, 0.05]).astype(np.uint8)  # N included
    t = dinucleotide_shuffle(s, rng)
    assert np.array_equal(dinucleotide_counts(t), dinucleotide_counts(s))
    assert t[0] == s[0] and t[-1] == s[-1]
    assert (t != s).mean() > 0.3  # it did shuffle
    assert np.array_equal(dinucleotide_shuffle(s, np.random.default_rng(9)), dinucleotide_shuffle(s, np.random.default_rng(9)))


def test_shuffle_is_uniform_over_sequences_with_the_same_doublets():
    seq = np.array([0, 1, 0, 2, 1, 0, 1, 2, 2, 0], dtype=np.uint8)
    c0 = dinucleotide_counts(seq)
    valid = {
        p for p in itertools.product(range(3), repeat=len(seq))
        if p[0] == seq[0] and np.array_equal(dinucleotide_counts(np.array(p, np.uint8)), c0)
    }
    rng = np.random.default_rng(1)
    draws = [tuple(dinucleotide_shuffle(seq, rng).tolist()) for _ in range(6000)]
    assert set(draws) == valid  # every draw is valid and every valid sequence is reached
    counts = np.array([draws.count(p) for p in sorted(valid)])
    assert stats.chisquare(counts).pvalue > 1e-3


def test_short_sequences_and_batches():
    rng = np.random.default_rng(0)
    assert dinucleotide_shuffle(np.array([2, 1], np.uint8), rng).tolist() == [2, 1]
    x = rng.integers(0, 4, size=(7, 50)).astype(np.uint8)
    y = shuffle_backgrounds(x, rng)
    assert y.shape == x.shape
    assert all(np.array_equal(dinucleotide_counts(a), dinucleotide_counts(b)) for a, b in zip(x, y))


# --- insertion --------------------------------------------------------------------------
def test_insert_and_revcomp():
    bg = np.zeros((2, 20), np.uint8)
    out = insert(bg, np.array([1, 2, 3], np.uint8), centre_start(20, 3))
    assert out[0].tolist()[8:12] == [0, 1, 2, 3] and bg.sum() == 0
    assert revcomp(np.array([0, 0, 1, 2, 4], np.uint8)).tolist() == [4, 1, 2, 3, 3]
    with pytest.raises(ValueError, match="does not fit"):
        centre_start(20, 3, offset=9)
    assert pair_starts(100, 5, 7, 20) == (38, 57)


# --- marginalisation --------------------------------------------------------------------
def test_marginalize_recovers_planted_effects_and_null_control():
    m = _motif("TTACCCGGA", "M1")
    bg = _backgrounds()
    for weight in (1.0, -1.0):
        effects = {e.kind: e for e in marginalize(toy_model(m, weight), bg, m, np.random.default_rng(0))}
        cons, samp, shuf, spec = (effects[k] for k in ("consensus", "sampled", "shuffled", "specific"))
        assert cons.effect.shape == (1,) and cons.n == len(bg)
        if weight > 0:
            assert cons.low[0] > 0 and samp.low[0] > 0
        else:
            assert cons.high[0] < 0 and samp.high[0] < 0
        assert abs(samp.effect[0]) < abs(cons.effect[0])  # sampled sites score lower on average
        assert np.allclose(cons.fwd, cons.rc, atol=1e-5)  # the toy model scans both strands
        assert shuf.low[0] <= 0 <= shuf.high[0]
        assert abs(shuf.effect[0]) < 0.1 * abs(cons.effect[0])
        assert np.allclose(spec.effect, cons.effect - shuf.effect)


def test_marginalize_reports_effects_in_track_units():
    m = _motif("TTACCCGGA", "M1")
    bg = _backgrounds(n=40, L=200)
    f = toy_model(m, 0.5)
    plain = {e.kind: e for e in marginalize(f, bg, m, np.random.default_rng(0))}
    assert np.isnan(plain["consensus"].units).all()  # no to_units: no track-unit effect
    same = {e.kind: e for e in marginalize(f, bg, m, np.random.default_rng(0), to_units=lambda y: y)}
    assert np.allclose(same["consensus"].units, same["consensus"].effect)
    assert np.allclose(same["shuffled"].units_low, same["shuffled"].low)
    sinh = {e.kind: e for e in marginalize(f, bg, m, np.random.default_rng(0), to_units=np.sinh)}
    c = sinh["consensus"]
    assert np.array_equal(c.effect, plain["consensus"].effect)  # model-scale numbers are unchanged
    # by hand: sinh of the (bin-constant) prediction with the consensus in either orientation minus without
    start = centre_start(bg.shape[1], m.width)
    y0 = np.sinh(f(onehot(bg))[:, 0, 0].astype(np.float64))
    yf = np.sinh(f(onehot(insert(bg, m.consensus_codes, start)))[:, 0, 0].astype(np.float64))
    yr = np.sinh(f(onehot(insert(bg, revcomp(m.consensus_codes), start)))[:, 0, 0].astype(np.float64))
    assert np.allclose(c.units[0], ((yf - y0 + yr - y0) / 2).mean(), rtol=1e-5)
    assert c.units_low[0] < c.units[0] < c.units_high[0]
    assert np.allclose(sinh["specific"].units, c.units - sinh["shuffled"].units)


def test_marginalize_is_seeded():
    m = _motif("GATTACA", "M2")
    bg = _backgrounds(n=30, L=120)
    a = marginalize(toy_model(m), bg, m, np.random.default_rng(3))
    b = marginalize(toy_model(m), bg, m, np.random.default_rng(3))
    assert all(np.array_equal(x.effect, y.effect) for x, y in zip(a, b))


def test_position_sweep_follows_the_receptive_field():
    m = _motif("TTACCCGGA", "M1")
    bg = _backgrounds(n=30, L=400)
    offs = sweep_offsets(400, m.width, step=40)
    assert 0 in offs and offs.min() < -150 and offs.max() > 150
    sw = position_sweep(toy_model(m, half_window=60), bg, m, offs)
    near = np.abs(offs) <= 40
    far = np.abs(offs) >= 120
    assert np.all(sw.low[near, 0] > 0)
    assert np.all(np.abs(sw.effect[far, 0]) < 0.1 * sw.effect[near, 0].min())
    assert sw.effect.shape == (len(offs), 1)


def test_spacing_experiment_finds_the_cooperative_distance():
    a, b = _motif("TTACCCGG", "A"), _motif("GATAAGCA", "B")
    bg = _backgrounds(n=30, L=400)
    sp = np.array([10, 30, 45, 70, 120])
    res = spacing_experiment(coop_model(a, b, max_dist=50), bg, a, b, sp)
    close = sp <= 50
    assert np.all(res.interaction_low[close, 0] > 3.0)
    assert np.all(np.abs(res.interaction[~close, 0]) < 0.5)
    assert np.all(res.joint[close, 0] > res.joint[~close, 0].max())
    assert np.all(res.single_a[:, 0] > 0.5) and np.all(res.single_b[:, 0] > 0.5)
    with pytest.raises(ValueError, match="overlap"):
        spacing_experiment(coop_model(a, b), bg, a, b, np.array([3]))


# --- the edge: a run directory (tiny real cache, random-weight model checkpoint) -------
def make_tiny_run(tiny, truth: bool = True):
    """A run directory like `seq2track run` writes: RUN/study.yaml, RUN/data (prepared), RUN/model/best.ckpt.

    The model is the study's architecture with seeded random weights (no training): the
    edge code is exercised on real files, the numbers are not meaningful.
    """
    import json

    import torch

    from seq2track.config import load_study
    from seq2track.data.prepare import prepare
    from seq2track.model.build import make_model

    text = tiny["study"].read_text() + "model: {channels: 8, n_dilated: 2, first_kernel: 9}\ntracking: none\n"
    tiny["study"].write_text(text)
    study = load_study(tiny["study"])
    run = tiny["dir"] / "run"
    (run / "model").mkdir(parents=True)
    (run / "study.yaml").write_text(study.to_yaml())
    prep = prepare(study, run / "data")
    model = make_model(study, len(prep.track_names))
    torch.save({"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()}}, run / "model" / "best.ckpt")
    if truth:
        t = {
            "format": "seq2track.simulate/1",
            "motifs": [{"name": "CTCF", "jaspar_id": "MA0139.1", "effect": {"sig": 5.0}},
                       {"name": "REST", "jaspar_id": "MA0138.2", "effect": {"sig": -1.0}}],
            "interacting_pair": {"motifs": ["CTCF", "REST"]},
            "instances": [{"chrom": "chr3", "start": 4500, "end": 4519, "motif": "CTCF"}],
        }
        (tiny["dir"] / "truth.json").write_text(json.dumps(t))
    return run


def test_interpret_command_on_a_run_directory(tiny):
    import pandas as pd
    from typer.testing import CliRunner

    from seq2track.cli import app

    run = make_tiny_run(tiny)
    args = ["interpret", str(run), "--n", "8", "--n-sweep", "3", "--n-spacing", "3",
            "--sweep-step", "384", "--spacing-max", "40", "--spacing-step", "20"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    tab = pd.read_csv(run / "interpret" / "motifs.tsv", sep="\t")
    assert list(tab["motif"]) == ["MA0139.1"] * 4 + ["MA0138.2"] * 4  # defaults: truth.json's motifs
    assert list(tab["kind"][:4]) == ["consensus", "sampled", "shuffled", "specific"]
    spec = tab[tab["kind"] == "specific"]["effect"].to_numpy()
    cons_minus_shuf = (tab[tab["kind"] == "consensus"]["effect"].to_numpy()
                       - tab[tab["kind"] == "shuffled"]["effect"].to_numpy())
    assert np.allclose(spec, cons_minus_shuf, atol=1e-5)
    assert (tab["ci_low"] <= tab["effect"]).all() and (tab["effect"] <= tab["ci_high"]).all()
    assert tab["effect_units"].notna().all()  # back-transformed through the run's transform
    assert (tab["units_ci_low"] <= tab["effect_units"]).all() and (tab["effect_units"] <= tab["units_ci_high"]).all()
    assert list(tab["planted_effect"][::4]) == [5.0, -1.0] and (tab["n"] == 8).all()
    sp = pd.read_csv(run / "interpret" / "spacing.tsv", sep="\t")
    assert sp["spacing"].tolist() == [20, 40]  # from the smallest non-overlapping distance
    sw = pd.read_csv(run / "interpret" / "sweep.tsv", sep="\t")
    assert 0 in set(sw["offset"]) and len(sw) == 2 * len(set(sw["offset"]))
    for name in ("sweep.png", "spacing.png", "motifs.json"):
        assert (run / "interpret" / name).stat().st_size > 0
    page = (run / "report.html").read_text()
    assert "Motif marginalisation" in page and "MA0138.2 REST" in page and "data:image/png;base64" in page
    first = (run / "interpret" / "motifs.tsv").read_bytes()
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0 and (run / "interpret" / "motifs.tsv").read_bytes() == first  # seeded
    bad = CliRunner().invoke(app, ["interpret", str(run), "--motif", "MA9999.1"])
    assert bad.exit_code != 0 and "MA9999.1" in str(bad.exception)


def test_simulated_runs_get_the_true_effect_of_the_same_insertions(tmp_path):
    """On simulated data motifs.tsv carries the simulator's exact effect of the very same
    insertions; with the simulator itself standing in for the model, the two columns agree."""
    from types import SimpleNamespace

    import pandas as pd

    from seq2track.config import load_study, override
    from seq2track.data.prepare import prepare
    from seq2track.data.simulate import core
    from seq2track.data.simulate.oracle import load_truth, oracle_predictor
    from seq2track.interpret.marginalize import run_marginalize
    from seq2track.interpret.motifs import jaspar_motif

    sim = core.simulate(tmp_path / "sim", seed=3, n_chroms=3, length=150_000)
    study = override(load_study(sim.study_path), {"windows.input_length": 1024, "windows.stride": 1024,
                                                   "tracking": "none"})
    prep = prepare(study, tmp_path / "run" / "data")
    truth = load_truth(sim.truth_path)
    perfect = oracle_predictor(truth, [("condA", 1.0)], 1024, 256, 32, prep.transform, prep.norm_state)
    run = SimpleNamespace(dir=tmp_path / "run", out=tmp_path / "run" / "interpret", prepared=prep, study=study,
                          predictor=lambda rc_average=True: perfect, to_units=lambda: prep.to_track_units,
                          truth=lambda: truth)
    ctcf, rest = jaspar_motif("MA0139.1"), jaspar_motif("MA0138.2")
    run_marginalize(run, [ctcf, rest], n=12, n_sweep=2, sweep_step=256, n_spacing=4, pair=(ctcf, rest),
                    spacings=np.array([30, 200]))
    tab = pd.read_csv(run.out / "motifs.tsv", sep="\t").set_index(["name", "kind"])
    np.testing.assert_allclose(tab["effect"], tab["truth_effect"], rtol=1e-5, atol=1e-6)
    assert tab.loc[("CTCF", "consensus"), "truth_ci_low"] > 0.5  # +90 reads planted
    assert tab.loc[("REST", "consensus"), "truth_ci_high"] < 0  # the repressor lowers the background
    sp = pd.read_csv(run.out / "spacing.tsv", sep="\t")
    np.testing.assert_allclose(sp["interaction"], sp["truth_interaction"], rtol=1e-5, atol=1e-6)
