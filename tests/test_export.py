"""predict -> bigWig: covers the test chromosomes, opens in pyBigWig, and its correlation with
the observed track equals the test Pearson in metrics.json (same number from two paths)."""

import json

import numpy as np
import pyBigWig
import pytest
from scipy.stats import pearsonr

from seq2track.config import parse_study
from seq2track.data.cache import PreparedDataset
from seq2track.export import tile_starts, write_predictions

TINY_TRAIN = """
model: {arch: dilated_cnn, channels: 8, n_dilated: 2}
train: {max_epochs: 1, batch_size: 32, rc_average_eval: true}
baseline: {kmer_ridge: false}
tracking: none
"""


def test_tile_starts_abut():
    s = tile_starts(10_000, 1024, 256)
    assert s[0] == 0 and np.all(np.diff(s) == 256) and s[-1] + 1024 <= 10_000 and s[-1] + 256 + 1024 > 10_000
    assert len(tile_starts(500, 1024, 256)) == 0


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from conftest import write_bigwig, write_fasta  # noqa: F401  (fixture module)

    run_mod = pytest.importorskip("seq2track.run")
    d = tmp_path_factory.mktemp("exp")
    rng = np.random.default_rng(0)
    sizes = {"chr1": 24_000, "chr2": 12_000, "chr3": 12_000}
    seqs = {c: "".join(rng.choice(list("ACGT"), size=n)) for c, n in sizes.items()}
    write_fasta(d / "genome.fa", seqs)
    vals = {}
    for c, s in seqs.items():
        gc = np.isin(np.frombuffer(s.encode(), np.uint8), [ord("G"), ord("C")]).astype(float)
        vals[c] = np.round(np.convolve(gc, np.ones(64) / 64, mode="same") * 8, 2)
    write_bigwig(d / "sig.bw", sizes, vals)
    text = (
        "name: exp\nseed: 3\ngenome: genome.fa\ntracks:\n  - {name: sig, path: sig.bw}\n"
        "windows: {input_length: 1024, target_length: 256, resolution: 32, stride: 256}\n"
        "transform: arcsinh\nsplit: {strategy: chromosome, val: [chr2], test: [chr3]}\n" + TINY_TRAIN
    )
    study = parse_study(text, d, "s")
    run_mod.run_study(study, d / "run")
    return d / "run"


def test_predicted_bigwig_matches_test_pearson(tiny_run, tmp_path):
    out = tmp_path / "pred.bw"
    summary = write_predictions(tiny_run, out)
    assert summary["chroms"] == ["chr3"]
    bw = pyBigWig.open(str(out))
    assert list(bw.chroms()) == ["chr3"]
    ds = PreparedDataset.open(tiny_run / "data")
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    rows = ds.rows("test")
    obs = ds.targets(rows)[:, 0].ravel()
    pred = []
    for r in rows:
        s = int(ds.windows.start[r]) + ds.flank
        v = np.asarray(bw.values("chr3", s, s + ds.n_bins * ds.resolution, numpy=True)).reshape(ds.n_bins, -1)[:, 0]
        pred.append(v)
    pred = np.arcsinh(np.concatenate(pred))  # track units -> the study's transformed scale
    assert np.isfinite(pred).all()
    r = pearsonr(pred, obs)[0]
    assert r == pytest.approx(metrics["test"]["pearson"], abs=1e-4)


def test_residuals_and_bedgraph(tiny_run, tmp_path):
    pred = tmp_path / "p.bw"
    resid = tmp_path / "r.bw"
    write_predictions(tiny_run, pred, chroms=["chr3"])
    write_predictions(tiny_run, resid, chroms=["3"], residuals=True)
    ds = PreparedDataset.open(tiny_run / "data")
    obs = ds.chrom_bins("chr3")
    a, b = pyBigWig.open(str(pred)), pyBigWig.open(str(resid))
    s = ds.flank
    p = np.asarray(a.values("chr3", s, s + 320, numpy=True))[::32]
    r = np.asarray(b.values("chr3", s, s + 320, numpy=True))[::32]
    np.testing.assert_allclose(r, obs[s // 32 : s // 32 + 10] - p, rtol=1e-5, atol=1e-5)
    bg = tmp_path / "p.bedGraph"
    write_predictions(tiny_run, bg, bedgraph=True)
    first = bg.read_text().splitlines()[0].split("\t")
    assert first[0] == "chr3" and int(first[1]) == s and float(first[3]) == pytest.approx(p[0], rel=1e-4)
