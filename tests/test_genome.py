import numpy as np
import pyfaidx
import pytest

from conftest import YEAST, need_shared, write_fasta
from seq2track.errors import DataError
from seq2track.io.genome import Genome, decode, encode


def test_encode_decode_roundtrip():
    s = "ACGTNacgtnRY"
    c = encode(s)
    assert c.tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 4, 4]
    assert decode(c) == "ACGTNACGTNNN"


def test_fasta_and_2bit_agree_with_pyfaidx():
    need_shared()
    ref = pyfaidx.Fasta(str(YEAST / "genome" / "sacCer3.fa"))
    with Genome(YEAST / "genome" / "sacCer3.fa") as fa, Genome(YEAST / "genome" / "sacCer3.2bit") as tb:
        assert fa.sizes == tb.sizes and fa.sizes["chrIV"] == 1_531_933
        assert fa.fetch("chrIV", 50000, 50040) == "AAACAACATTTGTCCAAAAGAAACAAAAATGTTGGCGTTT"
        assert tb.fetch("chrIV", 50000, 50040).upper() == str(ref["chrIV"][50000:50040]).upper()
        assert np.array_equal(fa.codes("chrI"), tb.codes("chrI"))
        assert fa.resolve(["I", "Mito"]) == {"I": "chrI", "Mito": "chrM"}


def test_missing_and_garbage_genome(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        Genome(tmp_path / "nope.fa")
    bad = tmp_path / "bad.fa"
    bad.write_bytes(b"\x00\x01 not a fasta at all\n>\n")
    with pytest.raises(DataError, match="bad.fa"):
        Genome(bad)


def test_unindexable_gzip_fasta(tmp_path):
    import gzip

    p = tmp_path / "plain.fa.gz"
    with gzip.open(p, "wt") as fh:
        fh.write(">chr1\nACGT\n")
    with pytest.raises(DataError, match="bgzip"):
        Genome(p)


def test_fasta_written_here_reads_back(tmp_path):
    p = write_fasta(tmp_path / "g.fa", {"chrA": "ACGTACGTNN", "chrB": "GGGG"})
    with Genome(p) as g:
        assert g.sizes == {"chrA": 10, "chrB": 4}
        assert decode(g.codes("chrA")) == "ACGTACGTNN"
