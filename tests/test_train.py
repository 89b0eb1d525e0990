"""train.py: deterministic training, exact resume, checkpoints, history, predictions, trackers."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from seq2track.config import load_study, override
from seq2track.data.prepare import prepare

SMALL = {"model.channels": 8, "model.n_dilated": 2, "train.batch_size": 16, "tracking": "none"}


def _setup(tiny, tmp_path: Path, **changes):
    study = override(load_study(tiny["study"]), {**SMALL, **changes})
    ds = prepare(study, tmp_path / "data")
    return study, ds


def _weights(model) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}


def _same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_train_is_deterministic_and_writes_checkpoints(tiny, tmp_path):
    from seq2track.predict import predict_windows as predict
    from seq2track.train import read_history, train_model

    study, ds = _setup(tiny, tmp_path, **{"train.max_epochs": 2})
    r1 = train_model(study, ds, tmp_path / "run1")
    r2 = train_model(study, ds, tmp_path / "run2")
    assert _same(_weights(r1.model), _weights(r2.model))
    assert r1.best_val_loss == r2.best_val_loss
    assert [h["val_loss"] for h in r1.history] == [h["val_loss"] for h in r2.history]
    assert r1.epochs_run == 2 and len(r1.history) == 2
    assert np.isfinite(r1.best_val_loss)
    assert r1.best_val_loss == min(h["val_loss"] for h in r1.history)
    for name in ("last.ckpt", "best.ckpt", "train_result.json"):
        assert (tmp_path / "run1" / "model" / name).exists()
    assert not list((tmp_path / "run1" / "model").glob(".tmp-*"))
    rows = read_history(tmp_path / "run1")
    assert [r["epoch"] for r in rows] == [0, 1]
    assert rows[0]["val_loss"] == pytest.approx(r1.history[0]["val_loss"])
    with open(tmp_path / "run1" / "history.csv") as fh:
        header = next(csv.reader(fh))
    assert {"train_loss", "val_loss", "lr", "seconds", "windows_per_s", "data_wait_fraction"} <= set(header)
    info = json.loads((tmp_path / "run1" / "model" / "train_result.json").read_text())
    assert info["epochs"] == 2 and info["best_val_loss"] == r1.best_val_loss
    assert r1.windows_per_s > 0 and 0 <= r1.data_wait_fraction < 1
    # predictions: right shape, on the target scale (softplus: non-negative), deterministic
    rows_t = ds.rows("test")
    p1 = predict(r1.model, r1.loss, ds, rows_t)
    p2 = predict(r2.model, r2.loss, ds, rows_t)
    assert p1.shape == (len(rows_t), 1, ds.n_bins) and p1.dtype == np.float32
    assert (p1 >= 0).all() and np.array_equal(p1, p2)


def test_a_different_seed_gives_different_weights(tiny, tmp_path):
    from seq2track.train import train_model

    study, ds = _setup(tiny, tmp_path, **{"train.max_epochs": 1})
    r1 = train_model(study, ds, tmp_path / "a")
    r2 = train_model(override(study, {"seed": study.seed + 1}), ds, tmp_path / "b")
    assert not _same(_weights(r1.model), _weights(r2.model))


class _Crash(RuntimeError):
    pass


def test_resume_after_a_crash_equals_an_uninterrupted_run(tiny, tmp_path):
    """A run that dies in the middle of epoch 2 and is resumed ends with the same weights."""
    import lightning as L

    from seq2track.train import read_history, train_model

    class CrashAt(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if trainer.current_epoch == 1 and batch_idx == 1:
                raise _Crash("simulated kill")

    study, ds = _setup(tiny, tmp_path, **{"train.max_epochs": 3, "train.patience": 5})
    full = train_model(study, ds, tmp_path / "full")
    with pytest.raises(_Crash):
        train_model(study, ds, tmp_path / "crashed", callbacks=[CrashAt()])
    assert (tmp_path / "crashed" / "model" / "last.ckpt").exists()
    assert not (tmp_path / "crashed" / "model" / "train_result.json").exists()
    resumed = train_model(study, ds, tmp_path / "crashed", resume=True)
    assert _same(_weights(full.model), _weights(resumed.model))
    assert [h["val_loss"] for h in full.history] == [h["val_loss"] for h in resumed.history]
    assert [r["epoch"] for r in read_history(tmp_path / "crashed")] == [0, 1, 2]


def test_resume_of_a_finished_run_loads_without_training(tiny, tmp_path):
    from seq2track.predict import predict_windows as predict
    from seq2track.rundir import load_model
    from seq2track.train import train_model

    study, ds = _setup(tiny, tmp_path, **{"train.max_epochs": 1})
    r1 = train_model(study, ds, tmp_path / "run")
    mtime = (tmp_path / "run" / "model" / "last.ckpt").stat().st_mtime_ns
    r2 = train_model(study, ds, tmp_path / "run", resume=True)
    assert (tmp_path / "run" / "model" / "last.ckpt").stat().st_mtime_ns == mtime
    assert _same(_weights(r1.model), _weights(r2.model))
    model, loss, st = load_model(tmp_path / "run")
    assert st.hash() == study.hash()
    # a changed study must not silently continue from this run's checkpoint
    from seq2track.errors import ConfigError

    with pytest.raises(ConfigError, match="different study"):
        train_model(override(study, {"train.lr": 0.05}), ds, tmp_path / "run", resume=True)
    rows = ds.rows("val")[:5]
    assert np.array_equal(predict(model, loss, ds, rows), predict(r1.model, r1.loss, ds, rows))


def test_rc_average_prediction_is_strand_symmetric(tiny, tmp_path):
    """The RC-averaged prediction of a window's reverse complement is its prediction, flipped."""
    import torch

    from seq2track.model.architectures import rc_average, reverse_complement
    from seq2track.train import train_model

    study, ds = _setup(tiny, tmp_path, **{"train.max_epochs": 1})
    r = train_model(study, ds, tmp_path / "run")
    x = torch.from_numpy(ds.onehot(ds.rows("test")[:4]))
    perm = torch.as_tensor(ds.rc_perm)
    with torch.no_grad():
        a = rc_average(r.model, x, perm)
        b = rc_average(r.model, reverse_complement(x), perm).flip(-1)
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("schedule", ["cosine", "plateau"])
def test_schedules_with_warmup_change_the_lr(tiny, tmp_path, schedule):
    from seq2track.train import train_model

    study, ds = _setup(
        tiny, tmp_path, **{"train.max_epochs": 2, "train.schedule": schedule, "train.warmup_epochs": 1, "train.lr": 1e-2,
                           "train.epoch_windows": 32}
    )
    r = train_model(study, ds, tmp_path / "run")
    lrs = [h["lr"] for h in r.history]
    assert all(np.isfinite(lrs))
    if schedule == "cosine":
        assert lrs[1] < lrs[0] <= 1e-2  # warm-up reached the peak, then the cosine decays
    else:
        assert lrs[0] == pytest.approx(1e-2)  # the warm-up ends at the configured lr


def test_early_stopping_stops_before_max_epochs(tiny, tmp_path):
    from seq2track.train import train_model

    # a learning rate this high makes the validation loss jump up early: patience 1 must stop it
    study, ds = _setup(tiny, tmp_path, **{"train.max_epochs": 8, "train.patience": 1, "train.lr": 0.1,
                                          "train.schedule": "none"})
    r = train_model(study, ds, tmp_path / "run")
    assert r.stopped_early and r.epochs_run < 8
    vals = [h["val_loss"] for h in r.history]
    best_epoch = int(np.argmin(vals))
    assert r.epochs_run == best_epoch + 2  # stopped after `patience` epochs without improvement
    assert r.best_val_loss == pytest.approx(vals[best_epoch])


def test_mlflow_tracking_logs_params_metrics_and_study(tiny, tmp_path):
    from seq2track.train import train_model

    study, ds = _setup(tiny, tmp_path, **{"train.max_epochs": 2, "tracking": "mlflow"})
    run = tmp_path / "run"
    train_model(study, ds, run)
    assert (run / "mlflow.db").exists()
    import mlflow

    client = mlflow.tracking.MlflowClient(tracking_uri=f"sqlite:///{run / 'mlflow.db'}")
    exp = client.get_experiment_by_name(study.name)
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 1
    r = runs[0]
    assert r.data.params["train.lr"] == str(study.train.lr)
    hist = client.get_metric_history(r.info.run_id, "val_loss")
    assert len(hist) >= 2
    assert r.data.tags["checkpoint"].endswith("best.ckpt")
    arts = [a.path for a in client.list_artifacts(r.info.run_id)]
    assert "study.yaml" in arts
    assert (run / "mlartifacts").exists()


def test_wandb_offline_and_tensorboard(tiny, tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    from seq2track.train import train_model

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    study, ds = _setup(tiny, tmp_path, **{"train.max_epochs": 1, "tracking": "wandb"})
    train_model(study, ds, tmp_path / "wb")
    assert list((tmp_path / "wb").rglob("*.wandb")), "no offline W&B run file written"
    study_tb = override(study, {"tracking": "tensorboard"})
    train_model(study_tb, ds, tmp_path / "tb")
    assert list((tmp_path / "tb" / "tensorboard").rglob("events.out.tfevents.*"))
