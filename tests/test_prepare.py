import json
import shutil

import numpy as np
import pyBigWig
import pyfaidx
import pytest

from conftest import YEAST, need_shared, write_bigwig, write_fasta
from seq2track.config import load_study, parse_study
from seq2track.data.cache import PreparedDataset
from seq2track.data.prepare import inspect_text, prepare
from seq2track.errors import ConfigError, DataError

YEAST_STUDY = """name: yeast-atac
seed: 7
genome: {g}
tracks:
  - {{name: atac, path: {t}}}
windows: {{input_length: 2048, target_length: 256, resolution: 32, stride: 256,
          chroms: null, exclude_chroms: [chrM, chrXII], blacklist: null, max_n_fraction: 0.1}}
transform: arcsinh
filter: {{threshold: null, keep_below_fraction: 1.0}}
split: {{strategy: chromosome, val: [chrV], test: [chrIV, chrXVI]}}
"""


@pytest.fixture(scope="module")
def yeast(tmp_path_factory):
    need_shared()
    d = tmp_path_factory.mktemp("yeast")
    bw = YEAST / "atac_SRR1822137" / "yeast_500k_SRR1822137.fragment_coverage.bw"
    p = d / "study.yaml"
    p.write_text(YEAST_STUDY.format(g=YEAST / "genome" / "sacCer3.fa", t=bw))
    return prepare(load_study(p), d / "cache"), bw


def test_yeast_windows_match_pyfaidx_and_pybigwig(yeast):
    ds, bw = yeast
    fa = pyfaidx.Fasta(str(YEAST / "genome" / "sacCer3.fa"))
    b = pyBigWig.open(str(bw))
    w = ds.windows
    assert set(w.columns) >= {"chrom", "start", "end", "split"}
    assert set(w.loc[w.split == "test", "chrom"]) == {"chrIV", "chrXVI"}
    assert not set(w.chrom) & {"chrM", "chrXII"}
    rows = np.random.default_rng(0).choice(len(w), 200, replace=False)
    x = ds.onehot(rows)
    raw = ds.raw_targets(rows)
    assert x.shape == (200, 4, 2048) and raw.shape == (200, 1, 8)
    for k, i in enumerate(rows):
        c, s, e = w.chrom[i], int(w.start[i]), int(w.end[i])
        seq = str(fa[c][s:e]).upper()
        decoded = "".join("ACGT"[j] if x[k, :, p].any() else "N" for p, j in enumerate(x[k].argmax(0)))
        assert decoded == seq
        assert ds.sequence(i) == seq
        t0 = s + 896
        direct = np.nan_to_num(b.values(c, t0, t0 + 256, numpy=True)).astype(np.float64).reshape(8, 32).mean(1)
        np.testing.assert_allclose(raw[k, 0], direct, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(ds.targets(rows), np.arcsinh(raw), rtol=1e-6)


def test_targets_follow_split_row_order(yeast):
    ds, _ = yeast
    for split in ("train", "val", "test"):
        rows = np.flatnonzero(ds.windows.split.to_numpy() == split)
        np.testing.assert_array_equal(ds.raw_targets(split), ds.raw_targets(rows))


def test_reopen_and_reuse(yeast):
    ds, _ = yeast
    again = PreparedDataset.open(ds.root)
    assert len(again.windows) == len(ds.windows)
    text = inspect_text(again)
    assert "test" in text and "chrXVI" in text and "zero-bin fraction" in text


def _tiny_study(tiny, **repl):
    text = tiny["study"].read_text()
    for a, b in repl.items():
        text = text.replace(a, b)
    return parse_study(text, tiny["dir"], "study.yaml")


def test_n_rich_windows_dropped_and_counted(tiny):
    ds = prepare(_tiny_study(tiny), tiny["dir"] / "c")
    st = ds.meta["stats"]
    assert st["dropped"]["n_fraction"] > 0
    assert st["per_chrom"]["chr1"]["n_fraction_dropped"] == st["dropped"]["n_fraction"]
    for i in range(len(ds.windows)):
        assert ds.sequence(i).count("N") / 1024 <= 0.1


def test_threshold_filter_keeps_fraction_below(tiny):
    base = prepare(_tiny_study(tiny), tiny["dir"] / "f0")
    thr = float(np.median(base.targets().mean(axis=(1, 2))))
    s = _tiny_study(tiny, **{"transform: arcsinh": f"transform: arcsinh\nfilter: {{threshold: {thr}, keep_below_fraction: 0.25}}"})
    ds = prepare(s, tiny["dir"] / "f")
    allw = ds.all_windows
    cand = allw[allw.reason.isin(["", "below_threshold"])]
    above = cand.target_mean >= thr
    assert allw.loc[above[above].index, "keep"].all()
    below = cand[~above]
    frac = below.keep.mean()
    assert 0 < frac < 0.6 and (below.reason[~below.keep] == "below_threshold").all()


def test_normaliser_fitted_on_train_only(tiny):
    s = _tiny_study(tiny, **{"transform: arcsinh": "transform: arcsinh\nnormalize: zscore"})
    ds = prepare(s, tiny["dir"] / "z")
    tr = ds.targets("train")
    assert abs(tr.mean()) < 1e-4 and abs(tr.std() - 1) < 1e-3
    assert ds.norm_state["fit_on"] == "train"
    leaky = prepare(s, tiny["dir"] / "z2", fit_on="all")
    assert leaky.norm_state["fit_on"] == "all" and leaky.norm_state["mean"] != ds.norm_state["mean"]


def test_other_study_cache_refused_unless_force(tiny):
    out = tiny["dir"] / "c2"
    prepare(_tiny_study(tiny), out)
    other = _tiny_study(tiny, **{"seed: 1": "seed: 2"})
    with pytest.raises(DataError, match="--force"):
        prepare(other, out)
    ds = prepare(other, out, force=True)
    assert ds.meta["seed"] == 2


def test_incomplete_cache_is_rebuilt(tiny):
    out = tiny["dir"] / "c3"
    prepare(_tiny_study(tiny), out)
    (out / "meta.json").unlink()  # as if killed before the last write
    with pytest.raises(DataError, match="no complete"):
        PreparedDataset.open(out)
    ds = prepare(_tiny_study(tiny), out)
    assert len(ds.windows) > 0


def test_missing_chromosome_in_track_lists_contents(tiny):
    d = tiny["dir"]
    write_bigwig(d / "short.bw", {"chr1": 20_000, "chr2": 12_000}, {})
    s = _tiny_study(tiny, **{"sig.bw": "short.bw"})
    with pytest.raises(DataError) as e:
        prepare(s, d / "m")
    msg = str(e.value)
    assert "short.bw" in msg and "chr3" in msg and "chr1, chr2" in msg
    assert not (d / "m" / "meta.json").exists()


def test_track_with_ensembl_names_and_extra_contigs(tiny):
    d = tiny["dir"]
    sizes = {"1": 20_000, "2": 12_000, "3": 9_000, "EBV": 1000}
    vals = {"1": tiny["values"]["chr1"], "2": tiny["values"]["chr2"], "3": tiny["values"]["chr3"]}
    write_bigwig(d / "ens.bw", sizes, vals)
    a = prepare(_tiny_study(tiny), d / "a")
    b = prepare(_tiny_study(tiny, **{"sig.bw": "ens.bw"}), d / "b")
    np.testing.assert_array_equal(a.raw_targets(), b.raw_targets())


def test_assembly_mismatch(tiny):
    d = tiny["dir"]
    write_bigwig(d / "hg.bw", {"chr1": 21_000, "chr2": 12_000, "chr3": 9_000}, {})
    with pytest.raises(DataError, match="different assemblies"):
        prepare(_tiny_study(tiny, **{"sig.bw": "hg.bw"}), d / "h")


def test_negative_track_with_log_transform(tiny):
    d = tiny["dir"]
    vals = {c: -v for c, v in tiny["values"].items()}
    write_bigwig(d / "neg.bw", tiny["sizes"], vals)
    with pytest.raises(DataError, match="arcsinh"):
        prepare(_tiny_study(tiny, **{"sig.bw": "neg.bw", "transform: arcsinh": "transform: log1p"}), d / "n")


def test_window_past_chromosome_end(tiny):
    s = _tiny_study(
        tiny, **{"stride: 256}": "stride: 256, chroms: [chr1, chr2, chr3], input_length: 16384, target_length: 256}",
                 "input_length: 1024, ": ""}
    )
    with pytest.raises(DataError, match="past its end"):
        prepare(s, tiny["dir"] / "p")


def test_split_chromosome_not_in_study(tiny):
    s = _tiny_study(tiny, **{"test: [chr3]": "test: [chr9]"})
    with pytest.raises((ConfigError, DataError), match="chr9"):
        prepare(s, tiny["dir"] / "q")


def test_random_split_is_seeded(tiny):
    s = _tiny_study(tiny, **{"strategy: chromosome, val: [chr2], test: [chr3]": "strategy: random"})
    a = prepare(s, tiny["dir"] / "r1")
    b = prepare(s, tiny["dir"] / "r2")
    assert (a.windows.split == b.windows.split).all()
    assert a.windows.groupby("chrom").split.nunique().max() > 1


def test_stranded_pair_swaps_under_rc(tiny):
    d = tiny["dir"]
    plus = {c: v for c, v in tiny["values"].items()}
    minus = {c: v[::-1].copy() for c, v in tiny["values"].items()}
    write_bigwig(d / "pl.bw", tiny["sizes"], plus)
    write_bigwig(d / "mn.bw", tiny["sizes"], minus)
    text = tiny["study"].read_text().replace(
        "tracks:\n  - {name: sig, path: sig.bw}",
        "tracks:\n  - {name: pl, path: pl.bw, strand: '+', pair: mn}\n  - {name: mn, path: mn.bw, strand: '-', pair: pl}",
    )
    ds = prepare(parse_study(text, d, "s"), d / "s")
    rows = np.arange(5)
    y = ds.raw_targets(rows)
    yrc = ds.raw_targets(rows, rc=np.ones(5, bool))
    np.testing.assert_array_equal(yrc[:, 0], y[:, 1, ::-1])
    np.testing.assert_array_equal(yrc[:, 1], y[:, 0, ::-1])


def test_cli_prepare_and_inspect(tiny, tmp_path):
    import subprocess
    import sys

    out = tmp_path / "cli"
    r = subprocess.run([sys.executable, "-m", "seq2track", "prepare", str(tiny["study"]), "--out", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "seq2track", "inspect", str(out)], capture_output=True, text=True)
    assert r.returncode == 0 and "per chromosome" in r.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(tiny["study"].read_text().replace("stride: 256", "strid: 256").replace("genome.fa", str(tiny["fa"])))
    r = subprocess.run([sys.executable, "-m", "seq2track", "prepare", str(bad), "--out", str(tmp_path / "x")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "windows.strid" in r.stderr and "did you mean 'stride'" in r.stderr and len(r.stderr.strip().splitlines()) == 1
