"""Real data in: ENCODE files by accession, reference genomes, blacklists.

Everything goes through Python's stdlib HTTP client (``urllib``), so no extra dependency:

* :func:`file_metadata` / :func:`experiment_files` read the ENCODE REST API
  (``{base}/files/{ACC}/?format=json``, ``{base}/experiments/{ACC}/?format=json``).
* :func:`download` streams a URL to ``<dest>.part``, resumes a partial file with an HTTP
  ``Range`` request, retries interrupted transfers, checks size and md5, and only then renames
  the file to ``dest``. A file that fails its md5 is deleted and never takes the final name.
* :func:`fetch` = metadata + download + cache: ``<out>/<ACC>.json`` records the metadata of a
  verified file, and a second fetch whose file still matches that md5 touches no network.
* :func:`fetch_genome` downloads a reference FASTA (ENCODE for GRCh38, UCSC otherwise),
  **decompresses** it to a plain ``.fa`` (UCSC and ENCODE ship plain gzip, which pyfaidx
  cannot index; a plain FASTA is also the fastest to read), indexes it with pyfaidx, writes
  ``<name>.chrom.sizes`` and, where ENCODE publishes one, ``<name>.blacklist.bed``.

Base URLs are settings: ``SEQ2TRACK_ENCODE_URL`` (default https://www.encodeproject.org) and
``SEQ2TRACK_UCSC_URL`` (default https://hgdownload.soe.ucsc.edu), or the ``base=`` arguments.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import os
import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import atomic_path, write_json, write_text
from ..errors import DataError

DEFAULT_ENCODE_URL = "https://www.encodeproject.org"
DEFAULT_UCSC_URL = "https://hgdownload.soe.ucsc.edu"
ENV_ENCODE_URL = "SEQ2TRACK_ENCODE_URL"
ENV_UCSC_URL = "SEQ2TRACK_UCSC_URL"
USER_AGENT = "seq2track (+https://github.com/seq2track)"
CHUNK = 1 << 20
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def encode_url(base: str | None = None) -> str:
    """The ENCODE portal base URL: ``base``, else ``$SEQ2TRACK_ENCODE_URL``, else the public portal."""
    return (base or os.environ.get(ENV_ENCODE_URL) or DEFAULT_ENCODE_URL).rstrip("/")


def ucsc_url(base: str | None = None) -> str:
    """The UCSC download base URL: ``base``, else ``$SEQ2TRACK_UCSC_URL``, else hgdownload."""
    return (base or os.environ.get(ENV_UCSC_URL) or DEFAULT_UCSC_URL).rstrip("/")


# --- metadata ---------------------------------------------------------------------------
@dataclass(frozen=True)
class EncodeFile:
    """The fields of an ENCODE file object that a download and a study need."""

    accession: str
    file_format: str
    output_type: str
    assembly: str | None
    dataset: str | None  # e.g. "/experiments/ENCSR817LUF/"
    md5sum: str | None
    file_size: int | None
    href: str  # e.g. "/files/ENCFF601VTB/@@download/ENCFF601VTB.bigWig"
    biological_replicates: tuple[int, ...] = ()
    status: str | None = None

    @property
    def filename(self) -> str:
        """The name the portal gives the download (last part of ``href``)."""
        return urllib.parse.unquote(self.href.rstrip("/").rsplit("/", 1)[-1])

    @property
    def experiment(self) -> str | None:
        """The dataset accession, e.g. ``ENCSR817LUF``."""
        if not self.dataset:
            return None
        return self.dataset.rstrip("/").rsplit("/", 1)[-1]

    @classmethod
    def from_json(cls, d: dict[str, Any], source: str) -> "EncodeFile":
        acc = d.get("accession") or d.get("title") or d.get("@id", "").rstrip("/").rsplit("/", 1)[-1]
        if not acc or not d.get("href"):
            raise DataError(
                f"{source} is not an ENCODE file object (no accession/href); check the accession "
                f"(ENCFF... for files, ENCSR... for experiments: use `--experiment`)"
            )
        size = d.get("file_size")
        return cls(
            accession=str(acc),
            file_format=str(d.get("file_format", "?")),
            output_type=str(d.get("output_type", "?")),
            assembly=d.get("assembly"),
            dataset=d.get("dataset") if isinstance(d.get("dataset"), str) else (d.get("dataset") or {}).get("@id"),
            md5sum=d.get("md5sum"),
            file_size=int(size) if size is not None else None,
            href=str(d["href"]),
            biological_replicates=tuple(int(r) for r in d.get("biological_replicates") or ()),
            status=d.get("status"),
        )

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["biological_replicates"] = list(self.biological_replicates)
        return d


def get_json(url: str, timeout: float = 60.0) -> Any:
    """GET ``url`` and parse JSON; 404, network errors and non-JSON answers are ``DataError``s."""
    req = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise DataError(f"{url} answered 404 (not found); check the accession spelling") from None
        raise DataError(f"{url} answered HTTP {exc.code} ({exc.reason}); try again later") from None
    except (urllib.error.URLError, OSError) as exc:
        raise DataError(
            f"cannot reach {url} ({getattr(exc, 'reason', exc)}); check the network or set "
            f"{ENV_ENCODE_URL}/{ENV_UCSC_URL} to a reachable mirror"
        ) from None
    try:
        return json.loads(body)
    except ValueError:
        raise DataError(f"{url} did not answer JSON; check the base URL ({ENV_ENCODE_URL})") from None


def _check_name(acc: str) -> str:
    acc = acc.strip()
    if not _SAFE_NAME.match(acc):
        raise DataError(f"{acc!r} is not an ENCODE accession (e.g. ENCFF601VTB); check the spelling")
    return acc


def file_metadata(accession: str, base: str | None = None, timeout: float = 60.0) -> EncodeFile:
    """Metadata of one ENCODE file (``ENCFF...`` or a named reference file)."""
    acc = _check_name(accession)
    if acc.upper().startswith("ENCSR"):
        raise DataError(f"{acc} is an experiment, not a file; list its files with `seq2track fetch --experiment {acc}`")
    url = f"{encode_url(base)}/files/{urllib.parse.quote(acc)}/?format=json"
    return EncodeFile.from_json(get_json(url, timeout), url)


def experiment_files(accession: str, base: str | None = None, timeout: float = 60.0) -> list[EncodeFile]:
    """The files of an ENCODE experiment, sorted by assembly, format, output type, replicates.

    The portal embeds file objects in ``files``; where it gives only ``@id`` paths, each file's
    metadata is fetched.
    """
    acc = _check_name(accession)
    root = encode_url(base)
    url = f"{root}/experiments/{urllib.parse.quote(acc)}/?format=json"
    exp = get_json(url, timeout)
    files = exp.get("files") if isinstance(exp, dict) else None
    if files is None:
        raise DataError(f"{url} has no `files` list; is {acc} an experiment accession (ENCSR...)?")
    out = []
    for f in files:
        if isinstance(f, str):  # an @id such as "/files/ENCFF601VTB/"
            f_url = f"{root}{f if f.startswith('/') else '/' + f}?format=json"
            out.append(EncodeFile.from_json(get_json(f_url, timeout), f_url))
        else:
            out.append(EncodeFile.from_json(f, url))
    out.sort(key=lambda f: (f.assembly or "", f.file_format, f.output_type, f.biological_replicates, f.accession))
    return out


# --- download ---------------------------------------------------------------------------
ProgressFn = Callable[[int, int | None], None]


def md5_file(path: str | Path) -> str:
    """Hex md5 of a file, read in 1 MiB blocks."""
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def download(
    url: str,
    dest: str | Path,
    *,
    md5: str | None = None,
    size: int | None = None,
    retries: int = 3,
    timeout: float = 60.0,
    progress: ProgressFn | None = None,
) -> Path:
    """Download ``url`` to ``dest`` through ``<dest>.part``; resume, retry, verify, rename.

    A ``.part`` left by an interrupted run is resumed with ``Range: bytes=<have>-`` (a server
    that ignores ranges restarts it). A transfer cut short is retried up to ``retries`` times,
    resuming each time; after that the ``.part`` stays for the next run. A size or md5
    mismatch deletes the ``.part`` and raises; ``dest`` is only ever a verified file.
    ``progress(done_bytes, total_bytes_or_None)`` is called as bytes arrive.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    last_err = "no attempt made"
    for _attempt in range(retries + 1):
        have = part.stat().st_size if part.exists() else 0
        if size is not None and have > size:
            part.unlink()
            have = 0
        if size is not None and have == size:
            break  # complete already: verify below
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
        if have:
            headers["Range"] = f"bytes={have}-"
        req = urllib.request.Request(url, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                if have and resp.status != 206:  # range ignored: start over
                    have = 0
                elif have:
                    cr = resp.headers.get("Content-Range", "")
                    m = re.match(r"bytes (\d+)-", cr)
                    if not m or int(m.group(1)) != have:  # an answer for another range: start over
                        last_err = f"server answered range {cr!r} for a resume at byte {have}"
                        part.unlink(missing_ok=True)
                        continue
                length = resp.headers.get("Content-Length")
                expected_end = have + int(length) if length is not None else size
                total = size if size is not None else expected_end
                done = have
                if progress:
                    progress(done, total)
                with open(part, "ab" if have else "wb") as fh:
                    while True:
                        block = resp.read(CHUNK)
                        if not block:
                            break
                        fh.write(block)
                        done += len(block)
                        if progress:
                            progress(done, total)
                    fh.flush()
                    os.fsync(fh.fileno())
            if expected_end is not None and done < expected_end:
                last_err = f"transfer ended at byte {done:,} of {expected_end:,}"
                continue
            break
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:  # nothing left to send: the partial file may be whole
                break
            if exc.code in (401, 403, 404, 410):
                raise DataError(
                    f"{url} answered HTTP {exc.code} ({exc.reason}); check the accession or file name "
                    f"and the base URL ({ENV_ENCODE_URL}/{ENV_UCSC_URL})"
                ) from None
            last_err = f"HTTP {exc.code} {exc.reason}"
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            last_err = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
    else:
        raise DataError(
            f"download of {url} failed after {retries + 1} attempts ({last_err}); the partial file "
            f"{part} is kept: run the same command again to resume it"
        )

    got_size = part.stat().st_size if part.exists() else 0
    if size is not None and got_size != size:
        part.unlink(missing_ok=True)
        raise DataError(
            f"download of {url} has {got_size:,} bytes but the metadata says {size:,}; the partial "
            f"file was deleted: run the command again"
        )
    if md5:
        got = md5_file(part)
        if got.lower() != md5.lower():
            part.unlink(missing_ok=True)
            raise DataError(
                f"md5 of the download of {url} is {got}, expected {md5}; the corrupt file was deleted "
                f"and {dest.name} was not written: run the command again (if it repeats, the server copy is bad)"
            )
    with open(part, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(part, dest)
    return dest


def rich_progress(label: str) -> tuple[ProgressFn, Callable[[], None]]:
    """A rich progress bar on stderr: returns ``(update, close)``."""
    from rich.console import Console
    from rich.progress import (
        BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn,
    )

    bar = Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        TimeRemainingColumn(), console=Console(stderr=True), transient=False,
    )
    bar.start()
    task = bar.add_task(label, total=None)

    def update(done: int, total: int | None) -> None:
        bar.update(task, completed=done, total=total)

    return update, bar.stop


# --- fetch by accession ------------------------------------------------------------------
@dataclass(frozen=True)
class FetchResult:
    path: Path
    meta: EncodeFile
    cached: bool


def _cache_hit(out_dir: Path, acc: str) -> FetchResult | None:
    side = out_dir / f"{acc}.json"
    if not side.exists():
        return None
    try:
        meta = EncodeFile.from_json(json.loads(side.read_text()), str(side))
    except (ValueError, DataError):
        return None
    path = out_dir / meta.filename
    if not path.exists():
        return None
    if meta.file_size is not None and path.stat().st_size != meta.file_size:
        return None
    if meta.md5sum and md5_file(path) != meta.md5sum.lower():
        return None
    return FetchResult(path, meta, cached=True)


def fetch(
    accession: str,
    out_dir: str | Path,
    *,
    base: str | None = None,
    progress: bool = False,
    retries: int = 3,
    timeout: float = 60.0,
) -> FetchResult:
    """Download an ENCODE file by accession into ``out_dir`` (cached by accession, md5-checked).

    Writes ``<out_dir>/<href name>`` (e.g. ``ENCFF601VTB.bigWig``) and ``<out_dir>/<ACC>.json``
    (the metadata it was verified against). A file already there that matches the recorded
    md5 is a cache hit: no network request is made.
    """
    out = Path(out_dir)
    acc = _check_name(accession)
    hit = _cache_hit(out, acc)
    if hit is not None:
        return hit
    meta = file_metadata(acc, base, timeout)
    if not meta.md5sum:
        raise DataError(
            f"ENCODE metadata of {acc} has no md5sum, so the download cannot be verified; pick another file"
        )
    dest = out / meta.filename
    if dest.exists() and md5_file(dest) == meta.md5sum.lower():
        write_json(out / f"{acc}.json", meta.to_json())
        return FetchResult(dest, meta, cached=True)
    url = urllib.parse.urljoin(encode_url(base) + "/", meta.href)
    update, close = rich_progress(meta.filename) if progress else (None, lambda: None)
    try:
        download(url, dest, md5=meta.md5sum, size=meta.file_size, retries=retries, timeout=timeout, progress=update)
    finally:
        close()
    write_json(out / f"{acc}.json", meta.to_json())
    return FetchResult(dest, meta, cached=False)


# --- reference genomes ----------------------------------------------------------------------
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
