"""JASPAR motifs of the simulator: loading, scoring, scanning, sampling sites from PWMs.

A motif instance is any site whose log-odds score (Biopython PSSM with JASPAR pseudocounts
against the genome's base composition) reaches the motif's threshold, the score with a
background false-positive rate of ``SITE_FPR`` per position and strand; overlapping hits
of one motif keep the best. Code arrays are ``uint8`` A0 C1 G2 T3 N4.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ...io.genome import CODE_N

JASPAR_RELEASE = "JASPAR2024"
SITE_FPR = 1e-5  # motif threshold: background false-positive rate per position and strand
PAIR_DISTANCE = 50  # centre distance (bp) within which the pair cooperates


@dataclass(frozen=True)
class MotifSpec:
    """A planted JASPAR motif; effects are multiples of ``depth`` (reads at the site centre).

    ``mode="repress"``: ``effect`` is the fold on the background rate (``< 1``) instead.
    """

    name: str
    jaspar_id: str
    effect_a: float
    effect_b: float
    mode: str = "add"
    weight: float = 0.07  # share of slots planted with it

    def effect(self, cond: str) -> float:
        """The effect (or repressor fold) in condition ``condA`` / ``condB``."""
        return self.effect_a if cond == "condA" else self.effect_b


MOTIFS: tuple[MotifSpec, ...] = (
    MotifSpec("CTCF", "MA0139.1", 30.0, 30.0, weight=0.09),
    MotifSpec("TP53", "MA0106.3", 15.0, 15.0),
    MotifSpec("FOXA1", "MA0148.4", 10.0, 0.0),
    MotifSpec("NRF1", "MA0506.1", 6.0, 6.0),
    MotifSpec("SOX2", "MA0143.4", 4.0, 0.0, weight=0.05),
    MotifSpec("POU5F1", "MA1115.1", 4.0, 0.0, weight=0.05),
    MotifSpec("REST", "MA0138.2", 0.25, 0.25, mode="repress"),
    MotifSpec("GATA1", "MA0035.4", 0.0, 12.0),
)
PAIR = ("SOX2", "POU5F1")
PAIR_BOOST = {"condA": 20.0, "condB": 0.0}  # multiples of depth, added at the pair midpoint
CONDS = ("condA", "condB")


@dataclass
class Motif:
    """A loaded motif: log-odds ``lo: float32[4, w]`` (A,C,G,T), probabilities, threshold."""

    spec: MotifSpec
    lo: np.ndarray
    prob: np.ndarray
    threshold: float
    consensus: str

    @property
    def width(self) -> int:
        return self.lo.shape[1]


def score_threshold(lo: np.ndarray, bg: np.ndarray, fpr: float, scale: int = 100) -> float:
    """Smallest score ``s`` with ``P_bg(score >= s) <= fpr`` (exact on a 1/scale-bit grid).

    ``lo: float[4, w]`` log-odds, ``bg: float[4]`` i.i.d. background probabilities.
    """
    q = np.round(np.asarray(lo, dtype=np.float64) * scale).astype(np.int64)
    lo_min = int(q.min(axis=0).sum())
    dist = np.ones(1)
    for k in range(q.shape[1]):
        col = q[:, k] - q[:, k].min()
        new = np.zeros(len(dist) + int(col.max()))
        for b in range(4):
            new[col[b] : col[b] + len(dist)] += bg[b] * dist
        dist = new
    tail = np.cumsum(dist[::-1])[::-1]  # P(score >= lo_min + i)
    ok = np.flatnonzero(tail <= fpr)
    i = int(ok[0]) if len(ok) else len(dist) - 1
    return (lo_min + i) / scale


def load_motifs(bg: np.ndarray, specs: tuple[MotifSpec, ...] = MOTIFS) -> list[Motif]:
    """Fetch the motifs from pyjaspar's bundled database (offline) and build log-odds and thresholds."""
    from Bio.motifs import jaspar
    from pyjaspar import jaspardb

    db = jaspardb(release=JASPAR_RELEASE)
    out = []
    bgd = dict(zip("ACGT", (float(x) for x in bg)))
    for s in specs:
        m = db.fetch_motif_by_id(s.jaspar_id)
        m.pseudocounts = jaspar.calculate_pseudocounts(m)
        m.background = bgd
        lo = np.array([m.pssm[b] for b in "ACGT"], dtype=np.float32)
        prob = np.array([m.pwm[b] for b in "ACGT"], dtype=np.float64)
        out.append(Motif(s, lo, prob, score_threshold(lo, bg, SITE_FPR), str(m.consensus)))
    return out


_GROUP = 4  # bases per lookup in the scoring tables (5**4 = 625 entries)


def kmer_index(codes: np.ndarray) -> np.ndarray:
    """``int16[n]``: base-5 index of the ``_GROUP``-mer starting at each position (padded with N)."""
    pad = np.concatenate([codes, np.full(_GROUP, CODE_N, np.uint8)]).astype(np.int16)
    idx = np.zeros(len(codes), dtype=np.int16)
    for i in range(_GROUP):
        idx = idx * 5 + pad[i : i + len(codes)]
    return idx


def _tables(lo: np.ndarray, strand: int) -> np.ndarray:
    """``float32[ceil(w/_GROUP), 5**_GROUP]``: score of each ``_GROUP``-mer at each motif offset.

    Column ``k`` of the motif, base ``b`` -> ``lo[b, k]`` (reverse-complemented for ``strand=-1``);
    N scores -inf; positions past the motif's end score 0 whatever the base.
    """
    m = lo if strand > 0 else lo[::-1, ::-1]  # reverse complement: A<->T, C<->G, reversed
    w = m.shape[1]
    ng = -(-w // _GROUP)
    ext = np.zeros((ng * _GROUP, 5), dtype=np.float32)
    ext[:w, :4] = m.T
    ext[:w, 4] = -np.inf
    digits = np.array(np.unravel_index(np.arange(5**_GROUP), (5,) * _GROUP))  # [_GROUP, 625]
    return np.stack([sum(ext[g * _GROUP + i][digits[i]] for i in range(_GROUP)) for g in range(ng)])


def scores(codes: np.ndarray, lo: np.ndarray, strand: int, idx: np.ndarray | None = None) -> np.ndarray:
    """Log-odds of every window ``codes[p:p+w]``: ``float32[n-w+1]`` (-inf where an N lies in it).

    ``idx``: ``kmer_index(codes)`` when several motifs scan the same sequence.
    """
    w = lo.shape[1]
    n = len(codes) - w + 1
    if n <= 0:
        return np.zeros(0, np.float32)
    idx = kmer_index(codes) if idx is None else idx
    tab = _tables(lo, strand)
    s = tab[0][idx[:n]]
    for g in range(1, len(tab)):
        s += tab[g][idx[g * _GROUP : g * _GROUP + n]]
    return s


class Hits(NamedTuple):
    """Motif instances as parallel arrays ``[k]``: motif index, start, end, strand (+1/-1), score, centre."""

    motif: np.ndarray
    start: np.ndarray
    end: np.ndarray
    strand: np.ndarray
    score: np.ndarray
    centre: np.ndarray


def scan(codes: np.ndarray, motif: Motif, idx: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hits of one motif with score >= threshold: ``start, strand, score`` sorted by start.

    Overlapping hits (closer than the motif width, either strand) keep the best one.
    """
    pos_l, str_l, sc_l = [], [], []
    for strand in (1, -1):
        sc = scores(codes, motif.lo, strand, idx)
        pos = np.flatnonzero(sc >= motif.threshold)
        pos_l.append(pos)
        str_l.append(np.full(len(pos), strand, dtype=np.int64))
        sc_l.append(sc[pos])
    pos, strand, sc = np.concatenate(pos_l), np.concatenate(str_l), np.concatenate(sc_l)
    if len(pos) > 1:
        order = np.lexsort((pos, -strand, -sc))  # best score first; ties: + strand, then leftmost
        kept: list[int] = []
        for i in order:
            if all(abs(pos[i] - pos[j]) >= motif.width for j in kept):
                kept.append(int(i))
        sel = np.array(sorted(kept, key=lambda i: pos[i]), dtype=np.int64)
        pos, strand, sc = pos[sel], strand[sel], sc[sel]
    return pos.astype(np.int64), strand, sc


def scan_all(codes: np.ndarray, motifs: list[Motif]) -> Hits:
    """All instances of all motifs in ``codes`` (motif by motif, each sorted by start)."""
    parts = []
    idx = kmer_index(codes)
    for mi, m in enumerate(motifs):
        pos, strand, sc = scan(codes, m, idx)
        parts.append((np.full(len(pos), mi, dtype=np.int64), pos, pos + m.width, strand, sc))
    mi, st, en, sd, sc = (np.concatenate(x) for x in zip(*parts))
    return Hits(mi, st, en, sd, sc, (st + en) // 2)


def sample_sites(motif: Motif, n: int, rng: np.random.Generator, min_score: float) -> np.ndarray:
    """``uint8[n, w]`` sites drawn from the PWM (+ strand) whose score is >= ``min_score``."""
    cum = np.cumsum(motif.prob, axis=0)  # [4, w]
    got: list[np.ndarray] = []
    have = 0
    for _ in range(200):
        u = rng.random((max(4 * n, 256), motif.width))
        s = (u[:, None, :] > cum[None, :3, :]).sum(axis=1).astype(np.uint8)  # [m, w]
        sc = motif.lo[s, np.arange(motif.width)].sum(axis=1)
        s = s[sc >= min_score]
        got.append(s)
        have += len(s)
        if have >= n:
            break
    sites = np.concatenate(got)[:n]
    if len(sites) < n:
        raise RuntimeError(f"could not sample {n} sites of {motif.spec.name} above {min_score:.1f}")
    return sites


def break_column(motif: Motif, site: np.ndarray) -> tuple[int, int, float]:
    """The column whose worst substitution lowers the score most: ``(k, new_base, new_score)``."""
    w = motif.width
    cur = motif.lo[site, np.arange(w)]
    worst = motif.lo.argmin(axis=0)
    drop = cur - motif.lo[worst, np.arange(w)]
    k = int(np.argmax(drop))
    return k, int(worst[k]), float(cur.sum() - drop[k])


def genome_base(k: int, base: int, start: int, width: int, strand: int) -> tuple[int, int]:
    """Genome position and base of motif column ``k`` (motif orientation) of a site at ``start``."""
    return (start + k, base) if strand > 0 else (start + width - 1 - k, 3 - base)


def nominal_effect(m: Motif, cond: str, depth: float) -> float:
    """Expected change in reads at a site centre at ``depth`` (repressors: at an average background)."""
    e = m.spec.effect(cond)
    return float(-(1 - e) * depth) if m.spec.mode == "repress" else float(e * depth)
