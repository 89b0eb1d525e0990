"""A small strict VCF reader (plain text, gzip or bgzip): one row per (record, ALT allele).

Why not pysam / cyvcf2: both install here (pysam 0.24.1, cyvcf2 0.35.0 wheels), but
htslib cannot read a plain-gzip VCF (pysam: "seek not implemented in files compressed by
method 1"), and cyvcf2 turns an unparsable POS into 1 after printing a warning. Variant
effect prediction needs only the eight fixed columns, so this reader parses those itself
and fails with the file and line number on anything malformed.

Multi-allelic records are split: ``A -> G,T`` becomes two rows, ``allele`` 1 and 2.
Symbolic or missing ALT alleles (``<DEL>``, ``*``, ``.``, breakends) are kept with
``symbolic=True`` so that callers can count what they skip.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pandas as pd

from ..errors import DataError

#: columns of the table ``read_vcf`` returns
COLUMNS = ("chrom", "pos", "id", "ref", "alt", "allele", "symbolic", "filter", "info", "line")

_BASES = re.compile(r"^[ACGTNacgtn]+$")
_FIXED = ("#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO")


def _open_text(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":  # gzip and bgzip (a bgzip file is a series of gzip members)
        return gzip.open(path, "rt", encoding="utf-8", errors="strict", newline="")
    return open(path, encoding="utf-8", errors="strict", newline="")


def _is_symbolic(alt: str) -> bool:
    return not _BASES.match(alt)


def read_vcf(path: str | Path) -> pd.DataFrame:
    """Read a VCF into a table with one row per ALT allele.

    Returns a DataFrame with columns ``chrom`` (as written), ``pos`` (1-based, as in the
    file), ``id``, ``ref`` and ``alt`` (upper case), ``allele`` (1-based index of the ALT in
    its record), ``symbolic`` (ALT is not a plain base string), ``filter``, ``info`` (the raw
    INFO text) and ``line`` (1-based line number in the file).
    Raises ``DataError`` naming the file and line for anything that is not valid VCF.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"VCF {p} does not exist; check the --vcf path")
    rows: list[tuple] = []
    header_seen = False
    try:
        with _open_text(p) as fh:
            for lineno, raw in enumerate(fh, start=1):
                line = raw.rstrip("\r\n")
                if not line:
                    continue
                if line.startswith("##"):
                    if header_seen:
                        raise DataError(f"{p}:{lineno}: meta line '##...' after the #CHROM header; move it above")
                    continue
                if line.startswith("#"):
                    cols = line.split("\t")
                    if tuple(c.upper() for c in cols[:8]) != _FIXED:
                        raise DataError(
                            f"{p}:{lineno}: header must start with the tab-separated columns "
                            f"{' '.join(_FIXED)}; got {line[:80]!r}"
                        )
                    header_seen = True
                    continue
                if not header_seen:
                    raise DataError(
                        f"{p}:{lineno}: data line before the '#CHROM POS ID REF ALT QUAL FILTER INFO' header; "
                        "add the header line (columns separated by tabs)"
                    )
                rows.extend(_parse_record(line, p, lineno))
    except UnicodeDecodeError:
        raise DataError(f"{p}: not a text VCF (undecodable bytes); give a .vcf or .vcf.gz file") from None
    except (OSError, EOFError) as exc:  # truncated/corrupt gzip
        raise DataError(f"{p}: cannot read ({exc}); check that the file is complete (gzip -t)") from None
    if not header_seen:
        raise DataError(f"{p}: no '#CHROM POS ID REF ALT QUAL FILTER INFO' header line: not a VCF file")
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    return df.astype({"pos": "int64", "allele": "int64", "symbolic": "bool", "line": "int64"})


def _parse_record(line: str, p: Path, lineno: int) -> list[tuple]:
    f = line.split("\t")
    if len(f) < 8:
        raise DataError(
            f"{p}:{lineno}: {len(f)} tab-separated columns, a VCF record needs at least 8 "
            "(CHROM POS ID REF ALT QUAL FILTER INFO); check that columns are separated by tabs"
        )
    chrom, pos_s, vid, ref, alts, _qual, filt, info = f[:8]
    if not chrom or " " in chrom:
        raise DataError(f"{p}:{lineno}: CHROM {chrom!r} is empty or contains spaces")
    try:
        pos = int(pos_s)
    except ValueError:
        raise DataError(f"{p}:{lineno}: POS {pos_s!r} is not an integer") from None
    if pos < 1:
        raise DataError(f"{p}:{lineno}: POS {pos} must be >= 1 (VCF positions are 1-based)")
    if not _BASES.match(ref):
        raise DataError(f"{p}:{lineno}: REF {ref!r} is not a string of A, C, G, T, N")
    if not alts:
        raise DataError(f"{p}:{lineno}: ALT is empty; use '.' for no alternative allele")
    out = []
    for k, alt in enumerate(alts.split(","), start=1):
        if not alt:
            raise DataError(f"{p}:{lineno}: ALT {alts!r} has an empty allele")
        sym = _is_symbolic(alt)
        out.append(
            (chrom, pos, None if vid == "." else vid, ref.upper(), alt if sym else alt.upper(), k, sym, filt, info, lineno)
        )
    return out


def parse_info(info: str) -> dict[str, str | bool]:
    """INFO text -> dict; flags map to True, ``.`` -> {}. Values stay strings."""
    if info in ("", "."):
        return {}
    out: dict[str, str | bool] = {}
    for item in info.split(";"):
        if not item:
            continue
        key, sep, value = item.partition("=")
        out[key] = value if sep else True
    return out


def info_column(df: pd.DataFrame, key: str, dtype: type = str) -> pd.Series:
    """One INFO key as a column of the table (absent -> None, or NaN when ``dtype`` is float)."""
    s = pd.Series([parse_info(i).get(key) for i in df["info"]], index=df.index, name=key, dtype=object)
    if dtype is float:
        return pd.to_numeric(s, errors="coerce").astype("float64")
    return s
