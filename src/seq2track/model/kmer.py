"""The non-neural baseline: ridge regression on k-mer counts around each bin (``arch: kmer_ridge``).

Each target bin is described by the counts of every k-mer (k = 1..k_max) that starts within
``context`` bp of the bin (the bin itself plus ``ceil(context / resolution)`` whole bins each
side, clipped to the window). One scikit-learn ``Ridge`` (after ``StandardScaler``) is shared
by all bins and predicts every track at once.

Counting is vectorised: k-mer ids at every position, one ``np.bincount`` per chunk of
windows gives counts per ``resolution``-bp block, a cumulative sum over blocks gives each
bin's context counts by two lookups. A k-mer containing N (code 4) is skipped.

Arrays: ``codes: uint8[n, L]`` (A0 C1 G2 T3 N4, ``seq2track.io.genome.encode``), the target
covers the centred ``L - 2 * flank`` bp in ``n_bins`` bins; ``y: float32[n, T, n_bins]``.
Features are ``float32[n * n_bins, sum(4**k)]`` (340 columns for k_max 4), rows window-major.
Memory is ``n * n_bins * n_features * 4`` bytes: k_max 6 (5,460 columns) is heavy.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DataError

_CHUNK_CELLS = 250_000  # bincount cells per chunk: ~2 MB of int64 stays in cache (4x faster than 160 MB)


def n_kmer_features(k_max: int) -> int:
    """Number of feature columns: ``sum(4**k for k in 1..k_max)``."""
    return sum(4**k for k in range(1, k_max + 1))


def kmer_names(k_max: int) -> list[str]:
    """Column names of ``kmer_features`` (``A, C, G, T, AA, AC, ...``)."""
    names: list[str] = []
    for k in range(1, k_max + 1):
        for i in range(4**k):
            names.append("".join("ACGT"[(i // 4 ** (k - 1 - j)) % 4] for j in range(k)))
    return names


def _geometry(L: int, flank: int, resolution: int, context: int) -> tuple[int, int, int, int, int]:
    """(n_bins, flank_blocks, ctx_blocks, blk_lo, blk_hi) of a window, in resolution-sized blocks."""
    target = L - 2 * flank
    if flank < 0 or resolution <= 0 or target <= 0 or target % resolution or flank % resolution:
        raise DataError(
            f"k-mer baseline: window length {L} with flank {flank} and resolution {resolution} does not give a "
            "centred target of whole bins; check `windows:` in the study"
        )
    n_bins = target // resolution
    fb = flank // resolution
    cb = math.ceil(max(context, 0) / resolution)
    total = L // resolution
    return n_bins, fb, cb, max(0, fb - cb), min(total, fb + n_bins + cb)


def kmer_features(
    codes: np.ndarray, flank: int, resolution: int, k_max: int = 4, context: int = 256
) -> np.ndarray:
    """k-mer counts around each target bin: ``codes: uint8[n, L] -> float32[n * n_bins, n_features]``.

    Row ``i * n_bins + b`` is bin ``b`` of window ``i``; columns follow ``kmer_names(k_max)``.
    """
    codes = np.asarray(codes)
    if codes.ndim != 2:
        raise DataError(f"k-mer baseline: codes must be uint8[n_windows, length], got shape {codes.shape}")
    if k_max < 1:
        raise DataError(f"k-mer baseline: k_max must be >= 1 (got {k_max}); fix baseline.k_max")
    n, L = codes.shape
    n_bins, fb, cb, blk_lo, blk_hi = _geometry(L, flank, resolution, context)
    nblk = blk_hi - blk_lo
    n_feat = n_kmer_features(k_max)
    offsets = np.cumsum([0] + [4**k for k in range(1, k_max)])
    # bins' context as [lo, hi) block indices relative to blk_lo
    b = np.arange(n_bins)
    lo = np.clip(fb + b - cb, blk_lo, blk_hi) - blk_lo
    hi = np.clip(fb + b + 1 + cb, blk_lo, blk_hi) - blk_lo
    # positions that can start a k-mer counted in [blk_lo, blk_hi) blocks
    p0, p1 = blk_lo * resolution, blk_hi * resolution

    out = np.empty((n * n_bins, n_feat), dtype=np.float32)
    chunk = max(1, _CHUNK_CELLS // (nblk * n_feat))
    for s in range(0, n, chunk):
        c = codes[s : s + chunk].astype(np.int64)
        m = c.shape[0]
        is_n = c > 3
        c = np.where(is_n, 0, c)
        n_cum = np.concatenate([np.zeros((m, 1), np.int64), np.cumsum(is_n, axis=1)], axis=1)
        idx_parts = []
        for k in range(1, k_max + 1):
            end = min(p1, L - k + 1)  # k-mers start in [p0, end)
            if end <= p0:
                continue
            ids = np.zeros((m, end - p0), dtype=np.int64)
            for j in range(k):
                ids = ids * 4 + c[:, p0 + j : end + j]
            has_n = (n_cum[:, p0 + k : end + k] - n_cum[:, p0:end]) > 0
            blk = (np.arange(p0, end) // resolution - blk_lo)[None, :]
            flat = ((np.arange(m)[:, None] * nblk + blk) * n_feat + offsets[k - 1] + ids)[~has_n]
            idx_parts.append(flat)
        counts = np.bincount(np.concatenate(idx_parts), minlength=m * nblk * n_feat).reshape(m, nblk, n_feat)
        cum = np.zeros((m, nblk + 1, n_feat), dtype=np.int64)
        np.cumsum(counts, axis=1, out=cum[:, 1:])
        feats = cum[:, hi] - cum[:, lo]  # [m, n_bins, n_feat]
        out[s * n_bins : (s + m) * n_bins] = feats.reshape(m * n_bins, n_feat)
    return out


@dataclass
class KmerRidge:
    """A fitted k-mer ridge baseline. ``predict(codes: uint8[n, L]) -> float32[n, T, n_bins]``."""

    pipeline: Any  # sklearn Pipeline(StandardScaler, Ridge)
    flank: int
    resolution: int
    k_max: int
    context: int
    n_tracks: int
    n_bins: int
    info: dict[str, Any] = field(default_factory=dict)

    def predict(self, codes: np.ndarray, batch_windows: int = 4096) -> np.ndarray:
        codes = np.asarray(codes)
        n = codes.shape[0]
        out = np.empty((n, self.n_tracks, self.n_bins), dtype=np.float32)
        for s in range(0, n, batch_windows):
            c = codes[s : s + batch_windows]
            X = kmer_features(c, self.flank, self.resolution, self.k_max, self.context)
            if X.shape[0] != c.shape[0] * self.n_bins:
                raise DataError(
                    f"k-mer baseline was fitted on {self.n_bins} bins per window; these windows give "
                    f"{X.shape[0] // max(c.shape[0], 1)}: use windows of the same geometry"
                )
            p = np.asarray(self.pipeline.predict(X), dtype=np.float32).reshape(c.shape[0], self.n_bins, -1)
            out[s : s + c.shape[0]] = p.transpose(0, 2, 1)
        return out


def fit_kmer_ridge(
    codes: np.ndarray,
    y: np.ndarray,
    flank: int,
    resolution: int,
    k_max: int = 4,
    context: int = 256,
    alpha: float = 1.0,
    seed: int = 0,
    max_windows: int = 20000,
) -> KmerRidge:
    """Fit the k-mer ridge on training windows ``codes: uint8[n, L]``, ``y: float32[n, T, n_bins]``.

    At most ``max_windows`` windows are used, chosen with ``numpy.random.default_rng(seed)``;
    bins with a non-finite target are left out.
    """
    from scipy.linalg import LinAlgWarning
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    codes, y = np.asarray(codes), np.asarray(y)
    if y.ndim != 3 or codes.ndim != 2 or y.shape[0] != codes.shape[0]:
        raise DataError(
            f"k-mer baseline: codes {codes.shape} and targets {y.shape} must be [n, L] and [n, T, n_bins] for the "
            "same windows"
        )
    n, n_tracks, n_bins = y.shape
    if n == 0:
        raise DataError("k-mer baseline: no training windows; check the split and filter of the study")
    n_bins_geo = _geometry(codes.shape[1], flank, resolution, context)[0]
    if n_bins_geo != n_bins:
        raise DataError(
            f"k-mer baseline: targets have {n_bins} bins but windows of {codes.shape[1]} bp with flank {flank} "
            f"give {n_bins_geo} bins of {resolution} bp; check windows.target_length / resolution"
        )
    rows = np.arange(n)
    if n > max_windows:
        rows = np.sort(np.random.default_rng(seed).choice(n, size=max_windows, replace=False))
    X = kmer_features(codes[rows], flank, resolution, k_max, context)
    Y = y[rows].astype(np.float32).transpose(0, 2, 1).reshape(-1, n_tracks)
    ok = np.isfinite(Y).all(axis=1)
    if not ok.any():
        raise DataError("k-mer baseline: every training target is NaN; check the tracks' coverage")
    pipe = make_pipeline(StandardScaler(), Ridge(alpha=alpha))
    with warnings.catch_warnings():
        # k-mer counts are collinear by construction (k-mers nest; counts sum to the length):
        # the ridge penalty is what resolves it, so scipy's ill-conditioning warning is noise.
        warnings.simplefilter("ignore", category=LinAlgWarning)
        pipe.fit(X[ok], Y[ok])
    info = {"n_windows": int(rows.size), "n_rows": int(ok.sum()), "n_features": int(X.shape[1]), "alpha": alpha}
    return KmerRidge(pipe, flank, resolution, k_max, context, n_tracks, n_bins, info)
