"""The prepared dataset on disk, read out-of-core.

Layout of a cache directory (all files written atomically; ``meta.json`` last, so a
directory without it is incomplete and never read):

* ``genome.npy``  uint8[total_bp]: all study chromosomes' codes (A0 C1 G2 T3 N4), concatenated
* ``bins.npy``    float32[n_tracks, total_bins]: raw bin means, concatenated per chromosome
* ``windows.parquet``: every candidate window with ``chrom, start, end, split, keep, reason, n_fraction``
* ``meta.json``   study, hashes, chromosome offsets, transform state, statistics

Both arrays are memory-mapped; a batch is one vectorised gather with no per-window I/O.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError
from ..io.genome import decode, reverse_complement
from . import transforms

_BASES = np.arange(4, dtype=np.uint8)[None, :, None]
META = "meta.json"


def onehot(codes: np.ndarray) -> np.ndarray:
    """uint8[n, L] codes -> float32[n, 4, L] one-hot in A,C,G,T order (N is all zeros)."""
    codes = np.asarray(codes)
    out = np.empty((codes.shape[0], 4, codes.shape[1]), dtype=np.float32)
    # one broadcast comparison: 2.8x faster than four per-base np.equal calls on a 50 Mb
    # sequence and 1.4x on a [256, 2048] batch (benchmarks/03_onehot.py)
    np.equal(codes[:, None, :], _BASES, out=out, casting="unsafe")
    return out


def gather_bins(bins: np.ndarray, first_bin: np.ndarray, n_bins: int) -> np.ndarray:
    """float32[n, T, n_bins]: ``n_bins`` consecutive bins of every track from ``first_bin: int64[n]``.

    bins: float32[T, total_bins] (the cache's ``bins.npy``, memory-mapped); one vectorised gather.
    """
    idx = np.asarray(first_bin, dtype=np.int64)[:, None] + np.arange(n_bins, dtype=np.int64)
    return np.ascontiguousarray(np.transpose(bins[:, idx], (1, 0, 2)))


class PreparedDataset:
    """A prepared cache: windows, memory-mapped genome codes and track bins.

    ``windows`` holds the kept windows (index 0..n-1, the row order every other method uses);
    ``all_windows`` also holds the dropped ones with the reason.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)
        meta_p = self.root / META
        if not meta_p.exists():
            raise DataError(
                f"{self.root} holds no complete seq2track cache (no {META}); run `seq2track prepare STUDY --out {self.root}`"
            )
        self.meta: dict[str, Any] = json.loads(meta_p.read_text())
        self.chroms: list[str] = list(self.meta["chroms"])
        self.chrom_sizes: dict[str, int] = {c: int(s) for c, s in self.meta["chrom_sizes"].items()}
        self.track_names: list[str] = list(self.meta["track_names"])
        self.input_length: int = int(self.meta["input_length"])
        self.resolution: int = int(self.meta["resolution"])
        self.n_bins: int = int(self.meta["n_bins"])
        self.flank: int = int(self.meta["flank"])
        self.transform: str = self.meta["transform"]
        self.norm_state: dict[str, Any] = self.meta["norm_state"]
        self.rc_perm = np.asarray(self.meta["rc_perm"], dtype=np.int64)
        #: where each chromosome starts in ``genome_codes`` (bp) and in ``bins`` (bins)
        self.bp_offsets: dict[str, int] = {c: int(o) for c, o in self.meta["bp_offsets"].items()}
        self.bin_offsets: dict[str, int] = {c: int(o) for c, o in self.meta["bin_offsets"].items()}
        self.all_windows = pd.read_parquet(self.root / "windows.parquet")
        w = self.all_windows[self.all_windows["keep"]].reset_index(drop=True)
        self.windows: pd.DataFrame = w[["chrom", "start", "end", "split"]].copy()
        ci = {c: i for i, c in enumerate(self.chroms)}
        self._w_chrom = self.windows["chrom"].map(ci).to_numpy(np.int64)
        self._w_start = self.windows["start"].to_numpy(np.int64)
        self._bp_off_arr = np.array([self.bp_offsets[c] for c in self.chroms], dtype=np.int64)
        self._bin_off_arr = np.array([self.bin_offsets[c] for c in self.chroms], dtype=np.int64)
        self._size_arr = np.array([self.chrom_sizes[c] for c in self.chroms], dtype=np.int64)

    @classmethod
    def open(cls, root: str | Path) -> "PreparedDataset":
        return cls(root)

    # --- memory maps ---------------------------------------------------------------
    @cached_property
    def genome_codes(self) -> np.ndarray:
        """uint8[total_bp], memory-mapped."""
        return np.load(self.root / "genome.npy", mmap_mode="r")

    @cached_property
    def bins(self) -> np.ndarray:
        """float32[n_tracks, total_bins] raw bin means, memory-mapped."""
        return np.load(self.root / "bins.npy", mmap_mode="r")

    @property
    def study(self):
        from ..config import Study

        return Study.model_validate(self.meta["study"])

    # --- selection -----------------------------------------------------------------
    def rows(self, split: str | None = None) -> np.ndarray:
        """int64 row indices into ``windows`` for a split (all rows when None)."""
        if split is None:
            return np.arange(len(self.windows))
        if split not in ("train", "val", "test"):
            raise ValueError(f"split must be train, val or test, not {split!r}")
        return np.flatnonzero(self.windows["split"].to_numpy() == split)

    def _as_rows(self, which: str | np.ndarray | None) -> np.ndarray:
        if which is None or isinstance(which, str):
            return self.rows(which)
        return np.asarray(which, dtype=np.int64)

    # --- gathers -------------------------------------------------------------------
    def codes(self, rows: np.ndarray, shifts: np.ndarray | None = None, rc: np.ndarray | None = None) -> np.ndarray:
        """uint8[n, input_length] sequence codes of windows ``rows``.

        shifts: int[n] jitter in bp, clipped so the window stays inside its chromosome;
        rc: bool[n], reverse-complement those rows.
        """
        rows = np.asarray(rows, dtype=np.int64)
        ci = self._w_chrom[rows]
        start = self._w_start[rows]
        if shifts is not None:
            lo = -start
            hi = self._size_arr[ci] - (start + self.input_length)
            start = start + np.clip(np.asarray(shifts, dtype=np.int64), lo, hi)
        # rows of a sliding-window view: one contiguous copy per window, no [n, L] index array
        # (330x faster than building and gathering an int64 index per base; 02_loader.py).
        # Made per call, never cached: pickling such a view would copy L bytes per base.
        windows = np.lib.stride_tricks.sliding_window_view(self.genome_codes, self.input_length)
        out = windows[self._bp_off_arr[ci] + start]
        if rc is not None and np.any(rc):
            rc = np.asarray(rc, dtype=bool)
            out[rc] = reverse_complement(out[rc])
        return out

    def onehot(self, rows: np.ndarray, shifts: np.ndarray | None = None, rc: np.ndarray | None = None) -> np.ndarray:
        """float32[n, 4, input_length]."""
        return onehot(self.codes(rows, shifts, rc))

    def raw_targets(self, which: str | np.ndarray | None = None, rc: np.ndarray | None = None) -> np.ndarray:
        """float32[n, n_tracks, n_bins] untransformed bin means (split name or row indices)."""
        rows = self._as_rows(which)
        ci = self._w_chrom[rows]
        b0 = self._bin_off_arr[ci] + (self._w_start[rows] + self.flank) // self.resolution
        y = gather_bins(self.bins, b0, self.n_bins)
        if rc is not None and np.any(rc):
            rc = np.asarray(rc, dtype=bool)
            y[rc] = y[rc][:, self.rc_perm, ::-1]
        return y

    def targets(self, which: str | np.ndarray | None = None, rc: np.ndarray | None = None) -> np.ndarray:
        """float32[n, n_tracks, n_bins]: transformed (and normalised with the train-fitted state)."""
        y = transforms.forward(self.raw_targets(which, rc), self.transform)
        return transforms.apply(y, self.norm_state)

    def to_track_units(self, y: np.ndarray) -> np.ndarray:
        """Invert normalisation and transform: model-scale values -> the track's units."""
        return transforms.inverse(transforms.invert(y, self.norm_state), self.transform)

    def sequence(self, i: int) -> str:
        """Upper-case sequence of window row ``i``."""
        return decode(self.codes(np.array([i]))[0])

    def chrom_bins(self, chrom: str, track: int = 0) -> np.ndarray:
        """float32[chrom_len // resolution] raw bins of one chromosome."""
        off = self.bin_offsets[chrom]
        return np.asarray(self.bins[track, off : off + self.chrom_sizes[chrom] // self.resolution])

    def chrom_codes(self, chrom: str) -> np.ndarray:
        """uint8[chrom_len] codes of one chromosome (memory-mapped view)."""
        off = self.bp_offsets[chrom]
        return self.genome_codes[off : off + self.chrom_sizes[chrom]]

    # --- torch ---------------------------------------------------------------------
    def torch_dataset(self, split: str, augment: Any = None, seed: int | None = None):
        """A torch Dataset over one split yielding ``(x: float32[4, L], y: float32[T, B])``.

        ``augment`` (an ``AugmentConfig``, a dict ``{rc, max_shift}``, True for the study's, or
        None/False) applies to the training split only; asking for it elsewhere is an error.
        """
        from .dataset import WindowDataset

        return WindowDataset(self, split, augment=augment, seed=self.meta["seed"] if seed is None else seed)

    def __len__(self) -> int:
        return len(self.windows)

    def __repr__(self) -> str:
        counts = self.windows["split"].value_counts().to_dict()
        return f"PreparedDataset({self.root}, windows={counts}, tracks={self.track_names})"
