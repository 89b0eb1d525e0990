"""DeepLIFT/SHAP over many windows: summation-to-delta on a trained tiny run and on the
exponential-stem architecture; files modisco-lite reads; bigWig of per-base attribution."""

import shutil
from pathlib import Path

import numpy as np
import pyBigWig
import pytest

from seq2track.data.cache import onehot
from seq2track.interpret.deeplift import deeplift_shap, run_attribute_many, window_sum

#: summation-to-delta tolerance: |sum(attr) - (f(x) - mean f(ref))| <= ATOL + RTOL * |f(x) - mean f(ref)|
#: (float32 arithmetic; tangermeme's own deltas are ~1e-6 on well-handled models)
ATOL, RTOL = 1e-3, 1e-3


def _check_delta(a):
    diff = a.pred - a.ref
    assert np.all(np.abs(a.delta) <= ATOL + RTOL * np.abs(diff)), (a.delta, diff)
    assert np.abs(diff).max() > 10 * ATOL  # the check is not vacuous


def test_deeplift_summation_to_delta_on_trained_run(tiny_run, tmp_path):
    from seq2track.rundir import Run

    run_dir = Path(shutil.copytree(tiny_run["run"], tmp_path / "run"))
    r = Run.open(run_dir)
    s = run_attribute_many(r, "deepliftshap", regions="test", n=6, n_shuffles=4)
    d = Path(s["dir"])
    ohe, hyp = np.load(d / "ohe.npz")["arr_0"], np.load(d / "hyp.npz")["arr_0"]
    L = r.prepared.input_length
    assert ohe.shape == hyp.shape == (s["n"], 4, L) and hyp.dtype == np.float32 and s["n"] == 6
    assert np.all(ohe.sum(axis=1) == 1)
    import pandas as pd

    tab = pd.read_csv(d / "windows.tsv", sep="\t")
    assert np.all(np.abs(tab["delta"]) <= ATOL + RTOL * np.abs(tab["pred"] - tab["ref"]))
    # the explained scalar is the project's prediction: recompute it from the files
    pred = window_sum(r.model, r.loss, ohe, 0, r.prepared.rc_perm)
    assert np.allclose(pred, tab["pred"], rtol=1e-5, atol=1e-5)
    # bigWig: per-base actual contributions of the first window
    bw = pyBigWig.open(str(d / "attribution.bw"))
    c, st = tab["chrom"][0], int(tab["start"][0])
    got = np.asarray(bw.values(c, st, st + L))
    bw.close()
    assert np.allclose(got, (hyp[0] * ohe[0]).sum(axis=0), atol=1e-5)
    # seeded: the same call gives the same arrays
    s2 = run_attribute_many(r, "deepliftshap", regions="test", n=6, n_shuffles=4, out=tmp_path / "again")
    assert np.array_equal(np.load(Path(s2["dir"]) / "hyp.npz")["arr_0"], hyp)
    # the control: the same windows dinucleotide-shuffled (same dinucleotide counts, other order), no bigWig
    s3 = run_attribute_many(r, "deepliftshap", regions="test", n=6, n_shuffles=4, out=tmp_path / "shuf",
                            shuffle_inputs=True)
    sh = np.load(Path(s3["dir"]) / "ohe.npz")["arr_0"]
    assert s3["shuffled_inputs"] and not (Path(s3["dir"]) / "attribution.bw").exists()
    assert not np.array_equal(sh, ohe)
    di = lambda o: np.einsum("iak,ibk->iab", o[:, :, :-1], o[:, :, 1:])  # noqa: E731 [n, 4, 4] counts
    assert np.array_equal(di(sh), di(ohe))
    tab3 = pd.read_csv(Path(s3["dir"]) / "windows.tsv", sep="\t")
    assert np.all(np.abs(tab3["delta"]) <= ATOL + RTOL * np.abs(tab3["pred"] - tab3["ref"]))


@pytest.mark.parametrize("loss_name", ["mse", "poisson"])
def test_deeplift_exponential_stem(tiny, loss_name):
    import torch

    from seq2track.config import load_study, override
    from seq2track.model.build import make_model
    from seq2track.model.losses import get_loss

    torch.manual_seed(0)
    study = override(load_study(tiny["study"]), {"model.channels": 8, "model.n_dilated": 2,
                                                 "model.options": {"stem_activation": "exp"}})
    model = make_model(study, 1).eval()
    for p in model.parameters():  # sharpen the random weights so the exp stem is far from linear
        p.data.mul_(2.0)
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, (3, 1024)).astype(np.uint8)
    a = deeplift_shap(model, get_loss(loss_name), codes, 0, None, n_shuffles=3, seed=1, batch_size=4)
    assert a.hyp.shape == (3, 4, 1024)
    _check_delta(a)
    x = onehot(codes)
    assert np.allclose(a.pred, window_sum(model, get_loss(loss_name), x, 0, None), rtol=1e-6)


@pytest.mark.parametrize("method", ["deepliftshap", "ism", "ig"])
def test_attribute_cli_many_windows(tiny_run, tmp_path, method):
    from typer.testing import CliRunner

    from seq2track.cli import app

    run_dir = Path(shutil.copytree(tiny_run["run"], tmp_path / "run"))
    out = tmp_path / "attr"
    res = CliRunner().invoke(app, ["attribute", str(run_dir), "--method", method, "--regions", "test", "--n", "2",
                                   "--shuffles", "2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    hyp = np.load(out / "hyp.npz")["arr_0"]
    assert hyp.shape[:2] == (2, 4) and np.isfinite(hyp).all()
    assert (out / "attribution.bw").exists() and (out / "summary.json").exists()
