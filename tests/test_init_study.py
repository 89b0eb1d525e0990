"""init_study.py: default studies for real genomes and tracks, and the book's ENCODE config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from seq2track.config import load_study
from seq2track.errors import DataError
from seq2track.init_study import build_study, choose_split, init_study, window_defaults
from seq2track.io.chroms import canonical

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
FA = DATA / "yeast_sacCer3" / "genome" / "sacCer3.fa"
BW = DATA / "yeast_sacCer3" / "atac_SRR1822137" / "yeast_500k_SRR1822137.fragment_coverage.bw"
HG38_SIZES = DATA / "human_hg38_chr22_deepdetails" / "hg38.chrom.sizes"

needs_data = pytest.mark.skipif(not BW.exists(), reason=f"shared test data not found at {DATA}")


def _sizes(path: Path) -> dict[str, int]:
    return {ln.split("\t")[0]: int(ln.split("\t")[1]) for ln in path.read_text().splitlines() if ln.strip()}


def _write_bw(path: Path, sizes: dict[str, int], span: int = 1, value: float = 1.0) -> Path:
    """A bigWig with one interval of ``span`` bp every 2*span bp over each chromosome's first 20 kb."""
    import pyBigWig

    bw = pyBigWig.open(str(path), "w")
    bw.addHeader(list(sizes.items()))
    for c, n in sizes.items():
        starts = list(range(0, min(n, 20_000) - span, 2 * span))
        bw.addEntries([c] * len(starts), starts, ends=[s + span for s in starts], values=[value] * len(starts))
    bw.close()
    return path


def _write_fasta(path: Path, sizes: dict[str, int], seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    with open(path, "w") as fh:
        for c, n in sizes.items():
            seq = "".join(rng.choice(list("ACGT"), size=n))
            fh.write(f">{c}\n" + "\n".join(seq[i : i + 60] for i in range(0, n, 60)) + "\n")
    return path


@needs_data
def test_yeast_default_study_is_sound_and_deterministic(tmp_path):
    import typer
    from typer.testing import CliRunner

    from seq2track.cli import realdata

    app = typer.Typer()
    realdata.register(app)
    out = tmp_path / "studies" / "yeast.yaml"
    args = ["init-study", "--genome", str(FA), "--track", str(BW), "--out", str(out)]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    first = out.read_bytes()
    study = load_study(out)
    assert study.genome.resolve() == FA.resolve() and study.tracks[0].path.resolve() == BW.resolve()
    chroms = study.windows.chroms
    gsizes = _sizes(FA.with_name("sacCer3.chrom.sizes"))
    assert "chrM" not in chroms and set(chroms) == set(gsizes) - {"chrM"}
    val, test = study.split.val, study.split.test
    assert not set(val) & set(test) and set(val) | set(test) < set(chroms)
    kept = sum(gsizes[c] for c in chroms)
    for held in (val, test):
        assert 0.05 <= sum(gsizes[c] for c in held) / kept <= 0.15
    assert study.windows.resolution == 32 and study.windows.stride == study.windows.target_length // 2 == 512
    assert "chrM (mitochondrial)" in first.decode()

    # same inputs, same bytes; and an existing file is not overwritten without --force
    r = CliRunner().invoke(app, args)
    assert r.exit_code != 0 and "--force" in str(r.exception or r.output)
    r = CliRunner().invoke(app, args + ["--force"])
    assert r.exit_code == 0 and out.read_bytes() == first


@needs_data
def test_chromosomes_absent_from_a_track_are_left_out(tmp_path):
    gsizes = _sizes(FA.with_name("sacCer3.chrom.sizes"))
    partial = {c: n for c, n in gsizes.items() if c not in ("chrIV", "chrV")}
    bw = _write_bw(tmp_path / "partial.bw", partial)
    text, study, summary = build_study(FA, [BW, bw], tmp_path / "s.yaml")
    assert "chrIV" not in study.windows.chroms and "chrV" not in study.windows.chroms
    assert summary["excluded"]["chrIV"].startswith("absent from track(s) 2")
    assert not {"chrIV", "chrV"} & set(study.split.val + study.split.test)


@needs_data
def test_assembly_mismatch_is_an_error(tmp_path):
    gsizes = _sizes(FA.with_name("sacCer3.chrom.sizes"))
    wrong = dict(gsizes, chrI=gsizes["chrI"] + 1000)
    bw = _write_bw(tmp_path / "other_assembly.bw", wrong)
    with pytest.raises(DataError, match="different assemblies"):
        build_study(FA, [bw], tmp_path / "s.yaml")


def test_unplaced_mito_and_sex_chromosomes(tmp_path):
    sizes = {f"chr{i}": 60_000 - 4_000 * i for i in range(1, 9)}
    sizes.update({"chrX": 50_000, "chrY": 20_000, "chrM": 16_000, "chr1_KI270706v1_random": 8_000,
                  "chrUn_GL000195v1": 9_000, "chr6_GL000250v2_alt": 7_000, "chrEBV": 17_000})
    fa = _write_fasta(tmp_path / "g.fa", sizes)
    bw = _write_bw(tmp_path / "t.bw", sizes)
    (tmp_path / "g.blacklist.bed").write_text("chr1\t0\t1000\n")
    text, study, summary = build_study(fa, [bw], tmp_path / "s.yaml")
    assert study.windows.chroms == [f"chr{i}" for i in range(1, 9)] + ["chrX", "chrY"]
    for c in ("chrM", "chr1_KI270706v1_random", "chrUn_GL000195v1", "chr6_GL000250v2_alt", "chrEBV"):
        assert c in summary["excluded"]
    held = study.split.val + study.split.test
    assert "chrX" not in held and "chrY" not in held
    assert study.windows.blacklist is not None and study.windows.blacklist.name == "g.blacklist.bed"


def test_binned_track_gets_a_coarser_resolution(tmp_path):
    sizes = {f"chr{i}": 30_000 for i in range(1, 6)}
    fa = _write_fasta(tmp_path / "g.fa", sizes)
    bw = _write_bw(tmp_path / "bins50.bw", sizes, span=50)
    init_study(fa, [bw], tmp_path / "s.yaml")
    study = load_study(tmp_path / "s.yaml")
    assert study.windows.resolution == 64
    assert study.windows.target_length % 64 == 0 and study.windows.flank % 64 == 0


def test_too_few_chromosomes_refuses_a_chromosome_split(tmp_path):
    sizes = {"chr1": 30_000, "chr2": 30_000, "chrM": 16_000}
    fa = _write_fasta(tmp_path / "g.fa", sizes)
    bw = _write_bw(tmp_path / "t.bw", sizes)
    with pytest.raises(DataError, match="at least 3"):
        build_study(fa, [bw], tmp_path / "s.yaml")


@needs_data
def test_split_on_human_sizes():
    sizes = _sizes(HG38_SIZES)
    chroms = [c for c in sizes if canonical(c) != "m"]
    val, test = choose_split(sizes, chroms)
    assert (val, test) == choose_split(dict(reversed(list(sizes.items()))), list(reversed(chroms)))
    total = sum(sizes[c] for c in chroms)
    for held in (val, test):
        assert abs(sum(sizes[c] for c in held) / total - 0.1) < 0.02
        assert not {"chrX", "chrY"} & set(held)
    assert not set(val) & set(test)


def test_window_defaults_scale_with_genome():
    small = window_defaults(1, 12_000_000)
    human = window_defaults(1, 3_000_000_000)
    assert small["stride"] == small["target_length"] // 2 and small["input_length"] == 2 * small["target_length"]
    assert 3_000_000_000 / human["stride"] <= 1_000_000 < 3_000_000_000 / (human["stride"] // 2)


def test_book_config_matches_the_fetch_layout():
    from seq2track.io.reference import GENOMES

    cfg = ROOT / "configs" / "encode_h3k36me3_brain.yaml"
    study = load_study(cfg)
    data = (ROOT / "data").resolve()
    assert study.genome.resolve() == data / "GRCh38" / "GRCh38.fa"
    assert "GRCh38" in GENOMES
    assert study.tracks[0].path.resolve() == data / "encode" / "ENCFF601VTB.bigWig"
    assert study.windows.blacklist.resolve() == data / "GRCh38" / "GRCh38.blacklist.bed"
    assert study.split.test == ["chr8", "chr9"] and study.split.val == ["chr10"]
    assert set(study.split.val + study.split.test) < set(study.windows.chroms)
    assert study.windows.resolution == 128 and study.windows.stride == 2048
