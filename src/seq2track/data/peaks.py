"""Peak-centred windows with GC-matched negatives drawn within each split (``windows.strategy: peaks``).

Positives: one input window per peak summit, ``start = summit - input_length // 2`` rounded
down to the ``resolution`` grid (so target bins stay on the bin grid: the summit lies within
``resolution`` bp right of the window centre); windows running past a chromosome end are
dropped, duplicates (two summits in one grid cell) kept once. Jitter (``train.augment.max_shift``)
then moves the sequence up to ``max_shift`` bp around the summit, as for any window.

Negative candidates: the ``stride`` tiling, minus every window overlapping any positive's input
window (so no negative sees a peak's centred context) and, as for tiled studies, N-rich and
blacklisted windows. Negatives are then drawn **per split** (a negative never serves another
split: candidates are only ever taken from their own split), per GC bin (edges at the
positives' GC quantiles, all splits pooled): ``round(ratio * n_pos_in_bin)`` candidates of that split and bin,
without replacement, from ``numpy.random.default_rng([seed, 303])``. A bin with too few
candidates is a ``DataError`` naming the split, the bin and the fix (or, with
``negatives.fallback: nearest``, is filled from the nearest GC bins, and counted). The balance (KS statistic
of positives' vs negatives' GC, ``scipy.stats.ks_2samp``, and both histograms) goes into the
prepared dataset's ``meta.json`` under ``peaks``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError


def gc_fraction(codes: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """float32[n]: fraction of G/C among the A/C/G/T bases of each window (codes A0 C1 G2 T3 N4).

    codes: uint8[chrom_len] (may be a memory map); starts: int64[n]. A window of only N is 0.
    """
    starts = np.asarray(starts, dtype=np.int64)
    if len(starts) == 0:
        return np.zeros(0, np.float32)
    hi = int(starts.max()) + length
    c = np.asarray(codes[:hi])
    gc = np.concatenate([[0], np.cumsum((c == 1) | (c == 2), dtype=np.int64)])
    acgt = np.concatenate([[0], np.cumsum(c < 4, dtype=np.int64)])
    n_gc = gc[starts + length] - gc[starts]
    n = acgt[starts + length] - acgt[starts]
    return np.where(n > 0, n_gc / np.maximum(n, 1), 0.0).astype(np.float32)


def candidate_windows(peaks: pd.DataFrame, sizes: dict[str, int], chroms: list[str], input_length: int,
                      stride: int, resolution: int) -> pd.DataFrame:
    """Positives (summit-centred) then negative candidates (tiling away from positives).

    peaks: ``chrom, summit`` (study spelling). Returns ``chrom, start, end, kind`` with kind
    ``peak`` or ``negative``, positives first, each chromosome in ``chroms`` order.
    """
    from .windows import overlaps_intervals, tile

    pk = peaks[peaks["chrom"].isin(chroms)]
    if len(pk) == 0:
        raise DataError(
            f"no peak of the peaks file lies on the study's chromosomes ({', '.join(chroms[:10])}); "
            "check that the peaks are of the genome's assembly (chromosome names are matched with aliases)"
        )
    half = input_length // 2
    start = ((pk["summit"].to_numpy(np.int64) - half) // resolution) * resolution
    size = pk["chrom"].map(sizes).to_numpy(np.int64)
    ok = (start >= 0) & (start + input_length <= size)
    pos = pd.DataFrame({"chrom": pk["chrom"].to_numpy()[ok].astype(str), "start": start[ok]})
    pos = pos.drop_duplicates().reset_index(drop=True)
    order = {c: i for i, c in enumerate(chroms)}
    pos = pos.assign(_o=pos["chrom"].map(order)).sort_values(["_o", "start"]).drop(columns="_o")
    pos["end"] = pos["start"] + input_length
    pos["kind"] = "peak"
    neg = tile(sizes, chroms, input_length, stride)
    near = overlaps_intervals(neg["chrom"].to_numpy(), neg["start"].to_numpy(), neg["end"].to_numpy(), pos)
    neg = neg[~near].copy()
    neg["kind"] = "negative"
    return pd.concat([pos, neg], ignore_index=True)[["chrom", "start", "end", "kind"]]


def select_negatives(kind: np.ndarray, split: np.ndarray, usable: np.ndarray, gc: np.ndarray, ratio: float,
                     match: str, n_bins: int, rng: np.random.Generator,
                     fallback: str = "error") -> tuple[np.ndarray, dict[str, Any]]:
    """bool[n] chosen negatives and the balance report, drawn within each split.

    kind: str[n] ``peak``/``negative``; split: str[n]; usable: bool[n] (not N-rich/blacklisted);
    gc: float[n]. With ``match='none'`` each split draws ``round(ratio * n_pos)`` uniformly.
    ``fallback='nearest'``: a GC bin short of candidates is filled from the nearest bins of the
    same split (counted in the report as ``n_from_nearest_bin``) instead of failing.
    """
    from scipy.stats import ks_2samp

    # bin edges at the positives' GC quantiles: each bin holds ~the same number of peaks, and the bins
    # are fine where the peaks are (2-kb windows span a narrow GC range: equal-width bins of [0, 1] are coarse)
    gp_all = gc[(kind == "peak") & usable]
    inner = np.quantile(gp_all, np.linspace(0, 1, n_bins + 1)[1:-1]) if len(gp_all) else np.zeros(0)
    edges = np.unique(np.concatenate([[0.0], inner, [1.0]]))
    n_bins = len(edges) - 1
    b = np.clip(np.searchsorted(edges, gc, side="right") - 1, 0, n_bins - 1)
    chosen = np.zeros(len(kind), dtype=bool)
    report: dict[str, Any] = {"ratio": ratio, "match": match, "gc_bins": n_bins, "fallback": fallback, "splits": {}}
    for s in ("train", "val", "test"):
        pos = (kind == "peak") & (split == s) & usable
        cand = (kind == "negative") & (split == s) & usable
        groups = [(np.flatnonzero(pos & (b == k)), np.flatnonzero(cand & (b == k))) for k in range(n_bins)] \
            if match == "gc" else [(np.flatnonzero(pos), np.flatnonzero(cand))]
        borrowed = 0
        deficit: list[tuple[int, int]] = []
        for k, (p_i, c_i) in enumerate(groups):
            need = int(round(ratio * len(p_i)))
            if need > len(c_i):
                where = f"GC bin {edges[k]:.2f}-{edges[k + 1]:.2f}" if match == "gc" else "the split"
                if fallback != "nearest" or match != "gc":
                    raise DataError(
                        f"windows.negatives: the {s} split needs {need} negatives in {where} ({len(p_i)} peaks x "
                        f"ratio {ratio:g}) but has only {len(c_i)} candidates away from peaks; lower "
                        "windows.negatives.ratio, use fewer windows.negatives.gc_bins, a smaller windows.stride "
                        "(more candidates), fallback: nearest (fill from the nearest GC bins) or match: none"
                    )
                deficit.append((k, need - len(c_i)))
                need = len(c_i)
            if need:
                chosen[rng.choice(c_i, size=need, replace=False)] = True
        for k, short in deficit:  # fallback: nearest -- fill from the closest GC bins of the same split
            for j in sorted(range(n_bins), key=lambda j: (abs(j - k), j)):
                if short == 0:
                    break
                free = np.flatnonzero(cand & (b == j) & ~chosen)
                take = min(short, len(free))
                if take:
                    chosen[rng.choice(free, size=take, replace=False)] = True
                    short -= take
                    borrowed += take
            if short:
                raise DataError(
                    f"windows.negatives: the {s} split has too few candidates away from peaks for ratio {ratio:g}; "
                    "lower windows.negatives.ratio or use a smaller windows.stride"
                )
        gp, gn = gc[pos], gc[chosen & (split == s)]
        report["splits"][s] = {
            "n_peaks": int(pos.sum()),
            "n_negatives": int(len(gn)),
            "n_candidates": int(cand.sum()),
            "n_from_nearest_bin": borrowed,
            "gc_mean_peaks": float(gp.mean()) if len(gp) else None,
            "gc_mean_negatives": float(gn.mean()) if len(gn) else None,
            "ks_gc": float(ks_2samp(gp, gn).statistic) if len(gp) and len(gn) else None,
            "hist_peaks": np.histogram(gp, edges)[0].tolist(),
            "hist_negatives": np.histogram(gn, edges)[0].tolist(),
        }
    report["gc_edges"] = edges.tolist()
    return chosen, report
