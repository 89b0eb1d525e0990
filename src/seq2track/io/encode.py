"""Real data in: ENCODE files by accession (reference genomes: ``io/reference.py``).

Everything goes through Python's stdlib HTTP client (``urllib``), so no extra dependency:

* :func:`file_metadata` / :func:`experiment_files` read the ENCODE REST API
  (``{base}/files/{ACC}/?format=json``, ``{base}/experiments/{ACC}/?format=json``).
* :func:`download` streams a URL to ``<dest>.part``, resumes a partial file with an HTTP
  ``Range`` request, retries interrupted transfers, checks size and md5, and only then renames
  the file to ``dest``. A file that fails its md5 is deleted and never takes the final name.
* :func:`fetch` = metadata + download + cache: ``<out>/<ACC>.json`` records the metadata of a
  verified file, and a second fetch whose file still matches that md5 touches no network.
* ``reference.fetch_genome`` downloads a reference FASTA (ENCODE for GRCh38, UCSC otherwise)
  through :func:`download`, decompresses and indexes it, and writes chrom sizes and the blacklist.

Base URLs are settings: ``SEQ2TRACK_ENCODE_URL`` (default https://www.encodeproject.org) and
``SEQ2TRACK_UCSC_URL`` (default https://hgdownload.soe.ucsc.edu), or the ``base=`` arguments.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..atomic import write_json
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
