"""Motifs as position frequency matrices: from pyjaspar (offline) or MEME / JASPAR / .pfm files.

A :class:`Motif` holds ``prob: float64[4, w]`` (rows A, C, G, T; columns sum to 1), the
same layout as the one-hot input ``[4, L]``. Specs accepted by :func:`get_motifs`:

* a JASPAR matrix ID (``MA0139.1``; ``MA0139`` = latest version) or a TF name (``CTCF``),
  looked up in pyjaspar's bundled SQLite database (no network);
* with ``motif_file``: an ID or name looked up in that file instead;
* a path to a motif file: every motif in it.

File formats (detected from the content; parsed with Biopython's ``Bio.motifs``): MEME
minimal (``MEME version ...`` / ``MOTIF ID NAME`` / ``letter-probability matrix``), JASPAR
multi-PFM (``>MA0004.1 Arnt`` then ``A [ ... ]`` rows), and gimmemotifs ``.pfm``
(``>MA0363.1_REB1`` then one ``A C G T`` row per position) as in ``../shared/data``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError

#: pyjaspar release used for ID/name look-ups (the simulator plants motifs from the same one)
JASPAR_RELEASE = "JASPAR2024"
_JASPAR_ID = re.compile(r"^(MA|PB|PF|PH|PL|CN|UN|POL|CI)\d{4}(\.\d+)?$", re.IGNORECASE)


@dataclass(frozen=True, eq=False)
class Motif:
    """A position frequency matrix ``prob: float64[4, w]`` (A, C, G, T rows; columns sum to 1)."""

    id: str
    name: str
    prob: np.ndarray

    @classmethod
    def from_counts(cls, id: str, name: str, counts: np.ndarray, source: str = "motif") -> "Motif":
        """Build from counts or frequencies ``float[4, w]``; columns are normalised to sum to 1."""
        c = np.asarray(counts, dtype=np.float64)
        if c.ndim != 2 or c.shape[0] != 4 or c.shape[1] == 0:
            raise DataError(f"{source}: motif {id} must be a 4 x width matrix (A, C, G, T), got shape {c.shape}")
        tot = c.sum(axis=0)
        if not np.all(np.isfinite(c)) or (c < 0).any() or (tot <= 0).any():
            raise DataError(f"{source}: motif {id} has negative, non-finite or all-zero columns; fix the matrix")
        return cls(id, name, c / tot)

    @property
    def width(self) -> int:
        return int(self.prob.shape[1])

    @property
    def label(self) -> str:
        """``ID NAME`` (or the ID alone when they are the same)."""
        return self.id if self.name in ("", self.id) else f"{self.id} {self.name}"

    @property
    def consensus_codes(self) -> np.ndarray:
        """uint8[w]: the most frequent base of each column (ties: first of A, C, G, T)."""
        return np.argmax(self.prob, axis=0).astype(np.uint8)

    @property
    def consensus(self) -> str:
        return "".join("ACGT"[b] for b in self.consensus_codes)

    def reverse_complement(self) -> "Motif":
        """The motif read on the other strand (A<->T, C<->G, columns reversed)."""
        return Motif(self.id, self.name, self.prob[::-1, ::-1].copy())

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """uint8[n, w]: ``n`` sites drawn column by column from the frequencies."""
        cum = np.cumsum(self.prob, axis=0)  # [4, w]
        u = rng.random((n, self.width))
        return np.minimum((u[:, None, :] > cum[None, :3, :]).sum(axis=1), 3).astype(np.uint8)

    def shuffled(self, rng: np.random.Generator) -> "Motif":
        """The same columns in a random order (not the identity when the motif has 2+ distinct columns)."""
        w = self.width
        distinct = len({tuple(np.round(col, 6)) for col in self.prob.T})
        for _ in range(100):
            perm = rng.permutation(w)
            if distinct < 2 or not np.allclose(self.prob[:, perm], self.prob):
                break
        return Motif(self.id, f"{self.name} (shuffled)", self.prob[:, perm].copy())

    def information(self) -> np.ndarray:
        """float64[w]: information content (bits) of each column."""
        p = self.prob
        with np.errstate(divide="ignore", invalid="ignore"):
            h = -np.nansum(np.where(p > 0, p * np.log2(p), 0.0), axis=0)
        return 2.0 - h

    def __repr__(self) -> str:
        return f"Motif({self.label}, width={self.width}, consensus={self.consensus})"


# --- files -------------------------------------------------------------------------------
def _detect_format(text: str) -> str:
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if s.startswith("MEME version"):
            return "minimal"
        if s.startswith(">"):
            continue
        if re.match(r"^[ACGT]\s*\[", s):
            return "jaspar"
        if re.match(r"^[-+0-9.eE]+(\s+[-+0-9.eE]+){3}$", s):
            return "pfm-four-columns"
        break
    return "unknown"


def _split_header(header: str) -> tuple[str, str]:
    """gimmemotifs ``MA0363.1_REB1`` -> (``MA0363.1``, ``REB1``); other headers -> (header, header)."""
    h = header.strip()
    m = re.match(r"^(\S+?\.\d+)_(.+)$", h)
    if m:
        return m.group(1), m.group(2)
    parts = h.split(None, 1)
    return (parts[0], parts[1].strip()) if len(parts) == 2 else (h, h)


def read_motif_file(path: str | Path) -> list[Motif]:
    """All motifs of a MEME-minimal, JASPAR or gimmemotifs-``.pfm`` file (format auto-detected)."""
    from Bio import motifs as bio_motifs

    p = Path(path)
    if not p.exists():
        raise DataError(f"motif file {p} does not exist; check the --motif-file path")
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read motif file {p}: {exc}") from None
    fmt = _detect_format(text)
    if fmt == "unknown":
        raise DataError(
            f"motif file {p} is not MEME minimal, JASPAR or gimmemotifs .pfm; convert it to MEME minimal format "
            "(`MEME version 4` header, `MOTIF ID NAME` + `letter-probability matrix` blocks)"
        )
    import io

    try:
        with io.StringIO(text) as h:
            parsed = list(bio_motifs.parse(h, fmt))
    except Exception as exc:  # Biopython raises ValueError/AttributeError on malformed blocks
        raise DataError(f"motif file {p} ({fmt} format) is malformed: {exc}") from None
    if not parsed:
        raise DataError(f"motif file {p} holds no motifs")
    if fmt == "minimal":  # Biopython keeps only the first word of `MOTIF ID NAME`
        names = [(m.group(1), m.group(2) or m.group(1)) for m in re.finditer(r"^MOTIF[ \t]+(\S+)(?:[ \t]+(\S+))?", text, re.M)]
    elif fmt == "jaspar":
        names = [(m.matrix_id, m.name) for m in parsed]
    else:
        names = [_split_header(m.name) for m in parsed]
    if len(names) != len(parsed):
        raise DataError(f"motif file {p}: {len(names)} motif headers but {len(parsed)} matrices; fix the file")
    out = []
    for (mid, name), m in zip(names, parsed):
        counts = np.array([m.counts[b] for b in "ACGT"], dtype=np.float64)
        out.append(Motif.from_counts(str(mid), str(name), counts, source=str(p)))
    return out


def find_in(motifs: list[Motif], spec: str, source: str) -> Motif:
    """The motif of ``motifs`` whose ID (with or without version) or name equals ``spec``."""
    s = spec.strip()
    tests = (
        lambda m: m.id == s,
        lambda m: m.id.split(".")[0] == s,
        lambda m: m.name == s,
        lambda m: s.lower() in (m.id.lower(), m.id.split(".")[0].lower(), m.name.lower()),
    )
    for test in tests:
        hits = [m for m in motifs if test(m)]
        if hits:
            return hits[0]
    import difflib

    close = difflib.get_close_matches(s, [m.id for m in motifs] + [m.name for m in motifs], n=3)
    hint = f"; close matches: {', '.join(close)}" if close else ""
    raise ConfigError(f"motif {spec!r} is not in {source}{hint}")


# --- pyjaspar ----------------------------------------------------------------------------
def jaspar_motif(spec: str, release: str = JASPAR_RELEASE) -> Motif:
    """A motif from pyjaspar's bundled database by matrix ID (``MA0139.1``) or TF name (``CTCF``).

    A name matching several matrices takes the lowest matrix ID (latest version), e.g.
    ``CTCF`` -> ``MA0139``'s latest version; give the ID to be explicit.
    """
    import warnings

    from pyjaspar import jaspardb

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyjaspar warns (BiopythonWarning) for unknown IDs
        db = jaspardb(release=release)
        if _JASPAR_ID.match(spec.strip()):
            m = db.fetch_motif_by_id(spec.strip().upper())
            if m is None:
                raise ConfigError(
                    f"motif ID {spec!r} is not in pyjaspar's {release}; check the ID on jaspar.elixir.no "
                    "or give a motif file with --motif-file"
                )
        else:
            hits = [x for x in db.fetch_motifs_by_name(spec.strip()) if x.name.upper() == spec.strip().upper()]
            if not hits:
                hits = list(db.fetch_motifs(collection=None, tf_name=spec.strip().upper()))
            if not hits:
                raise ConfigError(
                    f"no motif named {spec!r} in pyjaspar's {release}; use a JASPAR matrix ID (e.g. MA0139.1) "
                    "or give a motif file with --motif-file"
                )
            m = sorted(hits, key=lambda x: x.matrix_id)[0]
    counts = np.array([m.counts[b] for b in "ACGT"], dtype=np.float64)
    return Motif.from_counts(m.matrix_id, m.name, counts, source=f"pyjaspar {release}")


def get_motifs(specs: list[str], motif_file: str | Path | None = None, release: str = JASPAR_RELEASE) -> list[Motif]:
    """Resolve motif specs (IDs, names, or motif-file paths) into :class:`Motif` objects, in order."""
    pool = read_motif_file(motif_file) if motif_file else None
    out: list[Motif] = []
    for spec in specs:
        if pool is not None:
            out.append(find_in(pool, spec, str(motif_file)))
        elif Path(spec).suffix.lower() in (".meme", ".txt", ".pfm", ".jaspar", ".motif", ".motifs") or Path(spec).is_file():
            out.extend(read_motif_file(spec))
        else:
            out.append(jaspar_motif(spec, release))
    if not out:
        raise ConfigError("no motifs given; pass --motif MA0139.1 (a JASPAR ID or name) or a motif file")
    return out
