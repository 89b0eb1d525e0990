"""The signal model: fragment-centre rate from sequence, exact expected coverage, fragments, peaks.

``mu: float64[n]`` fragments per bp: a GC- and domain-modulated background, times each
repressor's fold within +-``REPRESS_HALF`` bp, plus ``h`` fragments per active additive
instance spread as a Gaussian (sd ``FOOT_SD``), plus the cooperative pair boost. The
expected coverage is ``E[x] = sum_d mu[x+d] K[d]`` with ``K[d]`` the probability that a
fragment centred at ``x+d`` covers ``x``; fragments are a Poisson process with rate ``mu``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...io import pileup as pileup_io
from ...io.genome import CODE_N
from .motifs import PAIR, PAIR_BOOST, PAIR_DISTANCE, Hits, Motif

FOOT_SD = 20  # sd (bp) of fragment centres around a bound site
REPRESS_HALF = 150  # half-width (bp) of a repressor's effect on the background rate
GC_HALF = 100  # GC window half-width (bp)


@dataclass(frozen=True)
class Kernels:
    """Fragment lengths and the kernels derived from them."""

    lengths: np.ndarray  # int64[m] possible fragment lengths
    p: np.ndarray  # float64[m] their probabilities
    cover: np.ndarray  # float64[2D+1]: K[d + D] = P(fragment centred at x+d covers x)
    half: int  # D
    foot: np.ndarray  # float64[2*3*FOOT_SD+1] Gaussian footprint of fragment centres, sums to 1
    gk0: float  # (foot * K)(0): expected coverage at a site per fragment placed there

    @property
    def mean_length(self) -> float:
        return float((self.lengths * self.p).sum())


def make_kernels(median: float = 165.0, sigma: float = 0.25, lo: int = 80, hi: int = 400) -> Kernels:
    """Discretised log-normal fragment lengths in ``[lo, hi]`` and the coverage / footprint kernels."""
    lengths = np.arange(lo, hi + 1)
    x = np.log(lengths / median)
    p = np.exp(-0.5 * (x / sigma) ** 2) / lengths
    p /= p.sum()
    D = hi // 2 + 1
    d = np.arange(-D, D + 1)
    # fragment of length L centred at c spans [c - L//2, c - L//2 + L); covers x iff L//2 - L < d <= L//2
    h = lengths // 2
    cover = ((d[None, :] <= h[:, None]) & (d[None, :] > (h - lengths)[:, None])) * p[:, None]
    cover = cover.sum(axis=0)
    e = np.arange(-3 * FOOT_SD, 3 * FOOT_SD + 1)
    foot = np.exp(-0.5 * (e / FOOT_SD) ** 2)
    foot /= foot.sum()
    gk0 = float((foot * cover[D + e]).sum())
    return Kernels(lengths, p, cover, D, foot, gk0)


@dataclass(frozen=True)
class Params:
    """Background of the fragment-centre rate: depth, GC bias (per unit GC fraction), domain amplitude."""

    depth: float = 3.0  # mean background coverage (reads/bp) of the deep sample at gc_ref
    gc_beta: float = 2.5
    gc_ref: float = 0.42
    domain_amp: float = 2.0


def valid_mask(codes: np.ndarray, offset: int, chrom_len: int, margin: int) -> np.ndarray:
    """``bool[n]``: no N within +-GC_HALF and at least ``margin`` bp from both chromosome ends."""
    isn = np.concatenate([[0], np.cumsum(codes == CODE_N)])
    n = len(codes)
    lo = np.clip(np.arange(n) - GC_HALF, 0, n)
    hi = np.clip(np.arange(n) + GC_HALF + 1, 0, n)
    ok = (isn[hi] - isn[lo]) == 0
    ok &= (hi - lo) == 2 * GC_HALF + 1
    pos = np.arange(offset, offset + n)
    ok &= (pos >= margin) & (pos < chrom_len - margin)
    return ok


def gc_fraction(codes: np.ndarray) -> np.ndarray:
    """GC fraction over the +-GC_HALF window: ``float64[n]`` (edges use what is there)."""
    gc = np.concatenate([[0], np.cumsum((codes == 1) | (codes == 2))])
    n = len(codes)
    lo = np.clip(np.arange(n) - GC_HALF, 0, n)
    hi = np.clip(np.arange(n) + GC_HALF + 1, 0, n)
    return (gc[hi] - gc[lo]) / np.maximum(hi - lo, 1)


def centre_rate(
    codes: np.ndarray,
    domain: np.ndarray,
    inst: Hits,
    motifs: list[Motif],
    cond: str,
    params: Params,
    ker: Kernels,
    offset: int = 0,
    chrom_len: int | None = None,
) -> np.ndarray:
    """Fragment-centre rate ``float64[n]`` for ``codes[n]`` at ``offset`` (instances in local coords)."""
    n = len(codes)
    chrom_len = n + offset if chrom_len is None else chrom_len
    bg = params.depth / ker.mean_length * np.exp(params.gc_beta * (gc_fraction(codes) - params.gc_ref))
    bg *= 1.0 + params.domain_amp * domain
    mi, c = inst.motif, inst.centre
    eff = np.array([m.spec.effect(cond) for m in motifs])
    rep = np.array([m.spec.mode == "repress" for m in motifs])
    # repressors: multiply bg by fold**(number of repressor boxes covering x), per motif
    for k in np.flatnonzero(rep):
        sel = (mi == k) & (eff[k] != 1.0)
        if sel.any():
            cnt = pileup_io.dense_coverage(
                np.clip(c[sel] - REPRESS_HALF, 0, n), np.clip(c[sel] + REPRESS_HALF + 1, 0, n), n
            )
            bg *= float(eff[k]) ** cnt
    # additive motifs and the cooperative pair: fragments centred on the site
    heights = np.where(rep[mi], 0.0, eff[mi]) * params.depth / ker.gk0
    pts = [c]
    w = [heights]
    boost = PAIR_BOOST[cond]
    if boost:
        ia, ib = (next(i for i, m in enumerate(motifs) if m.spec.name == nm) for nm in PAIR)
        ca, cb = np.sort(c[mi == ia]), np.sort(c[mi == ib])
        if len(ca) and len(cb):
            lo = np.searchsorted(cb, ca - PAIR_DISTANCE, side="left")
            hi = np.searchsorted(cb, ca + PAIR_DISTANCE, side="right")
            rep_a = np.repeat(ca, hi - lo)
            idx = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi)]).astype(np.int64)
            mids = (rep_a + cb[idx]) // 2
            pts.append(mids)
            w.append(np.full(len(mids), boost * params.depth / ker.gk0))
    pts_a, w_a = np.concatenate(pts), np.concatenate(w)
    inside = (pts_a >= 0) & (pts_a < n) & (w_a != 0)
    spikes = np.bincount(pts_a[inside].astype(np.int64), weights=w_a[inside], minlength=n)[:n]
    add = np.convolve(spikes, ker.foot, mode="same")
    margin = ker.half + 1
    return (bg + add) * valid_mask(codes, offset, chrom_len, margin)


def expected_coverage(rate: np.ndarray, ker: Kernels) -> np.ndarray:
    """Exact expected per-base coverage ``float64[n]``: ``E[x] = sum_d rate[x+d] K[d]``."""
    return np.convolve(rate, ker.cover[::-1], mode="full")[ker.half : ker.half + len(rate)]


def sample_fragments(rate: np.ndarray, ker: Kernels, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Poisson process of fragment centres with ``rate``; returns sorted ``starts, ends: int64[k]``."""
    cdf = np.cumsum(rate)
    total = float(cdf[-1]) if len(cdf) else 0.0
    k = int(rng.poisson(total))
    centres = np.searchsorted(cdf, rng.random(k) * total, side="right")
    lens = rng.choice(ker.lengths, size=k, p=ker.p)
    starts = centres - lens // 2
    ends = starts + lens
    order = np.lexsort((ends, starts))
    return starts[order].astype(np.int64), ends[order].astype(np.int64)


def call_peaks(cov: np.ndarray, valid: np.ndarray, pval: float = 1e-5, local: int = 10_000,
               merge_gap: int = 100, min_len: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Poisson peaks of one chromosome: ``starts, ends: int64[k]`` of merged runs above threshold.

    ``lambda = max(chromosome mean over valid bases, mean over a 10-kb window)``; a base is
    enriched when ``P(Poisson(lambda) >= cov) <= pval``; runs closer than ``merge_gap`` merge.
    """
    from scipy.special import pdtrc

    n = len(cov)
    gmean = float(cov[valid].mean()) if valid.any() else 0.0
    cs = np.concatenate([[0.0], np.cumsum(cov, dtype=np.float64)])
    lo = np.clip(np.arange(n) - local // 2, 0, n)
    hi = np.clip(np.arange(n) + local // 2, 0, n)
    lam = np.maximum((cs[hi] - cs[lo]) / np.maximum(hi - lo, 1), gmean)
    q = np.round(lam * 20) / 20  # quantise lambda so the quantile is computed once per value
    uq, inv = np.unique(q, return_inverse=True)
    ks = np.arange(int(uq.max() * 4 + 50))
    tail = pdtrc(ks[:, None], uq[None, :])  # P(X > k | lambda)
    thr = np.argmax(tail <= pval, axis=0)[inv]  # smallest k with P(X > k) <= pval
    above = np.concatenate([[False], cov > thr, [False]])
    edges = np.flatnonzero(above[1:] != above[:-1])
    s, e = edges[0::2], edges[1::2]
    if len(s) == 0:
        return s, e
    keep = np.concatenate([[True], (s[1:] - e[:-1]) > merge_gap])
    ms = s[keep]
    me = np.maximum.reduceat(e, np.flatnonzero(keep))
    ok = (me - ms) >= min_len
    return ms[ok].astype(np.int64), me[ok].astype(np.int64)
