"""BED / narrowPeak files in, with chromosome names matched to the study's (bioframe reads them).

``read_bed(path, chroms, what)`` is the one reader of interval files: peaks, blacklists and
the regions a user names. Chromosome names go through ``io.chroms.canonical`` (``chr1`` ==
``1``, ``chrM`` == ``MT``); intervals on chromosomes outside ``chroms`` are dropped.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from .chroms import canonical

#: column names bioframe gives a 10-column narrowPeak (``peak`` = summit offset from ``start``)
NARROWPEAK = "narrowPeak"
_HEADER = ("#", "track", "browser")


def _header_lines(path: Path) -> int:
    """Number of leading ``#``/``track``/``browser`` lines (UCSC headers) to skip."""
    opener = gzip.open if path.suffix == ".gz" else open
    n = 0
    with opener(path, "rt") as fh:
        for line in fh:
            if line.strip() and not line.startswith(_HEADER):
                break
            n += 1
    return n


def read_bed(path: str | Path, chroms: list[str] | None = None, what: str = "intervals",
             fix: str = "give a tab-separated chrom/start/end file") -> pd.DataFrame:
    """BED (>= 3 columns) or narrowPeak -> DataFrame ``chrom, start, end`` (+ narrowPeak's columns).

    chroms: the study's chromosome names; each interval's chromosome is renamed to the study's
    alias and intervals elsewhere are dropped (None keeps every interval as written).
    what / fix: name the file's role and the remedy in the one-line error of a bad file.
    """
    import bioframe

    p = Path(path)
    if not p.exists():
        raise DataError(f"{what} file {p} does not exist; {fix}")
    try:
        skip = _header_lines(p)
        raw = bioframe.read_table(str(p), skiprows=skip, comment="#", dtype={0: str})
        if raw.shape[1] < 3:
            raise ValueError(f"{raw.shape[1]} column(s), need chrom, start, end")
        if raw.shape[1] == 10:
            raw.columns = bioframe.SCHEMAS[NARROWPEAK]
        else:
            raw = raw.rename(columns={0: "chrom", 1: "start", 2: "end"})
        df = raw.astype({"start": np.int64, "end": np.int64})
    except pd.errors.EmptyDataError:
        df = pd.DataFrame({"chrom": pd.Series(dtype=str), "start": pd.Series(dtype=np.int64),
                           "end": pd.Series(dtype=np.int64)})
    except (ValueError, TypeError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataError(f"cannot read {what} {p} as BED ({str(exc).splitlines()[0]}); {fix}") from None
    if (df["end"] < df["start"]).any():
        bad = df[df["end"] < df["start"]].iloc[0]
        raise DataError(f"{what} {p}: interval {bad.chrom}:{bad.start}-{bad.end} ends before it starts; {fix}")
    if chroms is not None:
        amap = {canonical(c): c for c in chroms}
        df["chrom"] = df["chrom"].astype(str).map(lambda c: amap.get(canonical(c)))
        df = df.dropna(subset=["chrom"])
    return df.reset_index(drop=True)


__all__ = ["read_bed"]
