"""The simulator's oracle predictor against the expected tracks the simulator wrote (pyBigWig)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyBigWig
import pytest

from seq2track.data.cache import onehot
from seq2track.data.simulate import core
from seq2track.io.genome import reverse_complement as revcomp
from seq2track.data.simulate.oracle import load_truth, oracle_predictor, track_conditions
from seq2track.errors import DataError
from seq2track.io.genome import Genome

L, T, RES = 1024, 256, 32


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    res = core.simulate(tmp_path_factory.mktemp("sim") / "sim", seed=3, n_chroms=3, length=150_000)
    return res.out, load_truth(res.truth_path)


def _intergenic_windows(truth: dict, chrom: str, codes: np.ndarray, k: int) -> list[int]:
    """Starts of N-free windows that overlap no gene body (domain 0 there)."""
    genes = truth["genes"][chrom]
    out = []
    for s in range(2000, len(codes) - L - 2000, L // 2):
        if (codes[s : s + L] == 4).any() or any(g["start"] < s + L and s < g["end"] for g in genes):
            continue
        out.append(s)
    return out[:k]


def test_oracle_reproduces_the_expected_track(sim):
    out, truth = sim
    codes = Genome(out / "genome.fa").codes("chr1", 0, truth["sizes"]["chr1"])
    starts = _intergenic_windows(truth, "chr1", codes, 40)
    assert len(starts) >= 10
    f = oracle_predictor(truth, [("condA", 1.0)], L, T, RES, "arcsinh")
    y = f(onehot(np.stack([codes[s : s + L] for s in starts])))
    assert y.shape == (len(starts), 1, T // RES)
    with pyBigWig.open(str(out / "expected_condA.bw")) as bw:
        want = np.stack([np.nan_to_num(np.asarray(bw.values("chr1", s + (L - T) // 2, s + (L + T) // 2)))
                         .reshape(-1, RES).mean(axis=1) for s in starts])
    np.testing.assert_allclose(np.sinh(y[:, 0]), want, rtol=2e-3, atol=2e-3)
    assert want.std() > 0.1  # the windows are not all flat background


def test_inserted_sites_have_their_planted_sign(sim):
    _, truth = sim
    f = oracle_predictor(truth, [("condA", 1.0), ("condB", 1.0)], L, T, RES, "none")
    rng = np.random.default_rng(0)
    bg = rng.choice(4, size=(6, L), p=[0.29, 0.21, 0.21, 0.29]).astype(np.uint8)
    cons = {m["name"]: np.array(["ACGT".index(b) for b in m["consensus"]], dtype=np.uint8) for m in truth["motifs"]}

    def effect(name: str) -> np.ndarray:
        site = cons[name]
        x = bg.copy()
        a = (L - len(site)) // 2
        x[:, a : a + len(site)] = site if name != "TP53" else revcomp(site)
        return (f(onehot(x)) - f(onehot(bg))).mean(axis=(0, 2))  # [condA, condB] in reads

    ctcf, rest, gata = effect("CTCF"), effect("REST"), effect("GATA1")
    assert ctcf[0] > 10 and ctcf[1] > 10
    assert rest[0] < 0 and rest[1] < 0
    assert abs(gata[0]) < 0.2 * gata[1] and gata[1] > 1  # GATA1 acts in condB only
    assert effect("TP53")[0] > 5


def test_conditions_of_the_simulation_tracks(sim):
    out, truth = sim
    got = track_conditions(truth, [out / "condA_deep.bw", out / "condA_shallow.bw", out / "condB.bw"])
    assert got[0] == ("condA", 1.0) and got[2] == ("condB", 1.0)
    assert got[1][0] == "condA" and got[1][1] == pytest.approx(1 / 3)
    with pytest.raises(DataError, match="expected_condA.bw"):
        track_conditions(truth, [out / "expected_condA.bw"])


def test_short_flanks_and_bad_truth_are_clear_errors(sim, tmp_path):
    _, truth = sim
    with pytest.raises(DataError, match="input_length"):
        oracle_predictor(truth, [("condA", 1.0)], 512, 256, RES, "arcsinh")
    bad = tmp_path / "truth.json"
    bad.write_text('{"format": "something else"}')
    with pytest.raises(DataError, match=str(bad)):
        load_truth(bad)
