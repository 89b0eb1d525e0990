import gzip

import numpy as np
import pytest

from seq2track.errors import DataError
from seq2track.io.vcf import info_column, parse_info, read_vcf

HEADER = (
    "##fileformat=VCFv4.2\n"
    '##INFO=<ID=TRUE_EFFECT,Number=1,Type=Float,Description="x">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
)
BODY = (
    "chr1\t100\trs1\tA\tG,T\t50\tPASS\tTRUE_EFFECT=-1.5;CLASS=break\n"
    "1\t200\t.\tac\ta\t.\t.\t.\n"
    "chr1\t300\t.\tG\t<DEL>\t.\t.\tSOMATIC\n"
    "chr2\t7\t.\tC\t*\t.\t.\tTRUE_EFFECT=0.25\n"
)


def _check(df):
    assert list(df["chrom"]) == ["chr1", "chr1", "1", "chr1", "chr2"]
    assert list(df["pos"]) == [100, 100, 200, 300, 7]
    assert list(df["ref"]) == ["A", "A", "AC", "G", "C"]
    assert list(df["alt"]) == ["G", "T", "A", "<DEL>", "*"]
    assert list(df["allele"]) == [1, 2, 1, 1, 1]
    assert list(df["symbolic"]) == [False, False, False, True, True]
    assert list(df["id"]) == ["rs1", "rs1", None, None, None]
    assert list(df["line"]) == [4, 4, 5, 6, 7]
    eff = info_column(df, "TRUE_EFFECT", float).to_numpy()
    assert eff[:2].tolist() == [-1.5, -1.5] and np.isnan(eff[2]) and eff[4] == 0.25
    assert list(info_column(df, "CLASS"))[:3] == ["break", "break", None]


def test_plain_gzip_and_bgzip_read_the_same(tmp_path):
    from Bio import bgzf

    plain = tmp_path / "v.vcf"
    plain.write_text(HEADER + BODY)
    gz = tmp_path / "v.vcf.gz"
    with gzip.open(gz, "wt") as fh:
        fh.write(HEADER + BODY)
    bgz = tmp_path / "v.bgz.vcf.gz"
    with bgzf.BgzfWriter(str(bgz), "wb") as fh:
        fh.write((HEADER + BODY).encode())
    for p in (plain, gz, bgz):
        _check(read_vcf(p))


def test_crlf_line_endings(tmp_path):
    p = tmp_path / "crlf.vcf"
    p.write_bytes((HEADER + BODY).replace("\n", "\r\n").encode())
    _check(read_vcf(p))


def test_parse_info():
    assert parse_info("A=1;FLAG;B=x,y") == {"A": "1", "FLAG": True, "B": "x,y"}
    assert parse_info(".") == {}


@pytest.mark.parametrize(
    "text, match",
    [
        ("chr1\t1\t.\tA\tG\t.\t.\t.\n", r"no.*#CHROM|before the"),
        (HEADER + "chr1\tabc\t.\tA\tG\t.\t.\t.\n", r"v.vcf:4: POS 'abc' is not an integer"),
        (HEADER + "chr1\t0\t.\tA\tG\t.\t.\t.\n", r":4: POS 0 must be >= 1"),
        (HEADER + "chr1 5 . A G . . .\n", r":4: 1 tab-separated columns"),
        (HEADER + "chr1\t5\t.\tAZ\tG\t.\t.\t.\n", r":4: REF 'AZ'"),
        (HEADER + "chr1\t5\t.\tA\tG,\t.\t.\t.\n", r":4: ALT 'G,' has an empty allele"),
        ("##fileformat=VCFv4.2\n#CHROM\tPOS\tREF\n", r":2: header must start"),
        ("##fileformat=VCFv4.2\n", r"no '#CHROM"),
        (HEADER + "##late=1\n", r":4: meta line"),
    ],
)
def test_malformed_vcf_names_file_and_line(tmp_path, text, match):
    p = tmp_path / "v.vcf"
    p.write_text(text)
    with pytest.raises(DataError, match=match):
        read_vcf(p)


def test_missing_binary_and_truncated_files(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_vcf(tmp_path / "nope.vcf")
    b = tmp_path / "bin.vcf"
    b.write_bytes(b"\xff\xfe\x00\x81garbage")
    with pytest.raises(DataError, match="bin.vcf"):
        read_vcf(b)
    gz = tmp_path / "trunc.vcf.gz"
    data = gzip.compress((HEADER + BODY * 200).encode())
    gz.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="trunc.vcf.gz"):
        read_vcf(gz)


def test_empty_body_gives_empty_table(tmp_path):
    p = tmp_path / "e.vcf"
    p.write_text(HEADER)
    df = read_vcf(p)
    assert len(df) == 0 and "chrom" in df.columns
