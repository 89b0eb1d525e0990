"""bigWig signal tracks: exact bin means per chromosome, header checks, writing.

Reading is one bulk pybbi request per chunk of a chromosome (exact summaries, not zoom
levels), so a 32-bp bin value equals ``nan_to_num(pyBigWig.values()).mean()`` over the
bin; windows are later cut from these bins by numpy slicing, never per-window reads. Missing-base policy:

* ``missing="zero"`` (default): bases absent from the file count as 0, so a bin that is
  half in a gap has half the mean. Sparse coverage tracks (ATAC pileups store no zeros)
  need this.
* ``missing="covered"``: the mean over covered bases only (bbi / UCSC "mean"); a bin with
  no covered base is 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError
from .chroms import resolve_all

#: Bases read per bulk request; bounds peak memory on 250-Mb human chromosomes.
CHUNK_BP = 1 << 24


@dataclass(frozen=True)
class TrackHeader:
    """What a bigWig says about itself before any data are read."""

    path: Path
    sizes: dict[str, int]


def open_header(path: str | Path) -> TrackHeader:
    """Read and check a bigWig header; a corrupt, empty or non-bigWig file is a ``DataError``."""
    import bbi

    p = Path(path)
    if not p.exists():
        raise DataError(f"track file {p} does not exist; check the `tracks:` paths in the study")
    if p.stat().st_size == 0:
        raise DataError(f"track file {p} is empty (0 bytes); re-download or re-create it")
    try:
        with bbi.open(str(p)) as f:
            if not f.is_bigwig:
                raise DataError(f"track file {p} is a bigBed, not a bigWig; convert it or give a bigWig")
            sizes = {str(k): int(v) for k, v in f.chromsizes.items()}
    except DataError:
        raise
    except Exception as exc:
        raise DataError(
            f"track file {p} is not a readable bigWig ({type(exc).__name__}: {exc}); "
            "it may be truncated or corrupt: re-download it (check its md5) or rebuild it"
        ) from None
    if not sizes:
        raise DataError(f"track file {p} lists no chromosomes; it is empty or corrupt")
    return TrackHeader(p, sizes)


def check_lengths(header: TrackHeader, genome_sizes: dict[str, int], chroms: list[str], genome_path: str) -> dict[str, str]:
    """Map study chroms to the track's names and check lengths against the genome.

    Returns ``{study_name: track_name}``. A length mismatch is an assembly mismatch.
    """
    names = resolve_all(chroms, header.sizes, str(header.path), what="track")
    for c, tname in names.items():
        g = genome_sizes[c]
        t = header.sizes[tname]
        if g != t:
            raise DataError(
                f"chromosome {c} is {g:,} bp in genome {genome_path} but {t:,} bp in track {header.path}: "
                "the files are from different assemblies (e.g. hg19 vs hg38); use the genome the track was made on"
            )
    return names


def read_bins(
    path: str | Path, chrom: str, n_bins: int, resolution: int, missing: str = "zero"
) -> np.ndarray:
    """Bin means of one chromosome: ``float32[n_bins]`` for bins ``[i*res, (i+1)*res)``.

    ``chrom`` is the track's own spelling. One bulk per-base pybbi read per chunk of
    ``CHUNK_BP`` (bbi's binned "exact" summaries misplace a few bin edges on long ranges,
    so bins are averaged here with a reshape). NaN or infinite values stored in the file
    are a ``DataError`` naming the file, chromosome and first bad bin.
    """
    import bbi

    out = np.zeros(n_bins, dtype=np.float32)
    end_bp = n_bins * resolution
    chunk = max(resolution, (CHUNK_BP // resolution) * resolution)
    try:
        with bbi.open(str(path)) as f:
            for lo in range(0, end_bp, chunk):
                hi = min(lo + chunk, end_bp)
                nb = (hi - lo) // resolution
                base = f.fetch(chrom, lo, hi, missing=0.0).reshape(nb, resolution)
                bad = ~np.isfinite(base)
                if bad.any():
                    i = int(np.argmax(bad.any(axis=1)))
                    s0 = lo + i * resolution
                    raise DataError(
                        f"track {path} has NaN/Inf signal in {chrom}:{s0}-{s0 + resolution}; "
                        "it cannot be a training target: fix the file (bigWigToBedGraph, replace the "
                        "NaNs, bedGraphToBigWig) or exclude that chromosome with `exclude_chroms:`"
                    )
                if missing == "zero":
                    vals = base.mean(axis=1)
                else:
                    cov = f.fetch(chrom, lo, hi, missing=np.nan).reshape(nb, resolution)
                    n = np.isfinite(cov).sum(axis=1)
                    vals = np.where(n > 0, base.sum(axis=1) / np.maximum(n, 1), 0.0)
                b0 = lo // resolution
                out[b0 : b0 + nb] = vals
    except DataError:
        raise
    except Exception as exc:
        raise DataError(
            f"cannot read {chrom} from track {path} ({type(exc).__name__}: {exc}); "
            "the file may be truncated or corrupt: re-download or rebuild it"
        ) from None
    return out


def write_bigwig(
    path: str | Path, sizes: dict[str, int], chroms: list[str], values: dict[str, np.ndarray], span: int = 1
) -> None:
    """Write ``values[chrom]: float32[n]`` (one value per ``span`` bp from 0) as a bigWig, atomically.

    Zeros are stored (the file is dense over the given chromosomes).
    """
    import pyBigWig

    from ..atomic import atomic_path

    with atomic_path(path) as tmp:
        bw = pyBigWig.open(str(tmp), "w")
        try:
            bw.addHeader([(c, int(sizes[c])) for c in chroms], maxZooms=10)
            for c in chroms:
                v = np.asarray(values[c], dtype=np.float64)
                n = min(len(v), -(-sizes[c] // span))
                if n == 0:
                    continue
                # the last step may run past the chromosome end: write it as its own interval
                full = n if n * span <= sizes[c] else n - 1
                if full:
                    bw.addEntries(c, 0, values=v[:full].tolist(), span=span, step=span)
                if full < n:
                    bw.addEntries([c], [full * span], ends=[sizes[c]], values=[float(v[full])])
        finally:
            bw.close()
