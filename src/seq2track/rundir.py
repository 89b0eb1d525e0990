"""The run directory: its layout (:class:`RunPaths`) and an opened, trained run (:class:`Run`).

One place knows where a run keeps each file::

    RUN/study.yaml          the validated study (absolute paths)        RunPaths.study
    RUN/data/               the prepared cache (data/prepare.py)        RunPaths.data
    RUN/model/              last.ckpt, best.ckpt, train_result.json     RunPaths.model
                            (imported.json + source file: import-model) RunPaths.imported
    RUN/history.csv         one row per epoch                           RunPaths.history
    RUN/metrics.json        val/test metrics (evaluate.py)              RunPaths.metrics
    RUN/predictions/        test.npz, val.npz                           RunPaths.prediction(split)
    RUN/plots/              PNGs                                        RunPaths.plot(name)
    RUN/report.html         the report; RUN/report_sections/ its parts  RunPaths.report
    RUN/timings.json        seconds per stage                           RunPaths.timings
    RUN/manifest.json       provenance, written last                    RunPaths.manifest
    RUN/interpret/          interpretation artefacts                    RunPaths.interpret

``Run.open(RUN)`` loads the best weights, the loss (link), the study and the prepared cache;
``evaluate``, ``export``, ``interpret`` and the CLI all open a run through it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from . import atomic
from .errors import DataError


class RunPaths:
    """The paths of one run directory (nothing is read or created by building one)."""

    STUDY = "study.yaml"
    DATA = "data"
    MODEL = "model"
    HISTORY = "history.csv"
    METRICS = "metrics.json"
    PREDICTIONS = "predictions"
    PLOTS = "plots"
    REPORT = "report.html"
    SECTIONS = "report_sections"
    TIMINGS = "timings.json"
    MANIFEST = "manifest.json"
    INTERPRET = "interpret"
    TRAIN_RESULT = "train_result.json"
    #: what ``clear`` removes: every stage output except the prepared data (which has its own hash check)
    STAGE_OUTPUTS = (MODEL, PREDICTIONS, PLOTS, METRICS, HISTORY, REPORT, TIMINGS, "mlflow.db", "mlartifacts",
                     "tensorboard", "wandb", SECTIONS)

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"RunPaths({str(self.root)!r})"

    # -- files and folders -------------------------------------------------------------------
    @property
    def study(self) -> Path:
        return self.root / self.STUDY

    @property
    def data(self) -> Path:
        return self.root / self.DATA

    @property
    def model(self) -> Path:
        return self.root / self.MODEL

    @property
    def best_ckpt(self) -> Path:
        return self.model / "best.ckpt"

    @property
    def last_ckpt(self) -> Path:
        return self.model / "last.ckpt"

    @property
    def train_result(self) -> Path:
        return self.model / self.TRAIN_RESULT

    @property
    def imported(self) -> Path:
        """``model/imported.json``: the adapter of a model brought in by ``import-model``."""
        return self.model / "imported.json"

    @property
    def tracker(self) -> Path:
        return self.model / "tracker.json"

    @property
    def history(self) -> Path:
        return self.root / self.HISTORY

    @property
    def metrics(self) -> Path:
        return self.root / self.METRICS

    @property
    def predictions(self) -> Path:
        return self.root / self.PREDICTIONS

    def prediction(self, split: str) -> Path:
        return self.predictions / f"{split}.npz"

    @property
    def plots(self) -> Path:
        return self.root / self.PLOTS

    def plot(self, name: str) -> Path:
        return self.plots / name

    @property
    def report(self) -> Path:
        return self.root / self.REPORT

    @property
    def sections(self) -> Path:
        return self.root / self.SECTIONS

    @property
    def timings(self) -> Path:
        return self.root / self.TIMINGS

    @property
    def manifest(self) -> Path:
        return self.root / self.MANIFEST

    @property
    def interpret(self) -> Path:
        return self.root / self.INTERPRET

    @property
    def mlflow_db(self) -> Path:
        return self.root / "mlflow.db"

    @property
    def mlartifacts(self) -> Path:
        return self.root / "mlartifacts"

    # -- the study ---------------------------------------------------------------------------
    def write_study(self, study) -> None:
        """Write ``study.yaml`` (atomically): the one place a run's study is written."""
        atomic.write_text(self.study, study.to_yaml())

    def read_study(self):
        """The run's validated ``Study``; a ``DataError`` naming the fix when the folder is not a run."""
        from .config import load_study

        if not self.study.exists():
            raise DataError(f"{self.root} is not a seq2track run directory (no {self.STUDY}); run `seq2track run` first")
        return load_study(self.study)

    def clear(self) -> None:
        """Delete the stage outputs and ``study.yaml`` (not the prepared data)."""
        import shutil

        for name in self.STAGE_OUTPUTS + (self.STUDY,):
            p = self.root / name
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink(missing_ok=True)

    # -- the model ---------------------------------------------------------------------------
    def checkpoint(self) -> Path:
        """The best checkpoint of a trained run (``train_result.json``'s, else best/last.ckpt)."""
        ckpt = None
        if self.train_result.exists():
            ckpt = Path(json.loads(self.train_result.read_text())["checkpoint"])
        for cand in (ckpt, self.best_ckpt, self.last_ckpt):
            if cand is not None and cand.exists():
                return cand
        raise DataError(f"{self.model} holds no checkpoint; run `seq2track train STUDY --out {self.root}`")


def load_weights(model, path: str | Path):
    """Load the ``model.`` weights of a Lightning checkpoint into ``model``; eval mode."""
    import torch

    if not Path(path).exists():
        raise DataError(f"checkpoint {path} is missing; re-run `seq2track train` for this run directory")
    state = torch.load(path, map_location="cpu", weights_only=False)["state_dict"]
    model.load_state_dict({k[len("model."):]: v for k, v in state.items() if k.startswith("model.")})
    model.eval()
    return model


def load_model(run_dir: str | Path):
    """``(model, loss, study)`` of a trained run directory (best weights, eval mode)."""
    from .model.build import make_loss, make_model

    paths = RunPaths(run_dir)
    study = paths.read_study()
    if paths.imported.exists():  # brought in by `seq2track import-model`: its own source and adapter
        return load_imported(paths, study), make_loss(study), study
    ckpt = paths.checkpoint()
    model = load_weights(make_model(study, len(study.tracks)), ckpt)
    return model, make_loss(study), study


def trained_on(run_dir: str | Path) -> list[str] | None:
    """Chromosomes the run's model was trained on: an imported model's declared or recorded
    ``train_chroms`` (None when unknown), else the train split of the run's own cache."""
    paths = RunPaths(run_dir)
    if paths.imported.exists():
        return json.loads(paths.imported.read_text())["adapter"].get("train_chroms")
    if not (paths.data / "meta.json").exists():
        raise DataError(f"{paths.root} has no prepared data (RUN/data): it is not a trained run directory")
    from .data.cache import PreparedDataset

    w = PreparedDataset(paths.data).windows
    return sorted(w.loc[w["split"] == "train", "chrom"].unique())


def load_imported(paths: RunPaths, study):
    """The wrapped model of an imported run (``model/imported.json`` + its source file), eval mode."""
    from .model.imported import Adapter, adapt, load_source

    spec = json.loads(paths.imported.read_text())
    adapter = Adapter.model_validate(spec["adapter"])
    inner = load_source(adapter.format, paths.model / spec["file"])
    w = study.windows
    return adapt(inner, adapter, [t.name for t in study.tracks], w.input_length, w.n_bins, w.resolution,
                 spec["transform"], spec["norm_state"]).eval()


class Run(NamedTuple):
    """A trained run: model (eval mode), loss (link), study and prepared cache (``RUN/data``)."""

    dir: Path
    model: Any
    loss: Any
    study: Any
    prepared: Any

    @classmethod
    def open(cls, run_dir: str | Path) -> "Run":
        """Open a trained run directory: best weights, loss, study and the cache in ``RUN/data``."""
        from .data.cache import PreparedDataset

        paths = RunPaths(run_dir)
        model, loss, study = load_model(paths.root)  # names a folder that is no run at all first
        if not paths.data.exists():
            raise DataError(f"{paths.root} has no prepared data (RUN/data); run `seq2track run STUDY --out {paths.root}` first")
        return cls(paths.root, model, loss, study, PreparedDataset.open(paths.data))

    @property
    def paths(self) -> RunPaths:
        return RunPaths(self.dir)

    @property
    def out(self) -> Path:
        """``RUN/interpret``: where interpretation artefacts go."""
        return self.paths.interpret

    def predictor(self, rc_average: bool = True):
        """Numpy predictor on the target scale, reverse-complement averaged like ``predict.predict_windows``."""
        from .predict import torch_predictor

        return torch_predictor(self.model, self.loss, self.prepared.rc_perm, rc_average)

    def predict(self, rows: np.ndarray, batch_size: int = 256, rc_average: bool = True) -> np.ndarray:
        """``float32[n, T, B]`` predictions (target scale) for window ``rows`` of the run's cache."""
        from .predict import predict_windows

        return predict_windows(self.model, self.loss, self.prepared, rows, batch_size, rc_average)

    def to_units(self) -> Callable[[np.ndarray], np.ndarray] | None:
        """Predictions -> track units (undo normalisation and transform); None for probabilities (BCE)."""
        if getattr(self.loss, "name", "") == "bce":
            return None
        return self.prepared.to_track_units

    def truth(self) -> dict | None:
        """The simulator's ``truth.json`` beside the study genome, if this run is on simulated data."""
        from .data.simulate.oracle import find_truth

        return find_truth(self.study.genome)

    def metrics(self) -> dict | None:
        """``metrics.json`` of the run, or None before evaluation."""
        p = self.paths.metrics
        return json.loads(p.read_text()) if p.exists() else None


__all__ = ["Run", "RunPaths", "load_model", "load_weights"]
