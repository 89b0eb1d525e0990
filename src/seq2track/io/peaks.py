"""Peaks: called with MACS3 (``macs3 callpeak``) on reads/fragments, or read from the user's file.

``call_peaks(treatment, out, control=...)`` runs the MACS3 command line (the ``peaks`` extra:
``pip install 'seq2track[peaks]'``) in a scratch directory beside ``out`` and moves its
``NAME_peaks.narrowPeak`` to ``out`` atomically. Input formats: ``BAMPE`` for a paired-end BAM
(fragments from the pairs), ``BAM`` for single-end, ``BEDPE`` for fragment files (chrom,
start, end: what ``pileup`` also reads), ``BED`` for single-end reads; ``auto`` picks from the
suffix and, for BAM, the pairing flags.

``read_peaks(path, chroms)``: a narrowPeak (summit = ``start + peak``) or a plain BED (summit =
the midpoint), chromosomes renamed to the study's through :mod:`seq2track.io.chroms`.
``frip(fragments, peaks)``: fraction of fragments overlapping a peak (bioframe).
``count_in_peaks(treatment, peaks, fmt)``: the same FRiP streamed from the peak caller's input
(BAM one chromosome at a time; fragments/reads file); ``call_peaks`` reports it and writes it
beside the narrowPeak as ``OUT.json`` (``{n_peaks, frip, n_in_peaks, n_total, unit, ...}``).
Counted units: fragments (BAMPE: one per pair, from the mate with TLEN > 0; BEDPE: one per
line) or reads (BAM, BED); unmapped, duplicate-flagged (0x400), secondary and supplementary
alignments are not counted (``io.reads.ReadFilter()``'s defaults). A unit is "in peaks" when
its interval ``[start, end)`` overlaps a peak by at least one base.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError

FORMATS = ("auto", "BAMPE", "BAM", "BEDPE", "BED")


class Frip(NamedTuple):
    frip: float  # n_in_peaks / n_total (nan when nothing was counted)
    n_in_peaks: int
    n_total: int
    unit: str  # "fragments" or "reads"


class PeakCall(NamedTuple):
    path: Path  # the narrowPeak written
    n_peaks: int
    format: str  # the MACS3 input format used
    command: list[str]  # the macs3 command line that ran
    frip: Frip | None = None  # fraction of the treatment's fragments/reads in the peaks
    summary: Path | None = None  # OUT.json: n_peaks, FRiP, widths, inputs, command


def macs3_executable() -> str:
    """Path of the ``macs3`` script of this interpreter's environment; a ``ConfigError`` if absent."""
    here = Path(sys.executable).parent / "macs3"
    exe = str(here) if here.exists() else shutil.which("macs3")
    if exe is None:
        raise ConfigError(
            "MACS3 is not installed: peak calling needs the `peaks` extra (pip install 'seq2track[peaks]', "
            "or pip install macs3==3.0.4)"
        )
    return exe


def input_format(path: str | Path, fmt: str = "auto") -> str:
    """The MACS3 ``-f`` of ``path``: ``fmt`` itself, or from the suffix (BAM: from its pairing flags)."""
    if fmt not in FORMATS:
        raise ConfigError(f"peak input format {fmt!r} is unknown; use one of {', '.join(FORMATS)}")
    if fmt != "auto":
        return fmt
    name = str(path).lower()
    if name.endswith((".bam", ".cram", ".sam")):
        from .reads import _detect_paired, open_alignments

        af = open_alignments(path)
        try:
            return "BAMPE" if _detect_paired(af) else "BAM"
        finally:
            af.close()
    if name.endswith((".bedpe", ".bedpe.gz")):
        return "BEDPE"
    if name.endswith((".bed", ".bed.gz")):
        return "BED"
    raise DataError(f"cannot tell the format of {path} from its name; pass --format BAMPE|BAM|BEDPE|BED")


def call_peaks(
    treatment: str | Path | list,
    out: str | Path,
    control: str | Path | list | None = None,
    genome_size: str | float = "hs",
    fmt: str = "auto",
    qvalue: float = 0.05,
    name: str = "seq2track",
    keep_dup: str = "1",
    extra: list[str] | None = None,
    nomodel: bool | None = None,
    with_frip: bool = True,
) -> PeakCall:
    """Run ``macs3 callpeak`` and write its narrowPeak at ``out`` (atomically); returns the count.

    ``treatment``/``control``: one file or a list (same format). ``genome_size``: MACS3's ``-g``
    (effective genome size in bp, or ``hs``/``mm``/``ce``/``dm``). ``nomodel``: default True for
    paired/fragment input (fragments are measured, no shift model is built), False otherwise.
    ``with_frip``: also count the treatment's fragments/reads in the peaks (one more pass over
    the treatment) and write ``OUT.json`` beside the narrowPeak (see :func:`peak_summary`).
    """
    from ..atomic import atomic_path, write_json

    tr = [Path(p) for p in (treatment if isinstance(treatment, (list, tuple)) else [treatment])]
    ct = [Path(p) for p in (control if isinstance(control, (list, tuple)) else [control])] if control else []
    for p in tr + ct:
        if not p.exists():
            raise DataError(f"peak-calling input {p} does not exist; check the path")
    f = input_format(tr[0], fmt)
    exe = macs3_executable()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".macs3-", dir=out.parent) as tmp:
        cmd = [exe, "callpeak", "-t", *map(str, tr), "-f", f, "-g", str(genome_size), "-n", name,
               "--outdir", tmp, "-q", str(qvalue), "--keep-dup", str(keep_dup)]
        if ct:
            cmd += ["-c", *map(str, ct)]
        if nomodel if nomodel is not None else f in ("BAMPE", "BEDPE"):
            cmd += ["--nomodel"] if f in ("BAMPE", "BEDPE") else ["--nomodel", "--extsize", "200"]
        cmd += list(extra or [])
        res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        src = Path(tmp) / f"{name}_peaks.narrowPeak"
        if res.returncode != 0 or not src.exists():
            last = [ln for ln in (res.stderr or "").splitlines() if ln.strip()][-1:] or ["no message"]
            raise DataError(
                f"macs3 callpeak failed on {tr[0]} (exit {res.returncode}: {last[0].strip()}); check the input "
                f"format (-f {f}) and that treatment and control are of the same assembly"
            )
        with atomic_path(out) as t:
            shutil.copyfile(src, t)
    n = sum(1 for ln in out.read_text().splitlines() if ln.strip())
    if not with_frip:
        return PeakCall(out, n, f, cmd)
    pk = read_peaks(out)
    fr = count_in_peaks(tr, pk, f)
    summary = Path(f"{out}.json")
    write_json(summary, peak_summary(pk, fr, format=f, treatment=tr, control=ct, command=cmd,
                                     qvalue=qvalue, genome_size=genome_size))
    return PeakCall(out, n, f, cmd, fr, summary)


def peak_summary(peaks: pd.DataFrame, fr: Frip, **extra) -> dict:
    """What ``OUT.json`` holds: peak count and widths, FRiP with its counts, plus ``extra`` (inputs, command)."""
    w = (peaks["end"] - peaks["start"]).to_numpy(np.int64)
    out = {
        "n_peaks": int(len(peaks)),
        "frip": fr.frip,
        "n_in_peaks": fr.n_in_peaks,
        "n_total": fr.n_total,
        "unit": fr.unit,
        "peak_bp": int(w.sum()),
        "median_width": float(np.median(w)) if len(w) else None,
    }
    for k, v in extra.items():
        out[k] = [str(x) for x in v] if isinstance(v, (list, tuple)) else (str(v) if isinstance(v, Path) else v)
    return out


def _n_overlapping(s: np.ndarray, e: np.ndarray, peaks_chrom: pd.DataFrame) -> int:
    """How many intervals ``[s, e)`` (int64[n]) overlap one of the peaks of one chromosome (``start, end``)."""
    if len(s) == 0 or len(peaks_chrom) == 0:
        return 0
    order = np.argsort(peaks_chrom["start"].to_numpy(np.int64), kind="stable")
    ps = peaks_chrom["start"].to_numpy(np.int64)[order]
    pe = np.maximum.accumulate(peaks_chrom["end"].to_numpy(np.int64)[order])  # running max: merged ends
    i = np.searchsorted(pe, s, side="right")  # first peak (by start) whose running end passes s
    inside = i < len(ps)
    hit = np.zeros(len(s), dtype=bool)
    hit[inside] = ps[i[inside]] < e[inside]
    return int(hit.sum())


def count_in_peaks(treatment: str | Path | list, peaks: pd.DataFrame, fmt: str = "auto") -> Frip:
    """FRiP of the peak caller's input: units (fragments/reads) overlapping a peak, over all units counted.

    ``treatment``: BAM/CRAM (streamed per chromosome through its index) or a BEDPE/BED file, or a
    list of them (counts summed); ``peaks``: ``chrom, start, end`` with the input's chromosome
    names (what MACS3 writes); ``fmt``: as :func:`input_format` (BAMPE/BEDPE count fragments).
    """
    from .pileup import read_fragments
    from .reads import ReadFilter, chrom_events, open_alignments

    files = list(treatment) if isinstance(treatment, (list, tuple)) else [treatment]
    by_chrom = {c: g for c, g in peaks.groupby("chrom", sort=False)}
    none = peaks.iloc[:0]
    n_in = n_all = 0
    unit = "reads"
    for p in files:
        f = input_format(p, fmt)
        unit = "fragments" if f in ("BAMPE", "BEDPE") else "reads"
        if f in ("BAMPE", "BAM"):
            af = open_alignments(p)
            try:
                for c, ln in zip(af.references, af.lengths):
                    ev = chrom_events(af, c, int(ln), f == "BAMPE", ReadFilter())
                    n_all += len(ev.starts)
                    n_in += _n_overlapping(ev.starts, ev.ends, by_chrom.get(c, none))
            finally:
                af.close()
        else:
            fr = read_fragments(p)
            for c, g in fr.groupby("chrom", sort=False):
                n_all += len(g)
                n_in += _n_overlapping(g["start"].to_numpy(np.int64), g["end"].to_numpy(np.int64),
                                       by_chrom.get(c, none))
    return Frip(n_in / n_all if n_all else float("nan"), n_in, n_all, unit)


def read_peaks(path: str | Path, chroms: list[str] | None = None) -> pd.DataFrame:
    """``chrom, start, end, summit`` (absolute 0-based summit) of a narrowPeak or BED file.

    narrowPeak: ``summit = start + peak`` (``peak = -1`` means none: the midpoint); BED: the
    midpoint. Chromosomes are renamed to ``chroms``' spelling (aliases), others dropped.
    """
    from .intervals import read_bed

    df = read_bed(path, chroms, what="peaks", fix="give a narrowPeak or a BED file (chrom, start, end)")
    mid = (df["start"].to_numpy(np.int64) + df["end"].to_numpy(np.int64)) // 2
    col = next((c for c in ("relSummit", "peak") if c in df.columns), None)  # bioframe's narrowPeak name
    if col is not None:
        off = df[col].to_numpy(np.int64)
        summit = np.where(off >= 0, df["start"].to_numpy(np.int64) + off, mid)
    else:
        summit = mid
    out = df.copy()
    out["summit"] = summit.astype(np.int64)
    return out.reset_index(drop=True)


def frip(fragments: pd.DataFrame, peaks: pd.DataFrame) -> float:
    """Fraction of fragments (``chrom, start, end``) that overlap at least one peak."""
    import bioframe

    if len(fragments) == 0:
        return float("nan")
    f = fragments[["chrom", "start", "end"]].copy()
    f["_i"] = np.arange(len(f))
    hit = bioframe.overlap(f, peaks[["chrom", "start", "end"]], how="inner", return_index=False)
    return float(hit["_i"].nunique() / len(f))
