"""Aligned reads (BAM/CRAM, via pysam) or fragments -> per-chromosome count tracks, streamed.

Reads are fetched **one chromosome at a time** through the index (``AlignmentFile.fetch``);
only that chromosome's kept intervals (int64 starts/ends) are held, never the whole file.

Counts (``kind``):

* ``coverage``: per-base count of fragments covering a base. Paired-end: the fragment runs
  from the leftmost mate's start over ``template_length`` (TLEN) bp, i.e. to the mate's end;
  it is counted once, from the mate with ``TLEN > 0``; mates on two chromosomes (TLEN 0) are
  dropped. Single-end: the aligned read ``[reference_start, reference_end)``, or, with
  ``extend=N``, the read extended 3'-ward to ``N`` bp (clipped at the chromosome ends).
* ``insertions``: 5'-end counts, one per read end (paired-end: both fragment ends).
* ``stranded``: the same 5' counts in two tracks, ``+`` and ``-`` (both stored positive).

Shift convention (``shift=(plus, minus)``, 0-based): a read's 5' base is ``reference_start``
on ``+`` and ``reference_end - 1`` on ``-``; it counts at ``5' base + plus`` on ``+`` and
``5' base + minus`` on ``-``. With no shift the counts sit on the reads' true 5' bases (what a
stranded assay wants). ATAC: ``TN5_SHIFT = (4, -4)``, which is the field's "+4 / -5"
(Buenrostro et al. 2013; deeptools ``--ATACshift``): the -5 is stated on the ``-`` read's
exclusive end coordinate (BED end), i.e. ``reference_end - 5`` = 5' base - 4. Tn5 duplicates
9 bp ``[p, p+9)``: the ``+`` read starting at ``p`` and the ``-`` read ending at ``p+9`` both
count at ``p+4``, the centre of the duplication (tested on hand-built reads). For ``coverage``
the shift moves the fragment's ends the same way: ``[start + plus, end + minus)``, so with
Tn5 it spans both insertion centres. Shifted positions outside the chromosome are dropped.

Filters (:class:`ReadFilter`): minimum MAPQ (and the mate's ``MQ`` tag when present), drop
reads flagged duplicate (0x400; mark them with ``samtools markdup`` / Picard first), proper
pairs only (0x2), drop secondary (0x100) and supplementary (0x800) alignments, and a blacklist:
intervals (fragments or 5' positions) overlapping it are dropped. Unmapped reads never count.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError
from .chroms import resolve

Kind = Literal["coverage", "insertions", "stranded"]
KINDS: tuple[str, ...] = ("coverage", "insertions", "stranded")
#: Tn5 shift of ATAC-seq on the 5' bases: + strand +4, - strand -4 (= the field's -5 on the BED end)
TN5_SHIFT: tuple[int, int] = (4, -4)
ALIGNMENT_SUFFIXES = (".bam", ".cram", ".sam")


@dataclass(frozen=True)
class ReadFilter:
    """Which alignments count. Defaults: MAPQ >= 0, duplicates, secondary and supplementary dropped."""

    min_mapq: int = 0
    drop_duplicates: bool = True
    proper_pairs: bool = False
    drop_secondary: bool = True  # secondary (0x100) and supplementary (0x800)
    blacklist: pd.DataFrame | None = field(default=None, compare=False)  # chrom, start, end


class ChromEvents(NamedTuple):
    """Kept events of one chromosome: fragments (coverage) and strand-aware 5' positions."""

    starts: np.ndarray  # int64[n] fragment/read interval starts (coverage)
    ends: np.ndarray  # int64[n]
    plus: np.ndarray  # int64[m] 5' positions counted on the + strand
    minus: np.ndarray  # int64[k] 5' positions counted on the - strand
    n_reads: int  # alignments seen on the chromosome
    n_filtered: int  # dropped by a filter (flags, MAPQ, pairing, blacklist, out of bounds)


def is_alignment_file(path: str | Path) -> bool:
    """True for BAM/CRAM/SAM by suffix (these go through pysam, not the BED reader)."""
    return str(path).lower().endswith(ALIGNMENT_SUFFIXES)


def open_alignments(path: str | Path, reference: str | Path | None = None):
    """``pysam.AlignmentFile`` opened for indexed reading; one-line ``DataError`` otherwise.

    A CRAM needs ``reference`` (the FASTA it was compressed against): without it htslib would
    try to download the sequence. A BAM/CRAM needs its index (``.bai``/``.csi``/``.crai``).
    """
    import pysam

    p = Path(path)
    if not p.exists():
        raise DataError(f"alignment file {p} does not exist; check the path")
    cram = p.suffix.lower() == ".cram"
    if cram and reference is None:
        raise DataError(
            f"CRAM file {p} needs the reference FASTA it was compressed against; pass --reference GENOME.fa"
        )
    if reference is not None and not Path(reference).exists():
        raise DataError(f"reference FASTA {reference} (for {p}) does not exist; check the path")
    try:
        af = pysam.AlignmentFile(str(p), "rc" if cram else "rb",
                                 reference_filename=str(reference) if reference else None)
    except (ValueError, OSError) as exc:
        raise DataError(f"cannot open {p} as BAM/CRAM ({str(exc).splitlines()[0]}); check the file") from None
    if not af.has_index():
        af.close()
        raise DataError(
            f"alignment file {p} has no index; create it with `samtools index {p}` (or pysam.index) and rerun"
        )
    return af


def _detect_paired(af, n: int = 1000) -> bool:
    """Paired-end if any of the first ``n`` mapped alignments has the paired flag (0x1)."""
    for i, r in enumerate(af.fetch(until_eof=True)):
        if r.is_paired:
            return True
        if i >= n:
            break
    return False


def _merged(bl: pd.DataFrame | None, chrom: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Sorted, merged blacklist intervals of ``chrom`` (``starts, ends``), or None."""
    if bl is None or len(bl) == 0:
        return None
    sub = bl[bl["chrom"] == chrom]
    if len(sub) == 0:
        return None
    import bioframe

    m = bioframe.merge(sub[["chrom", "start", "end"]])
    return m["start"].to_numpy(np.int64), m["end"].to_numpy(np.int64)


def _hits(bl: tuple[np.ndarray, np.ndarray] | None, s: np.ndarray, e: np.ndarray) -> np.ndarray:
    """bool[n]: does ``[s, e)`` overlap a merged, sorted blacklist interval?"""
    if bl is None or len(s) == 0:
        return np.zeros(len(s), dtype=bool)
    bs, be = bl
    i = np.searchsorted(be, s, side="right")
    inside = i < len(bs)
    out = np.zeros(len(s), dtype=bool)
    out[inside] = bs[i[inside]] < e[inside]
    return out


def chrom_events(
    af,
    chrom: str,
    length: int,
    paired: bool,
    filt: ReadFilter = ReadFilter(),
    shift: tuple[int, int] = (0, 0),
    extend: int | None = None,
    keep: np.random.Generator | None = None,
    fraction: float = 1.0,
) -> ChromEvents:
    """Fetch ``chrom`` from an open ``AlignmentFile`` and return its kept events.

    ``keep``/``fraction``: seeded binomial thinning of the counted units (fragments or reads),
    drawn in fetch order.
    """
    s_l: list[int] = []
    e_l: list[int] = []
    st_l: list[bool] = []  # strand of the read (single-end)
    n_reads = n_filt = 0
    bad = 0x4 | (0x900 if filt.drop_secondary else 0) | (0x400 if filt.drop_duplicates else 0)
    min_q = filt.min_mapq
    for r in af.fetch(chrom):
        n_reads += 1
        flag = r.flag
        if flag & bad or r.mapping_quality < min_q:
            n_filt += 1
            continue
        if paired:
            tlen = r.template_length
            if not flag & 0x1:  # an unpaired read in a paired-end file
                n_filt += 1
                continue
            if tlen < 0:  # the right mate: its fragment is counted from the left mate
                continue
            if tlen == 0 or (filt.proper_pairs and not flag & 0x2):  # mates on two chromosomes / improper
                n_filt += 1
                continue
            if min_q and r.has_tag("MQ") and r.get_tag("MQ") < min_q:
                n_filt += 1
                continue
            s = r.reference_start
            s_l.append(s)
            e_l.append(s + tlen)
        else:
            s_l.append(r.reference_start)
            e_l.append(r.reference_end)
            st_l.append(not (flag & 0x10))
    s = np.asarray(s_l, dtype=np.int64)
    e = np.asarray(e_l, dtype=np.int64)
    fwd = np.asarray(st_l, dtype=bool) if not paired else np.ones(len(s), dtype=bool)
    if fraction < 1.0:
        k = (keep if keep is not None else np.random.default_rng(0)).random(len(s)) < fraction
        s, e, fwd = s[k], e[k], fwd[k]
    bl = _merged(filt.blacklist, chrom)
    dp, dm = shift
    if paired:
        cs, ce = s + dp, e + dm  # fragment ends move like the reads' 5' ends
        plus, minus = s + dp, e - 1 + dm
    else:
        if extend is not None:
            cs = np.where(fwd, s, e - extend)
            ce = np.where(fwd, s + extend, e)
        else:
            cs, ce = s.copy(), e.copy()
        cs = np.where(fwd, cs + dp, cs)
        ce = np.where(fwd, ce, ce + dm)
        plus, minus = s[fwd] + dp, e[~fwd] - 1 + dm
    cs, ce = np.clip(cs, 0, length), np.clip(ce, 0, length)
    ok = (ce > cs) & ~_hits(bl, cs, ce)
    plus = plus[(plus >= 0) & (plus < length)]
    minus = minus[(minus >= 0) & (minus < length)]
    plus = plus[~_hits(bl, plus, plus + 1)]
    minus = minus[~_hits(bl, minus, minus + 1)]
    n_filt += int((~ok).sum())
    return ChromEvents(cs[ok], ce[ok], plus, minus, n_reads, n_filt)


def position_runs(pos: np.ndarray):
    """``Runs`` (see ``io.pileup``) of per-base counts of 5' positions ``int64[n]``."""
    from .pileup import Runs

    u, c = np.unique(np.asarray(pos, dtype=np.int64), return_counts=True)
    return Runs(u, u + 1, c.astype(np.float64))


def dense_counts(pos: np.ndarray, length: int) -> np.ndarray:
    """float32[length] per-base counts of positions ``int64[n]`` inside ``[0, length)``."""
    return np.bincount(np.asarray(pos, dtype=np.int64), minlength=length)[:length].astype(np.float32)


def track_names(kind: str) -> list[str]:
    """Track names ``kind`` produces: one, or ``['+', '-']`` for ``stranded``."""
    if kind not in KINDS:
        raise ConfigError(f"count type {kind!r} is unknown; use one of {', '.join(KINDS)}")
    return ["+", "-"] if kind == "stranded" else [kind]


def events_tracks(ev: ChromEvents, kind: str, length: int) -> dict[str, np.ndarray]:
    """Dense per-chromosome tracks ``{name: float32[length]}`` of one chromosome's events."""
    from .pileup import dense_coverage

    if kind == "coverage":
        return {"coverage": dense_coverage(ev.starts, ev.ends, length).astype(np.float32)}
    if kind == "insertions":
        return {"insertions": dense_counts(np.concatenate([ev.plus, ev.minus]), length)}
    track_names(kind)
    return {"+": dense_counts(ev.plus, length), "-": dense_counts(ev.minus, length)}


def events_runs(ev: ChromEvents, kind: str) -> dict[str, object]:
    """Run-length tracks ``{name: Runs}`` of one chromosome's events (what the bigWig stores)."""
    from .pileup import coverage_runs

    if kind == "coverage":
        return {"coverage": coverage_runs(ev.starts, ev.ends)}
    if kind == "insertions":
        return {"insertions": position_runs(np.concatenate([ev.plus, ev.minus]))}
    track_names(kind)
    return {"+": position_runs(ev.plus), "-": position_runs(ev.minus)}


def fragment_events(s: np.ndarray, e: np.ndarray, length: int, shift: tuple[int, int] = (0, 0),
                    blacklist: pd.DataFrame | None = None, chrom: str = "") -> ChromEvents:
    """Events of fragments ``[s, e)`` of one chromosome (BED/BEDPE input): the paired-end rules."""
    s = np.asarray(s, dtype=np.int64)
    e = np.asarray(e, dtype=np.int64)
    dp, dm = shift
    cs, ce = np.clip(s + dp, 0, length), np.clip(e + dm, 0, length)
    bl = _merged(blacklist, chrom)
    ok = (ce > cs) & ~_hits(bl, cs, ce)
    plus, minus = s + dp, e - 1 + dm
    plus = plus[(plus >= 0) & (plus < length)]
    minus = minus[(minus >= 0) & (minus < length)]
    plus, minus = plus[~_hits(bl, plus, plus + 1)], minus[~_hits(bl, minus, minus + 1)]
    return ChromEvents(cs[ok], ce[ok], plus, minus, len(s), int((~ok).sum()))


class ReadsSummary(NamedTuple):
    paired: bool
    n_reads: int
    n_filtered: int
    n_units: int  # fragments (paired) or reads (single) counted for coverage


def iter_read_tracks(
    path: str | Path,
    sizes: Mapping[str, int],
    kind: str = "coverage",
    reference: str | Path | None = None,
    filt: ReadFilter = ReadFilter(),
    shift: tuple[int, int] = (0, 0),
    extend: int | None = None,
    paired: bool | None = None,
    chroms: list[str] | None = None,
    fraction: float = 1.0,
    seed: int = 0,
    dense: bool = True,
    stats: dict | None = None,
) -> Iterator[tuple[str, dict]]:
    """Yield ``(genome_chrom, {track_name: float32[chrom_len]})`` one chromosome at a time.

    ``sizes``: the genome's ``{chrom: length}`` (order = output order); BAM chromosome names are
    matched through ``io.chroms`` aliases and their header lengths must equal the genome's.
    ``chroms``: genome chromosomes to produce (default: every genome chromosome the BAM has);
    a named chromosome the BAM lacks is a ``DataError``. ``paired=None`` detects it from the
    flags. ``dense=False`` yields ``Runs`` instead of arrays (for writing bigWigs).
    ``stats``: filled with ``paired, n_reads, n_filtered, n_units``.
    """
    track_names(kind)
    if extend is not None and extend <= 0:
        raise ConfigError(f"--extend must be a positive fragment length in bp, got {extend}")
    if not 0.0 < fraction <= 1.0:
        raise ConfigError(f"thinning fraction must be in (0, 1], got {fraction}; e.g. --fraction 0.5")
    af = open_alignments(path, reference)
    try:
        bam_sizes = dict(zip(af.references, af.lengths))
        to_bam = {}
        for g in sizes:
            b = resolve(g, bam_sizes)
            if b is not None:
                to_bam[g] = b
        if chroms is not None:
            want = []
            for c in chroms:
                g = resolve(c, sizes)
                if g is None:
                    raise DataError(f"chromosome {c} is not in the genome; the genome has: {', '.join(list(sizes)[:20])}")
                if g not in to_bam:
                    raise DataError(
                        f"chromosome {c} is not in {path} (it has: {', '.join(list(bam_sizes)[:20])}); "
                        "drop it from the chromosome list or use the BAM of this assembly"
                    )
                want.append(g)
        else:
            want = [g for g in sizes if g in to_bam]
            if not want:
                raise DataError(
                    f"{path} shares no chromosome with the genome (BAM has {', '.join(list(bam_sizes)[:10])}; "
                    f"genome has {', '.join(list(sizes)[:10])}); use the genome the reads were aligned to"
                )
        for g in want:
            if int(bam_sizes[to_bam[g]]) != int(sizes[g]):
                raise DataError(
                    f"{path}: chromosome {to_bam[g]} is {bam_sizes[to_bam[g]]:,} bp in the BAM header but "
                    f"{g} is {sizes[g]:,} bp in the genome; the reads were aligned to another assembly"
                )
        is_paired = _detect_paired(af) if paired is None else bool(paired)
        rng = np.random.default_rng(seed)
        tot = {"n_reads": 0, "n_filtered": 0, "n_units": 0}
        for g in want:
            ev = chrom_events(af, to_bam[g], int(sizes[g]), is_paired, filt, shift, extend, rng, fraction)
            tot["n_reads"] += ev.n_reads
            tot["n_filtered"] += ev.n_filtered
            tot["n_units"] += len(ev.starts)
            if stats is not None:
                stats.update(paired=is_paired, **tot)
            yield g, (events_tracks(ev, kind, int(sizes[g])) if dense else events_runs(ev, kind))
    finally:
        af.close()


def read_tracks(path: str | Path, sizes: Mapping[str, int], kind: str = "coverage", **kw) -> dict[str, dict]:
    """``{track_name: {chrom: float32[len]}}`` of a BAM/CRAM (all chromosomes held: for small inputs)."""
    out: dict[str, dict] = {}
    for chrom, tr in iter_read_tracks(path, sizes, kind, **kw):
        for name, v in tr.items():
            out.setdefault(name, {})[chrom] = v
    return out
