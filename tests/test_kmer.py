"""k-mer ridge baseline: exact counts against a direct string count; planted-signal recovery."""

from __future__ import annotations

import numpy as np
import pytest

from seq2track.errors import DataError
from seq2track.io.genome import decode, encode
from seq2track.model.kmer import fit_kmer_ridge, kmer_features, kmer_names, n_kmer_features


def test_kmer_names() -> None:
    names = kmer_names(3)
    assert len(names) == n_kmer_features(3) == 4 + 16 + 64
    assert names[:5] == ["A", "C", "G", "T", "AA"] and names[-1] == "TTT"
    assert len(set(names)) == len(names)


def _direct_counts(seq: str, lo: int, hi: int, kmer: str) -> int:
    """Occurrences (overlapping) of ``kmer`` starting in [lo, hi) of ``seq``; N-containing never match."""
    k = len(kmer)
    return sum(seq[p : p + k] == kmer for p in range(lo, min(hi, len(seq) - k + 1)))


@pytest.mark.parametrize("context", [0, 40, 500])
def test_features_match_direct_count(context: int) -> None:
    rng = np.random.default_rng(0)
    L, flank, res, k_max = 320, 96, 32, 3
    codes = rng.integers(0, 5, (3, L)).astype(np.uint8)  # includes N (4)
    X = kmer_features(codes, flank, res, k_max, context)
    n_bins = (L - 2 * flank) // res
    assert X.shape == (3 * n_bins, n_kmer_features(k_max)) and X.dtype == np.float32
    ctx = -(-context // res) * res  # context rounds up to whole bins
    for i in range(3):
        seq = decode(codes[i])
        for b in range(n_bins):
            lo = max(0, flank + b * res - ctx)
            hi = min(L, flank + (b + 1) * res + ctx)
            direct = [_direct_counts(seq, lo, hi, km) for km in kmer_names(k_max)]
            np.testing.assert_array_equal(X[i * n_bins + b], direct)


def test_n_kmers_are_skipped() -> None:
    codes = encode("ACGTNACGTA" * 10)[None, :]  # 100 bp, one bin of 20 bp, flank 40
    X = kmer_features(codes, 40, 20, 2, 0)
    names = kmer_names(2)
    assert X[0, names.index("TA")] == 2 and X[0, names.index("AC")] == 4
    assert X[0, names.index("AA")] == 2  # across the repeat boundary
    assert X[0, :4].sum() == 18  # 20 bp, 2 of them N
    assert X[0, 4:].sum() == 16  # 20 two-mers, 4 of them touch an N


def _planted(rng: np.random.Generator, n: int, L: int, flank: int, res: int, motif: str) -> tuple:
    codes = rng.integers(0, 4, (n, L)).astype(np.uint8)
    n_bins = (L - 2 * flank) // res
    mot = encode(motif)
    # plant the motif a random number of times near each bin
    for i in range(n):
        for b in range(n_bins):
            for _ in range(rng.integers(0, 4)):
                p = flank + b * res + rng.integers(-res, 2 * res - len(mot))
                codes[i, p : p + len(mot)] = mot
    X = kmer_features(codes, flank, res, 4, res)
    count = X[:, kmer_names(4).index(motif)].reshape(n, n_bins)
    y = (2.0 * count + rng.normal(0, 0.5, count.shape)).astype(np.float32)[:, None, :]
    return codes, np.concatenate([y, -y], axis=1)


def test_ridge_recovers_planted_kmer() -> None:
    rng = np.random.default_rng(1)
    L, flank, res = 512, 128, 32
    codes, y = _planted(rng, 600, L, flank, res, "GATA")
    model = fit_kmer_ridge(codes[:400], y[:400], flank, res, k_max=4, context=res, alpha=1.0)
    pred = model.predict(codes[400:])
    assert pred.shape == (200, 2, (L - 2 * flank) // res) and pred.dtype == np.float32
    obs = y[400:]
    for t in range(2):
        r2 = 1 - np.sum((obs[:, t] - pred[:, t]) ** 2) / np.sum((obs[:, t] - obs[:, t].mean()) ** 2)
        assert r2 > 0.8
    # the same windows with targets shuffled over all (window, bin) cells carry no signal:
    # held-out R^2 ~ 0 or below (shuffling whole windows would keep the bin-position effect:
    # edge bins collect fewer planted motifs)
    y_tr = y[:400].transpose(0, 2, 1).reshape(-1, 2)
    y_shuf = y_tr[rng.permutation(len(y_tr))].reshape(400, -1, 2).transpose(0, 2, 1)
    null = fit_kmer_ridge(codes[:400], y_shuf, flank, res, k_max=4, context=res, alpha=100.0).predict(codes[400:])
    r2_null = 1 - np.sum((obs[:, 0] - null[:, 0]) ** 2) / np.sum((obs[:, 0] - obs[:, 0].mean()) ** 2)
    assert r2_null < 0.1


def test_subsampling_is_seeded() -> None:
    rng = np.random.default_rng(2)
    codes, y = _planted(rng, 60, 256, 64, 32, "CACG")
    a = fit_kmer_ridge(codes, y, 64, 32, k_max=2, context=32, seed=3, max_windows=30)
    b = fit_kmer_ridge(codes, y, 64, 32, k_max=2, context=32, seed=3, max_windows=30)
    c = fit_kmer_ridge(codes, y, 64, 32, k_max=2, context=32, seed=4, max_windows=30)
    assert a.info["n_windows"] == 30
    np.testing.assert_array_equal(a.predict(codes), b.predict(codes))
    assert not np.array_equal(a.predict(codes), c.predict(codes))


def test_nan_targets_and_shape_errors() -> None:
    rng = np.random.default_rng(3)
    codes, y = _planted(rng, 20, 256, 64, 32, "CACG")
    y[0, 0, 0] = np.nan
    m = fit_kmer_ridge(codes, y, 64, 32, k_max=2, context=32)
    assert m.info["n_rows"] == 20 * 4 - 1
    with pytest.raises(DataError, match="bins"):
        fit_kmer_ridge(codes, y[:, :, :3], 64, 32)
    with pytest.raises(DataError, match="same windows"):
        fit_kmer_ridge(codes[:5], y, 64, 32)
    with pytest.raises(DataError, match="windows:"):
        kmer_features(codes, 60, 32)
