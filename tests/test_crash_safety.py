"""Crash safety: ``kill -9`` in the middle of ``prepare`` or ``train`` leaves nothing that a
later command mistakes for complete, and rerunning the same command resumes.

Every test runs the real command in a child process and kills it with SIGKILL:

* ``prepare`` is stopped at chosen points (while writing the genome codes, while writing the
  track bins, just before ``meta.json``): the child runs the real CLI with one function made
  to block, and is killed while blocked, so the kill point is exact, not a race.
* ``train`` is killed as soon as ``RUN/model/last.ckpt`` (the end of epoch 1) appears; the
  rerun must resume from it (history of epoch 1 carried over, timing included) and end
  with the same weights and metrics as an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import make_tiny_study
from seq2track.errors import DataError

ROOT = Path(__file__).resolve().parents[1]
WAIT_S = 240


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _study(d: Path, lengths=(60_000, 16_000, 12_000), epochs: int = 3) -> Path:
    """Three chromosomes with a sequence-dependent signal (conftest's tiny-study builder); a
    study of a tiny model."""
    text = textwrap.dedent(
        f"""\
        name: crash
        seed: 5
        genome: genome.fa
        tracks: [{{name: sig, path: sig.bw}}]
        windows: {{input_length: 512, target_length: 256, resolution: 32, stride: 128}}
        split: {{strategy: chromosome, val: [chr2], test: [chr3]}}
        model: {{channels: 8, n_dilated: 2}}
        train: {{max_epochs: {epochs}, batch_size: 16, patience: 10}}
        baseline: {{kmer_ridge: false}}
        tracking: none
        """
    )
    sizes = {f"chr{i + 1}": n for i, n in enumerate(lengths)}
    return make_tiny_study(d, sizes=sizes, seed=7, smooth=64, scale=8, study_yaml=text)["study"]


# --- prepare ---------------------------------------------------------------------------------
_BLOCKER = """
import sys, time
from pathlib import Path
marker = Path(sys.argv[1])
point = sys.argv[2]

def block():
    marker.write_text("blocked")
    time.sleep(600)

calls = {"n": 0}
if point == "genome":
    from seq2track.io import genome as g
    orig = g.Genome.codes
    def codes(self, chrom, *a, **k):  # (chrom) or (chrom, start, end): prepare may read in pieces
        calls["n"] += 1
        if calls["n"] == 2:  # the first chromosome's codes are already in the temporary file
            block()
        return orig(self, chrom, *a, **k)
    g.Genome.codes = codes
elif point == "tracks":
    from seq2track.io import tracks as t
    orig = t.read_bins
    def read_bins(*a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            block()
        return orig(*a, **k)
    t.read_bins = read_bins
elif point == "meta":
    from seq2track import atomic
    orig = atomic.write_json
    def write_json(path, obj):
        if Path(path).name == "meta.json":
            block()
        return orig(path, obj)
    atomic.write_json = write_json
sys.argv = ["seq2track", "prepare", sys.argv[3], "--out", sys.argv[4]]
from seq2track.cli import main
main()
"""


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = WAIT_S) -> None:
    t0 = time.monotonic()
    while not path.exists():
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"the child exited ({proc.returncode}) before {path.name} appeared:\n{out}")
        if time.monotonic() - t0 > timeout:
            proc.kill()
            raise AssertionError(f"{path} did not appear in {timeout} s")
        time.sleep(0.01)


def _kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def _cache_arrays(d: Path) -> dict:
    meta = json.loads((d / "meta.json").read_text())
    meta.pop("timings")
    return {
        "genome": np.load(d / "genome.npy"),
        "bins": np.load(d / "bins.npy"),
        "windows": pd.read_parquet(d / "windows.parquet"),
        "meta": meta,
    }


@pytest.fixture(scope="module")
def prepared_reference(tmp_path_factory):
    """The study files and a cache prepared without interruption."""
    from seq2track.config import load_study
    from seq2track.data.prepare import prepare

    d = tmp_path_factory.mktemp("crash_data")
    study = _study(d)
    prepare(load_study(study), d / "clean")
    return study, _cache_arrays(d / "clean")


@pytest.mark.parametrize("point", ["genome", "tracks", "meta"])
def test_prepare_killed_mid_way_is_incomplete_then_rebuilt(point, prepared_reference, tmp_path):
    from seq2track.config import load_study
    from seq2track.data.cache import PreparedDataset
    from seq2track.data.prepare import prepare

    study, clean = prepared_reference
    out, marker = tmp_path / "cache", tmp_path / "blocked"
    proc = subprocess.Popen(
        [sys.executable, "-c", _BLOCKER, str(marker), point, str(study), str(out)],
        env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    _wait_for(marker, proc)
    _kill(proc)

    # what the kill left: never a final-named file that is half written, never meta.json
    names = {p.name for p in out.iterdir()}
    assert "meta.json" not in names
    if point == "genome":
        assert "genome.npy" not in names and any(n.startswith(".tmp-genome.npy") for n in names)
    if point == "tracks":
        assert "bins.npy" not in names and any(n.startswith(".tmp-bins.npy") for n in names)
        np.testing.assert_array_equal(np.load(out / "genome.npy"), clean["genome"])
    if point == "meta":
        assert {"genome.npy", "bins.npy", "windows.parquet"} <= names
    with pytest.raises(DataError, match="no complete seq2track cache"):
        PreparedDataset(out)
    cli = subprocess.run(
        [sys.executable, "-m", "seq2track", "inspect", str(out)], env=_env(), capture_output=True, text=True
    )
    assert cli.returncode == 2 and "no complete seq2track cache" in cli.stderr

    # rerunning the command rebuilds the same cache and leaves no temporary file
    ds = prepare(load_study(study), out)
    assert not [p for p in out.iterdir() if p.name.startswith(".tmp-")]
    again = _cache_arrays(out)
    np.testing.assert_array_equal(again["genome"], clean["genome"])
    np.testing.assert_array_equal(again["bins"], clean["bins"])
    pd.testing.assert_frame_equal(again["windows"], clean["windows"])
    assert again["meta"] == clean["meta"]
    assert len(ds.windows) == len(clean["windows"][clean["windows"]["keep"]])


# --- train -----------------------------------------------------------------------------------
def _train_cmd(study: Path, run: Path) -> list[str]:
    """The CLI command that trains (``seq2track train``), or the API in a child if there is none."""
    from seq2track.cli import app

    names = {c.name or c.callback.__name__ for c in app.registered_commands}
    if "train" in names:
        return [sys.executable, "-m", "seq2track", "train", str(study), "--out", str(run)]
    code = (
        "import sys; from seq2track.config import load_study; from seq2track.data.prepare import prepare;"
        "from seq2track.train import train_model; s = load_study(sys.argv[1]);"
        "train_model(s, prepare(s, sys.argv[2] + '/data'), sys.argv[2])"
    )
    return [sys.executable, "-c", code, str(study), str(run)]


def _state(run: Path) -> dict[str, np.ndarray]:
    import torch

    info = json.loads((run / "model" / "train_result.json").read_text())
    sd = torch.load(info["checkpoint"], map_location="cpu", weights_only=False)["state_dict"]
    return {k: v.numpy() for k, v in sd.items()}


def _history(run: Path) -> pd.DataFrame:
    return pd.read_csv(run / "history.csv")


def test_train_killed_after_epoch_one_resumes_to_the_same_weights(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    study = _study(d, epochs=3)
    killed, clean = tmp_path / "killed", tmp_path / "clean"

    proc = subprocess.Popen(_train_cmd(study, killed), env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    _wait_for(killed / "model" / "last.ckpt", proc)
    _kill(proc)

    # the kill left a loadable checkpoint and nothing that says "finished"
    import torch

    ck = torch.load(killed / "model" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ck["epoch"] >= 0 and "state_dict" in ck
    for done in ("model/train_result.json", "metrics.json", "manifest.json"):
        assert not (killed / done).exists(), f"{done} exists after a kill before the end of training"
    epoch0 = _history(killed).iloc[0].to_dict()

    # rerun the same command: it resumes; an uninterrupted run for reference
    for run in (killed, clean):
        r = subprocess.run(_train_cmd(study, run), env=_env(), capture_output=True, text=True, timeout=WAIT_S * 2)
        assert r.returncode == 0, r.stdout + r.stderr
    assert not list((killed / "model").glob(".tmp-*"))

    h_killed, h_clean = _history(killed), _history(clean)
    assert list(h_killed["epoch"]) == list(h_clean["epoch"]) == [0, 1, 2]
    # resumed, not restarted: epoch 1's row (its wall time too) is the one written before the kill
    assert h_killed.iloc[0]["seconds"] == epoch0["seconds"]
    assert list(h_killed["val_loss"]) == list(h_clean["val_loss"])
    assert list(h_killed["train_loss"]) == list(h_clean["train_loss"])
    a, b = _state(killed), _state(clean)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    ra = json.loads((killed / "model" / "train_result.json").read_text())
    rb = json.loads((clean / "model" / "train_result.json").read_text())
    assert ra["best_val_loss"] == rb["best_val_loss"] and ra["epochs"] == rb["epochs"] == 3
