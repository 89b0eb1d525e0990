"""Fragments or reads -> per-base coverage bigWig (a pileup), with seeded binomial thinning.

Input: a BED-like text file, plain or gzip, read with pandas:

* BED3+ fragments (``chrom start end ...``), e.g. MNase/ATAC fragment files;
* 3-column BEDPE as MACS writes it (``chrom start end`` of the whole fragment);
* 10-column BEDPE (``chrom1 start1 end1 chrom2 start2 end2 ...``): the fragment runs from
  ``min(start1, start2)`` to ``max(end1, end2)``; pairs on two chromosomes are dropped and counted;
* BED6 reads (``chrom start end name score strand``): each read is piled up as given
  (no extension to a fragment length).

Coverage at a base = the number of kept intervals that cover it. The bigWig holds run-length
entries (bedGraph-style), zeros are not stored, so bases without coverage read as NaN in
pyBigWig and as 0 under the project's ``missing: zero`` policy. The header lists every
chromosome of the genome, in the genome's order and spelling. Coverage is computed from
sorted interval events (memory O(fragments), not O(chromosome length)).

Thinning: fragment ``i`` (in file order) is kept iff ``u_i < fraction`` with ``u`` drawn from
``numpy.random.default_rng(seed)``: the same file, fraction and seed give the same bigWig,
byte for byte.

Chromosome names are matched with :mod:`seq2track.io.chroms` (``II`` in the file, ``chrII``
in the genome). Policy for intervals the genome cannot hold: by default a ``DataError``
naming the file, the chromosome and the fix; with ``clip=True`` intervals on chromosomes the
genome lacks are dropped, ends past a chromosome end are clipped to it (intervals that start
past it are dropped), and the counts are logged and returned.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError
from .chroms import resolve

log = logging.getLogger(__name__)

_SEQ_SUFFIXES = (".fa", ".fasta", ".fna", ".fa.gz", ".fasta.gz", ".fna.gz", ".fa.bgz", ".2bit")


class Runs(NamedTuple):
    """Non-zero constant runs of one chromosome: ``[starts[i], ends[i])`` has value ``values[i]``."""

    starts: np.ndarray  # int64[n_runs]
    ends: np.ndarray  # int64[n_runs]
    values: np.ndarray  # float64[n_runs]


class PileupResult(NamedTuple):
    path: Path
    n_fragments: int  # intervals read from the file
    n_kept: int  # after thinning, dropping and clipping
    total_coverage: int  # sum over bases of coverage (= sum of kept interval lengths)
    n_dropped: int  # dropped by clip=True (unknown chromosome, starts past the end, pairs across chromosomes)
    n_clipped: int  # ends clipped to the chromosome end by clip=True


# --- genome sizes --------------------------------------------------------------------
def read_sizes(source: str | Path | Mapping[str, int]) -> dict[str, int]:
    """Chromosome sizes from a FASTA/2bit (via ``Genome``), a ``.fai``, a chrom.sizes file or a dict.

    The returned dict keeps the file's names and order.
    """
    if isinstance(source, Mapping):
        return {str(k): int(v) for k, v in source.items()}
    p = Path(source)
    name = p.name.lower()
    if name.endswith(_SEQ_SUFFIXES):
        from .genome import Genome

        with Genome(p) as g:
            return dict(g.sizes)
    if not p.exists():
        raise DataError(f"genome sizes file {p} does not exist; give a FASTA, a .fai or a chrom.sizes file")
    try:
        df = pd.read_csv(p, sep="\t", header=None, usecols=[0, 1], dtype={0: str, 1: np.int64}, comment="#")
    except Exception as exc:
        raise DataError(
            f"cannot read chromosome sizes from {p} ({type(exc).__name__}: {exc}); "
            "give a FASTA (.fa), its .fai index, or a two-column chrom.sizes file (name<TAB>length)"
        ) from None
    if df.empty:
        raise DataError(f"chromosome sizes file {p} is empty; give a FASTA, a .fai or a chrom.sizes file")
    return dict(zip(df[0].tolist(), df[1].astype(int).tolist()))


# --- fragments -----------------------------------------------------------------------
def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _open_text(path: Path):
    return gzip.open(path, "rt") if _is_gzip(path) else open(path)


def _sniff(path: Path) -> tuple[int, list[str]]:
    """Number of header lines (``#``, ``track``, ``browser``) and the first data line's fields."""
    skip = 0
    with _open_text(path) as fh:
        for line in fh:
            if not line.strip() or line.startswith(("#", "track", "browser")):
                skip += 1
                continue
            return skip, line.rstrip("\n").split("\t")
    return skip, []


def _is_int(s: str) -> bool:
    return s.strip().lstrip("-").isdigit()


def read_fragments(path: str | Path) -> pd.DataFrame:
    """Intervals of a BED3+/BEDPE/BED6 file as a DataFrame ``chrom, start, end`` in file order.

    Raises ``DataError`` (naming the file and line) for unparsable rows, negative starts or
    empty intervals.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"fragment file {p} does not exist; check the path")
    skip, first = _sniff(p)
    if not first:
        raise DataError(f"fragment file {p} holds no intervals; check that it is a BED/BEDPE file")
    if len(first) < 3 or not (_is_int(first[1]) and _is_int(first[2])):
        raise DataError(
            f"fragment file {p} line {skip + 1} is not BED ({first[:4]}); "
            "expected tab-separated chrom, start, end (0-based, half-open)"
        )
    bedpe10 = len(first) >= 6 and _is_int(first[4]) and _is_int(first[5]) and not _is_int(first[3])
    cols = [0, 1, 2, 3, 4, 5] if bedpe10 else [0, 1, 2]
    try:
        df = pd.read_csv(
            p, sep="\t", header=None, usecols=cols, skiprows=skip, comment="#",
            dtype={0: str, 1: np.int64, 2: np.int64, **({3: str, 4: np.int64, 5: np.int64} if bedpe10 else {})},
            compression="gzip" if _is_gzip(p) else None,
        )
    except Exception as exc:
        raise DataError(
            f"cannot parse fragment file {p} ({type(exc).__name__}: {str(exc).splitlines()[0]}); "
            "every line needs tab-separated chrom, integer start, integer end"
        ) from None
    if bedpe10:
        same = (df[0] == df[3]).to_numpy()
        start = np.minimum(df[1].to_numpy(), df[4].to_numpy())
        end = np.maximum(df[2].to_numpy(), df[5].to_numpy())
        out = pd.DataFrame({"chrom": df[0].to_numpy(), "start": start, "end": end})
        out.attrs["n_cross_chrom"] = int((~same).sum())
        out = out[same].reset_index(drop=True)
    else:
        out = pd.DataFrame({"chrom": df[0].to_numpy(), "start": df[1].to_numpy(), "end": df[2].to_numpy()})
        out.attrs["n_cross_chrom"] = 0
    bad = (out["start"].to_numpy() < 0) | (out["end"].to_numpy() <= out["start"].to_numpy())
    if bad.any():
        i = int(np.argmax(bad))
        r = out.iloc[i]
        raise DataError(
            f"fragment file {p}: interval {r['chrom']}:{r['start']}-{r['end']} (data row {i + 1}) "
            "has a negative start or end <= start; fix or drop such lines (coordinates are 0-based, half-open)"
        )
    return out


def thin_mask(n: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Binomial thinning: ``bool[n]``, each entry True with probability ``fraction``."""
    if not 0.0 < fraction <= 1.0:
        raise ConfigError(f"thinning fraction must be in (0, 1], got {fraction}; e.g. --fraction 0.5")
    if fraction == 1.0:
        return np.ones(n, dtype=bool)
    return rng.random(n) < fraction


# --- coverage ------------------------------------------------------------------------
def coverage_runs(starts: np.ndarray, ends: np.ndarray) -> Runs:
    """Non-zero runs of the pileup of intervals ``[starts[i], ends[i])`` (any order).

    ``starts, ends: int[n]`` -> ``Runs`` sorted by position; adjacent runs differ in value.
    """
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    if len(starts) == 0:
        e = np.zeros(0, np.int64)
        return Runs(e, e, np.zeros(0))
    pos = np.concatenate([starts, ends])
    delta = np.concatenate([np.ones(len(starts), np.int64), -np.ones(len(ends), np.int64)])
    upos, inv = np.unique(pos, return_inverse=True)
    net = np.bincount(inv, weights=delta, minlength=len(upos)).astype(np.int64)
    keep = net != 0
    upos, net = upos[keep], net[keep]
    level = np.cumsum(net)
    run_s, run_e, val = upos[:-1], upos[1:], level[:-1]
    nz = val != 0
    return Runs(run_s[nz], run_e[nz], val[nz].astype(np.float64))


def dense_coverage(starts: np.ndarray, ends: np.ndarray, length: int) -> np.ndarray:
    """Per-base pileup ``int32[length]`` of intervals inside ``[0, length)``."""
    d = np.bincount(np.asarray(starts, np.int64), minlength=length + 1)[: length + 1].astype(np.int64)
    d -= np.bincount(np.asarray(ends, np.int64), minlength=length + 1)[: length + 1]
    return np.cumsum(d[:length]).astype(np.int32)


def write_runs_bigwig(path: str | Path, sizes: Mapping[str, int], runs: Mapping[str, Runs]) -> None:
    """Write run-length entries (zeros omitted) as a bigWig, atomically; header = ``sizes`` in order."""
    import pyBigWig

    from ..atomic import atomic_path

    with atomic_path(path) as tmp:
        bw = pyBigWig.open(str(tmp), "w")
        try:
            bw.addHeader([(c, int(n)) for c, n in sizes.items()], maxZooms=10)
            for c in sizes:
                r = runs.get(c)
                if r is None or len(r.starts) == 0:
                    continue
                bw.addEntries(
                    [c] * len(r.starts), r.starts.tolist(), ends=r.ends.tolist(), values=r.values.tolist()
                )
        finally:
            bw.close()


def write_dense_bigwig(
    path: str | Path, sizes: Mapping[str, int], values: Mapping[str, np.ndarray], span: int = 1
) -> None:
    """Write per-base ``float[len]`` arrays as fixed-step stretches over non-zero values, atomically.

    For continuous signals, where run-length entries would not compress. With ``span > 1``
    each aligned ``span``-bp block stores its mean (the last, partial block its own mean),
    so bin means at any multiple of ``span`` are exact. Zeros are not stored.
    """
    import pyBigWig

    from ..atomic import atomic_path

    with atomic_path(path) as tmp:
        bw = pyBigWig.open(str(tmp), "w")
        try:
            bw.addHeader([(c, int(n)) for c, n in sizes.items()], maxZooms=10)
            for c in sizes:
                if c not in values:
                    continue
                v = np.asarray(values[c], dtype=np.float64)
                n = len(v)
                nb = -(-n // span)
                sums = np.add.reduceat(v, np.arange(0, n, span)) if n else np.zeros(0)
                cnt = np.minimum(span, n - np.arange(nb) * span)
                m = (sums / cnt).astype(np.float32)
                nz = np.concatenate([[False], m != 0, [False]])
                edges = np.flatnonzero(nz[1:] != nz[:-1])
                for s, e in zip(edges[0::2], edges[1::2]):
                    full_e = e if (e * span <= n) else e - 1  # a partial last block is its own entry
                    if full_e > s:
                        bw.addEntries(c, int(s * span), values=m[s:full_e].astype(np.float64), span=span, step=span)
                    if full_e < e:
                        bw.addEntries([c], [int(full_e * span)], ends=[n], values=[float(m[full_e])])
        finally:
            bw.close()


# --- the stage -----------------------------------------------------------------------
def pileup_frame(
    frags: pd.DataFrame,
    sizes: Mapping[str, int],
    out: str | Path,
    fraction: float = 1.0,
    seed: int = 0,
    clip: bool = False,
    source: str = "<fragments>",
) -> PileupResult:
    """Pile up a ``chrom, start, end`` frame (file order) into a coverage bigWig at ``out``.

    Chromosomes and ends are checked on every interval, before thinning; ``n_dropped`` and
    ``n_clipped`` count the whole input.
    """
    sizes = {str(k): int(v) for k, v in sizes.items()}
    n_total = len(frags)
    keep = thin_mask(n_total, fraction, np.random.default_rng(seed))
    n_dropped = int(frags.attrs.get("n_cross_chrom", 0))
    n_clipped = 0
    groups = list(frags.reset_index(drop=True).groupby("chrom", sort=False))
    target = {str(fchrom): resolve(str(fchrom), sizes) for fchrom, _ in groups}
    unknown = {f: len(sub) for (f, sub) in groups if target[str(f)] is None}
    if unknown:
        if not clip:
            shown = ", ".join(list(sizes)[:20]) + (" ..." if len(sizes) > 20 else "")
            names = ", ".join(f"{k} ({v} intervals)" for k, v in list(unknown.items())[:10])
            raise DataError(
                f"fragment file {source} has intervals on chromosome(s) the genome lacks: {names} "
                f"(the genome has: {shown}); use the genome the fragments were aligned to, "
                "or pass --clip to drop them"
            )
        n_dropped += sum(unknown.values())
    per_chrom: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {}
    for fchrom, sub in groups:
        gchrom = target[str(fchrom)]
        if gchrom is None:
            continue
        s = sub["start"].to_numpy(np.int64)
        e = sub["end"].to_numpy(np.int64)
        k = keep[sub.index.to_numpy()]
        length = sizes[gchrom]
        over = e > length
        if over.any():
            if not clip:
                i = int(np.argmax(over))
                raise DataError(
                    f"fragment file {source}: {int(over.sum())} interval(s) on {fchrom} run past its end "
                    f"({length:,} bp in the genome), e.g. {fchrom}:{s[i]}-{e[i]}; the fragments are probably "
                    "from another assembly: use the genome they were aligned to, or pass --clip to clip them"
                )
            past = s >= length
            n_dropped += int(past.sum())
            n_clipped += int((over & ~past).sum())
            s, e, k = s[~past], np.minimum(e[~past], length), k[~past]
        s, e = s[k], e[k]
        lists = per_chrom.setdefault(gchrom, ([], []))  # two spellings of one chromosome merge here
        lists[0].append(s)
        lists[1].append(e)
    runs: dict[str, Runs] = {}
    total = n_kept = 0
    for gchrom, (ss, ee) in per_chrom.items():
        s, e = np.concatenate(ss), np.concatenate(ee)
        runs[gchrom] = coverage_runs(s, e)
        total += int((e - s).sum())
        n_kept += len(s)
    if n_dropped or n_clipped:
        log.warning(
            "pileup %s: dropped %d interval(s) (unknown chromosome, past the end or across chromosomes), "
            "clipped %d at a chromosome end", source, n_dropped, n_clipped,
        )
    write_runs_bigwig(out, sizes, runs)
    return PileupResult(Path(out), n_total, n_kept, total, n_dropped, n_clipped)


def pileup(
    fragments: str | Path,
    genome_sizes: str | Path | Mapping[str, int],
    out: str | Path,
    fraction: float = 1.0,
    seed: int = 0,
    clip: bool = False,
) -> PileupResult:
    """Fragment/read file -> per-base coverage bigWig, optionally thinned to ``fraction``.

    ``genome_sizes``: a FASTA/2bit, a ``.fai``, a chrom.sizes file, or ``{chrom: length}``.
    """
    sizes = read_sizes(genome_sizes)
    frags = read_fragments(fragments)
    if frags.attrs.get("n_cross_chrom") and not clip:
        raise DataError(
            f"fragment file {fragments}: {frags.attrs['n_cross_chrom']} BEDPE pair(s) have mates on two "
            "chromosomes; they are not fragments: filter them out, or pass --clip to drop them"
        )
    return pileup_frame(frags, sizes, out, fraction=fraction, seed=seed, clip=clip, source=str(fragments))
