"""train/distributed.py: two CPU ranks (gloo) through Lightning's DDP; sharded windows, one evaluation
on rank 0, reruns, resume on another device count, ddp_spawn inside pytest, launch validation."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from seq2track.config import load_study, override

from conftest import TINY_SMALL, make_tiny_study

#: two CPU ranks; no k-mer baseline or browser plots (they are not what this module tests)
DDP = {**TINY_SMALL, "train.device": "cpu", "train.devices": 2, "train.strategy": "ddp", "train.max_epochs": 2,
       "baseline.kmer_ridge": False, "evaluate.n_browser_regions": 0,
       "evaluate.batch_size": 8}  # inference batches of 8: the tiny splits (30-40 windows) are split over 2 ranks


def _cli_run(study: Path, out: Path, log: Path, *flags: str) -> subprocess.CompletedProcess:
    """``python -m seq2track run`` in a fresh process: Lightning's ddp launcher re-runs this command for rank 1."""
    env = {**os.environ, "SEQ2TRACK_SAMPLER_LOG": str(log), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "seq2track", "run", str(study), "--out", str(out), *flags],
                          env=env, capture_output=True, text=True, timeout=600)


def _drawn(log: Path) -> dict[tuple[int, int], list[list[int]]]:
    """{(epoch, rank): [positions of each batch]} from the training sampler's debug log."""
    out: dict[tuple[int, int], list[list[int]]] = defaultdict(list)
    for f in sorted(log.glob("train-rank*.jsonl")):
        for line in f.read_text().splitlines():
            r = json.loads(line)
            assert r["world"] == 2
            out[(r["epoch"], r["rank"])].append(r["positions"])
    return out


def _ckpt_weights(path: Path) -> dict[str, np.ndarray]:
    import torch

    sd = torch.load(path, map_location="cpu", weights_only=False)["state_dict"]
    return {k: v.numpy() for k, v in sd.items()}


@pytest.fixture(scope="module")
def ddp_runs(tmp_path_factory) -> dict:
    """The tiny study with ``DDP`` run twice through the CLI, 2 ranks each: run 1 from the study's
    ``train.devices: 2``, run 2 from a study with ``devices: 1`` and ``--devices 2`` on the command line."""
    d = tmp_path_factory.mktemp("ddp")
    f = make_tiny_study(d)
    study = d / "ddp.yaml"
    study.write_text(override(load_study(f["study"]), DDP).to_yaml())
    one = d / "one.yaml"
    one.write_text(override(load_study(f["study"]), {**DDP, "train.devices": 1}).to_yaml())
    runs = []
    for i, (s, flags) in enumerate([(study, ()), (one, ("--devices", "2"))], start=1):
        p = _cli_run(s, d / f"run{i}", d / f"log{i}", *flags)
        assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
        runs.append({"run": d / f"run{i}", "log": d / f"log{i}", "stdout": p.stdout})
    return {"dir": d, "study": study, "runs": runs}


def test_two_ranks_draw_disjoint_halves_of_the_training_windows(ddp_runs):
    from seq2track.data.cache import PreparedDataset
    from seq2track.train.distributed import ShardSampler

    run, log = ddp_runs["runs"][0]["run"], ddp_runs["runs"][0]["log"]
    study = load_study(ddp_runs["study"])
    n = len(PreparedDataset(run / "data").rows("train"))
    drawn = _drawn(log)
    assert sorted({e for e, _ in drawn}) == [0, 1] and sorted({r for _, r in drawn}) == [0, 1]
    for epoch in (0, 1):
        a = np.concatenate(drawn[(epoch, 0)])
        b = np.concatenate(drawn[(epoch, 1)])
        assert len(a) == len(b) == n // 2  # a half each (one window of an odd split is left out)
        assert len(set(a)) == len(a) and len(set(b)) == len(b)
        assert not set(a) & set(b)  # disjoint
        assert set(a) | set(b) <= set(range(n))
        # step k of the two ranks together is step k of one process with twice the batch
        one = [sorted(pos.tolist()) for _, pos in ShardSampler(n, 2 * study.train.batch_size, True, study.seed, 1)
               .positions(epoch, 0)]
        both = [sorted(x + y) for x, y in zip(drawn[(epoch, 0)], drawn[(epoch, 1)])]
        assert both[:-1] == one[:-1] and set(both[-1]) <= set(one[-1])
    # only rank 0 writes the run: one history, one train_result, rank 1 printed nothing of its own
    info = json.loads((run / "model" / "train_result.json").read_text())
    assert info["world_size"] == 2 and info["epochs"] == 2
    assert (run / "history.csv").read_text().count("\n") == 3
    assert ddp_runs["runs"][0]["stdout"].count("test Pearson") == 1


def test_metrics_equal_a_single_process_evaluation_of_the_saved_weights(ddp_runs, tmp_path):
    from seq2track.evaluate import evaluate_run
    from seq2track.rundir import Run

    src = ddp_runs["runs"][0]["run"]
    written = json.loads((src / "metrics.json").read_text())
    copy = Path(shutil.copytree(src, tmp_path / "run"))
    run = Run.open(copy)
    assert run.study.train.devices == 2
    evaluate_run(run.study, run.prepared, run.dir, model=run.model, loss=run.loss)
    again = json.loads((copy / "metrics.json").read_text())
    assert again["test"] == written["test"] and again["val"] == written["val"]


def _splits(log: Path) -> dict[int, list[dict]]:
    """{rank: [the slice records of ranks.split_map]} from the ranks' debug logs."""
    return {r: [json.loads(x) for x in (log / f"split-rank{r}.jsonl").read_text().splitlines()] for r in (0, 1)}


def test_the_training_ranks_split_the_evaluation(ddp_runs):
    """Rank 1 stays after fit and predicts its slice of val and test; rank 0 gathers and writes."""
    from seq2track.data.cache import PreparedDataset

    run, log = ddp_runs["runs"][0]["run"], ddp_runs["runs"][0]["log"]
    ds = PreparedDataset(run / "data")
    sp = _splits(log)
    for split, k in (("val", 0), ("test", 1)):
        n = len(ds.rows(split))
        a, b = sp[0][k], sp[1][k]
        assert a["name"] == b["name"] == "predict_windows" and a["world"] == 2 and a["n"] == b["n"] == n
        assert (a["lo"], a["hi"], b["lo"], b["hi"]) == (0, b["lo"], b["lo"], n)  # contiguous, disjoint, all
        assert 0 < b["lo"] < n and b["lo"] % 8 == 0  # a real split, on a batch edge
    with np.load(run / "predictions" / "test.npz") as z:
        assert np.array_equal(z["rows"], ds.rows("test")) and z["pred"].shape[0] == len(ds.rows("test"))


def _torchrun(*args: str, log: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "SEQ2TRACK_SAMPLER_LOG": str(log), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "seq2track", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def test_torchrun_splits_evaluate_predict_attribute_and_variants(ddp_runs, tmp_path):
    """The same commands under ``torchrun --nproc-per-node 2`` write what one process writes, bit for bit."""
    import pyBigWig

    from seq2track.evaluate import evaluate_run
    from seq2track.export import write_predictions
    from seq2track.interpret.deeplift import run_attribute_many
    from seq2track.interpret.variants import run_variants
    from seq2track.rundir import Run

    src = ddp_runs["runs"][0]["run"]
    one = Path(shutil.copytree(src, tmp_path / "one"))
    two = Path(shutil.copytree(src, tmp_path / "two"))
    for p in (one, two):
        (p / "metrics.json").unlink()
    run = Run.open(one)
    codes = run.prepared.chrom_codes("chr1")
    lines = ["##fileformat=VCFv4.2", "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    for k, p in enumerate(range(1200, 18000, 700)):
        ref = "ACGT"[int(codes[p - 1])]
        lines.append(f"chr1\t{p}\tv{k}\t{ref}\t{'ACGT'[(int(codes[p - 1]) + 1) % 4]}\t.\t.\t.")
    vcf = tmp_path / "v.vcf"
    vcf.write_text("\n".join(lines) + "\n")

    # one process
    evaluate_run(run.study, run.prepared, run.dir, model=run.model, loss=run.loss)
    write_predictions(one, one / "pred.bw", chroms=["chr1"])
    run_attribute_many(run, "deepliftshap", regions="all", n=12, n_shuffles=2, out=one / "attr")
    run_variants(run, vcf, one / "variants.tsv")
    # two ranks, each command through the CLI
    log = tmp_path / "log"
    for args in (("evaluate", str(two)), ("predict", str(two), "--out", str(two / "pred.bw"), "--chroms", "chr1"),
                 ("attribute", str(two), "--method", "deepliftshap", "--regions", "all", "--n-windows", "12",
                  "--shuffles", "2", "--out", str(two / "attr")),
                 ("variants", str(two), "--vcf", str(vcf), "--out", str(two / "variants.tsv"))):
        p = _torchrun(*args, log=log)
        assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]

    m1, m2 = (json.loads((r / "metrics.json").read_text()) for r in (one, two))
    assert m1["test"] == m2["test"] and m1["val"] == m2["val"]
    for split in ("val", "test"):
        with np.load(one / "predictions" / f"{split}.npz") as a, np.load(two / "predictions" / f"{split}.npz") as b:
            assert np.array_equal(a["pred"], b["pred"]) and np.array_equal(a["rows"], b["rows"])
    a, b = pyBigWig.open(str(one / "pred.bw")), pyBigWig.open(str(two / "pred.bw"))
    n = a.chroms("chr1")
    va, vb = np.array(a.values("chr1", 0, n)), np.array(b.values("chr1", 0, n))
    a.close(), b.close()
    assert np.isfinite(va).sum() > 1000 and va.tobytes() == vb.tobytes()
    for f in ("hyp.npz", "ohe.npz"):
        with np.load(one / "attr" / f) as a, np.load(two / "attr" / f) as b:
            assert np.array_equal(a["arr_0"], b["arr_0"])
    assert (one / "attr" / "windows.tsv").read_text() == (two / "attr" / "windows.tsv").read_text()
    assert (one / "variants.tsv").read_text() == (two / "variants.tsv").read_text()
    # every command was really split: rank 1 computed a non-empty part of each
    names = {rec["name"] for rec in _splits(log)[1] if rec["hi"] > rec["lo"]}
    assert {"predict_windows", "predict chr1", "attribute deepliftshap", "variants"} <= names


def test_torchrun_trains_and_evaluates_as_lightnings_launcher_does(ddp_runs, tmp_path):
    """``torchrun --nproc-per-node 2 -m seq2track run``: torchrun starts both ranks (Lightning launches
    none); same shards, same weights, same metrics as the run Lightning's ddp launcher started."""
    out, log = tmp_path / "run", tmp_path / "log"
    p = _torchrun("run", str(ddp_runs["study"]), "--out", str(out), log=log)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    ref = ddp_runs["runs"][0]["run"]
    m1, m2 = (json.loads((r / "metrics.json").read_text()) for r in (ref, out))
    assert m1["test"] == m2["test"] and m1["val"] == m2["val"]
    w1, w2 = _ckpt_weights(ref / "model" / "best.ckpt"), _ckpt_weights(out / "model" / "best.ckpt")
    assert all(np.array_equal(w1[k], w2[k]) for k in w1)
    assert _drawn(log) == _drawn(ddp_runs["runs"][0]["log"])
    assert {rec["name"] for rec in _splits(log)[1]} == {"predict_windows"}  # rank 1 stayed to evaluate


def test_a_rerun_gives_the_same_numbers(ddp_runs):
    """Run 2 (``--devices 2`` on the command line) repeats run 1 (``devices: 2`` in the study) exactly."""
    r1, r2 = (r["run"] for r in ddp_runs["runs"])
    assert load_study(r2 / "study.yaml").train.devices == 2
    m1, m2 = (json.loads((r / "metrics.json").read_text()) for r in (r1, r2))
    assert m1["test"] == m2["test"]
    w1, w2 = _ckpt_weights(r1 / "model" / "best.ckpt"), _ckpt_weights(r2 / "model" / "best.ckpt")
    assert w1.keys() == w2.keys() and all(np.array_equal(w1[k], w2[k]) for k in w1)
    assert _drawn(ddp_runs["runs"][0]["log"]) == _drawn(ddp_runs["runs"][1]["log"])


def test_resume_on_one_device_continues_a_two_device_run(ddp_runs, tmp_path):
    from seq2track.rundir import Run
    from seq2track.train import read_history, train_model

    copy = Path(shutil.copytree(ddp_runs["runs"][0]["run"], tmp_path / "run"))
    before = read_history(copy)
    study = override(load_study(ddp_runs["study"]), {"train.devices": 1, "train.strategy": "auto"})
    assert study.hash() == load_study(ddp_runs["study"]).hash()  # the launch keys are not the study
    r = train_model(study, Run.open(copy).prepared, copy, max_epochs=3)
    rows = read_history(copy)
    assert [h["epoch"] for h in rows] == [0, 1, 2] and r.epochs_run == 3
    assert [h["val_loss"] for h in rows[:2]] == [h["val_loss"] for h in before]
    assert json.loads((copy / "model" / "train_result.json").read_text())["world_size"] == 1


def test_ddp_spawn_inside_pytest_trains_the_same_weights(ddp_runs, tmp_path):
    """Inside pytest the command cannot be re-run: ddp_spawn starts the ranks; same data, same numbers."""
    from seq2track.rundir import Run
    from seq2track.train import read_history, train_model

    src = ddp_runs["runs"][0]["run"]
    study = override(load_study(ddp_runs["study"]), {"train.strategy": "ddp_spawn"})
    r = train_model(study, Run.open(src).prepared, tmp_path / "spawn")
    assert r.epochs_run == 2
    assert [h["val_loss"] for h in read_history(tmp_path / "spawn")] == [h["val_loss"] for h in read_history(src)]
    w1, w2 = _ckpt_weights(src / "model" / "best.ckpt"), _ckpt_weights(tmp_path / "spawn" / "model" / "best.ckpt")
    assert all(np.array_equal(w1[k], w2[k]) for k in w1)


def test_launch_keys_are_validated(tiny, tmp_path):
    from typer.testing import CliRunner

    from seq2track.cli import app
    from seq2track.data.prepare import prepare
    from seq2track.errors import ConfigError
    from seq2track.train import train_model

    study = load_study(tiny["study"])
    for key, bad in (("train.devices", 0), ("train.devices", "two"), ("train.devices", True),
                     ("train.num_nodes", 0), ("train.strategy", "fsdp")):
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            override(study, {key: bad})
    (tmp_path / "bad.yaml").write_text(tiny["study"].read_text() + "train: {devices: 0}\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:\d+: train\.devices: .*whole number >= 1 or 'auto'"):
        load_study(tmp_path / "bad.yaml")
    # the CLI overrides go through the same validation
    r = CliRunner().invoke(app, ["train", str(tiny["study"]), "--out", str(tmp_path / "cli"), "--devices", "0"])
    assert r.exit_code != 0 and "train.devices" in (r.output + str(r.exception))
    # strategy ddp cannot re-run pytest as a training command: refused before any rank starts
    s = override(study, {**TINY_SMALL, "train.device": "cpu", "train.devices": 2, "train.strategy": "ddp"})
    with pytest.raises(ConfigError, match="ddp_spawn"):
        train_model(s, prepare(s, tmp_path / "data"), tmp_path / "run")


def test_a_worker_rank_waits_for_rank_0s_cache(tiny, tmp_path, monkeypatch):
    """Under srun every task runs the command: tasks other than 0 wait for a complete cache of this study."""
    from seq2track.data.prepare import prepare
    from seq2track.errors import DataError
    from seq2track.train.distributed import is_worker, launched_rank, wait_for_cache

    for k in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_JOB_NAME"):
        monkeypatch.delenv(k, raising=False)
    assert not is_worker()
    monkeypatch.setenv("SLURM_NTASKS", "8")
    monkeypatch.setenv("SLURM_PROCID", "5")
    assert launched_rank() == 5 and is_worker()
    monkeypatch.setenv("SLURM_JOB_NAME", "interactive")  # Lightning's rule: an interactive job is no launch
    assert not is_worker()
    monkeypatch.delenv("SLURM_JOB_NAME")

    study = override(load_study(tiny["study"]), TINY_SMALL)
    monkeypatch.setenv("SEQ2TRACK_CACHE_WAIT_S", "0.3")
    with pytest.raises(DataError, match="waited .* for rank 0 to prepare"):
        wait_for_cache(study, tmp_path / "data", poll_s=0.05)  # nothing there yet
    other = override(study, {"windows.stride": 512})
    prepare(other, tmp_path / "data")  # a complete cache, but of other data: still waiting
    with pytest.raises(DataError, match="waited"):
        wait_for_cache(study, tmp_path / "data", poll_s=0.05)
    ds = prepare(study, tmp_path / "data2")
    got = wait_for_cache(study, tmp_path / "data2", poll_s=0.05)
    assert np.array_equal(got.rows("train"), ds.rows("train"))
