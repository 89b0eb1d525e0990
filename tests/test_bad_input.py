"""A catalogue of bad input a user types or names: every field of the study and every file it
names. Each case must end in a one-line ``Seq2TrackError`` that names the key or the file
(and says what to do), never a traceback: the study is loaded and prepared in a forked child
(``test_robustness.isolated``), so even a crash in a C reader fails the case, not pytest.

The cases are declarative: a name, a change to the valid study text or to its files, and the
words the one-line error must contain.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from conftest import write_bigwig, write_fasta
from test_robustness import VALID_STUDY, isolated

SIZES = {"chr1": 5000, "chr2": 3000, "chr3": 2600}


def _files(d: Path) -> None:
    rng = np.random.default_rng(0)
    write_fasta(d / "genome.fa", {c: "".join(rng.choice(list("ACGT"), n)) for c, n in SIZES.items()})
    vals = {c: np.round(rng.random(n) * 5, 1) for c, n in SIZES.items()}
    write_bigwig(d / "sig.bw", SIZES, vals)


def _sub(old: str, new: str):
    def f(text: str, d: Path) -> str:
        assert old in text, old
        return text.replace(old, new, 1)

    return f


def _add(line: str):
    return lambda text, d: text + line + "\n"


def _bad_fasta(text: str, d: Path) -> str:
    (d / "bad.fa").write_text("this is not a FASTA file\n")
    return text.replace("genome: genome.fa", "genome: bad.fa")


def _empty_fasta(text: str, d: Path) -> str:
    (d / "empty.fa").write_text("")
    return text.replace("genome: genome.fa", "genome: empty.fa")


def _gzip_not_bgzip(text: str, d: Path) -> str:
    with gzip.open(d / "plain.fa.gz", "wt") as fh:
        fh.write((d / "genome.fa").read_text())
    return text.replace("genome: genome.fa", "genome: plain.fa.gz")


def _not_bigwig(text: str, d: Path) -> str:
    (d / "notbw.bw").write_text("chr1\t0\t10\t1.0\n")
    return text.replace("path: sig.bw", "path: notbw.bw")


def _empty_bigwig(text: str, d: Path) -> str:
    (d / "empty.bw").write_bytes(b"")
    return text.replace("path: sig.bw", "path: empty.bw")


def _truncated_bigwig(text: str, d: Path) -> str:
    (d / "trunc.bw").write_bytes((d / "sig.bw").read_bytes()[:300])
    return text.replace("path: sig.bw", "path: trunc.bw")


def _bigwig_other_assembly(text: str, d: Path) -> str:
    write_bigwig(d / "other.bw", {"chr1": 9000, "chr2": 3000, "chr3": 2600},
                 {"chr1": np.ones(9000), "chr2": np.ones(3000), "chr3": np.ones(2600)})
    return text.replace("path: sig.bw", "path: other.bw")


def _bigwig_missing_chrom(text: str, d: Path) -> str:
    write_bigwig(d / "two.bw", {"chr1": 5000, "chr2": 3000}, {"chr1": np.ones(5000), "chr2": np.ones(3000)})
    return text.replace("path: sig.bw", "path: two.bw")


def _bigwig_nan(text: str, d: Path) -> str:
    v = {c: np.ones(n) for c, n in SIZES.items()}
    v["chr1"][100:200] = np.nan
    write_bigwig(d / "nan.bw", SIZES, v, skip_zeros=False)
    return text.replace("path: sig.bw", "path: nan.bw")


def _negative_log1p(text: str, d: Path) -> str:
    v = {c: -np.ones(n) for c, n in SIZES.items()}
    write_bigwig(d / "neg.bw", SIZES, v, skip_zeros=False)
    return text.replace("path: sig.bw", "path: neg.bw").replace("transform: arcsinh", "transform: log1p")


def _blacklist_not_bed(text: str, d: Path) -> str:
    (d / "bl.bed").write_text("chr1\tnot-a-number\t100\n")
    return text.replace("  max_n_fraction: 0.1", "  max_n_fraction: 0.1\n  blacklist: bl.bed")


def _blacklist_backwards(text: str, d: Path) -> str:
    (d / "bl2.bed").write_text("chr1\t500\t100\n")
    return text.replace("  max_n_fraction: 0.1", "  max_n_fraction: 0.1\n  blacklist: bl2.bed")


def _peaks_missing(text: str, d: Path) -> str:
    return text + "peaks: nowhere.bed\n"


#: (name, change, words the one-line error must contain: a key or file name, case-insensitive)
CASES = [
    # the study text
    ("unknown top-level key", _add("nmae: x"), ["nmae"]),
    ("unknown nested key", _sub("stride: 256", "strid: 256"), ["strid"]),
    ("missing genome", _sub("genome: genome.fa\n", ""), ["genome"]),
    ("missing tracks", _sub("tracks:\n  - name: sig\n    path: sig.bw\n    missing: zero\n", ""), ["tracks"]),
    ("empty tracks", _sub("tracks:\n  - name: sig\n    path: sig.bw\n    missing: zero\n", "tracks: []\n"), ["tracks"]),
    ("duplicate track names", _sub("    missing: zero\n", "    missing: zero\n  - name: sig\n    path: sig.bw\n"), ["sig"]),
    ("seed is text", _sub("seed: 3", "seed: three"), ["seed"]),
    ("negative seed", _sub("seed: 3", "seed: -1"), ["seed"]),
    ("input_length not a number", _sub("input_length: 1024", "input_length: big"), ["input_length"]),
    ("target longer than input", _sub("target_length: 256", "target_length: 2048"), ["target_length"]),
    ("target not a multiple of resolution", _sub("target_length: 256", "target_length: 250"), ["target_length"]),
    ("zero resolution", _sub("resolution: 32", "resolution: 0"), ["resolution"]),
    ("zero stride", _sub("stride: 256", "stride: 0"), ["stride"]),
    ("max_n_fraction above 1", _sub("max_n_fraction: 0.1", "max_n_fraction: 1.5"), ["max_n_fraction"]),
    ("unknown transform", _sub("transform: arcsinh", "transform: log2"), ["transform"]),
    ("unknown normalize", _sub("normalize: zscore", "normalize: minmax"), ["normalize"]),
    ("keep_below_fraction above 1", _sub("keep_below_fraction: 1.0", "keep_below_fraction: 2.0"), ["keep_below_fraction"]),
    ("unknown split strategy", _sub("strategy: chromosome", "strategy: stratified"), ["strategy"]),
    ("val and test share a chromosome", _sub("test: [chr3]", "test: [chr2]"), ["chr2"]),
    ("test chromosome not in the genome", _sub("test: [chr3]", "test: [chr9]"), ["chr9"]),
    ("unknown model arch", _sub("arch: dilated_cnn", "arch: transformer9000"), ["arch"]),
    ("zero channels", _sub("channels: 8", "channels: 0"), ["channels"]),
    ("negative learning rate", _sub("lr: 0.001", "lr: -0.1"), ["lr"]),
    ("zero batch size", _sub("batch_size: 16", "batch_size: 0"), ["batch_size"]),
    ("unknown track missing policy", _sub("missing: zero", "missing: maybe"), ["missing"]),
    ("track path is a list", _sub("path: sig.bw", "path: [sig.bw]"), ["path"]),
    ("not a mapping", lambda t, d: "- just\n- a list\n", ["study"]),
    ("broken YAML", lambda t, d: t.replace("seed: 3", "seed: [3"), ["yaml"]),
    # the files it names
    ("genome file does not exist", _sub("genome: genome.fa", "genome: nowhere.fa"), ["nowhere.fa"]),
    ("genome is not a FASTA", _bad_fasta, ["bad.fa"]),
    ("genome is empty", _empty_fasta, ["empty.fa"]),
    ("genome is gzip, not bgzip", _gzip_not_bgzip, ["plain.fa.gz"]),
    ("track file does not exist", _sub("path: sig.bw", "path: nowhere.bw"), ["nowhere.bw"]),
    ("track is not a bigWig", _not_bigwig, ["notbw.bw"]),
    ("track is empty", _empty_bigwig, ["empty.bw"]),
    ("track is truncated", _truncated_bigwig, ["trunc.bw"]),
    ("track of another assembly", _bigwig_other_assembly, ["chr1"]),
    ("track lacks a study chromosome", _bigwig_missing_chrom, ["chr3"]),
    ("track holds NaN", _bigwig_nan, ["nan.bw"]),
    ("negative track under log1p", _negative_log1p, ["log1p"]),
    ("blacklist is not BED", _blacklist_not_bed, ["bl.bed"]),
    ("blacklist interval ends before it starts", _blacklist_backwards, ["bl2.bed"]),
    ("peaks file does not exist", _peaks_missing, ["nowhere.bed"]),
]


def _load_and_prepare(study_path: Path, out: Path) -> None:
    from seq2track.config import load_study
    from seq2track.data.prepare import prepare
    from seq2track.evaluate import read_peaks

    study = load_study(study_path)
    ds = prepare(study, out)
    if study.peaks is not None:  # peaks are read at evaluation; read them the same way
        read_peaks(study.peaks, ds.chroms)


def test_the_catalogue_covers_at_least_30_kinds_of_bad_input():
    assert len(CASES) >= 30 and len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("name,change,words", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_naming_the_key_or_file(name, change, words, tmp_path):
    _files(tmp_path)
    text = change(VALID_STUDY, tmp_path)
    sp = tmp_path / "study.yaml"
    sp.write_text(text)
    kind, msg = isolated(_load_and_prepare, sp, tmp_path / "cache")
    assert kind == "error", f"{name}: expected a one-line Seq2TrackError, got {kind}: {msg}"
    assert msg.strip() and "\n" not in msg, f"{name}: not one line: {msg!r}"
    low = msg.lower()
    missing = [w for w in words if w.lower() not in low]
    assert not missing, f"{name}: the error does not name {missing}: {msg}"


def test_the_valid_study_of_the_catalogue_prepares(tmp_path):
    _files(tmp_path)
    (tmp_path / "study.yaml").write_text(VALID_STUDY)
    assert isolated(_load_and_prepare, tmp_path / "study.yaml", tmp_path / "cache") == ("ok", "")
