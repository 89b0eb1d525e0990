"""model/grelu.py: gReLU's models trained through ``seq2track run``, the same weights in
gReLU's own ``LightningModel`` giving the same predictions, and the gReLU lock being complete.

Skipped only when gReLU (the ``grelu`` extra: ``pip install --no-deps -r requirements-grelu.lock``)
is not importable; CI installs it.
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("grelu", reason="the grelu extra is not installed (pip install -r requirements-grelu.lock)")

from conftest import TINY_SMALL, make_tiny_study  # noqa: E402

from seq2track.config import ModelConfig, load_study, override  # noqa: E402
from seq2track.errors import ConfigError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _pins(path: Path) -> dict[str, str]:
    from packaging.utils import canonicalize_name

    out = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
            assert m, f"{path.name}: not an exact pin: {line!r}"
            out[canonicalize_name(m.group(1))] = m.group(2)
    return out


def test_the_two_locks_pin_grelus_whole_dependency_closure():
    """requirements.lock + requirements-grelu.lock (which wins) satisfy every requirement reachable
    from the installed grelu, so ``pip install --no-deps -r requirements-grelu.lock`` misses nothing."""
    from packaging.markers import default_environment
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins = {**_pins(ROOT / "requirements.lock"), **_pins(ROOT / "requirements-grelu.lock")}
    assert pins["grelu"] == metadata.version("grelu") == "1.1.0"
    env = default_environment()
    todo, seen, missing, unsatisfied = ["grelu"], set(), [], []
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for raw in metadata.requires(name) or []:
            r = Requirement(raw)
            if r.marker is not None and not r.marker.evaluate({**env, "extra": ""}):
                continue
            n = canonicalize_name(r.name)
            if n in ("pip", "setuptools", "wheel"):  # a venv's own tools: pip freeze leaves them out
                continue
            if n not in pins:
                missing.append(f"{r} (needed by {name})")
            elif not r.specifier.contains(pins[n].split("+")[0], prereleases=True):
                unsatisfied.append(f"{r} (needed by {name}; locked {pins[n]})")
            else:
                todo.append(n)
    assert not missing, f"not pinned in either lock: {missing}"
    assert not unsatisfied, f"locked outside the requirement: {unsatisfied}"
    assert pins["torch"].startswith("2.13.0")


def _study(tmp_path: Path, arch: str, extra: dict | None = None) -> Path:
    f = make_tiny_study(tmp_path)
    st = override(load_study(f["study"]), {**TINY_SMALL, "model.arch": arch, "train.max_epochs": 2,
                                            "train.lr": 3e-3, **(extra or {})})
    p = tmp_path / "grelu.yaml"
    p.write_text(st.to_yaml())
    return p


@pytest.fixture(scope="module")
def dilated_run(tmp_path_factory) -> Path:
    """The tiny study trained with ``arch: grelu.DilatedConvModel`` through ``seq2track run``."""
    from seq2track.cli import app

    d = tmp_path_factory.mktemp("grelu_dilated")
    r = CliRunner().invoke(app, ["run", str(_study(d, "grelu.DilatedConvModel")), "--out", str(d / "run")])
    assert r.exit_code == 0, r.output
    return d / "run"


def _check_trained(run_dir: Path, arch: str) -> None:
    import json

    import torch

    from seq2track.rundir import Run

    m = json.loads((run_dir / "metrics.json").read_text())
    # the tiny signal is local GC content: two epochs of a gReLU model learn it
    assert m["test"]["pearson"] > 0.3, m["test"]
    run = Run.open(run_dir)
    import grelu.model.models as gm

    assert isinstance(run.model.inner, getattr(gm, arch.split(".")[1]))
    state = torch.load(run.paths.checkpoint(), map_location="cpu", weights_only=False)["state_dict"]
    assert any(k.startswith("model.inner.embedding.conv_tower.") for k in state)
    p = run.predict(run.prepared.rows("test")[:5])
    assert p.shape == (5, 1, run.prepared.n_bins) == (5, 1, 8) and p.dtype == np.float32


def test_seq2track_run_trains_grelu_dilated_conv_model(dilated_run):
    _check_trained(dilated_run, "grelu.DilatedConvModel")


def test_seq2track_run_trains_grelu_conv_model_with_pooling(tmp_path):
    from seq2track.cli import app

    study = _study(tmp_path, "grelu.ConvModel", {"model.options": {"pool_func": "max", "pool_size": 2}})
    r = CliRunner().invoke(app, ["run", str(study), "--out", str(tmp_path / "run")])
    assert r.exit_code == 0, r.output
    _check_trained(tmp_path / "run", "grelu.ConvModel")


def test_same_weights_same_predictions_in_grelus_own_lightning_model(dilated_run):
    """seq2track's trained weights loaded into ``grelu.lightning.LightningModel`` (built from the
    same ``model_params``) predict the same bins from gReLU's own one-hot of the window sequences."""
    import torch
    from grelu.lightning import LightningModel
    from grelu.sequence.format import strings_to_one_hot

    from seq2track.model.grelu import grelu_model_params
    from seq2track.predict import predict_onehot
    from seq2track.rundir import Run

    run = Run.open(dilated_run)
    w = run.study.windows
    params = grelu_model_params(run.study.model, 1, w.input_length, w.n_bins, w.resolution)
    lm = LightningModel(params, {"task": "regression", "loss": "mse", "logger": None})
    lm.model.load_state_dict(run.model.inner.state_dict())  # strict: every tensor has the same name and shape
    rows = run.prepared.rows("test")[:12]
    seqs = [run.prepared.sequence(int(i)) for i in rows]
    x = run.prepared.onehot(rows)
    assert np.array_equal(strings_to_one_hot(seqs).numpy(), x)  # gReLU's one-hot of the same windows
    ours = predict_onehot(run.model, None, x, None, rc_average=False)  # raw output z [n, 1, 8]
    theirs = lm.predict_on_seqs(seqs)  # [n, 1, 256]: per base over the target (mse: no activation)
    assert theirs.shape == (12, 1, w.n_bins * w.resolution)
    binned = theirs.reshape(12, 1, w.n_bins, w.resolution).mean(-1)
    np.testing.assert_allclose(ours, binned, rtol=1e-4, atol=1e-5)
    assert float(np.std(ours)) > 0  # a trained model, not a constant
    # and the reverse: gReLU's weights (perturbed) loaded into seq2track's wrapper follow them
    with torch.no_grad():
        for p in lm.model.parameters():
            p.add_(0.01)
    run.model.inner.load_state_dict(lm.model.state_dict())
    again = predict_onehot(run.model, None, x, None, rc_average=False)
    np.testing.assert_allclose(again, lm.predict_on_seqs(seqs).reshape(12, 1, w.n_bins, w.resolution).mean(-1),
                               rtol=1e-4, atol=1e-5)
    assert not np.allclose(again, ours)


def test_output_covers_exactly_the_target_and_bad_options_are_one_line_errors():
    import torch

    from seq2track.model.architectures import build_model
    from seq2track.model.grelu import grelu_model_params

    cfg = ModelConfig(arch="grelu.ConvModel", channels=8, n_dilated=3, options={"pool_func": "avg", "pool_size": 4})
    p = grelu_model_params(cfg, 2, 2048, 32, 32)  # n_conv 3 counts the stem: 2 pools of 4
    assert p["crop_len"] == (2048 - 1024) // 2 // 16 and p["final_pool_func"] is None
    m = build_model(cfg, 2, 2048, 32, 32)
    assert m.inner(torch.zeros(1, 4, 2048)).shape == (1, 2, 64)  # 1024 bp / 16 bp per position
    assert m(torch.zeros(3, 4, 2048)).shape == (3, 2, 32)
    with pytest.raises(ConfigError, match="input length differs"):
        m(torch.zeros(1, 4, 4096))
    with pytest.raises(ConfigError, match="pools by 27 bp"):
        build_model(ModelConfig(arch="grelu.ConvModel", n_dilated=4, options={"pool_func": "max", "pool_size": 3}),
                    1, 2048, 32, 32)
    with pytest.raises(ConfigError, match="model.options.crop_len is set by seq2track"):
        build_model(ModelConfig(arch="grelu.DilatedConvModel", options={"crop_len": 3}), 1, 2048, 32, 32)
    with pytest.raises(ConfigError, match="do not fit grelu DilatedConvModel"):
        build_model(ModelConfig(arch="grelu.DilatedConvModel", options={"no_such": 1}), 1, 2048, 32, 32)
