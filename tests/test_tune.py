"""Tests of the tune/ package (space, trial, search, results, tracking, report) through its public
API: the space, seeds and rungs, a local ASHA search, and a search on a real Ray head."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seq2track.config import load_study
from seq2track.errors import ConfigError
from seq2track.tune import asha_rungs, load_space, parse_space, selection_metric, suggest, trial_seed, tune_study

pytest.importorskip("ray.tune")
pytest.importorskip("optuna")

TRAIN = (
    "model: {channels: 4, n_dilated: 1}\n"
    "train: {max_epochs: 3, batch_size: 16, patience: 0, augment: {rc: false, max_shift: 0}}\n"
    "baseline: {kmer_ridge: false}\n"
)


def _study(tiny, tracking: str = "none"):
    """The conftest study with a tiny model, written beside its data."""
    p = tiny["dir"] / "tune_study.yaml"
    p.write_text(tiny["study"].read_text() + TRAIN + f"tracking: {tracking}\n")
    return p


def _space(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# --- the space ---------------------------------------------------------------------------
def test_space_parses_every_distribution_and_names_bad_keys(tiny):
    study = load_study(_study(tiny))
    sp = load_space(_space(tiny["dir"] / "space.yaml",
        "train.lr: {loguniform: [0.0001, 0.01]}\nmodel.dropout: {uniform: [0.0, 0.3]}\n"
        "model.n_dilated: {randint: [1, 4]}\ntrain.loss: {choice: [poisson, mse]}\n"), study)
    assert {k: p.kind for k, p in sp.items()} == {
        "train.lr": "loguniform", "model.dropout": "uniform", "model.n_dilated": "randint", "train.loss": "choice"}
    assert sp["model.n_dilated"].args == (1, 4)
    assert selection_metric(sp) == "val_mse"
    assert selection_metric({k: v for k, v in sp.items() if k != "train.loss"}) == "val_loss"

    bad = _space(tiny["dir"] / "bad.yaml", "train.lr: {loguniform: [0.0001, 0.01]}\ntrain.lrate: {uniform: [0, 1]}\n")
    with pytest.raises(ConfigError) as err:
        load_space(bad, study)
    assert "train.lrate" in str(err.value) and str(bad) in str(err.value)
    cases = {
        "windows.stride: {choice: [256, 512]}": "prepared data",
        "model.channels: {choice: [0, 8]}": "invalid study",
        "train.loss: {choice: [poisson, bce]}": "bce",
        "train.lr: {normal: [0, 1]}": "unknown distribution",
        "train.lr: {loguniform: [0.0, 0.1]}": "low > 0",
        "train.lr: {uniform: [0.1, 0.01]}": "low < high",
        "model.n_dilated: {randint: [1.5, 4]}": "integer",
    }
    for text, words in cases.items():
        with pytest.raises(ConfigError, match=words):
            parse_space(__import__("yaml").safe_load(text), study, "s.yaml")


def test_suggest_stays_inside_the_space_and_is_seeded(tiny):
    import optuna

    study = load_study(_study(tiny))
    sp = parse_space({"train.lr": {"loguniform": [1e-4, 1e-2]}, "model.n_dilated": {"randint": [1, 3]},
                      "model.channels": {"choice": [4, 8]}}, study)

    def draws(seed):
        st = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        return [suggest(st.ask(), sp) for _ in range(40)]

    a, b, c = draws(3), draws(3), draws(4)
    assert a == b and a != c
    assert all(1e-4 <= d["train.lr"] <= 1e-2 for d in a)
    assert {d["model.n_dilated"] for d in a} == {1, 2}  # randint excludes the high end
    assert {d["model.channels"] for d in a} == {4, 8}


def test_trial_seeds_and_asha_rungs():
    from ray.tune.schedulers.async_hyperband import _Bracket

    seeds = [trial_seed(7, i) for i in range(200)]
    assert seeds == [trial_seed(7, i) for i in range(200)]
    assert len(set(seeds)) == 200 and all(0 <= s < 2**31 for s in seeds)
    assert trial_seed(8, 0) != trial_seed(7, 0)
    for grace, rf, max_t in [(1, 2, 8), (1, 3, 9), (2, 2, 20), (1, 4, 3)]:
        ray_rungs = sorted(m for m, _ in _Bracket(grace, max_t, rf, 0)._rungs if m < max_t)
        assert asha_rungs(grace, rf, max_t) == ray_rungs


# --- searches ----------------------------------------------------------------------------
def test_local_asha_search_end_to_end(tiny, tmp_path):
    study = load_study(_study(tiny, tracking="mlflow"))
    space_p = _space(tiny["dir"] / "space.yaml",
                     "train.lr: {loguniform: [0.0003, 0.01]}\nmodel.channels: {choice: [4, 8]}\n"
                     "train.loss: {choice: [poisson, mse]}\n")
    space = load_space(space_p, study)
    out = tmp_path / "search"
    res = tune_study(study, space, out, n_trials=4, scheduler="asha", search="random",
                     grace_period=1, reduction_factor=2, max_epochs=3, space_source=str(space_p))

    trials = pd.read_csv(out / "trials.csv", float_precision="round_trip")
    curves = pd.read_csv(out / "curves.csv", float_precision="round_trip")
    assert list(trials["trial"]) == [0, 1, 2, 3]
    assert list(trials["seed"]) == [trial_seed(study.seed, i) for i in range(4)]
    assert trials["train.lr"].between(3e-4, 1e-2).all() and set(trials["model.channels"]) <= {4, 8}
    rungs = asha_rungs(1, 2, 3)
    for r in trials.to_dict("records"):
        c = curves[curves["trial"] == r["trial"]]
        assert list(c["epoch"]) == list(range(1, r["epochs_run"] + 1))
        # ASHA stops a trial only at a rung; completed trials ran every epoch
        assert r["epochs_run"] == 3 or (r["epochs_run"] in rungs and r["stopped_by"] == "scheduler")
        assert r["best_val_mse"] == pytest.approx(c["val_mse"].min())
        # each trial ran train_model: its history.csv holds the val losses reported to Tune
        hist = pd.read_csv(out / "trials" / f"trial_{r['trial']:03d}" / "history.csv", float_precision="round_trip")
        np.testing.assert_allclose(hist["val_loss"].to_numpy()[: len(c)], c["val_loss"].to_numpy(), rtol=1e-12)
        if r["train.loss"] == "mse":  # for the MSE loss the reported val MSE is the val loss
            np.testing.assert_allclose(c["val_mse"], c["val_loss"], rtol=1e-5)
        ts = load_study(out / "trials" / f"trial_{r['trial']:03d}" / "study.yaml")
        assert ts.seed == r["seed"] and ts.train.lr == r["train.lr"]
    # the cache was built once and shared
    assert [p.parent for p in out.rglob("genome.npy")] == [out / "prepared"]

    # selection on validation, then one test evaluation of the chosen config: the best trial's own
    # weights when it ran its whole budget (nothing retrained), else one retrain with the study seed
    best = trials.loc[trials["best_val_mse"].idxmin()]
    assert res.summary["best_trial"] == int(best["trial"]) and res.metric == "val_mse"
    bs = load_study(out / "best_study.yaml")
    assert bs.train.lr == best["train.lr"] and bs.model.channels == best["model.channels"]
    assert bs.train.loss == best["train.loss"] and bs.train.max_epochs == 3
    reused = res.summary["retrain"].get("reused_trial")
    if reused is not None:  # the best trial ran its whole budget: its own weights were tested
        assert reused == str(out / "trials" / f"trial_{int(best['trial']):03d}")
        assert bs.seed == int(best["seed"]) and not (out / "best" / "model").exists()
    else:
        assert reused is None and bs.seed == study.seed
        assert (out / "best" / "model" / "train_result.json").exists()
    assert (out / "best" / "metrics.json").exists() and res.test_metrics
    html = (out / "report.html").read_text()
    assert "<img" in html and "validation split only" in html

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{out / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("tiny-tune").experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and len(children) == 4
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parents[0].info.run_id}
    for c in children:
        n = int(trials.loc[trials["trial"] == int(c.data.params["trial"]), "epochs_run"].iloc[0])
        assert len(client.get_metric_history(c.info.run_id, "val_mse")) == n


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_search_on_a_real_ray_head(tiny, tmp_path):
    """`ray start --head` on loopback, 2 trials by --address through the CLI, then stop that head."""
    study_p = _study(tiny)
    space_p = _space(tiny["dir"] / "space.yaml", "train.lr: {loguniform: [0.0003, 0.01]}\n")
    port = _free_port()
    ray_exe = str(Path(sys.executable).with_name("ray"))
    temp = tempfile.mkdtemp(prefix="s2t-ray-", dir="/tmp")  # short: Ray's socket paths are length-limited
    # a token of its own: Ray >= 2.5x enables token auth on `ray start` when ~/.ray/auth_token exists, but a
    # driver given an explicit address uses a token only when RAY_AUTH_MODE=token says so
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0",
           "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    # --block keeps the head's processes in this process group, so stopping it ends this head only
    # (`ray stop --force` would end every Ray process on the machine, other users' included)
    head = subprocess.Popen(
        [ray_exe, "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=2",
         "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}", "--block"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )
    out = tmp_path / "cluster"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert head.poll() is None, head.stdout.read().decode()[-2000:]
                time.sleep(0.5)
        cmd = [sys.executable, "-m", "seq2track", "tune", str(study_p), "--space", str(space_p), "--trials", "2",
               "--scheduler", "fifo", "--search", "optuna", "--address", f"127.0.0.1:{port}",
               "--max-epochs", "2", "--no-final", "--out", str(out)]
        run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=400)
        assert run.returncode == 0, run.stderr[-3000:]
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        shutil.rmtree(temp, ignore_errors=True)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ray_address"].endswith(f":{port}")  # the trials ran on that head, not a local Ray
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 2 and (trials["epochs_run"] == 2).all() and (trials["status"] == "completed").all()
    assert not (out / "best").exists() and summary["test"] == {}  # --no-final: test untouched
    assert not (out / "mlflow.db").exists()  # the study says tracking: none


def test_cli_reports_a_bad_space_key_in_one_line(tiny, tmp_path):
    bad = _space(tiny["dir"] / "space.yaml", "model.chanels: {choice: [4, 8]}\n")
    run = subprocess.run([sys.executable, "-m", "seq2track", "tune", str(_study(tiny)), "--space", str(bad),
                          "--out", str(tmp_path / "o")], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "model.chanels" in run.stderr and str(bad) in run.stderr
