"""Synthetic sequence and layout: Markov background with isochores, gaps, duplications, gene bodies."""

from __future__ import annotations

import numpy as np

from ...io.genome import CODE_N, reverse_complement as revcomp

BLOCK = 1000  # Markov chains are generated in parallel blocks of this many bp


def markov_tables(rng: np.random.Generator, gc: tuple[float, float] = (0.38, 0.52)) -> np.ndarray:
    """Cumulative order-2 transition tables ``float64[2 isochores, 16 states, 4]`` (CpG depleted)."""
    tabs = np.empty((len(gc), 16, 4))
    for t, g in enumerate(gc):
        base = np.array([(1 - g) / 2, g / 2, g / 2, (1 - g) / 2])
        z = rng.normal(0.0, 0.25, size=(16, 4))
        p = base[None, :] * np.exp(z)
        p[np.arange(16) % 4 == 1, 2] *= 0.3  # state ends in C -> G is rare (CpG depletion)
        tabs[t] = p / p.sum(axis=1, keepdims=True)
    return np.cumsum(tabs, axis=2)


def isochores(n_blocks: int, rng: np.random.Generator) -> np.ndarray:
    """Isochore type (0 GC-poor, 1 GC-rich) of each block: ``uint8[n_blocks]``, 20-100 blocks long."""
    out = np.empty(n_blocks, dtype=np.uint8)
    t = int(rng.integers(2))
    i = 0
    while i < n_blocks:
        ln = int(rng.integers(20, 101))
        out[i : i + ln] = t
        t = 1 - t
        i += ln
    return out


def markov_background(iso: np.ndarray, tables: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One chain of ``BLOCK`` bp per block, all blocks in parallel: ``uint8[len(iso) * BLOCK]``."""
    nb = len(iso)
    u = rng.random((BLOCK, nb), dtype=np.float32)
    out = np.empty((BLOCK, nb), dtype=np.uint8)
    state = rng.integers(0, 16, size=nb)
    for t in range(BLOCK):
        cum = tables[iso, state]  # [nb, 4]
        b = (u[t][:, None] > cum[:, :3]).sum(axis=1).astype(np.uint8)
        out[t] = b
        state = (state % 4) * 4 + b
    return out.T.reshape(-1)


def isochore_runs(iso: np.ndarray, length: int) -> list[list]:
    """Isochore blocks -> ``[[start, end, "GC-rich"|"GC-poor"], ...]``."""
    edges = np.flatnonzero(np.diff(iso.astype(np.int8))) + 1
    starts = np.concatenate([[0], edges])
    ends = np.concatenate([edges, [len(iso)]])
    return [[int(a * BLOCK), int(min(b * BLOCK, length)), "GC-rich" if iso[a] else "GC-poor"]
            for a, b in zip(starts, ends) if a * BLOCK < length]


def free(lo: int, hi: int, taken: list[tuple[int, int]], pad: int = 0) -> bool:
    """True if ``[lo, hi)`` keeps ``pad`` bp away from every interval in ``taken``."""
    return all(hi + pad <= a or lo - pad >= b for a, b in taken)


def place_gaps(length: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """One or two N gaps of 1-5 kb (scaled down on short chromosomes), away from the ends."""
    gaps: list[tuple[int, int]] = []
    for _ in range(1 + int(rng.random() < 0.5)):
        ln = int(rng.integers(min(1000, length // 60), min(5000, length // 20) + 1))
        for _try in range(50):
            s = int(rng.integers(length // 10, length - length // 10 - ln))
            if free(s, s + ln, gaps, pad=length // 20):
                gaps.append((s, s + ln))
                break
    return sorted(gaps)


def place_dups(names: list[str], length: int, gaps: dict[str, list], rng: np.random.Generator) -> list[dict]:
    """Segmental duplications: ``[{src_chrom, src_start, dst_chrom, dst_start, length}]``."""
    n = len(names)
    train, val, test = names[: n - 2], names[n - 2], names[n - 1]
    pairs = [(train[int(rng.integers(len(train)))], test), (train[int(rng.integers(len(train)))], val)]
    for _ in range(max(1, n // 3)):
        a, b = rng.choice(n, size=2, replace=False)
        pairs.append((names[int(a)], names[int(b)]))
    taken: dict[str, list[tuple[int, int]]] = {c: list(gaps[c]) for c in names}
    out = []
    for src, dst in pairs:
        ln = int(rng.integers(min(5000, length // 12), min(20_000, length // 6) + 1))
        placed = []
        for c in (src, dst):
            for _try in range(200):
                s = int(rng.integers(length // 20, length - length // 20 - ln))
                if free(s, s + ln, taken[c], pad=2000):
                    taken[c].append((s, s + ln))
                    placed.append(s)
                    break
        if len(placed) == 2:
            out.append({"src_chrom": src, "src_start": placed[0], "dst_chrom": dst, "dst_start": placed[1],
                        "length": ln})
    return out


def place_genes(length: int, iso: np.ndarray, rng: np.random.Generator) -> list[dict]:
    """Gene bodies (5-30 kb, both strands), placed preferably in GC-rich isochores."""
    n = max(1, length // 60_000)
    w = np.where(iso == 1, 3.0, 1.0)
    blocks = rng.choice(len(iso), size=n, replace=False, p=w / w.sum())
    out = []
    for b in np.sort(blocks):
        ln = int(rng.integers(min(5000, length // 10), min(30_000, length // 4) + 1))
        s = int(min(max(b * BLOCK, 0), length - ln - 1))
        out.append({"start": s, "end": s + ln, "strand": "+" if rng.random() < 0.5 else "-",
                    "condB": bool(rng.random() < 0.7)})
    return out


def domain(length: int, genes: list[dict], cond: str) -> np.ndarray:
    """H3K36me3-like ramp: ``float32[length]``, 0.3 at the TSS rising to 1.0 at the TES, max over genes."""
    d = np.zeros(length, dtype=np.float32)
    for g in genes:
        if cond == "condB" and not g["condB"]:
            continue
        r = np.linspace(0.3, 1.0, g["end"] - g["start"], dtype=np.float32)
        if g["strand"] == "-":
            r = r[::-1]
        np.maximum(d[g["start"] : g["end"]], r, out=d[g["start"] : g["end"]])
    return d


def plant(codes: np.ndarray, start: int, site: np.ndarray, strand: int) -> None:
    """Write ``site: uint8[w]`` (motif orientation) at ``start``, reverse-complemented on the - strand."""
    codes[start : start + len(site)] = site if strand > 0 else revcomp(site)


def apply_dups(
    codes: dict[str, np.ndarray], dups: list[dict], rng: np.random.Generator, divergence: float = 0.01
) -> None:
    """Copy each duplication's source over its destination with ``divergence`` substitutions, in place.

    Adds ``n_substitutions`` and ``identity`` to each record.
    """
    for d in dups:
        seg = codes[d["src_chrom"]][d["src_start"] : d["src_start"] + d["length"]].copy()
        mut = (rng.random(len(seg)) < divergence) & (seg != CODE_N)
        seg[mut] = (seg[mut] + rng.integers(1, 4, size=int(mut.sum()))) % 4
        codes[d["dst_chrom"]][d["dst_start"] : d["dst_start"] + d["length"]] = seg
        d["n_substitutions"] = int(mut.sum())
        d["identity"] = round(1 - int(mut.sum()) / d["length"], 5)
