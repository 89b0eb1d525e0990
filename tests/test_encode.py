"""io/encode.py against a real HTTP server on 127.0.0.1 serving real files with ENCODE-shaped JSON.

The server (stdlib ``http.server`` in a thread) honours ``Range`` requests, can cut a transfer
short after N bytes, can ignore ranges, and logs every request, so resume, retry, md5 refusal,
404 and cache hits are checked on the wire. No test touches the internet.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from seq2track.errors import DataError
from seq2track.io import encode, reference

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
BW = DATA / "yeast_sacCer3" / "atac_SRR1822137" / "yeast_500k_SRR1822137.fragment_coverage.bw"
FA = DATA / "yeast_sacCer3" / "genome" / "sacCer3.fa"
FAI = DATA / "yeast_sacCer3" / "genome" / "sacCer3.fa.fai"
H_FA = DATA / "human_hg38_chr22_deepdetails" / "data_h5_regions.fa"
H_BED = DATA / "human_hg38_chr22_deepdetails" / "data_h5_regions.bed"

pytestmark = pytest.mark.skipif(not BW.exists(), reason=f"shared test data not found at {DATA}")

ACC = "ENCFF999YST"  # a made-up accession serving the real yeast ATAC bigWig


class _State:
    def __init__(self) -> None:
        self.routes: dict[str, tuple] = {}
        self.log: list[tuple[str, str | None]] = []
        self.cut: dict[str, list[int]] = {}  # path -> byte counts to stop after, one per request
        self.ranges = True


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:  # noqa: N802
        st: _State = self.server.state  # type: ignore[attr-defined]
        st.log.append((self.path, self.headers.get("Range")))
        route = st.routes.get(self.path)
        if route is None:
            self.send_error(404, "Not Found")
            return
        if route[0] == "redirect":
            self.send_response(307)
            self.send_header("Location", route[1])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        _, body, ctype = route
        start = 0
        rng = self.headers.get("Range")
        if rng and st.ranges:
            m = re.fullmatch(r"bytes=(\d+)-", rng)
            start = int(m.group(1)) if m else 0
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        part = body[start:]
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(part)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        cuts = st.cut.get(self.path)
        if cuts:
            self.wfile.write(part[: cuts.pop(0)])  # then the connection closes: a truncated transfer
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(part)


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.state = _State()  # type: ignore[attr-defined]
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield base, httpd.state
    finally:
        httpd.shutdown()
        httpd.server_close()


def _json(obj) -> tuple:
    return ("data", json.dumps(obj).encode(), "application/json")


def _file_json(acc: str, body: bytes, ext: str, fmt: str, md5: str | None = None, **extra) -> dict:
    """An ENCODE file object, shaped like ``/files/ENCFF.../?format=json``."""
    return {
        "@id": f"/files/{acc}/",
        "@type": ["File", "Item"],
        "accession": acc,
        "assembly": "sacCer3",
        "biological_replicates": [1, 2],
        "technical_replicates": ["1_1", "2_1"],
        "dataset": "/experiments/ENCSR999YST/",
        "file_format": fmt,
        "file_type": fmt,
        "file_size": len(body),
        "href": f"/files/{acc}/@@download/{acc}.{ext}",
        "md5sum": md5 or hashlib.md5(body).hexdigest(),
        "output_type": "signal p-value",
        "status": "released",
        **extra,
    }


def _serve_file(st: _State, acc: str, body: bytes, ext: str = "bigWig", fmt: str = "bigWig", **kw) -> dict:
    meta = _file_json(acc, body, ext, fmt, **kw)
    st.routes[f"/files/{acc}/?format=json"] = _json(meta)
    # the portal answers the download with a redirect to storage, as ENCODE does (307 to S3)
    st.routes[meta["href"]] = ("redirect", f"/store/{acc}.{ext}")
    st.routes[f"/store/{acc}.{ext}"] = ("data", body, "application/octet-stream")
    return meta


def _downloads(st: _State, acc: str) -> list[tuple[str, str | None]]:
    return [e for e in st.log if e[0].startswith("/store/") and acc in e[0]]


def test_fetch_downloads_verifies_and_caches(server, tmp_path):
    base, st = server
    body = BW.read_bytes()
    _serve_file(st, ACC, body)
    res = encode.fetch(ACC, tmp_path / "enc", base=base)
    assert not res.cached
    assert res.path == tmp_path / "enc" / f"{ACC}.bigWig"
    assert res.path.read_bytes() == body
    assert res.meta.assembly == "sacCer3" and res.meta.biological_replicates == (1, 2)
    assert res.meta.experiment == "ENCSR999YST"
    side = json.loads((tmp_path / "enc" / f"{ACC}.json").read_text())
    assert side["md5sum"] == hashlib.md5(body).hexdigest()
    assert not list((tmp_path / "enc").glob("*.part"))

    n_before = len(st.log)
    again = encode.fetch(ACC, tmp_path / "enc", base=base)
    assert again.cached and again.path == res.path
    assert len(st.log) == n_before, "a cache hit must not touch the network"

    # a file that no longer matches its md5 is not a cache hit: it is downloaded again
    with open(res.path, "r+b") as fh:
        fh.seek(1000)
        fh.write(b"\x00\x01\x02")
    third = encode.fetch(ACC, tmp_path / "enc", base=base)
    assert not third.cached and third.path.read_bytes() == body


def test_checksum_mismatch_is_refused(server, tmp_path):
    base, st = server
    body = BW.read_bytes()
    _serve_file(st, ACC, body, md5="0" * 32)
    with pytest.raises(DataError, match="md5"):
        encode.fetch(ACC, tmp_path, base=base)
    assert not (tmp_path / f"{ACC}.bigWig").exists()
    assert not (tmp_path / f"{ACC}.bigWig.part").exists()
    assert not (tmp_path / f"{ACC}.json").exists()


def test_truncated_transfer_is_resumed_with_range(server, tmp_path):
    base, st = server
    body = BW.read_bytes()
    _serve_file(st, ACC, body)
    cut = len(body) // 3
    st.cut[f"/store/{ACC}.bigWig"] = [cut]
    res = encode.fetch(ACC, tmp_path, base=base, retries=2)
    assert res.path.read_bytes() == body
    reqs = _downloads(st, ACC)
    assert reqs[0][1] is None
    assert reqs[1][1] == f"bytes={cut}-", "the second request must resume where the first stopped"


def test_interrupted_download_keeps_part_and_next_run_resumes(server, tmp_path):
    base, st = server
    body = BW.read_bytes()
    _serve_file(st, ACC, body)
    path = f"/store/{ACC}.bigWig"
    st.cut[path] = [100_000, 200_000]
    with pytest.raises(DataError, match="run the same command again to resume"):
        encode.fetch(ACC, tmp_path, base=base, retries=1)
    part = tmp_path / f"{ACC}.bigWig.part"
    assert not (tmp_path / f"{ACC}.bigWig").exists(), "a partial file never takes the final name"
    assert part.stat().st_size == 300_000
    assert part.read_bytes() == body[:300_000]

    n = len(_downloads(st, ACC))
    res = encode.fetch(ACC, tmp_path, base=base)
    assert res.path.read_bytes() == body and not part.exists()
    assert _downloads(st, ACC)[n][1] == "bytes=300000-"


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    base, st = server
    body = BW.read_bytes()
    _serve_file(st, ACC, body)
    st.ranges = False
    (tmp_path / f"{ACC}.bigWig.part").write_bytes(b"stale bytes from another file")
    res = encode.fetch(ACC, tmp_path, base=base)
    assert res.path.read_bytes() == body


def test_404_accession_and_missing_download(server, tmp_path):
    base, st = server
    with pytest.raises(DataError, match="404"):
        encode.fetch("ENCFF000NOT", tmp_path, base=base)
    body = BW.read_bytes()
    meta = _serve_file(st, ACC, body)
    del st.routes[f"/store/{ACC}.bigWig"]
    with pytest.raises(DataError, match="404"):
        encode.fetch(ACC, tmp_path, base=base)
    assert list(tmp_path.iterdir()) == []
    assert meta["href"].endswith(".bigWig")


def test_experiment_files_lists_embedded_and_linked_files(server):
    base, st = server
    bw = BW.read_bytes()
    bed = H_BED.read_bytes()
    f1 = _file_json("ENCFF111AAA", bw, "bigWig", "bigWig", biological_replicates=[1])
    f2 = _file_json("ENCFF222BBB", bed, "bed.gz", "bed", output_type="replicated peaks", assembly="GRCh38")
    st.routes["/files/ENCFF222BBB/?format=json"] = _json(f2)
    exp = {"@id": "/experiments/ENCSR999YST/", "accession": "ENCSR999YST", "files": [f1, "/files/ENCFF222BBB/"]}
    st.routes["/experiments/ENCSR999YST/?format=json"] = _json(exp)
    files = encode.experiment_files("ENCSR999YST", base=base)
    assert [f.accession for f in files] == ["ENCFF222BBB", "ENCFF111AAA"]  # sorted by assembly
    assert files[0].output_type == "replicated peaks" and files[0].filename == "ENCFF222BBB.bed.gz"
    assert files[1].biological_replicates == (1,) and files[1].file_size == len(bw)
    with pytest.raises(DataError, match="experiment"):
        encode.file_metadata("ENCSR999YST", base=base)


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=1, mtime=0)


def test_fetch_genome_ucsc_decompresses_indexes_and_caches(server, tmp_path):
    import pyfaidx

    base, st = server
    fa = FA.read_bytes()
    gz = _gz(fa)
    bz = "/goldenPath/sacCer3/bigZips"
    st.routes[f"{bz}/sacCer3.fa.gz"] = ("data", gz, "application/gzip")
    st.routes[f"{bz}/md5sum.txt"] = ("data", f"{hashlib.md5(gz).hexdigest()}  sacCer3.fa.gz\n".encode(), "text/plain")
    rec = reference.fetch_genome("saccer3", tmp_path, ucsc_base=base)
    gdir = tmp_path / "sacCer3"
    assert not rec["cached"] and rec["fasta_source"]["md5"] == hashlib.md5(gz).hexdigest()
    assert (gdir / "sacCer3.fa").read_bytes() == fa
    want = {line.split("\t")[0]: int(line.split("\t")[1]) for line in FAI.read_text().splitlines()}
    got = {k: len(v) for k, v in pyfaidx.Fasta(str(gdir / "sacCer3.fa"), rebuild=False).records.items()}
    assert got == want
    sizes = dict(line.split("\t") for line in (gdir / "sacCer3.chrom.sizes").read_text().splitlines())
    assert {k: int(v) for k, v in sizes.items()} == want
    assert not (gdir / "download" / "sacCer3.fa.gz").exists(), "the compressed download is removed"
    assert not (gdir / "sacCer3.blacklist.bed").exists()  # ENCODE has none for yeast

    n = len(st.log)
    again = reference.fetch_genome("sacCer3", tmp_path, ucsc_base=base)
    assert again["cached"] and len(st.log) == n


def test_fetch_genome_ucsc_md5_mismatch(server, tmp_path):
    base, st = server
    gz = _gz(H_FA.read_bytes())
    bz = "/goldenPath/sacCer3/bigZips"
    st.routes[f"{bz}/sacCer3.fa.gz"] = ("data", gz, "application/gzip")
    st.routes[f"{bz}/md5sum.txt"] = ("data", b"ffffffffffffffffffffffffffffffff  sacCer3.fa.gz\n", "text/plain")
    with pytest.raises(DataError, match="md5"):
        reference.fetch_genome("sacCer3", tmp_path, ucsc_base=base)
    assert not (tmp_path / "sacCer3" / "sacCer3.fa").exists()


def test_fetch_genome_encode_reference_with_blacklist(server, tmp_path, monkeypatch):
    base, st = server
    monkeypatch.setenv(encode.ENV_ENCODE_URL, base)  # the base URL is a setting
    fa, bed = H_FA.read_bytes(), H_BED.read_bytes()
    ref = reference.GENOMES["GRCh38"].ref
    _serve_file(st, ref, _gz(fa), ext="fasta.gz", fmt="fasta")
    _serve_file(st, "ENCFF356LFX", _gz(bed), ext="bed.gz", fmt="bed")
    rec = reference.fetch_genome("GRCh38", tmp_path)
    gdir = tmp_path / "GRCh38"
    assert (gdir / "GRCh38.fa").read_bytes() == fa
    assert (gdir / "GRCh38.blacklist.bed").read_bytes() == bed
    assert rec["n_sequences"] == fa.count(b">") and rec["blacklist"] == "GRCh38.blacklist.bed"
    assert json.loads((gdir / "sources.json").read_text())["blacklist_source"]["encode"] == "ENCFF356LFX"


def test_unknown_genome_names_the_choices():
    with pytest.raises(DataError, match="GRCh38"):
        reference.genome_source("hg19")


def test_cli_fetch_and_experiment_listing(server, tmp_path):
    import typer
    from typer.testing import CliRunner

    from seq2track.cli import realdata

    base, st = server
    body = BW.read_bytes()
    f1 = _serve_file(st, ACC, body)
    st.routes["/experiments/ENCSR999YST/?format=json"] = _json({"accession": "ENCSR999YST", "files": [f1]})
    app = typer.Typer()
    realdata.register(app)
    runner = CliRunner()
    r = runner.invoke(app, ["fetch", "--experiment", "ENCSR999YST", "--encode-url", base])
    assert r.exit_code == 0, r.output
    assert ACC in r.output and "signal p-value" in r.output and "1,2" in r.output
    r = runner.invoke(app, ["fetch", ACC, "--out", str(tmp_path), "--encode-url", base, "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["cached"] is False and Path(out["path"]).read_bytes() == body
