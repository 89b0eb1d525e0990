"""bigWig signal tracks: exact bin means per chromosome, header checks, writing.

Reading is one bulk pyBigWig request per chunk of a chromosome, so a 32-bp bin value equals
``nan_to_num(pyBigWig.values()).mean()`` over the bin; windows are later cut from these bins
by numpy slicing, never per-window reads. (pybbi is faster for binned summaries but its UCSC
core calls ``exit()`` on a truncated file, killing the process: we read with pyBigWig, which
raises.) Missing-base policy:

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


_BIGWIG_MAGIC = 0x888FFC26
_CHROM_TREE_MAGIC = 0x78CA8C91
_RTREE_MAGIC = 0x2468ACE0
_MAX_ZOOM_LEVELS = 10  # bbiMaxZoomLevels in the UCSC source


def check_structure(p: Path) -> None:
    """Check the offsets and counts that libBigWig trusts when it opens a file.

    pyBigWig.open() segfaults (killing the process) on some corrupt headers: a huge zoom-level
    count, a chromosome-tree node claiming more items than it holds, a chromosome id out of
    range. These few fields are checked here first, so such a file is a ``DataError``.
    """
    import struct

    size = p.stat().st_size

    def bad(what: str) -> DataError:
        return DataError(
            f"track file {p} is not a readable bigWig ({what}); it may be truncated or corrupt: "
            "re-download it (check its md5) or rebuild it"
        )

    with open(p, "rb") as fh:
        head = fh.read(64)
        if len(head) < 64:
            raise bad("shorter than a bigWig header")
        for end in "<>":
            if struct.unpack_from(end + "I", head)[0] == _BIGWIG_MAGIC:
                break
        else:
            return  # not a bigWig at all: pyBigWig says so (and bigBed is refused later)
        _, _, zooms, tree, data, index, _, _, autosql, summary, _, _ = struct.unpack(end + "IHHQQQHHQQIQ", head)
        if zooms > _MAX_ZOOM_LEVELS or 64 + 24 * zooms > size:
            raise bad(f"{zooms} zoom levels")
        for off, name in ((tree, "chromosome tree"), (data, "data"), (index, "index"), (autosql, "autoSql"),
                          (summary, "summary")):
            if off and not 64 <= off < size:  # 0 = absent (an empty file has no index)
                raise bad(f"{name} offset {off} outside the file of {size} bytes")
        for z in range(zooms):
            fh.seek(64 + 24 * z)
            _, _, zdata, zindex = struct.unpack(end + "IIQQ", fh.read(24))
            if not (64 <= zdata < size and 64 <= zindex < size):
                raise bad(f"zoom level {z} points outside the file")
        if not tree:
            raise bad("no chromosome tree")
        if index:
            fh.seek(index)
            magic = fh.read(4)
            if len(magic) < 4 or struct.unpack(end + "I", magic)[0] != _RTREE_MAGIC:
                raise bad("no R-tree index where the header says")
        fh.seek(tree)
        th = fh.read(32)
        if len(th) < 32:
            raise bad("truncated chromosome tree")
        magic, block, key_size, val_size, n_items, _ = struct.unpack(end + "IIIIQQ", th)
        if magic != _CHROM_TREE_MAGIC or not 0 < key_size <= 256 or val_size != 8 or block == 0:
            raise bad("corrupt chromosome tree header")
        todo, seen = [tree + 32], set()
        while todo:
            node = todo.pop()
            if node in seen or len(seen) > n_items + 1 or node + 4 > size:
                raise bad("corrupt chromosome tree")
            seen.add(node)
            fh.seek(node)
            is_leaf, _, count = struct.unpack(end + "BBH", fh.read(4))
            if count > block or node + 4 + count * (key_size + 8) > size:
                raise bad(f"chromosome-tree node with {count} items (block size {block})")
            body = fh.read(count * (key_size + 8))
            for i in range(count):
                off = i * (key_size + 8) + key_size
                if is_leaf:
                    chrom_id, _ = struct.unpack_from(end + "II", body, off)
                    if chrom_id >= n_items:
                        raise bad(f"chromosome id {chrom_id} of {n_items}")
                else:
                    (child,) = struct.unpack_from(end + "Q", body, off)
                    todo.append(child)


def _open(p: Path):
    """Open a bigWig with pyBigWig, which raises (rather than exiting the process, as the UCSC
    library inside pybbi does) on truncated or corrupt files."""
    import pyBigWig

    check_structure(p)
    try:
        bw = pyBigWig.open(str(p))
    except (RuntimeError, OSError) as exc:
        raise DataError(
            f"track file {p} is not a readable bigWig ({exc}); it may be truncated or corrupt: "
            "re-download it (check its md5) or rebuild it"
        ) from None
    if bw is None or not bw.isBigWig():
        raise DataError(f"track file {p} is not a bigWig (a bigBed?); give a bigWig track")
    return bw


def open_header(path: str | Path) -> TrackHeader:
    """Read and check a bigWig header; a corrupt, empty or non-bigWig file is a ``DataError``."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"track file {p} does not exist; check the `tracks:` paths in the study")
    if p.stat().st_size == 0:
        raise DataError(f"track file {p} is empty (0 bytes); re-download or re-create it")
    bw = _open(p)
    try:
        # (not bw.header(): pyBigWig 0.3 segfaults there on files that store NaN)
        sizes = {str(k): int(v) for k, v in (bw.chroms() or {}).items()}
    except (RuntimeError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(
            f"track file {p} has an unreadable chromosome list ({exc}); it is corrupt: re-download or rebuild it"
        ) from None
    finally:
        bw.close()
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

    ``chrom`` is the track's own spelling. One bulk per-base read per chunk of ``CHUNK_BP``
    (pyBigWig ``values(numpy=True)``), averaged with a reshape in float64. Bases absent from
    the file read as NaN there, so stored NaN/Inf are found first with one exact ``stats``
    sum over the chromosome; they are a ``DataError`` naming the file, chromosome and place.
    """
    p = Path(path)
    out = np.zeros(n_bins, dtype=np.float32)
    end_bp = n_bins * resolution
    if end_bp == 0:
        return out
    chunk = max(resolution, (CHUNK_BP // resolution) * resolution)
    bw = _open(p)
    try:
        try:
            # libBigWig's exact sum is None when a stored value is NaN (max still answers)
            total = bw.stats(chrom, 0, end_bp, type="sum", exact=True)[0]
            top = bw.stats(chrom, 0, end_bp, type="max", exact=True)[0]
        except RuntimeError as exc:
            raise DataError(f"cannot read {chrom} from track {p} ({exc}); the file may be corrupt: rebuild it") from None
        if (total is None and top is not None) or (total is not None and not np.isfinite(total)):
            raise DataError(
                f"track {p} has NaN/Inf signal in {chrom}:{_first_bad(bw, chrom, end_bp)}; "
                "it cannot be a training target: fix the file (bigWigToBedGraph, replace the "
                "NaNs, bedGraphToBigWig) or exclude that chromosome with `exclude_chroms:`"
            )
        for lo in range(0, end_bp, chunk):
            hi = min(lo + chunk, end_bp)
            nb = (hi - lo) // resolution
            try:
                base = bw.values(chrom, lo, hi, numpy=True).astype(np.float64).reshape(nb, resolution)
            except RuntimeError as exc:
                raise DataError(f"cannot read {chrom}:{lo}-{hi} from track {p} ({exc}); the file may be corrupt") from None
            covered = np.isfinite(base)
            sums = np.where(covered, base, 0.0).sum(axis=1)
            if missing == "zero":
                vals = sums / resolution
            else:
                n = covered.sum(axis=1)
                vals = np.where(n > 0, sums / np.maximum(n, 1), 0.0)
            out[lo // resolution : lo // resolution + nb] = vals
    finally:
        bw.close()
    return out


def _first_bad(bw, chrom: str, end_bp: int) -> str:
    """'start-end' of the first interval with a non-finite value (for the error message)."""
    for s, e, v in bw.intervals(chrom, 0, end_bp) or ():
        if not np.isfinite(v):
            return f"{s}-{e}"
    return f"0-{end_bp}"


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
