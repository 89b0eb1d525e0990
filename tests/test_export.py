"""predict -> bigWig: covers the test chromosomes, opens in pyBigWig, and its correlation with
the observed track equals the test Pearson in metrics.json (same number from two paths)."""

import json

import numpy as np
import pyBigWig
import pytest
from scipy.stats import pearsonr

from seq2track.data import transforms
from seq2track.data.cache import PreparedDataset
from seq2track.export import tile_starts, write_predictions

def test_tile_starts_abut():
    s = tile_starts(10_000, 1024, 256)
    assert s[0] == 0 and np.all(np.diff(s) == 256) and s[-1] + 1024 <= 10_000 and s[-1] + 256 + 1024 > 10_000
    assert len(tile_starts(500, 1024, 256)) == 0


@pytest.fixture
def run_dir(tiny_run):
    """The session's tiny trained run (conftest; test chromosome chr3). Read-only here."""
    return tiny_run["run"]


def test_predicted_bigwig_matches_test_pearson(run_dir, tmp_path):
    out = tmp_path / "pred.bw"
    summary = write_predictions(run_dir, out)
    assert summary["chroms"] == ["chr3"]
    bw = pyBigWig.open(str(out))
    assert list(bw.chroms()) == ["chr3"]
    ds = PreparedDataset.open(run_dir / "data")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    rows = ds.rows("test")
    obs = ds.targets(rows)[:, 0].ravel()
    pred = []
    for r in rows:
        s = int(ds.windows.start[r]) + ds.flank
        v = np.asarray(bw.values("chr3", s, s + ds.n_bins * ds.resolution, numpy=True)).reshape(ds.n_bins, -1)[:, 0]
        pred.append(v)
    pred = transforms.apply(transforms.forward(np.concatenate(pred)[None, None], ds.transform), ds.norm_state).ravel()
    assert np.isfinite(pred).all()
    r = pearsonr(pred, obs)[0]
    assert r == pytest.approx(metrics["test"]["pearson"], abs=1e-4)


def test_residuals_and_bedgraph(run_dir, tmp_path):
    pred = tmp_path / "p.bw"
    resid = tmp_path / "r.bw"
    write_predictions(run_dir, pred, chroms=["chr3"])
    write_predictions(run_dir, resid, chroms=["3"], residuals=True)
    ds = PreparedDataset.open(run_dir / "data")
    obs = ds.chrom_bins("chr3")
    a, b = pyBigWig.open(str(pred)), pyBigWig.open(str(resid))
    s = ds.flank
    p = np.asarray(a.values("chr3", s, s + 320, numpy=True))[::32]
    r = np.asarray(b.values("chr3", s, s + 320, numpy=True))[::32]
    np.testing.assert_allclose(r, obs[s // 32 : s // 32 + 10] - p, rtol=1e-5, atol=1e-5)
    bg = tmp_path / "p.bedGraph"
    write_predictions(run_dir, bg, bedgraph=True)
    first = bg.read_text().splitlines()[0].split("\t")
    assert first[0] == "chr3" and int(first[1]) == s and float(first[3]) == pytest.approx(p[0], rel=1e-4)
