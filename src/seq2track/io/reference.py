"""Reference genomes: download (ENCODE's GRCh38 analysis set, or a UCSC database) with checksums,
decompress, index with pyfaidx, write chrom sizes and, where ENCODE publishes one, the blacklist.

``fetch_genome(name, out)`` writes ``<name>.fa``, ``<name>.fa.fai``, ``<name>.chrom.sizes``,
``<name>.blacklist.bed``; the downloads themselves go through ``io/encode.py``.
"""

from __future__ import annotations

import gzip
import json
import shutil
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import atomic_path, write_json, write_text
from ..errors import DataError
from .encode import CHUNK, USER_AGENT, download, encode_url, fetch, rich_progress, ucsc_url


@dataclass(frozen=True)
class GenomeSource:
    """Where a reference genome comes from. ``ref``: an ENCODE file name or a UCSC database."""

    name: str
    source: str  # "encode" | "ucsc"
    ref: str
    blacklist: str | None = None  # ENCODE accession of the exclusion list (BED, gz)
    aliases: tuple[str, ...] = field(default_factory=tuple)


GENOMES: dict[str, GenomeSource] = {
    g.name: g
    for g in [
        # the ENCODE pipelines' reference: no alt contigs, chrEBV added; ENCODE GRCh38 tracks use it
        GenomeSource("GRCh38", "encode", "GRCh38_no_alt_analysis_set_GCA_000001405.15", "ENCFF356LFX"),
        GenomeSource("hg38", "ucsc", "hg38", "ENCFF356LFX"),
        GenomeSource("mm10", "ucsc", "mm10", "ENCFF547MET", aliases=("GRCm38",)),
        GenomeSource("sacCer3", "ucsc", "sacCer3", None, aliases=("R64", "R64-1-1")),
    ]
}


def genome_source(name: str) -> GenomeSource:
    """Look a genome up by name or alias, case-insensitively."""
    key = name.strip().lower()
    for g in GENOMES.values():
        if key == g.name.lower() or key in (a.lower() for a in g.aliases):
            return g
    raise DataError(f"unknown genome {name!r}; choose one of {', '.join(GENOMES)}")


def _ucsc_md5(db: str, filename: str, base: str | None, timeout: float) -> str | None:
    """md5 of ``filename`` from UCSC's ``bigZips/md5sum.txt``, or None where it is not listed."""
    url = f"{ucsc_url(base)}/goldenPath/{db}/bigZips/md5sum.txt"
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            text = resp.read().decode("ascii", "replace")
    except (urllib.error.URLError, OSError):
        return None
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("*./") == filename:
            return parts[0]
    return None


def _gunzip(src: Path, dest: Path) -> None:
    """Decompress gzip (or bgzip) ``src`` to ``dest`` atomically."""
    try:
        with gzip.open(src, "rb") as fin, atomic_path(dest) as tmp, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout, CHUNK)
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot decompress {src} ({exc}); delete it and run the command again") from None


def _index_fasta(fa: Path) -> dict[str, int]:
    """Build ``<fa>.fai`` with pyfaidx (atomically) and return ``{name: length}`` in file order."""
    import pyfaidx

    fai = fa.with_name(fa.name + ".fai")
    try:
        with atomic_path(fai) as tmp:
            tmp.unlink()
            idx = pyfaidx.Faidx(str(fa), indexname=str(tmp), rebuild=True, build_index=True)
            sizes = {k: int(v.rlen) for k, v in idx.index.items()}
            idx.close()
    except pyfaidx.FastaIndexingError as exc:
        raise DataError(f"cannot index {fa} ({exc}); the FASTA is malformed: delete it and fetch it again") from None
    return sizes


def fetch_genome(
    name: str,
    out_dir: str | Path,
    *,
    encode_base: str | None = None,
    ucsc_base: str | None = None,
    progress: bool = False,
    blacklist: bool = True,
    retries: int = 3,
    timeout: float = 60.0,
) -> dict[str, Any]:
    """Download, decompress and index a reference genome into ``<out_dir>/<name>/``.

    Writes ``<name>.fa``, ``<name>.fa.fai``, ``<name>.chrom.sizes``, ``<name>.blacklist.bed``
    (where ENCODE has one) and ``sources.json`` (URLs and md5s). The compressed download is
    deleted once decompressed. A complete earlier run is a cache hit.
    Returns the ``sources.json`` content plus ``cached``.
    """
    g = genome_source(name)
    gdir = Path(out_dir) / g.name
    fa = gdir / f"{g.name}.fa"
    sizes_path = gdir / f"{g.name}.chrom.sizes"
    bl_path = gdir / f"{g.name}.blacklist.bed"
    record_path = gdir / "sources.json"
    want_bl = blacklist and g.blacklist is not None
    if record_path.exists() and fa.exists() and sizes_path.exists() and fa.with_name(fa.name + ".fai").exists():
        rec = json.loads(record_path.read_text())
        if not want_bl or bl_path.exists():
            return {**rec, "cached": True}

    rec: dict[str, Any] = {"genome": g.name, "fasta": fa.name}
    if g.source == "encode":
        res = fetch(g.ref, gdir / "download", base=encode_base, progress=progress, retries=retries, timeout=timeout)
        gz, rec["fasta_source"] = res.path, {
            "encode": g.ref, "url": urllib.parse.urljoin(encode_url(encode_base) + "/", res.meta.href),
            "md5": res.meta.md5sum,
        }
    else:
        fname = f"{g.ref}.fa.gz"
        url = f"{ucsc_url(ucsc_base)}/goldenPath/{g.ref}/bigZips/{fname}"
        md5 = _ucsc_md5(g.ref, fname, ucsc_base, timeout)
        update, close = rich_progress(fname) if progress else (None, lambda: None)
        try:
            gz = download(url, gdir / "download" / fname, md5=md5, retries=retries, timeout=timeout, progress=update)
        finally:
            close()
        rec["fasta_source"] = {"ucsc": g.ref, "url": url, "md5": md5}
    _gunzip(gz, fa)
    sizes = _index_fasta(fa)
    write_text(sizes_path, "".join(f"{c}\t{n}\n" for c, n in sizes.items()))
    rec["n_sequences"] = len(sizes)
    rec["total_bp"] = int(sum(sizes.values()))
    if want_bl:
        res = fetch(g.blacklist, gdir / "download", base=encode_base, progress=False, retries=retries, timeout=timeout)
        if res.path.suffix == ".gz":
            _gunzip(res.path, bl_path)
        else:
            with atomic_path(bl_path) as tmp:
                shutil.copyfile(res.path, tmp)
        rec["blacklist"] = bl_path.name
        rec["blacklist_source"] = {"encode": g.blacklist, "md5": res.meta.md5sum}
    # the big compressed FASTA is not needed once decompressed and indexed
    gz.unlink(missing_ok=True)
    write_json(record_path, rec)
    return {**rec, "cached": False}
