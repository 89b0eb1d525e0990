"""model_import.py + model/imported.py: a model trained elsewhere brought into a study as a run
directory (``seq2track import-model``), then evaluated, audited, exported and interpreted.

The gReLU checkpoint is written here by gReLU's own ``LightningModel.train_on_dataset`` on its own
``BigWigSeqDataset`` (from the tiny study's pyBigWig track and FASTA): no download, no mock.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from conftest import make_tiny_study

from seq2track.cli import app
from seq2track.config import load_study, override
from seq2track.errors import ConfigError
from seq2track.model_import import import_model
from seq2track.predict import predict_onehot
from seq2track.rundir import Run, RunPaths


def _cli(*args) -> tuple[int, str]:
    r = CliRunner().invoke(app, [str(a) for a in args])
    return r.exit_code, r.output


@pytest.fixture(scope="module")
def grelu_ckpt(tmp_path_factory):
    """(tiny study files, a gReLU DilatedConvModel checkpoint trained by gReLU on chr1 only, the LightningModel)."""
    pytest.importorskip("grelu", reason="the grelu extra is not installed (pip install -r requirements-grelu.lock)")
    import pandas as pd
    from grelu.data.dataset import BigWigSeqDataset
    from grelu.lightning import LightningModel

    d = tmp_path_factory.mktemp("grelu_import")
    f = make_tiny_study(d)
    # gReLU reads a FASTA genome through genomepy, which wants its chromosome sizes beside it
    (d / "genome.fa.sizes").write_text("".join(f"{c}\t{n}\n" for c, n in f["sizes"].items()))

    def intervals(chrom: str) -> pd.DataFrame:
        starts = list(range(0, f["sizes"][chrom] - 1024, 128))
        return pd.DataFrame({"chrom": chrom, "start": starts, "end": [s + 1024 for s in starts]})

    # gReLU's own recipe: per-base labels over the central 256 bp, crop_len = (seq_len - label_len) / 2
    kw = dict(bw_files=[str(f["bw"])], tasks=["sig"], seq_len=1024, label_len=256, bin_size=1, genome=str(f["fa"]))
    train, val = BigWigSeqDataset(intervals("chr1"), **kw), BigWigSeqDataset(intervals("chr2"), **kw)
    torch.manual_seed(0)
    lm = LightningModel({"model_type": "DilatedConvModel", "n_tasks": 1, "channels": 8, "n_conv": 2,
                         "crop_len": 384, "final_pool_func": None},
                        {"task": "regression", "loss": "mse", "lr": 1e-2, "max_epochs": 6, "batch_size": 16,
                         "logger": None, "save_dir": str(d / "grelu"), "num_workers": 0, "devices": "cpu"})
    lm.train_on_dataset(train, val)
    ckpt = next((d / "grelu").rglob("last.ckpt"))
    return f, ckpt, lm.eval()


def test_grelu_checkpoint_becomes_a_run_that_predicts_what_grelu_predicts(grelu_ckpt, tmp_path):
    f, ckpt, lm = grelu_ckpt
    code, out = _cli("import-model", f["study"], ckpt, "--out", tmp_path / "run")
    assert code == 0, out
    spec = json.loads(RunPaths(tmp_path / "run").imported.read_text())
    a = spec["adapter"]  # read from the checkpoint's data_params: nothing declared
    assert (a["format"], a["input_length"], a["resolution"], a["tracks"]) == ("grelu", 1024, 1, ["sig"])
    assert a["train_chroms"] == ["chr1"] and a["val_chroms"] == ["chr2"]
    assert "not trained on any of the study's val/test chromosomes" in out

    run = Run.open(tmp_path / "run")
    assert run.study.model.arch == "imported" and run.study.train.loss == "mse"
    rows = run.prepared.rows("test")[:10]
    seqs = [run.prepared.sequence(int(i)) for i in rows]
    ours = predict_onehot(run.model, None, run.prepared.onehot(rows), None, rc_average=False)
    theirs = lm.predict_on_seqs(seqs)  # [n, 1, 256] per base, in bigWig units
    assert theirs.shape == (10, 1, 256)
    # the study's bins are 32-bp means of gReLU's per-base output, in the study's arcsinh units
    expect = np.arcsinh(theirs.reshape(10, 1, 8, 32).mean(-1))
    np.testing.assert_allclose(ours, expect, rtol=1e-4, atol=1e-5)

    m = json.loads(run.paths.metrics.read_text())
    assert m["test"]["pearson"] > 0.3, m["test"]  # gReLU learnt the tiny track's GC signal
    assert (tmp_path / "run" / "report.html").exists()

    # the prediction bigWig and an attribution run unchanged on the imported run
    assert _cli("predict", tmp_path / "run", "--out", tmp_path / "p.bw")[0] == 0
    import pyBigWig

    bw = pyBigWig.open(str(tmp_path / "p.bw"))
    assert "chr3" in bw.chroms() and np.isfinite(bw.stats("chr3", 0, 8000, type="mean")[0])
    bw.close()
    code, out = _cli("attribute", tmp_path / "run", "--top", 1, "--span", 64, "--baselines", 1, "--ig-steps", 4)
    assert code == 0, out


def test_audit_fails_when_the_imported_model_trained_on_the_test_chromosome(grelu_ckpt, tmp_path):
    f, ckpt, _ = grelu_ckpt
    study = override(load_study(f["study"]), {"split.val": ["chr2"], "split.test": ["chr1"]})
    (tmp_path / "leaky.yaml").write_text(study.to_yaml())
    code, out = _cli("import-model", tmp_path / "leaky.yaml", ckpt, "--out", tmp_path / "run", "--no-evaluate")
    assert code == 0, out
    assert "WARNING" in out and "test chromosomes chr1" in out
    code, out = _cli("audit", tmp_path / "leaky.yaml", "--model", tmp_path / "run", "--out", tmp_path / "audit")
    assert code == 1, out
    check = {c["name"]: c for c in json.loads((tmp_path / "audit" / "audit.json").read_text())["checks"]}
    assert check["model_chromosomes"]["status"] == "fail"
    assert check["model_chromosomes"]["details"]["test_overlap"] == ["chr1"]
    # the sound study passes the same check
    code, out = _cli("audit", f["study"], "--model", tmp_path / "run", "--out", tmp_path / "audit2")
    check = {c["name"]: c for c in json.loads((tmp_path / "audit2" / "audit.json").read_text())["checks"]}
    assert check["model_chromosomes"]["status"] == "pass", out


class _NLC(torch.nn.Module):
    """A plain torch model of another layout: ``[B, L, 4] -> [B, 2 tracks, L / 16]`` counts per 16 bp,
    GC-driven for track ``b`` (``log1p`` of the bin sum)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gc = x[..., 1] + x[..., 2]  # [B, L]
        s = gc.reshape(gc.shape[0], -1, 16).sum(-1)  # [B, L/16]
        return torch.stack([torch.zeros_like(s), torch.log1p(s)], dim=1)


def test_torchscript_model_with_a_declared_adapter(tmp_path):
    f = make_tiny_study(tmp_path)
    ts = tmp_path / "m.ts"
    torch.jit.save(torch.jit.script(_NLC()), str(ts))
    adapter = tmp_path / "adapter.yaml"
    adapter.write_text("input_length: 1024\nresolution: 16\ntracks: [a, b]\ntrack_map: {sig: b}\n"
                       "input_layout: NLC\noutput_transform: log1p\noutput_scale: 0.0625\ntrain_chroms: [chr1]\n")
    res = import_model(load_study(f["study"]), ts, tmp_path / "run", adapter_file=adapter)
    assert res.adapter["format"] == "torchscript" and res.overlap == {"val": [], "test": []}
    run = Run.open(tmp_path / "run")
    rows = run.prepared.rows("test")[:4]
    x = run.prepared.onehot(rows)  # [4, 4, 1024]; the target is the central 256 bp in 32-bp bins
    z = predict_onehot(run.model, None, x, None, rc_average=False)
    gc = (x[:, 1] + x[:, 2])[:, 384:640].reshape(4, 8, 32).mean(-1)  # GC fraction per 32-bp bin
    np.testing.assert_allclose(z[:, 0], np.arcsinh(gc), rtol=1e-5, atol=1e-6)


def test_bad_imports_are_one_line_errors(tmp_path):
    f = make_tiny_study(tmp_path)
    study = load_study(f["study"])
    ts = tmp_path / "m.ts"
    torch.jit.save(torch.jit.script(_NLC()), str(ts))
    cases = {
        "input_length: 2048\nresolution: 16\ntracks: [sig, b]\ninput_layout: NLC\n": "windows.input_length: 2048",
        "resolution: 16\ntracks: [a, b]\n": "missing key 'input_length'",
        "input_length: 1024\nresolution: 16\ntracks: [a, b]\ninput_layout: NLC\n": "track_map: {sig: <model track>}",
        "input_length: 1024\nresolution: 64\ntracks: [sig, b]\ninput_layout: NLC\n": "not a multiple",
    }
    for i, (text, fix) in enumerate(cases.items()):
        (tmp_path / f"a{i}.yaml").write_text(text)
        with pytest.raises(ConfigError, match=fix.replace("{", r"\{").replace("}", r"\}")):
            import_model(study, ts, tmp_path / f"run{i}", adapter_file=tmp_path / f"a{i}.yaml")
        assert not RunPaths(tmp_path / f"run{i}").imported.exists()
    import subprocess
    import sys

    def cli(*args):
        r = subprocess.run([sys.executable, "-m", "seq2track", "import-model", *map(str, args)],
                           capture_output=True, text=True)
        return r.returncode, r.stderr

    code, err = cli(f["study"], tmp_path / "nothing.ckpt", "--out", tmp_path / "r")
    assert code == 2 and "does not exist" in err and "Traceback" not in err
    code, err = cli(f["study"], ts, "--out", tmp_path / "r", "--format", "grelu")
    assert code == 2 and "is not a gReLU checkpoint" in err and len(err.strip().splitlines()) == 1
