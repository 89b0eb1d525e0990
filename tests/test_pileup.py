"""Fragments/reads -> coverage bigWig, checked against real fragment files and direct numpy counts."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pyBigWig
import pytest

from seq2track.errors import ConfigError, DataError
from seq2track.io.pileup import coverage_runs, dense_coverage, pileup, read_fragments, read_sizes

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
YEAST = SHARED / "yeast_sacCer3"
MNASE = YEAST / "mnase_deniz2016_chrII"
ATAC = YEAST / "atac_SRR1822137"
FAI = YEAST / "genome" / "sacCer3.fa.fai"


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared real data not found at {path} (CI lays ../shared beside the clone)")
    return path


def _load(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Plain reader of the chrom, start, end columns (no format sniffing, no checks)."""
    import pandas as pd

    df = pd.read_csv(path, sep="\t", header=None, usecols=[0, 1, 2])
    return df[0].to_numpy(), df[1].to_numpy(np.int64), df[2].to_numpy(np.int64)


def _values(path: Path, chrom: str, start: int, end: int) -> np.ndarray:
    with pyBigWig.open(str(path)) as bw:
        return bw.values(chrom, start, end, numpy=True)


def test_atac_pileup_equals_reference_bigwig(tmp_path):
    """The shared ATAC fragment_coverage.bw (built independently from the same BEDPE) is reproduced."""
    bedpe = need(ATAC / "yeast_500k_SRR1822137.bedpe.gz")
    ref = ATAC / "yeast_500k_SRR1822137.fragment_coverage.bw"
    r = pileup(bedpe, YEAST / "genome" / "sacCer3.chrom.sizes", tmp_path / "atac.bw")
    assert r.n_fragments == r.n_kept == 467_908
    with pyBigWig.open(str(r.path)) as a, pyBigWig.open(str(ref)) as b:
        assert a.chroms() == b.chroms()
        for c, n in a.chroms().items():
            va, vb = a.values(c, 0, n, numpy=True), b.values(c, 0, n, numpy=True)
            np.testing.assert_array_equal(np.isnan(va), np.isnan(vb))  # zeros are not stored
            np.testing.assert_array_equal(np.nan_to_num(va), np.nan_to_num(vb))


def test_mnase_depths_and_thinning(tmp_path):
    g2f = need(MNASE / "MNase_G2_chrII.fragments.bed.gz")
    mf = MNASE / "MNase_M_chrII.fragments.bed.gz"
    _, s2, e2 = _load(g2f)
    _, sm, em = _load(mf)
    g2 = pileup(g2f, FAI, tmp_path / "g2.bw")
    m = pileup(mf, FAI, tmp_path / "m.bw")
    assert (g2.n_fragments, m.n_fragments) == (len(s2), len(sm))
    assert g2.total_coverage == int((e2 - s2).sum()) and m.total_coverage == int((em - sm).sum())
    with pyBigWig.open(str(g2.path)) as bw:
        assert bw.chroms() == read_sizes(FAI)  # header = every genome chromosome, genome order
        assert np.nansum(bw.values("chrII", 0, bw.chroms("chrII"), numpy=True)) == g2.total_coverage
    ratio = g2.n_fragments / m.n_fragments
    assert 2.0 < ratio < 2.12  # PROVENANCE: G2 is ~2.06x deeper than M
    # binomial thinning of G2 to M's depth
    frac = m.n_fragments / g2.n_fragments
    t = pileup(g2f, FAI, tmp_path / "thin.bw", fraction=frac, seed=1)
    sd = np.sqrt(g2.n_fragments * frac * (1 - frac))
    assert abs(t.n_kept - m.n_fragments) < 5 * sd
    assert abs(t.total_coverage / g2.total_coverage - frac) < 0.01
    again = pileup(g2f, FAI, tmp_path / "thin2.bw", fraction=frac, seed=1)
    other = pileup(g2f, FAI, tmp_path / "thin3.bw", fraction=frac, seed=2)
    assert again.path.read_bytes() == t.path.read_bytes()
    assert other.path.read_bytes() != t.path.read_bytes()


def test_base_values_equal_direct_count(tmp_path):
    f = need(MNASE / "MNase_M_chrII.fragments.bed.gz")
    _, s, e = _load(f)
    r = pileup(f, YEAST / "genome" / "sacCer3.fa", tmp_path / "m.bw")
    lo, hi = 400_000, 402_000
    x = np.arange(lo, hi)
    near = (s < hi) & (e > lo)
    direct = ((s[near, None] <= x[None, :]) & (e[near, None] > x[None, :])).sum(axis=0)
    got = _values(r.path, "chrII", lo, hi)
    np.testing.assert_array_equal(np.nan_to_num(got), direct)
    assert np.array_equal(np.isnan(got), direct == 0)
    # the dense helper agrees with the run-length pileup on the whole chromosome
    n = read_sizes(FAI)["chrII"]
    dense = dense_coverage(s, e, n)
    np.testing.assert_array_equal(np.nan_to_num(_values(r.path, "chrII", 0, n)), dense)


def test_chromosome_aliases(tmp_path):
    """A file naming the chromosome ``II`` piles up onto the genome's ``chrII``."""
    f = need(MNASE / "MNase_M_chrII.fragments.bed.gz")
    with gzip.open(f, "rt") as fh:
        lines = [next(fh) for _ in range(5000)]
    ens = tmp_path / "ens.bed"
    ens.write_text("".join(ln.replace("chrII", "II", 1) for ln in lines))
    ucsc = tmp_path / "ucsc.bed"
    ucsc.write_text("".join(lines))
    a = pileup(ens, FAI, tmp_path / "a.bw")
    b = pileup(ucsc, FAI, tmp_path / "b.bw")
    assert a.n_kept == 5000
    assert a.path.read_bytes() == b.path.read_bytes()


def test_unknown_chromosome_and_past_end(tmp_path):
    sizes = {"chrI": 1000, "chrII": 500}
    bad = tmp_path / "bad.bed"
    bad.write_text("chrI\t10\t50\nchrZ\t5\t20\nchrII\t450\t520\nchrII\t600\t700\n")
    with pytest.raises(DataError, match=r"bad\.bed.*chrZ.*--clip"):
        pileup(bad, sizes, tmp_path / "x.bw")
    past = tmp_path / "past.bed"
    past.write_text("chrI\t10\t50\nchrII\t450\t520\n")
    with pytest.raises(DataError, match=r"past\.bed.*chrII.*500"):
        pileup(past, sizes, tmp_path / "x.bw")
    assert not (tmp_path / "x.bw").exists()
    r = pileup(bad, sizes, tmp_path / "clip.bw", clip=True)
    assert (r.n_dropped, r.n_clipped, r.n_kept) == (2, 1, 2)
    v = np.nan_to_num(_values(r.path, "chrII", 0, 500))
    assert v[450:].sum() == 50 and v[:450].sum() == 0


def test_formats_and_sizes_sources(tmp_path):
    sizes = {"chr1": 300, "chr2": 200}
    bed6 = tmp_path / "reads.bed.gz"
    with gzip.open(bed6, "wt") as fh:
        fh.write('track name="reads"\n#comment\nchr1\t10\t20\tr1\t0\t+\nchr1\t15\t25\tr2\t0\t-\n')
    r = pileup(bed6, sizes, tmp_path / "r.bw")
    v = np.nan_to_num(_values(r.path, "chr1", 0, 30))
    np.testing.assert_array_equal(v, np.r_[np.zeros(10), np.ones(5), 2 * np.ones(5), np.ones(5), np.zeros(5)])
    bedpe = tmp_path / "pairs.bedpe"
    bedpe.write_text("chr2\t10\t60\tchr2\t100\t150\tp1\t60\t+\t-\nchr1\t0\t10\tchr2\t0\t10\tp2\t60\t+\t-\n")
    with pytest.raises(DataError, match="two chromosomes"):
        pileup(bedpe, sizes, tmp_path / "p.bw")
    p = pileup(bedpe, sizes, tmp_path / "p.bw", clip=True)
    assert p.total_coverage == 140 and p.n_dropped == 1
    assert np.nansum(_values(p.path, "chr2", 0, 200)) == 140
    fai = need(FAI)
    fa = YEAST / "genome" / "sacCer3.fa"
    cs = YEAST / "genome" / "sacCer3.chrom.sizes"
    assert read_sizes(fa) == read_sizes(fai) == read_sizes(cs)
    assert read_sizes(fai)["chrII"] == 813_184
    with pytest.raises(DataError, match="not BED"):
        read_fragments(_write(tmp_path / "x.bed", "chr1\tten\t20\n"))
    with pytest.raises(DataError, match="end <= start"):
        read_fragments(_write(tmp_path / "y.bed", "chr1\t30\t20\n"))
    with pytest.raises(ConfigError, match="fraction"):
        pileup(bed6, sizes, tmp_path / "z.bw", fraction=1.5)


def test_coverage_runs_merge_touching_intervals():
    r = coverage_runs(np.array([0, 10, 10]), np.array([10, 20, 15]))
    assert r.starts.tolist() == [0, 10, 15] and r.ends.tolist() == [10, 15, 20]
    assert r.values.tolist() == [1.0, 2.0, 1.0]


def test_cli_pileup(tmp_path):
    from typer.testing import CliRunner

    from seq2track.cli import app

    bed = _write(tmp_path / "f.bed", "chr1\t0\t100\nchr1\t50\t150\n")
    sizes = _write(tmp_path / "g.sizes", "chr1\t1000\n")
    res = CliRunner().invoke(app, ["pileup", str(bed), "--genome", str(sizes), "--out", str(tmp_path / "o.bw")])
    assert res.exit_code == 0, res.output
    assert np.nansum(_values(tmp_path / "o.bw", "chr1", 0, 1000)) == 200


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
