import numpy as np
import pyBigWig
import pytest

from conftest import YEAST, need_shared, write_bigwig
from seq2track.errors import DataError
from seq2track.io.tracks import check_lengths, open_header, read_bins, write_bigwig as s2t_write


def _direct(path, chrom, n_bins, res, covered=False):
    v = pyBigWig.open(str(path)).values(chrom, 0, n_bins * res, numpy=True).astype(np.float64).reshape(n_bins, res)
    if covered:
        n = np.isfinite(v).sum(1)
        return np.where(n > 0, np.nansum(v, 1) / np.maximum(n, 1), 0)
    return np.nan_to_num(v).mean(1)


def test_bins_equal_pybigwig_on_real_yeast_track():
    need_shared()
    bw = YEAST / "atac_SRR1822137" / "yeast_500k_SRR1822137.fragment_coverage.bw"
    for chrom, res in [("chrI", 32), ("chrIV", 32), ("chrV", 100)]:
        n = pyBigWig.open(str(bw)).chroms(chrom) // res
        np.testing.assert_allclose(read_bins(bw, chrom, n, res), _direct(bw, chrom, n, res), rtol=1e-6, atol=1e-4)
    n = 230218 // 32
    np.testing.assert_allclose(read_bins(bw, "chrI", n, 32, "covered"), _direct(bw, "chrI", n, 32, True), rtol=1e-6)


def test_missing_bases_count_as_zero(tmp_path):
    v = np.zeros(640)
    v[0:16] = 4.0  # half of the first 32-bp bin covered, rest absent from the file
    p = write_bigwig(tmp_path / "a.bw", {"chr1": 640}, {"chr1": v})
    assert np.isnan(pyBigWig.open(str(p)).values("chr1", 20, 21)[0])
    zero = read_bins(p, "chr1", 20, 32, "zero")
    cov = read_bins(p, "chr1", 20, 32, "covered")
    assert zero[0] == pytest.approx(2.0) and cov[0] == pytest.approx(4.0)
    assert zero[1:].sum() == 0 and cov[1:].sum() == 0


def test_nan_signal_is_an_error_naming_the_place(tmp_path):
    p = tmp_path / "nan.bw"
    bw = pyBigWig.open(str(p), "w")
    bw.addHeader([("chr1", 1000)])
    bw.addEntries(["chr1", "chr1"], [0, 500], ends=[100, 600], values=[1.0, float("nan")])
    bw.close()
    with pytest.raises(DataError) as e:
        read_bins(p, "chr1", 1000 // 32, 32)
    assert "nan.bw" in str(e.value) and "chr1:500-600" in str(e.value)


def test_empty_and_corrupt_bigwig(tmp_path):
    empty = tmp_path / "empty.bw"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        open_header(empty)
    good = write_bigwig(tmp_path / "g.bw", {"chr1": 5000}, {"chr1": np.ones(5000)})
    bad = tmp_path / "trunc.bw"
    bad.write_bytes(good.read_bytes()[:200])
    with pytest.raises(DataError, match="trunc.bw"):
        open_header(bad)
        read_bins(bad, "chr1", 100, 32)


def test_assembly_mismatch_is_named(tmp_path):
    p = write_bigwig(tmp_path / "a.bw", {"22": 51_304_566}, {"22": np.zeros(10)})
    h = open_header(p)
    with pytest.raises(DataError, match="different assemblies"):
        check_lengths(h, {"chr22": 50_818_468}, ["chr22"], "hg38.fa")
    assert check_lengths(h, {"chr22": 51_304_566}, ["chr22"], "hg19.fa") == {"chr22": "22"}


def test_write_bigwig_roundtrip(tmp_path):
    vals = {"chrA": np.array([1, 2, 3, 4], np.float32), "chrB": np.array([5, 0], np.float32)}
    p = tmp_path / "w.bw"
    s2t_write(p, {"chrA": 128, "chrB": 40}, ["chrA", "chrB"], vals, span=32)
    assert np.allclose(read_bins(p, "chrA", 4, 32), [1, 2, 3, 4])
    assert pyBigWig.open(str(p)).values("chrB", 39, 40)[0] == 0.0
    assert not any(x.name.startswith(".tmp") for x in tmp_path.iterdir())
