"""Near-duplicate detection for ``audit``: FracMinHash sketches of canonical k-mers, numpy only.

Every N-free k-mer of the genome (default k = 21) is packed 2 bits per base, made
strand-independent (the smaller of the k-mer and its reverse complement), hashed with the
splitmix64 finaliser and kept iff ``hash < 2**64 / scale`` (FracMinHash, as sourmash does):
the same k-mer is kept wherever it occurs, so shared sequence shows up as shared samples.
A val/test window's *containment* is the share of its samples that also occur inside a
training window *elsewhere* (outside the window's own span +- jitter). With 1% substitutions a
21-mer survives with probability 0.99**21 = 0.81, so a window inside a segmental duplication
of a training region scores ~0.8, a unique window ~0. Cost: one pass of k vectorised shifts
over the genome (the 12-Mb yeast genome in ~1-2 s); memory ~16 bytes per sample.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..io.chroms import canonical

K = 21
NEAR_DUP_CONTAINMENT = 0.5  # share of a window's sampled k-mers found elsewhere in training windows


def query_rows(ds, eval_ds) -> tuple[Any, np.ndarray]:
    """The windows an audit asks about: the eval study's test split, else val + test."""
    if eval_ds is not None:
        return eval_ds, eval_ds.rows("test")
    w = ds.windows["split"].to_numpy()
    return ds, np.flatnonzero((w == "val") | (w == "test"))


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (vectorised, wrapping uint64 arithmetic)."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def kmer_samples(codes: np.ndarray, k: int = K, scale: int = 16, chunk: int = 1 << 22) -> tuple[np.ndarray, np.ndarray]:
    """Sampled canonical k-mers of ``codes: uint8[n]``: ``(pos: int64[m], hash: uint64[m])``.

    Every N-free k-mer (A0 C1 G2 T3, N4) is packed 2 bits per base, made strand-independent
    (min of the k-mer and its reverse complement), hashed with splitmix64 and kept iff its
    hash < 2**64 / scale (FracMinHash), so the same k-mer is kept wherever it occurs.
    """
    if not 1 <= k <= 31:
        raise ValueError(f"k must be in 1..31 (2 bits per base in uint64), got {k}")
    codes = np.asarray(codes)
    n = len(codes)
    limit = np.uint64((1 << 64) // scale - 1) if scale > 1 else np.uint64((1 << 64) - 1)
    pos_parts, hash_parts = [], []
    for lo in range(0, max(n - k + 1, 0), chunk):
        hi = min(lo + chunk, n - k + 1)
        seg = codes[lo : hi + k - 1]
        m = hi - lo
        c = (seg & 3).astype(np.uint64)
        fwd = np.zeros(m, np.uint64)
        rev = np.zeros(m, np.uint64)
        for j in range(k):
            cj = c[j : j + m]
            fwd = (fwd << np.uint64(2)) | cj
            rev |= (np.uint64(3) - cj) << np.uint64(2 * j)
        isn = np.concatenate([[0], np.cumsum(seg > 3, dtype=np.int64)])
        ok = (isn[k : k + m] - isn[:m]) == 0
        h = _mix64(np.minimum(fwd, rev))
        keep = ok & (h <= limit)
        pos_parts.append(np.flatnonzero(keep).astype(np.int64) + lo)
        hash_parts.append(h[keep])
    if not pos_parts:
        return np.zeros(0, np.int64), np.zeros(0, np.uint64)
    return np.concatenate(pos_parts), np.concatenate(hash_parts)


_SKETCH_CACHE: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}


def genome_samples(ds, k: int = K, scale: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """``(global_pos, hash)`` of the whole cache genome (positions in the cache's concatenated coordinate)."""
    key = (str(Path(ds.root).resolve()), ds.meta.get("data_hash"), k, scale)
    if key not in _SKETCH_CACHE:
        gp, gh = [], []
        for c in ds.chroms:
            p, h = kmer_samples(np.asarray(ds.chrom_codes(c)), k, scale)
            gp.append(p + ds.bp_offsets[c])
            gh.append(h)
        pos = np.concatenate(gp) if gp else np.zeros(0, np.int64)
        hsh = np.concatenate(gh) if gh else np.zeros(0, np.uint64)
        _SKETCH_CACHE.clear()  # keep one genome in memory
        _SKETCH_CACHE[key] = (pos, hsh)
    return _SKETCH_CACHE[key]


def _global_spans(ds, q_ds, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Global [a, b) of ``q_ds`` windows ``rows`` in ``ds``'s coordinates; ok=False where the chromosome is absent."""
    cmap = {canonical(c): c for c in ds.chroms}
    w = q_ds.windows.iloc[rows]
    off = np.array([ds.bp_offsets.get(cmap.get(canonical(c), ""), -1) for c in w["chrom"].to_numpy()], dtype=np.int64)
    a = off + w["start"].to_numpy(np.int64)
    return a, a + q_ds.input_length, off >= 0


def near_duplicates(
    ds, eval_ds=None, k: int = K, scale: int | None = None, containment: float = NEAR_DUP_CONTAINMENT,
    shift: int | None = None,
) -> dict[str, Any]:
    """Per query window, the share of its sampled k-mers that occur in training windows *elsewhere*.

    "Elsewhere" = outside the query window's own span +- jitter, so overlapping neighbours (a
    random split) do not count here (``context_overlap`` counts them). Returns ``frac`` (share of
    query windows with containment >= ``containment``), ``containment: float[n]``, ``flagged``,
    the query rows and merged flagged ``regions``.
    """
    shift = int(ds.study.train.augment.max_shift) if shift is None else int(shift)
    if scale is None:  # about <= 20 M samples whatever the genome size, >= 16 per window
        total = int(sum(ds.chrom_sizes.values()))
        scale = int(min(max(16, 2 ** int(np.ceil(np.log2(max(total / 20e6, 1))))), max(16, ds.input_length // 16)))
    pos, hsh = genome_samples(ds, k, scale)
    # training occurrences: k-mers lying inside a training window
    tr_a, tr_b, _ = _global_spans(ds, ds, ds.rows("train"))
    order = np.argsort(tr_a)
    tr_a, tr_b = tr_a[order], tr_b[order]
    if len(tr_a):
        brk = np.flatnonzero(tr_a[1:] > np.maximum.accumulate(tr_b)[:-1]) + 1
        ua, ub = tr_a[np.concatenate([[0], brk])], np.maximum.reduceat(tr_b, np.concatenate([[0], brk]))
        i = np.searchsorted(ua, pos, side="right") - 1
        in_train = (i >= 0) & (pos + k <= ub[np.maximum(i, 0)])
    else:
        in_train = np.zeros(len(pos), bool)
    th, tp = hsh[in_train], pos[in_train]
    o = np.lexsort((tp, th))
    th, tp = th[o], tp[o]
    uh, first = np.unique(th, return_index=True)
    last = np.concatenate([first[1:], [len(th)]]) - 1
    tmin, tmax = tp[first], tp[last]
    # query windows
    qds, qrows = query_rows(ds, eval_ds)
    a, b, ok = _global_spans(ds, qds, qrows)
    lo = np.searchsorted(pos, a, side="left")
    hi = np.searchsorted(pos, b - k, side="right")
    cnt = np.where(ok, np.maximum(hi - lo, 0), 0)
    total = int(cnt.sum())
    win = np.repeat(np.arange(len(qrows)), cnt)
    starts = np.repeat(lo - np.concatenate([[0], np.cumsum(cnt)[:-1]]), cnt)
    idx = np.arange(total) + starts
    qh = hsh[idx]
    j = np.searchsorted(uh, qh)
    jj = np.minimum(j, max(len(uh) - 1, 0))
    found = (j < len(uh)) & (uh[jj] == qh) if len(uh) else np.zeros(total, bool)
    wa, wb = a[win] - shift, b[win] + shift
    elsewhere = found & ((tmin[jj] + k <= wa) | (tmax[jj] >= wb))
    hits = np.bincount(win, weights=elsewhere.astype(np.float64), minlength=len(qrows))
    cont = np.where(cnt > 0, hits / np.maximum(cnt, 1), 0.0)
    min_samples = max(4, int(0.25 * qds.input_length / scale))
    flagged = (cont >= containment) & (cnt >= min_samples)
    regions = []
    if flagged.any():
        w = qds.windows.iloc[qrows[flagged]]
        cs = cont[flagged]
        for c, g in w.assign(_c=cs).groupby("chrom", sort=False):
            s = g["start"].to_numpy(np.int64)
            e = s + qds.input_length
            srt = np.argsort(s)
            s, e, f = s[srt], e[srt], g["_c"].to_numpy()[srt]
            cur = [int(s[0]), int(e[0]), float(f[0])]
            for si, ei, fi in zip(s[1:], e[1:], f[1:]):
                if si <= cur[1]:
                    cur[1] = max(cur[1], int(ei))
                    cur[2] = max(cur[2], float(fi))
                else:
                    regions.append((str(c), *cur))
                    cur = [int(si), int(ei), float(fi)]
            regions.append((str(c), *cur))
    return {
        "frac": float(flagged.mean()) if len(flagged) else 0.0,
        "containment": cont,
        "flagged": flagged,
        "rows": qrows,
        "regions": regions,
        "k": k,
        "scale": scale,
        "samples_per_window": float(np.median(cnt)) if len(cnt) else 0.0,
    }
