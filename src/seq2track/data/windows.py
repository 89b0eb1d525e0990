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


def n_fraction(codes: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """Fraction of N bases in each window of one chromosome.

    codes: uint8[chrom_len] (N = 4); starts: int64[n]. Returns float32[n].
    """
    cum = np.concatenate([[0], np.cumsum(codes == 4, dtype=np.int64)])
    return ((cum[starts + length] - cum[starts]) / length).astype(np.float32)


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
