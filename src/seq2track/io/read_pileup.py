"""Reads (BAM/CRAM) or fragments -> count-track bigWigs (coverage, 5' insertions, stranded), streamed.

One chromosome at a time (:func:`seq2track.io.reads.iter_read_tracks` for alignments, the
fragment table grouped by chromosome for BED/BEDPE), so a whole-genome BAM never sits in RAM;
each bigWig is written under a temporary name and renamed in at the end. What each ``kind``
counts, the Tn5 shift and the read filters are documented in :mod:`seq2track.io.reads`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..errors import DataError
from .chroms import resolve
from .pileup import Runs, read_fragments, read_sizes, thin_mask


class ReadsPileupResult(NamedTuple):
    paths: dict[str, Path]  # track name ("coverage", "insertions", "+", "-") -> bigWig written
    paired: bool
    n_reads: int  # alignments (BAM) or intervals (fragments) seen
    n_filtered: int  # dropped by a filter
    n_units: int  # fragments/reads counted
    total: float  # sum over bases of every track written


def track_paths(out: str | Path, kind: str) -> dict[str, Path]:
    """bigWig path per track: ``out`` itself, or ``NAME.plus.bw`` / ``NAME.minus.bw`` for ``stranded``."""
    from .reads import track_names

    names = track_names(kind)
    out = Path(out)
    if names == ["+", "-"]:
        stem = out.name[: -len(out.suffix)] if out.suffix else out.name
        return {"+": out.with_name(f"{stem}.plus{out.suffix or '.bw'}"),
                "-": out.with_name(f"{stem}.minus{out.suffix or '.bw'}")}
    return {names[0]: out}


class _StreamingBigWigs:
    """One bigWig per track, written chromosome by chromosome in header order, renamed in at the end."""

    def __init__(self, paths: Mapping[str, Path], sizes: Mapping[str, int]):
        import contextlib

        import pyBigWig

        from ..atomic import atomic_path

        self._stack = contextlib.ExitStack()
        self.bw = {}
        self.total = 0.0
        for name, p in paths.items():
            tmp = self._stack.enter_context(atomic_path(p))
            bw = pyBigWig.open(str(tmp), "w")
            bw.addHeader([(c, int(n)) for c, n in sizes.items()], maxZooms=10)
            self.bw[name] = bw

    def add(self, chrom: str, runs: Mapping[str, Runs]) -> None:
        for name, r in runs.items():
            if len(r.starts):
                self.bw[name].addEntries([chrom] * len(r.starts), r.starts.tolist(), ends=r.ends.tolist(),
                                         values=r.values.tolist())
                self.total += float(((r.ends - r.starts) * r.values).sum())

    def __enter__(self) -> "_StreamingBigWigs":
        return self

    def __exit__(self, *exc) -> None:
        for bw in self.bw.values():
            bw.close()
        self._stack.__exit__(*exc)  # renames into place only when no exception


def pileup_reads(
    path: str | Path,
    genome_sizes: str | Path | Mapping[str, int],
    out: str | Path,
    kind: str = "coverage",
    reference: str | Path | None = None,
    filt=None,
    shift: tuple[int, int] = (0, 0),
    extend: int | None = None,
    paired: bool | None = None,
    fraction: float = 1.0,
    seed: int = 0,
) -> ReadsPileupResult:
    """BAM/CRAM -> bigWig(s) of ``kind`` (see :mod:`seq2track.io.reads`), one chromosome at a time.

    The header lists every genome chromosome (genome order and spelling); chromosomes the BAM
    lacks are empty. Every bigWig is written under a temporary name and renamed at the end.
    """
    from .reads import ReadFilter, iter_read_tracks

    sizes = read_sizes(genome_sizes)
    paths = track_paths(out, kind)
    stats: dict = {"paired": bool(paired), "n_reads": 0, "n_filtered": 0, "n_units": 0}
    with _StreamingBigWigs(paths, sizes) as w:
        for chrom, runs in iter_read_tracks(
            path, sizes, kind, reference=reference, filt=filt or ReadFilter(), shift=shift, extend=extend,
            paired=paired, fraction=fraction, seed=seed, dense=False, stats=stats,
        ):
            w.add(chrom, runs)
    return ReadsPileupResult(paths, stats["paired"], stats["n_reads"], stats["n_filtered"], stats["n_units"], w.total)


def pileup_fragment_counts(
    fragments: str | Path,
    genome_sizes: str | Path | Mapping[str, int],
    out: str | Path,
    kind: str = "insertions",
    shift: tuple[int, int] = (0, 0),
    blacklist=None,
    fraction: float = 1.0,
    seed: int = 0,
    clip: bool = False,
) -> ReadsPileupResult:
    """BED/BEDPE fragments -> ``kind`` bigWig(s): fragment ends are the reads' 5' ends (+ at start, - at end)."""
    from .reads import events_runs, fragment_events

    sizes = read_sizes(genome_sizes)
    frags = read_fragments(fragments)
    n_total = len(frags)
    keep = thin_mask(n_total, fraction, np.random.default_rng(seed))
    frags = frags[keep]
    groups = dict(list(frags.groupby("chrom", sort=False)))
    target = {str(f): resolve(str(f), sizes) for f in groups}
    unknown = [f for f, g in target.items() if g is None]
    if unknown and not clip:
        raise DataError(
            f"fragment file {fragments} has intervals on chromosome(s) the genome lacks: {', '.join(unknown[:10])}; "
            "use the genome the fragments were aligned to, or pass --clip to drop them"
        )
    by_genome: dict[str, list[pd.DataFrame]] = {}
    for f, g in target.items():
        if g is not None:
            by_genome.setdefault(g, []).append(groups[f])
    n_filt = sum(len(groups[f]) for f in unknown)
    n_units = 0
    paths = track_paths(out, kind)
    with _StreamingBigWigs(paths, sizes) as w:
        for g in sizes:
            if g not in by_genome:
                continue
            sub = pd.concat(by_genome[g])
            s, e = sub["start"].to_numpy(np.int64), sub["end"].to_numpy(np.int64)
            if (e > sizes[g]).any() and not clip:
                raise DataError(
                    f"fragment file {fragments}: intervals on {g} run past its end ({sizes[g]:,} bp); use the "
                    "genome they were aligned to, or pass --clip"
                )
            ev = fragment_events(s, e, sizes[g], shift, blacklist, g)
            n_filt += ev.n_filtered
            n_units += len(ev.starts)
            w.add(g, events_runs(ev, kind))
    return ReadsPileupResult(paths, True, n_total, n_filt, n_units, w.total)
