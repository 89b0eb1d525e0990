"""BAM/CRAM -> count tracks, on BAMs written by pysam (hand-built reads, real index, real CRAM)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyBigWig
import pytest

pysam = pytest.importorskip("pysam")

from seq2track.errors import DataError  # noqa: E402
from seq2track.io.read_pileup import pileup_fragment_counts, pileup_reads  # noqa: E402
from seq2track.io.reads import TN5_SHIFT, ReadFilter, read_tracks  # noqa: E402

SIZES = {"chr1": 1000, "chr2": 500}


def _header(sizes=SIZES):
    return {"HD": {"VN": "1.6", "SO": "coordinate"}, "SQ": [{"SN": c, "LN": n} for c, n in sizes.items()]}


def _read(name, chrom_id, pos, length=20, reverse=False, flag_extra=0, mapq=60, mate=None, tlen=0, read1=True):
    a = pysam.AlignedSegment()
    a.query_name = name
    a.query_sequence = "A" * length
    a.query_qualities = pysam.qualitystring_to_array("I" * length)
    a.reference_id = chrom_id
    a.reference_start = pos
    a.cigarstring = f"{length}M"
    a.mapping_quality = mapq
    flag = (0x10 if reverse else 0) | flag_extra
    if mate is not None:
        flag |= 0x1 | 0x2 | (0x40 if read1 else 0x80) | (0x20 if not reverse else 0)
        a.next_reference_id = chrom_id
        a.next_reference_start = mate
        a.template_length = tlen
    a.flag = flag
    return a


def _write(path: Path, reads, sizes=SIZES, index=True) -> Path:
    reads = sorted(reads, key=lambda r: (r.reference_id, r.reference_start))
    with pysam.AlignmentFile(str(path), "wb", header=_header(sizes)) as f:
        for r in reads:
            f.write(r)
    if index:
        pysam.index(str(path))
    return path


def _pair(name, chrom_id, start, end, rlen=20, **kw):
    """Mates of fragment [start, end): read1 + at start, read2 - ending at end."""
    return [
        _read(name, chrom_id, start, rlen, False, mate=end - rlen, tlen=end - start, read1=True, **kw),
        _read(name, chrom_id, end - rlen, rlen, True, mate=start, tlen=-(end - start), read1=False, **kw),
    ]


def test_tn5_shift_on_a_hand_built_read(tmp_path):
    """+ read at 100 counts at 104; - read with reference_end 300 (5' base 299) counts at 295 = BED end - 5."""
    bam = _write(tmp_path / "se.bam", [_read("a", 0, 100, 20), _read("b", 0, 280, 20, reverse=True)])
    tr = read_tracks(bam, SIZES, "stranded", shift=TN5_SHIFT)
    plus, minus = tr["+"]["chr1"], tr["-"]["chr1"]
    assert plus.dtype == np.float32 and plus.shape == (1000,)
    assert np.flatnonzero(plus).tolist() == [104] and np.flatnonzero(minus).tolist() == [295]
    unshifted = read_tracks(bam, SIZES, "insertions")["insertions"]["chr1"]
    assert np.flatnonzero(unshifted).tolist() == [100, 299]  # the true 5' bases
    # the two reads of one Tn5 event (9-bp duplication [p, p+9)) land on one base, p + 4
    p = 500
    bam2 = _write(tmp_path / "dup9.bam", [_read("r", 0, p, 30), _read("l", 0, p + 9 - 30, 30, reverse=True)])
    ins = read_tracks(bam2, SIZES, "insertions", shift=TN5_SHIFT)["insertions"]["chr1"]
    assert np.flatnonzero(ins).tolist() == [p + 4] and ins[p + 4] == 2


def test_single_end_coverage_and_extension(tmp_path):
    bam = _write(tmp_path / "se.bam", [_read("a", 0, 100, 20), _read("b", 0, 280, 20, reverse=True),
                                       _read("c", 1, 10, 20)])
    cov = read_tracks(bam, SIZES, "coverage")["coverage"]
    assert np.flatnonzero(cov["chr1"]).tolist() == list(range(100, 120)) + list(range(280, 300))
    assert np.flatnonzero(cov["chr2"]).tolist() == list(range(10, 30))
    ext = read_tracks(bam, SIZES, "coverage", extend=50)["coverage"]["chr1"]
    assert np.flatnonzero(ext).tolist() == list(range(100, 150)) + list(range(250, 300))


def test_paired_end_fragments_and_filters(tmp_path):
    reads = (_pair("f1", 0, 100, 250) + _pair("f2", 0, 200, 260)
             + _pair("dup", 0, 100, 250, flag_extra=0x400)
             + _pair("lowq", 0, 600, 700, mapq=5)
             + _pair("f3", 1, 0, 80))
    sec = _read("sec", 0, 400, 20, flag_extra=0x100)
    bam = _write(tmp_path / "pe.bam", reads + [sec])
    cov = read_tracks(bam, SIZES, "coverage", filt=ReadFilter(min_mapq=10))["coverage"]
    expect = np.zeros(1000, np.float32)
    expect[100:250] += 1
    expect[200:260] += 1
    np.testing.assert_array_equal(cov["chr1"], expect)
    assert cov["chr2"][:80].tolist() == [1.0] * 80 and cov["chr2"][80:].sum() == 0
    loose = read_tracks(bam, SIZES, "coverage", filt=ReadFilter(drop_duplicates=False, drop_secondary=False))
    c1 = loose["coverage"]["chr1"]
    assert c1[150] == 2 and c1[650] == 1  # duplicate and low-MAPQ fragments now count
    assert c1[410] == 0  # an unpaired (secondary) read in a paired-end file is not a fragment
    ins = read_tracks(bam, SIZES, "insertions", filt=ReadFilter(min_mapq=10))["insertions"]["chr1"]
    assert np.flatnonzero(ins).tolist() == [100, 200, 249, 259]  # fragment ends' 5' bases
    bl = pd.DataFrame({"chrom": ["chr1"], "start": [240], "end": [245]})
    blk = read_tracks(bam, SIZES, "coverage", filt=ReadFilter(min_mapq=10, blacklist=bl))["coverage"]["chr1"]
    assert blk[220] == 0 and blk[120] == 0  # both fragments overlap [240, 245): both dropped


def test_pileup_reads_writes_bigwigs_and_matches_fragments(tmp_path):
    frags = [(100, 250), (200, 260), (10, 900), (300, 301 + 20)]
    reads = [r for i, (s, e) in enumerate(frags) for r in _pair(f"f{i}", 0, s, e)]
    bam = _write(tmp_path / "pe.bam", reads)
    bed = tmp_path / "frags.bed"
    bed.write_text("".join(f"chr1\t{s}\t{e}\n" for s, e in frags))
    for kind in ("coverage", "insertions", "stranded"):
        a = pileup_reads(bam, SIZES, tmp_path / f"bam_{kind}.bw", kind=kind, shift=TN5_SHIFT)
        b = pileup_fragment_counts(bed, SIZES, tmp_path / f"bed_{kind}.bw", kind=kind, shift=TN5_SHIFT)
        assert a.paired and set(a.paths) == set(b.paths)
        for name in a.paths:
            with pyBigWig.open(str(a.paths[name])) as x, pyBigWig.open(str(b.paths[name])) as y:
                assert x.chroms() == SIZES
                np.testing.assert_array_equal(np.nan_to_num(x.values("chr1", 0, 1000, numpy=True)),
                                              np.nan_to_num(y.values("chr1", 0, 1000, numpy=True)))
    st = pileup_reads(bam, SIZES, tmp_path / "s.bw", kind="stranded")
    assert sorted(p.name for p in st.paths.values()) == ["s.minus.bw", "s.plus.bw"]
    with pyBigWig.open(str(st.paths["-"])) as bw:
        v = np.nan_to_num(bw.values("chr1", 0, 1000, numpy=True))
    assert np.flatnonzero(v).tolist() == sorted(e - 1 for _, e in frags)
    assert st.total == 2 * len(frags)


def test_cram_needs_its_reference(tmp_path):
    import pyfaidx

    rng = np.random.default_rng(0)
    fa = tmp_path / "ref.fa"
    seqs = {c: "".join(rng.choice(list("ACGT"), n)) for c, n in SIZES.items()}
    fa.write_text("".join(f">{c}\n{s}\n" for c, s in seqs.items()))
    pyfaidx.Fasta(str(fa)).close()  # writes ref.fa.fai
    reads = []
    for i, (s, rev) in enumerate([(100, False), (300, True), (50, False)]):
        r = _read(f"r{i}", 0, s, 20, rev)
        r.query_sequence = seqs["chr1"][s : s + 20]
        r.query_qualities = pysam.qualitystring_to_array("I" * 20)
        reads.append(r)
    cram = tmp_path / "x.cram"
    with pysam.AlignmentFile(str(cram), "wc", header=_header(), reference_filename=str(fa)) as f:
        for r in sorted(reads, key=lambda r: r.reference_start):
            f.write(r)
    pysam.index(str(cram))
    cov = read_tracks(cram, SIZES, "coverage", reference=fa)["coverage"]["chr1"]
    assert np.flatnonzero(cov).tolist() == list(range(50, 70)) + list(range(100, 120)) + list(range(300, 320))
    with pytest.raises(DataError, match=r"x\.cram needs the reference FASTA.*--reference"):
        read_tracks(cram, SIZES, "coverage")


def test_errors_name_the_file_and_fix(tmp_path):
    bam = _write(tmp_path / "noidx.bam", [_read("a", 0, 1, 20)], index=False)
    with pytest.raises(DataError, match=r"noidx\.bam has no index.*samtools index"):
        read_tracks(bam, SIZES, "coverage")
    ok = _write(tmp_path / "ok.bam", [_read("a", 0, 1, 20)])
    one = _write(tmp_path / "one.bam", [_read("a", 0, 1, 20)], sizes={"chr1": 1000})
    with pytest.raises(DataError, match=r"chromosome chr2 is not in .*one\.bam"):
        read_tracks(one, SIZES, "coverage", chroms=["chr1", "chr2"])
    with pytest.raises(DataError, match=r"1,000 bp in the BAM header but chr1 is 2,000 bp"):
        read_tracks(ok, {"chr1": 2000, "chr2": 500}, "coverage")
    # Ensembl-style names in the BAM map to the genome's UCSC names
    ens = _write(tmp_path / "ens.bam", [_read("a", 0, 5, 20)], sizes={"1": 1000, "2": 500})
    assert np.flatnonzero(read_tracks(ens, SIZES, "coverage")["coverage"]["chr1"]).tolist() == list(range(5, 25))


def _cli(*args):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "seq2track", *map(str, args)], capture_output=True, text=True)


def test_cli_pileup_of_a_bam(tmp_path):
    bam = _write(tmp_path / "pe.bam", _pair("f", 0, 100, 250) + _pair("g", 1, 10, 60))
    sizes = tmp_path / "g.sizes"
    sizes.write_text("chr1\t1000\nchr2\t500\n")
    r = _cli("pileup", bam, "-g", sizes, "-o", tmp_path / "ins.bw", "--count", "stranded", "--tn5")
    assert r.returncode == 0, r.stderr
    assert "paired-end, 2 fragments counted" in r.stdout
    with pyBigWig.open(str(tmp_path / "ins.plus.bw")) as bw:
        assert np.flatnonzero(np.nan_to_num(bw.values("chr1", 0, 1000, numpy=True))).tolist() == [104]
    with pyBigWig.open(str(tmp_path / "ins.minus.bw")) as bw:
        assert np.flatnonzero(np.nan_to_num(bw.values("chr2", 0, 500, numpy=True))).tolist() == [59 - 4]
    noidx = _write(tmp_path / "noidx.bam", [_read("a", 0, 1, 20)], index=False)
    bad = _cli("pileup", noidx, "-g", sizes, "-o", tmp_path / "x.bw")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "noidx.bam has no index" in bad.stderr
    assert not (tmp_path / "x.bw").exists()
