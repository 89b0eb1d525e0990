"""Predictions out: a trained model tiled over whole chromosomes, written as bigWig / bedGraph.

Windows are tiled with stride ``target_length`` so the target regions abut: every bin from
``flank`` to the last full window gets exactly one prediction. Predictions are
reverse-complement averaged and taken back to the track's units (normalisation and
transform inverted), so a user can load observed, predicted and residual tracks side by
side in the UCSC Genome Browser or IGV.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import atomic
from .data.cache import PreparedDataset, onehot
from .predict import predict_onehot
from .ranks import leave_if_worker, split_map
from .rundir import Run
from .errors import ConfigError
from .io.chroms import resolve_all


def tile_starts(chrom_len: int, input_length: int, target_length: int) -> np.ndarray:
    """int64[n] window starts whose target regions abut, from 0 to the last window that fits."""
    if chrom_len < input_length:
        return np.zeros(0, dtype=np.int64)
    return np.arange(0, chrom_len - input_length + 1, target_length, dtype=np.int64)


def predict_chrom(model, loss, ds: PreparedDataset, chrom: str, batch_size: int = 256, rc_avg: bool = True) -> tuple[int, np.ndarray]:
    """``(first_bin, values: float32[T, n])``: track-unit predictions for bins first_bin..first_bin+n.

    Inside ``ranks.split_across_ranks`` the tiles are split over the ranks; a worker rank gets
    ``values = None``."""
    L = ds.chrom_sizes[chrom]
    tl = ds.n_bins * ds.resolution
    starts = tile_starts(L, ds.input_length, tl)
    codes = ds.chrom_codes(chrom)
    T = len(ds.track_names)
    step = 16 * batch_size

    def part(lo: int, hi: int) -> np.ndarray:  # tiles lo..hi -> float32[hi - lo, T, B] in track units
        out = np.zeros((hi - lo, T, ds.n_bins), dtype=np.float32)
        for a in range(lo, hi, step):
            s = starts[a : min(a + step, hi)]
            idx = s[:, None] + np.arange(ds.input_length)
            p = predict_onehot(model, loss, onehot(codes[idx]), ds.rc_perm if rc_avg else None, batch_size)
            out[a - lo : a - lo + len(s)] = ds.to_track_units(p)
        return out

    p = split_map(len(starts), part, align=batch_size, name=f"predict {chrom}")
    if p is None:  # a worker rank of a split: its tiles are with rank 0
        return ds.flank // ds.resolution, None
    return ds.flank // ds.resolution, np.transpose(p, (1, 0, 2)).reshape(T, -1)


def write_predictions(
    run_dir: str | Path,
    out: str | Path,
    chroms: list[str] | None = None,
    track: str | None = None,
    residuals: bool = False,
    bedgraph: bool = False,
    batch_size: int | None = None,
) -> dict:
    """Predict over whole chromosomes of a run and write one track as bigWig (or bedGraph).

    chroms: study chromosome names (aliases allowed); None = the test chromosomes.
    residuals: write observed minus predicted instead of the prediction.
    Returns a summary dict (chromosomes, bins written, path).
    """
    run = Run.open(run_dir)
    model, loss, ds = run.model, run.loss, run.prepared
    batch_size = int(batch_size or run.study.evaluate.batch_size)
    if chroms is None:
        chroms = sorted(set(ds.windows.loc[ds.windows.split == "test", "chrom"]), key=ds.chroms.index)
    elif chroms == ["all"]:
        chroms = list(ds.chroms)
    else:
        m = resolve_all(chroms, ds.chrom_sizes, str(run.paths.data), what="prepared cache")
        chroms = [m[c] for c in chroms]
    ti = 0
    if track is not None:
        if track not in ds.track_names:
            raise ConfigError(f"--track {track!r} is not a track of the run; it has {', '.join(ds.track_names)}")
        ti = ds.track_names.index(track)
    res = ds.resolution
    values: dict[str, np.ndarray] = {}
    first: dict[str, int] = {}
    for c in chroms:
        b0, v = predict_chrom(model, loss, ds, c, batch_size)
        if v is None:
            continue
        v = v[ti]
        if residuals:
            obs = ds.chrom_bins(c, ti)[b0 : b0 + len(v)]
            v = obs - v
        values[c], first[c] = v, b0
    leave_if_worker()  # inside ranks.split_across_ranks only rank 0 writes
    out = Path(out)
    if bedgraph:
        with atomic.atomic_path(out) as tmp, open(tmp, "w") as fh:
            for c in chroms:
                s = (first[c] + np.arange(len(values[c]))) * res
                for a, val in zip(s.tolist(), values[c].tolist()):
                    fh.write(f"{c}\t{a}\t{a + res}\t{val:.6g}\n")
    else:
        _write_binned_bigwig(out, ds.chrom_sizes, chroms, values, first, res)
    return {"path": str(out), "chroms": chroms, "bins": {c: int(len(v)) for c, v in values.items()},
            "track": ds.track_names[ti], "residuals": residuals}


def _write_binned_bigwig(path: Path, sizes: dict[str, int], chroms: list[str], values: dict[str, np.ndarray],
                         first: dict[str, int], res: int) -> None:
    import pyBigWig

    with atomic.atomic_path(path) as tmp:
        bw = pyBigWig.open(str(tmp), "w")
        try:
            bw.addHeader([(c, int(sizes[c])) for c in chroms], maxZooms=10)
            for c in chroms:
                v = values[c]
                if len(v):
                    bw.addEntries(c, int(first[c] * res), values=v.astype(np.float64).tolist(), span=res, step=res)
        finally:
            bw.close()
