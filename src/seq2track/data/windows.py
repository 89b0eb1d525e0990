"""Tiling chromosomes into input windows and flagging the ones to drop.

A window is ``(chrom, start)``: input ``[start, start + input_length)`` and target bins
covering the centred ``target_length`` bp. Windows never copy sequence.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def tile(sizes: dict[str, int], chroms: list[str], input_length: int, stride: int) -> pd.DataFrame:
    """All windows that fit inside each chromosome, ``stride`` apart from position 0.

    Returns a DataFrame ``chrom, start, end`` (``end = start + input_length``), chromosomes
    in the given order. A chromosome shorter than ``input_length`` contributes no window.
    """
    parts = []
    for c in chroms:
        n = (sizes[c] - input_length) // stride + 1 if sizes[c] >= input_length else 0
        starts = np.arange(n, dtype=np.int64) * stride
        parts.append(pd.DataFrame({"chrom": c, "start": starts, "end": starts + input_length}))
    df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["chrom", "start", "end"])
    df["chrom"] = df["chrom"].astype(str)
    return df


def n_fraction(codes: np.ndarray, starts: np.ndarray, length: int, chunk: int = 1 << 24) -> np.ndarray:
    """Fraction of N bases in each window of one chromosome.

    codes: uint8[chrom_len] (N = 4), may be a memory map; starts: int64[n]. Returns float32[n].
    Counted with an int32 running sum over ``chunk`` bp at a time, so memory stays ~5 bytes per
    chunk base whatever the chromosome length (a whole-chromosome int64 cumsum of human chr1
    took 4 GB).
    """
    starts = np.asarray(starts, dtype=np.int64)
    out = np.empty(len(starts), dtype=np.float32)
    if len(starts) == 0:
        return out
    if starts.min() < 0 or starts.max() + length > len(codes):
        raise IndexError(f"windows of {length} bp at starts {starts.min()}..{starts.max()} run outside "
                         f"a chromosome of {len(codes)} bp")
    cum = np.zeros(min(chunk, int(starts.max()) + 1) + length + 1, dtype=np.int32)
    for lo in range(0, int(starts.max()) + 1, chunk):
        sel = (starts >= lo) & (starts < lo + chunk)
        if not sel.any():
            continue
        s = starts[sel] - lo
        piece = np.asarray(codes[lo : lo + int(s.max()) + length]) == 4
        np.cumsum(piece, dtype=np.int32, out=cum[1 : len(piece) + 1])
        out[sel] = (cum[s + length] - cum[s]) / length
    return out


def overlaps_intervals(
    chrom_of_window: np.ndarray, starts: np.ndarray, ends: np.ndarray, intervals: pd.DataFrame
) -> np.ndarray:
    """bool[n]: does each window overlap any interval (``chrom, start, end`` table, same names)?"""
    import bioframe

    if len(intervals) == 0 or len(starts) == 0:
        return np.zeros(len(starts), dtype=bool)
    w = pd.DataFrame({"chrom": chrom_of_window, "start": starts, "end": ends})
    w["_i"] = np.arange(len(w))
    hit = bioframe.overlap(w, intervals[["chrom", "start", "end"]], how="inner", return_index=False)
    out = np.zeros(len(w), dtype=bool)
    out[hit["_i"].to_numpy(dtype=np.int64)] = True
    return out
