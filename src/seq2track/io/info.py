"""``seq2track info``: what bigWigInfo, faSize or a FASTQ peek would tell about a file.

:func:`describe` sniffs the file (magic bytes first, then the name) and returns a JSON-able
dict; :func:`format_text` renders it for people. Kinds:

* ``bigwig``: chromosomes and lengths, which hold data, bases covered, min/max/mean/std
  (the header's whole-file summary, as bigWigInfo prints it), zoom levels, whether zeros are
  stored, and the data step (gcd of interval boundaries on a sample: 1 for per-base files).
* ``fasta`` / ``2bit``: per sequence length, N fraction (N / length) and GC fraction
  (G+C over A+C+G+T, so Ns do not dilute it); soft-masked (lower-case) fraction for FASTA.
  FASTA is streamed (plain, gzip or bgzip), so no ``.fai`` is written beside the file.
* ``fastq``: the first records with Phred qualities decoded, and read-length and quality
  distributions of the first ``n_reads`` (default 10,000) reads.
* ``intervals`` (BED / BEDPE / narrowPeak, optionally gzip): count, per-chromosome counts,
  length distribution. A 6+-column BEDPE with a chromosome in column 4 is a fragment
  ``chrom1:start1-end2`` when both ends lie on one chromosome.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError

BIGWIG_MAGIC = (0x888FFC26).to_bytes(4, "little")
TWOBIT_MAGIC = (0x1A412743).to_bytes(4, "little")
GZIP_MAGIC = b"\x1f\x8b"
_QUANTILES = (0.0, 0.1, 0.5, 0.9, 0.99, 1.0)


# --- sniffing -----------------------------------------------------------------------------
def _open_text(path: Path):
    with open(path, "rb") as fh:
        gz = fh.read(2) == GZIP_MAGIC
    return gzip.open(path, "rb") if gz else open(path, "rb")


def sniff(path: str | Path) -> str:
    """The kind of a file: ``bigwig``, ``2bit``, ``fasta``, ``fastq`` or ``intervals``."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p} does not exist; check the path")
    with open(p, "rb") as fh:
        head = fh.read(4)
    if head == BIGWIG_MAGIC:
        return "bigwig"
    if head == TWOBIT_MAGIC:
        return "2bit"
    if head == (0x8789F2EB).to_bytes(4, "little"):
        raise DataError(f"{p} is a bigBed, not a bigWig; convert it with bigBedToBed and run info on the BED")
    try:
        with _open_text(p) as fh:
            first = b""
            for line in fh:
                if line.strip() and not line.startswith((b"#", b"track", b"browser")):
                    first = line
                    break
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read {p} ({exc}); it may be truncated or not a genomics file") from None
    if first.startswith(b">"):
        return "fasta"
    if first.startswith(b"@"):
        return "fastq"
    if b"\t" in first:
        return "intervals"
    raise DataError(
        f"cannot tell what {p} is (not bigWig, 2bit, FASTA, FASTQ or tab-separated BED); "
        "give a bigWig, FASTA/2bit, FASTQ(.gz) or BED/BEDPE(.gz) file"
    )


def describe(path: str | Path, n_reads: int = 10_000, n_show: int = 3) -> dict[str, Any]:
    """Summarise any supported file; see the module docstring for the fields per kind."""
    p = Path(path)
    kind = sniff(p)
    fn = {
        "bigwig": lambda: bigwig_info(p),
        "2bit": lambda: twobit_info(p),
        "fasta": lambda: fasta_info(p),
        "fastq": lambda: fastq_info(p, n_reads=n_reads, n_show=n_show),
        "intervals": lambda: intervals_info(p),
    }[kind]
    out = fn()
    return {"path": str(p), "kind": kind, "file_size": p.stat().st_size, **out}


def _quantiles(x: np.ndarray) -> dict[str, float]:
    """min, p10, median, p90, p99, max and mean of ``x``."""
    if x.size == 0:
        return {}
    q = np.quantile(x, _QUANTILES)
    return {
        "min": float(q[0]), "p10": float(q[1]), "median": float(q[2]), "p90": float(q[3]),
        "p99": float(q[4]), "max": float(q[5]), "mean": float(x.mean()),
    }


# --- bigWig -------------------------------------------------------------------------------
def bigwig_step(path: str | Path, min_intervals: int = 2000, window_bp: int = 1_000_000) -> int:
    """The data step of a bigWig: gcd of interval starts and lengths in a sample.

    Reads 1-Mb windows of the longest chromosomes with data, from their middle outwards,
    until ``min_intervals`` intervals are seen (intervals ending at a chromosome end are left
    out: the last bin is often clipped). 1 means per-base (or run-length) data; 25 or 50
    means binned data.
    """
    import pyBigWig

    bw = pyBigWig.open(str(path))
    try:
        sizes = bw.chroms()
        g, n = 0, 0
        for c in sorted(sizes, key=lambda c: -sizes[c]):
            L = sizes[c]
            mid = (L // 2 // window_bp) * window_bp
            starts = sorted(range(0, L, window_bp), key=lambda s: (abs(s - mid), s))
            for s0 in starts[:20]:
                iv = bw.intervals(c, s0, min(L, s0 + window_bp))
                if not iv:
                    continue
                a = np.array([(s, e) for s, e, _ in iv if e < L], dtype=np.int64).reshape(-1, 2)
                if len(a):
                    g = int(np.gcd.reduce(np.concatenate([[g], a[:, 0], a[:, 1] - a[:, 0]])))
                    n += len(a)
                if n >= min_intervals or g == 1:
                    return max(g, 1)
        return max(g, 1)
    finally:
        bw.close()


def bigwig_info(path: str | Path) -> dict[str, Any]:
    """bigWigInfo's figures plus per-chromosome data presence, zeros and step."""
    import bbi
    import pyBigWig

    p = Path(path)
    try:
        meta = bbi.info(str(p))
        zooms = [int(z) for z in bbi.zooms(str(p))]
        bw = pyBigWig.open(str(p))
    except Exception as exc:
        raise DataError(f"{p} is not a readable bigWig ({exc}); re-download it (check its md5)") from None
    try:
        raw = bw.chroms()
        sizes = {str(k): int(raw[k]) for k in sorted(raw, key=natural_key)}
        # zoom-level coverage: no zoom record means no data on that chromosome
        with_data = [c for c in sizes if (bw.stats(c, type="coverage")[0] or 0.0) > 0]
    finally:
        bw.close()
    s = meta["summary"]
    covered = int(s["basesCovered"])
    total = int(sum(sizes.values()))
    vmin, vmax = float(s["min"]), float(s["max"])
    zeros: bool | None = True if (vmin == 0.0 or vmax == 0.0) else (False if vmin > 0 or vmax < 0 else None)
    return {
        "version": int(meta["version"]),
        "n_chroms": len(sizes),
        "chroms": sizes,
        "chroms_with_data": with_data,
        "genome_bp": total,
        "bases_covered": covered,
        "covered_fraction": covered / total if total else 0.0,
        "min": vmin,
        "max": vmax,
        "mean": float(s["mean"]),
        "std": float(s["std"]),
        "sum": float(s["sum"]),
        "zoom_levels": zooms,
        "zeros_stored": zeros,
        "step_bp": bigwig_step(p),
    }


# --- sequences ----------------------------------------------------------------------------
def _seq_record(name: str, counts: np.ndarray) -> dict[str, Any]:
    """Figures of one sequence from its byte histogram ``counts: int64[256]``."""
    up = {b: int(counts[ord(b)] + counts[ord(b.lower())]) for b in "ACGT"}
    acgt = sum(up.values())
    length = int(counts.sum())
    n = length - acgt
    lower = int(sum(counts[ord("a") : ord("z") + 1]))
    return {
        "name": name,
        "length": length,
        "n_count": n,
        "gc_count": up["G"] + up["C"],
        "n_fraction": n / length if length else 0.0,
        "gc_fraction": (up["G"] + up["C"]) / acgt if acgt else 0.0,
        "lower_fraction": lower / length if length else 0.0,
    }


def _seq_totals(records: list[dict[str, Any]]) -> dict[str, Any]:
    total = sum(r["length"] for r in records)
    n = sum(r["n_count"] for r in records)
    gc = sum(r["gc_count"] for r in records)
    return {
        "n_sequences": len(records),
        "total_bp": total,
        "n_fraction": n / total if total else 0.0,
        "gc_fraction": gc / (total - n) if total > n else 0.0,
        "sequences": records,
    }


def fasta_info(path: str | Path) -> dict[str, Any]:
    """Stream a FASTA (plain/gzip/bgzip): lengths, N, GC and lower-case per sequence."""
    p = Path(path)
    records: list[dict[str, Any]] = []
    name: str | None = None
    counts = np.zeros(256, dtype=np.int64)
    buf: list[bytes] = []
    nbuf = 0
    seen: set[str] = set()

    def flush() -> None:
        nonlocal buf, nbuf
        if buf:
            counts[:] += np.bincount(np.frombuffer(b"".join(buf), dtype=np.uint8), minlength=256)
            buf, nbuf = [], 0

    try:
        with _open_text(p) as fh:
            for lineno, line in enumerate(fh, 1):
                if line.startswith(b">"):
                    if name is not None:
                        flush()
                        records.append(_seq_record(name, counts))
                    parts = line[1:].split()
                    if not parts:
                        raise DataError(f"{p}:{lineno}: a FASTA header with no name; give every sequence a name")
                    name = parts[0].decode("ascii", "replace")
                    if name in seen:
                        raise DataError(f"{p}:{lineno}: sequence {name!r} appears twice; names must be unique")
                    seen.add(name)
                    counts = np.zeros(256, dtype=np.int64)
                    continue
                if name is None:
                    if line.strip():
                        raise DataError(f"{p}:{lineno}: sequence before the first '>' header; not a FASTA file")
                    continue
                s = line.rstrip(b"\r\n")
                buf.append(s)
                nbuf += len(s)
                if nbuf >= 1 << 23:
                    flush()
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read {p} ({exc}); it may be truncated: re-download it") from None
    if name is not None:
        flush()
        records.append(_seq_record(name, counts))
    if not records:
        raise DataError(f"{p} holds no sequences; check the file")
    return _seq_totals(records)


def twobit_info(path: str | Path) -> dict[str, Any]:
    """Per-sequence length, N and GC of a 2bit file (py2bit base counts)."""
    import py2bit

    p = Path(path)
    try:
        tb = py2bit.open(str(p))
    except Exception as exc:
        raise DataError(f"{p} is not a readable 2bit file ({exc}); re-download it") from None
    try:
        records = []
        for name, length in tb.chroms().items():
            b = tb.bases(name, fraction=False)
            acgt = int(sum(b.values()))
            gc = int(b["G"] + b["C"])
            n = int(length) - acgt
            records.append({
                "name": name, "length": int(length), "n_count": n, "gc_count": gc,
                "n_fraction": n / length if length else 0.0, "gc_fraction": gc / acgt if acgt else 0.0,
                "lower_fraction": None,
            })
    finally:
        tb.close()
    return _seq_totals(records)


# --- FASTQ --------------------------------------------------------------------------------
def _phred_offset(min_char: int, max_char: int) -> int:
    """33 (Sanger / Illumina 1.8+) unless every quality character is >= '@' and some > 'J'."""
    return 64 if (min_char >= 64 and max_char > ord("J")) else 33


def fastq_info(path: str | Path, n_reads: int = 10_000, n_show: int = 3) -> dict[str, Any]:
    """First ``n_show`` records with decoded qualities; distributions over ``n_reads`` reads."""
    p = Path(path)
    ids, seqs, quals = [], [], []
    more = False
    try:
        with _open_text(p) as fh:
            lineno = 0
            while True:
                head = fh.readline()
                if not head:
                    break
                if not head.strip():
                    lineno += 1
                    continue
                if len(ids) >= n_reads:
                    more = True
                    break
                seq, plus, qual = fh.readline(), fh.readline(), fh.readline()
                lineno += 4
                if not head.startswith(b"@") or not plus.startswith(b"+") or not qual:
                    raise DataError(
                        f"{p}:{lineno - 3}: not a 4-line FASTQ record (@id / sequence / + / quality); "
                        "check that the file is FASTQ and not truncated"
                    )
                seq, qual = seq.rstrip(b"\r\n"), qual.rstrip(b"\r\n")
                if len(seq) != len(qual):
                    raise DataError(
                        f"{p}:{lineno - 3}: sequence has {len(seq)} bases but quality {len(qual)} characters; "
                        "the file is corrupt"
                    )
                ids.append(head[1:].rstrip(b"\r\n").decode("ascii", "replace"))
                seqs.append(seq)
                quals.append(qual)
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read {p} ({exc}); it may be truncated") from None
    if not ids:
        raise DataError(f"{p} holds no FASTQ records; check the file")
    allq = np.frombuffer(b"".join(quals), dtype=np.uint8)
    offset = _phred_offset(int(allq.min()), int(allq.max()))
    q = allq.astype(np.int16) - offset
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    read_mean_q = np.add.reduceat(q, bounds[:-1]) / np.maximum(lengths, 1) if len(q) else np.zeros(0)
    bases = np.frombuffer(b"".join(seqs).upper(), dtype=np.uint8)
    acgt = int(np.isin(bases, np.frombuffer(b"ACGT", np.uint8)).sum())
    gc = int(np.isin(bases, np.frombuffer(b"GC", np.uint8)).sum())
    uniq, cnt = np.unique(lengths, return_counts=True)
    top = np.argsort(-cnt, kind="stable")[:10]
    return {
        "phred_offset": offset,
        "n_reads_sampled": len(ids),
        "more_reads": more,
        "first_records": [
            {
                "id": ids[i],
                "sequence": seqs[i].decode("ascii", "replace"),
                "quality": (np.frombuffer(quals[i], np.uint8).astype(int) - offset).tolist(),
            }
            for i in range(min(n_show, len(ids)))
        ],
        "read_length": {**_quantiles(lengths.astype(float)), "most_common": {int(uniq[i]): int(cnt[i]) for i in top}},
        "base_quality": {**_quantiles(q.astype(float)), "fraction_q30": float((q >= 30).mean()) if len(q) else 0.0},
        "read_mean_quality": _quantiles(read_mean_q.astype(float)),
        "gc_fraction": gc / acgt if acgt else 0.0,
        "n_fraction": float(1 - acgt / len(bases)) if len(bases) else 0.0,
    }


# --- BED / BEDPE ---------------------------------------------------------------------------
_ROMAN = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100}


def roman_number(s: str) -> int | None:
    if not s or any(ch not in _ROMAN for ch in s):
        return None
    total = 0
    for a, b in zip(s, s[1:] + " ", strict=True):
        v = _ROMAN[a]
        total += -v if b in _ROMAN and _ROMAN[b] > v else v
    return total


def natural_key(name: str) -> tuple:
    """Karyotype order: ``chr2`` < ``chr10``, ``chrIV`` < ``chrIX``, then other names alphabetically."""
    s = name[3:] if name.lower().startswith("chr") else name
    if s.isdigit():
        return (0, int(s), "")
    r = roman_number(s)
    if r is not None:
        return (0, r, "")
    return (1, 0, s)


def intervals_info(path: str | Path) -> dict[str, Any]:
    """Count, chromosomes and length distribution of a BED / BEDPE / narrowPeak file."""
    import pandas as pd

    p = Path(path)
    skip = 0
    first: list[str] = []
    with _open_text(p) as fh:
        for line in fh:
            if line.startswith((b"#", b"track", b"browser")) or not line.strip():
                skip += 1
                continue
            first = line.decode("ascii", "replace").rstrip("\r\n").split("\t")
            break
    if len(first) < 3:
        raise DataError(f"{p}: the first data line has {len(first)} column(s); BED needs chrom, start, end")
    def is_int(x: str) -> bool:
        return re.fullmatch(r"-?\d+", x) is not None

    # BEDPE: chrom1 start1 end1 chrom2 start2 end2 (BED6/narrowPeak have a strand in column 6)
    bedpe = len(first) >= 6 and not is_int(first[3]) and is_int(first[4]) and is_int(first[5])
    cols = [0, 1, 2, 3, 4, 5] if bedpe else [0, 1, 2]
    try:
        df = pd.read_csv(
            p, sep="\t", header=None, usecols=cols, skiprows=skip, comment="#",
            dtype={0: str, 3: str} if bedpe else {0: str}, compression="infer", skip_blank_lines=True,
        )
    except Exception as exc:
        raise DataError(f"cannot read {p} as BED/BEDPE ({exc}); give tab-separated chrom, start, end columns") from None
    try:
        if bedpe:
            same = (df[0] == df[3]).to_numpy()
            chrom = df[0].to_numpy()[same]
            start = df[1].to_numpy(np.int64)[same]
            end = df[5].to_numpy(np.int64)[same]
            n_inter = int((~same).sum())
        else:
            chrom, start, end = df[0].to_numpy(), df[1].to_numpy(np.int64), df[2].to_numpy(np.int64)
            n_inter = 0
    except (ValueError, TypeError) as exc:
        raise DataError(f"{p}: start/end columns are not integers ({exc}); check the file is BED") from None
    lengths = end - start
    names, counts = np.unique(chrom.astype(str), return_counts=True)
    order = sorted(range(len(names)), key=lambda i: natural_key(str(names[i])))
    return {
        "format": "bedpe" if bedpe else "bed",
        "n_columns": len(first),
        "count": int(len(lengths)),
        "n_interchromosomal": n_inter,
        "n_invalid": int((lengths <= 0).sum()),
        "per_chrom": {str(names[i]): int(counts[i]) for i in order},
        "total_bp": int(lengths[lengths > 0].sum()),
        "length": _quantiles(lengths.astype(float)),
    }
