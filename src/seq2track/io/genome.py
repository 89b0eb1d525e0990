"""Reference genome access: FASTA (plain or bgzip, via pyfaidx) and 2bit (via py2bit).

Sequence is handed on as ``uint8`` codes ``A=0, C=1, G=2, T=3, N/other=4`` so that the
cache can memory-map it and the loader can one-hot it with a lookup table.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError
from .chroms import resolve_all

#: uint8 code of each base; anything that is not ACGT (any case) is N.
CODE_N = 4
_LUT = np.full(256, CODE_N, dtype=np.uint8)
for _i, _b in enumerate(b"ACGT"):
    _LUT[_b] = _i
    _LUT[_b + 32] = _i  # lower case (soft-masked)
_DECODE = np.frombuffer(b"ACGTN", dtype=np.uint8)
_TABLE = _LUT.tobytes()


def encode(seq: str | bytes) -> np.ndarray:
    """DNA text -> ``uint8[len]`` codes (A0 C1 G2 T3 N4), writable.

    ``bytes.translate`` with the 256-byte table is ~1.6x faster than a numpy fancy-index
    lookup on a 50 Mb sequence (benchmarks/03_onehot.py).
    """
    raw = seq.encode("ascii") if isinstance(seq, str) else bytes(seq)
    return np.frombuffer(bytearray(raw.translate(_TABLE)), dtype=np.uint8)


def reverse_complement(codes: np.ndarray) -> np.ndarray:
    """Reverse complement of ``uint8[..., L]`` codes along the last axis (N stays N): the one
    implementation for sequence codes (one-hot tensors: ``model.architectures.reverse_complement``).

    ``3 - code`` in uint8 maps A,C,G,T to T,G,C,A and wraps N (4) to 255, which ``minimum``
    sends back to 4: 2x faster than a lookup-table gather on a batch (02_loader.py).
    """
    out = np.subtract(np.uint8(3), np.asarray(codes, dtype=np.uint8)[..., ::-1])
    return np.minimum(out, np.uint8(CODE_N), out=out)


def decode(codes: np.ndarray) -> str:
    """``uint8[len]`` codes -> upper-case DNA text."""
    return _DECODE[np.asarray(codes, dtype=np.uint8)].tobytes().decode("ascii")


class Genome:
    """A read-only reference genome. ``sizes`` keeps the file's own chromosome names and order."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.exists():
            raise DataError(f"genome file {self.path} does not exist; check `genome:` in the study")
        self._is_2bit = self.path.suffix.lower() == ".2bit"
        try:
            if self._is_2bit:
                import py2bit

                self._h = py2bit.open(str(self.path))
                self.sizes: dict[str, int] = dict(self._h.chroms())
            else:
                import pyfaidx

                self._h = pyfaidx.Fasta(
                    str(self.path), as_raw=True, sequence_always_upper=False, rebuild=False,
                    build_index=True,
                )
                self.sizes = {k: len(v) for k, v in self._h.records.items()}
        except DataError:
            raise
        except Exception as exc:  # pyfaidx/py2bit raise many types on bad files
            hint = (
                "compress it with `bgzip` (not gzip) or decompress it"
                if self.path.suffix == ".gz"
                else "check that it is a FASTA (or .2bit) file and that its folder is writable for the .fai index"
            )
            raise DataError(f"cannot read genome {self.path}: {exc}; {hint}") from None
        if not self.sizes:
            raise DataError(f"genome {self.path} holds no sequences; check the file")

    def resolve(self, chroms: list[str]) -> dict[str, str]:
        """Map study chromosome names to this file's names (aliases allowed)."""
        return resolve_all(chroms, self.sizes, str(self.path), what="genome")

    def fetch(self, chrom: str, start: int, end: int) -> str:
        """Sequence ``[start, end)`` of ``chrom`` (file's own name) as text, case preserved."""
        if self._is_2bit:
            return self._h.sequence(chrom, start, end)
        return str(self._h[chrom][start:end])

    def codes(self, chrom: str, start: int = 0, end: int | None = None) -> np.ndarray:
        """``uint8[end - start]`` codes of ``chrom[start:end]`` (the whole chromosome by default).

        Reading a long chromosome in pieces bounds memory: a whole 248-Mb chromosome costs
        about 4 bytes per base in transient text copies.
        """
        end = self.sizes[chrom] if end is None else min(int(end), self.sizes[chrom])
        start = max(0, int(start))
        try:
            seq = self.fetch(chrom, start, end)
            codes = encode(seq)
        except Exception as exc:  # pyfaidx raises many types on corrupt files or stale indexes
            raise DataError(
                f"cannot read chromosome {chrom} of genome {self.path} ({type(exc).__name__}: {' '.join(str(exc).split())}); "
                "the file is corrupt or its .fai index does not match it: delete the .fai and retry"
            ) from None
        if len(codes) != max(0, end - start):
            raise DataError(
                f"chromosome {chrom} of genome {self.path} reads as {len(codes):,} bp in [{start:,}, {end:,}) "
                f"but its index says {self.sizes[chrom]:,} bp long: the file is truncated or its .fai is stale; "
                "delete the .fai and retry"
            )
        return codes

    def close(self) -> None:
        try:
            self._h.close()
        except Exception:
            pass

    def __enter__(self) -> "Genome":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
