"""io/info.py on every kind of file in ../shared/data, checked against pyBigWig / pyfaidx / py2bit
and against an independent plain-Python parse."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from seq2track.errors import DataError
from seq2track.io.info import describe, natural_key, sniff
from seq2track.io.info_text import format_text

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
YEAST = DATA / "yeast_sacCer3"
BW = YEAST / "atac_SRR1822137" / "yeast_500k_SRR1822137.fragment_coverage.bw"
FA = YEAST / "genome" / "sacCer3.fa"
TWOBIT = YEAST / "genome" / "sacCer3.2bit"
BEDPE = YEAST / "atac_SRR1822137" / "yeast_500k_SRR1822137.bedpe.gz"
MNASE = YEAST / "mnase_deniz2016_chrII" / "MNase_M_chrII.fragments.bed.gz"
IHEC = DATA / "human_hg38_chr21_ihec_h3k27ac_signal_only" / "IHECRE00000013_chr21.bigwig"
PEAKS = DATA / "human_hg38_chr21_ihec_h3k27ac_signal_only" / "H3K27acPeaks_chr21.narrowPeak"
H_FA = DATA / "human_hg38_chr22_deepdetails" / "data_h5_regions.fa"

pytestmark = pytest.mark.skipif(not BW.exists(), reason=f"shared test data not found at {DATA}")


def test_bigwig_matches_pybigwig():
    import pyBigWig

    d = describe(BW)
    assert d["kind"] == "bigwig"
    bw = pyBigWig.open(str(BW))
    assert d["chroms"] == bw.chroms()
    vals = np.concatenate([bw.values(c, 0, n, numpy=True) for c, n in bw.chroms().items()])
    cov = vals[np.isfinite(vals)]
    assert d["bases_covered"] == cov.size == bw.header()["nBasesCovered"]
    assert d["min"] == cov.min() and d["max"] == cov.max()
    assert d["mean"] == pytest.approx(cov.astype(np.float64).mean(), rel=1e-9)
    assert d["std"] == pytest.approx(cov.astype(np.float64).std(ddof=1), rel=1e-6)
    assert len(d["zoom_levels"]) == bw.header()["nLevels"]
    assert d["covered_fraction"] == pytest.approx(cov.size / vals.size)
    assert d["zeros_stored"] is bool((cov == 0).any())
    has = [c for c in d["chroms"] if np.isfinite(bw.values(c, 0, bw.chroms(c), numpy=True)).any()]
    assert d["chroms_with_data"] == has
    # a run-length pileup: interval boundaries share no step above 1
    assert d["step_bp"] == 1
    text = format_text(d)
    assert f"{cov.size:,}" in text and "zeros stored: no" in text
    bw.close()


def test_bigwig_with_stored_zeros_and_empty_chromosomes(tmp_path):
    import pyBigWig

    p = tmp_path / "binned.bw"
    sizes = [("chr1", 10_000), ("chr2", 8_000), ("chr3", 5_000)]
    v1 = [float(i % 7) for i in range(200)]  # 50-bp bins with stored zeros
    v3 = [2.5] * 100
    bw = pyBigWig.open(str(p), "w")
    bw.addHeader(sizes)
    bw.addEntries("chr1", 0, values=v1, span=50, step=50)
    bw.addEntries("chr3", 0, values=v3, span=50, step=50)
    bw.close()
    d = describe(p)
    assert d["chroms_with_data"] == ["chr1", "chr3"]
    assert d["zeros_stored"] is True and d["min"] == 0.0 and d["max"] == 6.0
    assert d["step_bp"] == 50
    assert d["bases_covered"] == 50 * (len(v1) + len(v3))
    assert d["sum"] == pytest.approx(50 * (sum(v1) + sum(v3)))
    assert "(no data)" in format_text(d)


def test_bigwig_human_header_with_one_chromosome_of_data():
    import pyBigWig

    d = describe(IHEC)
    bw = pyBigWig.open(str(IHEC))
    assert d["n_chroms"] == len(bw.chroms())
    with_data = [c for c in bw.chroms() if (bw.stats(c, type="coverage", exact=True)[0] or 0) > 0]
    assert d["chroms_with_data"] == with_data
    assert list(d["chroms"])[:3] == ["chr1", "chr2", "chr3"]  # karyotype order, not the file's
    # zeros are stored in this file: a stored interval with value 0 exists on chr21
    iv = bw.intervals("chr21", 20_000_000, 21_000_000)
    assert d["zeros_stored"] is any(v == 0 for _, _, v in iv)
    bw.close()


def _faidx_counts(path: Path) -> dict[str, tuple[int, int, int]]:
    import pyfaidx

    out = {}
    fa = pyfaidx.Fasta(str(path), rebuild=False, build_index=False)
    for name in fa.keys():
        s = str(fa[name][:]).upper()
        out[name] = (len(s), len(s) - sum(s.count(b) for b in "ACGT"), s.count("G") + s.count("C"))
    fa.close()
    return out


def test_fasta_and_2bit_match_pyfaidx():
    want = _faidx_counts(FA)
    fa = describe(FA)
    assert fa["kind"] == "fasta"
    got = {r["name"]: (r["length"], r["n_count"], r["gc_count"]) for r in fa["sequences"]}
    assert got == want
    assert [r["name"] for r in fa["sequences"]] == list(want)  # file order
    assert fa["total_bp"] == sum(v[0] for v in want.values())
    tb = describe(TWOBIT)
    assert tb["kind"] == "2bit"
    assert {r["name"]: (r["length"], r["n_count"], r["gc_count"]) for r in tb["sequences"]} == want
    assert tb["gc_fraction"] == pytest.approx(fa["gc_fraction"])
    assert f"sequences: {len(want)}" in format_text(fa)


def test_gzip_fasta_is_streamed_without_writing_an_index(tmp_path):
    gz = tmp_path / "regions.fa.gz"
    with gzip.open(gz, "wb") as fh:
        fh.write(H_FA.read_bytes())
    a, b = describe(H_FA), describe(gz)
    assert a["sequences"] == b["sequences"]
    assert list(tmp_path.iterdir()) == [gz]
    want = _faidx_counts(H_FA)
    assert {r["name"]: r["gc_count"] for r in b["sequences"]} == {k: v[2] for k, v in want.items()}


def test_fasta_with_ns_and_soft_masking(tmp_path):
    p = tmp_path / "tiny.fa"
    p.write_text(">s1 description\nACGTNNacgt\nGG\n>s2\nNNNN\n")
    d = describe(p)
    s1, s2 = d["sequences"]
    assert (s1["name"], s1["length"], s1["n_count"], s1["gc_count"]) == ("s1", 12, 2, 6)
    assert s1["gc_fraction"] == pytest.approx(6 / 10) and s1["lower_fraction"] == pytest.approx(4 / 12)
    assert s2["n_fraction"] == 1.0 and s2["gc_fraction"] == 0.0
    bad = tmp_path / "dup.fa"
    bad.write_text(">a\nAC\n>a\nGT\n")
    with pytest.raises(DataError, match="twice"):
        describe(bad)


def _write_fastq(path: Path, reads: list[tuple[str, str, list[int]]], offset: int = 33) -> None:
    text = "".join(f"@{i}\n{s}\n+\n{''.join(chr(q + offset) for q in qs)}\n" for i, s, qs in reads)
    if path.suffix == ".gz":
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)


def test_fastq_records_and_distributions(tmp_path):
    rng = np.random.default_rng(7)
    reads = []
    for i in range(25):
        n = int(rng.integers(30, 60))
        seq = "".join(rng.choice(list("ACGTN"), size=n, p=[0.3, 0.2, 0.2, 0.29, 0.01]))
        reads.append((f"read{i} 1:N:0", seq, rng.integers(2, 41, size=n).tolist()))
    p = tmp_path / "tiny.fastq.gz"
    _write_fastq(p, reads)
    d = describe(p, n_reads=20, n_show=2)
    assert d["kind"] == "fastq" and d["phred_offset"] == 33
    assert d["n_reads_sampled"] == 20 and d["more_reads"] is True
    assert [r["id"] for r in d["first_records"]] == ["read0 1:N:0", "read1 1:N:0"]
    assert d["first_records"][0]["quality"] == reads[0][2]
    assert d["first_records"][1]["sequence"] == reads[1][1]
    lengths = np.array([len(s) for _, s, _ in reads[:20]])
    assert d["read_length"]["median"] == np.median(lengths) and d["read_length"]["max"] == lengths.max()
    q = np.concatenate([qs for _, _, qs in reads[:20]])
    assert d["base_quality"]["mean"] == pytest.approx(q.mean())
    assert d["base_quality"]["fraction_q30"] == pytest.approx((q >= 30).mean())
    per_read = [np.mean(qs) for _, _, qs in reads[:20]]
    assert d["read_mean_quality"]["median"] == pytest.approx(np.median(per_read))
    seqs = "".join(s for _, s, _ in reads[:20])
    acgt = sum(seqs.count(b) for b in "ACGT")
    assert d["gc_fraction"] == pytest.approx((seqs.count("G") + seqs.count("C")) / acgt)
    whole = describe(p)
    assert whole["n_reads_sampled"] == 25 and whole["more_reads"] is False
    assert "Phred+33" in format_text(whole)


def test_fastq_phred64_and_malformed(tmp_path):
    p = tmp_path / "old.fq"
    _write_fastq(p, [("r1", "ACGTACGT", [40, 38, 30, 20, 35, 40, 12, 39])], offset=64)
    d = describe(p)
    assert d["phred_offset"] == 64 and d["first_records"][0]["quality"] == [40, 38, 30, 20, 35, 40, 12, 39]
    bad = tmp_path / "bad.fq"
    bad.write_text("@r1\nACGT\n+\nIIII\n@r2\nACGT\nIIII\n")
    with pytest.raises(DataError, match=r"bad.fq:5"):
        describe(bad)


def _plain_parse(path: Path, bedpe: bool) -> tuple[dict[str, int], list[int]]:
    per: dict[str, int] = {}
    lengths = []
    with gzip.open(path, "rt") if path.suffix == ".gz" else open(path) as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            f = line.rstrip("\n").split("\t")
            if bedpe and len(f) >= 6 and f[0] != f[3]:
                continue
            per[f[0]] = per.get(f[0], 0) + 1
            lengths.append(int(f[5] if bedpe and len(f) >= 6 else f[2]) - int(f[1]))
    return per, lengths


@pytest.mark.parametrize("path", [BEDPE, MNASE, PEAKS], ids=["atac_bedpe", "mnase_bed", "narrowPeak"])
def test_intervals_match_plain_parse(path):
    per, lengths = _plain_parse(path, bedpe=False)
    d = describe(path)
    assert d["kind"] == "intervals" and d["format"] == "bed"
    assert d["count"] == len(lengths)
    assert d["per_chrom"] == per and list(d["per_chrom"]) == sorted(per, key=natural_key)
    assert d["length"]["median"] == np.median(lengths)
    assert d["length"]["min"] == min(lengths) and d["length"]["max"] == max(lengths)
    assert d["total_bp"] == sum(x for x in lengths if x > 0)


def test_six_column_bedpe_spans_both_mates(tmp_path):
    p = tmp_path / "pairs.bedpe"
    rows = [
        ("chrII", 100, 150, "chrII", 300, 350),
        ("chrII", 1000, 1050, "chrII", 1100, 1160),
        ("chrI", 5, 55, "chrIV", 9000, 9050),  # ends on two chromosomes: left out
    ]
    p.write_text("# a comment\n" + "".join("\t".join(map(str, r)) + "\tname\t60\t+\t-\n" for r in rows))
    d = describe(p)
    per, lengths = _plain_parse(p, bedpe=True)
    assert d["format"] == "bedpe" and d["count"] == len(lengths) == 2
    assert d["n_interchromosomal"] == 1 and d["per_chrom"] == per
    assert d["length"]["max"] == max(lengths) == 250


def test_sniff_refuses_unknown_files(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("just some words\nand more\n")
    with pytest.raises(DataError, match="cannot tell"):
        sniff(p)
    with pytest.raises(DataError, match="does not exist"):
        describe(tmp_path / "missing.bw")


def test_sniff_uses_content_not_name(tmp_path):
    p = tmp_path / "track.dat"
    shutil.copyfile(BW, p)
    assert sniff(p) == "bigwig"


def test_cli_info_json(tmp_path):
    import typer
    from typer.testing import CliRunner

    from seq2track.cli import realdata

    app = typer.Typer()
    realdata.register(app)
    r = CliRunner().invoke(app, ["info", str(TWOBIT), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == json.loads(json.dumps(describe(TWOBIT)))
    r = CliRunner().invoke(app, ["info", str(BEDPE)])
    assert r.exit_code == 0 and "intervals" in r.output
