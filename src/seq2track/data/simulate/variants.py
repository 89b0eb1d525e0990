"""Variants that break or create motif instances, and their true effects by local re-simulation."""

from __future__ import annotations

import numpy as np

from ...io.genome import CODE_N, decode
from ...io.genome import reverse_complement as revcomp
from .motifs import CONDS, Hits, Motif, break_column, genome_base, scan_all
from .signal import Kernels, Params, centre_rate

EFFECT_WINDOW = 256  # bp over which a variant's TRUE_EFFECT is summed


def local_expected(sub: np.ndarray, offset: int, lo: int, hi: int, domain: np.ndarray, motifs: list[Motif],
                   cond: str, params: Params, ker: Kernels, chrom_len: int, inst: Hits | None = None) -> np.ndarray:
    """Expected coverage ``float64[hi-lo]`` of ``[lo, hi)`` re-simulated from ``sub`` = sequence at ``offset``.

    ``sub`` must extend >= ~1 kb beyond ``[lo, hi)`` on both sides (or reach the chromosome
    end) so that every instance, GC window and fragment that reaches ``[lo, hi)`` is in it;
    ``domain`` is the chromosome's domain array.
    """
    inst = scan_all(sub, motifs) if inst is None else inst
    dom = domain[offset : offset + len(sub)]
    rate = centre_rate(sub, dom, inst, motifs, cond, params, ker, offset=offset, chrom_len=chrom_len)
    e = np.convolve(rate, ker.cover[::-1], mode="full")[ker.half : ker.half + len(rate)]
    return e[lo - offset : hi - offset]


def _replace_near(inst: Hits, codes: np.ndarray, pos: int, motifs: list[Motif], offset: int) -> Hits:
    """``inst`` (local coords) with the hits lying wholly in ``pos +- 2*w_max`` re-scanned from ``codes``."""
    wmax = max(m.width for m in motifs)
    lo, hi = max(0, pos - 2 * wmax), min(len(codes), pos + 2 * wmax)
    keep = (inst.start < lo) | (inst.end > hi)
    new = scan_all(codes[lo:hi], motifs)
    return Hits(*(np.concatenate([old[keep], fresh + (lo if k in ("start", "end", "centre") else 0)])
                  for k, old, fresh in zip(Hits._fields, inst, new)))


def variant_effect(codes: np.ndarray, pos: int, alt: int, inst: Hits, domains: dict[str, np.ndarray],
                   motifs: list[Motif], params: Params, ker: Kernels, pad: int = 1500) -> dict[str, float]:
    """True effect of a SNP per condition: log2(alt/ref) of the expected coverage summed over
    ``EFFECT_WINDOW`` bp centred on it.

    ``codes``: the chromosome; ``inst``: its instances; ``domains[cond]``: its domain arrays.
    Only the sequence within ``pad`` bp is re-simulated, and only the hits near ``pos`` are
    re-scanned (for ref and alt alike), so ``ref`` equals the genome-wide expected track.
    """
    length = len(codes)
    lo, hi = pos - EFFECT_WINDOW // 2, pos + EFFECT_WINDOW // 2
    a, b = max(0, lo - pad), min(length, hi + pad)
    ref = codes[a:b]
    mut = ref.copy()
    mut[pos - a] = alt
    sel = (inst.start >= a) & (inst.end <= b)
    local = Hits(*(x[sel] - (a if k in ("start", "end", "centre") else 0) for k, x in zip(Hits._fields, inst)))
    inst_ref = _replace_near(local, ref, pos - a, motifs, a)
    inst_alt = _replace_near(local, mut, pos - a, motifs, a)
    out = {}
    for cond, dom in domains.items():
        e_ref = local_expected(ref, a, lo, hi, dom, motifs, cond, params, ker, length, inst_ref).sum()
        e_alt = local_expected(mut, a, lo, hi, dom, motifs, cond, params, ker, length, inst_alt).sum()
        out[cond] = round(float(np.log2(max(e_alt, 1e-12) / max(e_ref, 1e-12))), 4)
    return out


def choose_variants(names, codes, inst_by_chrom, planted, nears, dups, domains, motifs, params, ker,
                    n_per_class, rng) -> list[dict]:
    """Break / create / neutral SNPs with their true effects (local re-simulation of the expected track)."""
    dst = [(d["dst_chrom"], d["dst_start"], d["dst_start"] + d["length"]) for d in dups]

    def in_dup(c, p):
        return any(c == a and s - 500 <= p < e + 500 for a, s, e in dst)

    out: list[dict] = []
    # break: planted instances where one SNP drops the score below threshold
    cands = []
    for p in planted:
        if "start" not in p:
            continue
        m = motifs[next(i for i, mm in enumerate(motifs) if mm.spec.name == p["motif"])]
        if m.spec.effect_a == 0 or in_dup(p["chrom"], p["start"]):
            continue
        site = codes[p["chrom"]][p["start"] : p["start"] + m.width]
        site = site if p["strand"] > 0 else revcomp(site)
        k, worst, new = break_column(m, site)
        if new < m.threshold - 0.5:
            pos, alt = genome_base(k, worst, p["start"], m.width, p["strand"])
            cands.append((p["chrom"], pos, alt, "break", m.spec.name))
    for i in rng.permutation(len(cands))[:n_per_class]:
        out.append(cands[i])
    nn = [(p["chrom"], p["pos"], p["alt"], "create", p["motif"]) for p in nears if not in_dup(p["chrom"], p["pos"])]
    for i in rng.permutation(len(nn))[:n_per_class]:
        out.append(nn[i])
    # neutral: GC-preserving SNPs (A<->T, C<->G) >= 1 kb from any instance
    n_neutral = 0
    for _ in range(50 * n_per_class):
        if n_neutral >= n_per_class:
            break
        c = names[int(rng.integers(len(names)))]
        pos = int(rng.integers(2000, len(codes[c]) - 2000))
        cen = inst_by_chrom[c].centre
        if codes[c][pos] == CODE_N or in_dup(c, pos) or (len(cen) and np.abs(cen - pos).min() < 1000):
            continue
        out.append((c, pos, int(3 - codes[c][pos]), "neutral", "."))
        n_neutral += 1
    recs = []
    for c, pos, alt, cls, mname in out:
        eff = variant_effect(codes[c], pos, alt, inst_by_chrom[c], {cd: domains[cd][c] for cd in CONDS}, motifs,
                             params, ker)
        recs.append({"CHROM": c, "POS": pos, "REF": decode(codes[c][pos : pos + 1]), "ALT": "ACGT"[alt],
                     "CLASS": cls, "MOTIF": mname, "TRUE_EFFECT": eff["condA"], "TRUE_EFFECT_B": eff["condB"]})
    order = {c: i for i, c in enumerate(names)}
    recs.sort(key=lambda r: (order[r["CHROM"]], r["POS"]))
    # a position may be drawn twice (break and create cannot coincide, neutral is far): keep the first
    seen, uniq = set(), []
    for r in recs:
        if (r["CHROM"], r["POS"]) not in seen:
            seen.add((r["CHROM"], r["POS"]))
            uniq.append(r)
    return uniq
