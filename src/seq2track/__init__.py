"""seq2track: train models that predict epigenomic signal (bigWig) from DNA sequence, with the
field's pitfalls measured rather than hidden.

The documented Python API (``import seq2track as s2t``)::

    study = s2t.load_study("study.yaml")          # validated, hashed (config.Study)
    study = s2t.override(study, {"train.max_epochs": 5})
    ds = s2t.prepare(study, "cache/")              # memory-mapped dataset (s2t.PreparedDataset)
    metrics = s2t.run_study(study, "run/")         # prepare -> train -> evaluate -> report
    run = s2t.Run.open("run/")                     # model, loss, study, prepared data
    y = run.predict(run.prepared.rows("test"))     # float32[n, tracks, bins], RC-averaged
    sim = s2t.simulate("sim/")                     # the embedded default data, with known truth
    report = s2t.audit(study)                      # pass/warn/fail checks of the study's setup
    s2t.reproduce("run/", "run2/"); s2t.compare("run/", "run2/")

Every name is imported on first use (``__getattr__``), so ``import seq2track`` stays fast
(it loads no torch, Lightning, pandas or pydantic).
"""

from __future__ import annotations

import importlib
from typing import Any

from .version import __version__

#: public name -> (module, attribute)
_API: dict[str, tuple[str, str]] = {
    "Study": ("seq2track.config", "Study"),
    "load_study": ("seq2track.config", "load_study"),
    "override": ("seq2track.config", "override"),
    "prepare": ("seq2track.data.prepare", "prepare"),
    "PreparedDataset": ("seq2track.data.cache", "PreparedDataset"),
    "run_study": ("seq2track.run", "run_study"),
    "train_only": ("seq2track.run", "train_only"),
    "evaluate_only": ("seq2track.run", "evaluate_only"),
    "demo": ("seq2track.run", "demo"),
    "reproduce": ("seq2track.run", "reproduce"),
    "compare": ("seq2track.comparison", "compare"),
    "read_manifest": ("seq2track.provenance", "read_manifest"),
    "simulate": ("seq2track.data.simulate", "simulate"),
    "audit": ("seq2track.pitfalls.audit", "audit"),
    "Run": ("seq2track.rundir", "Run"),
    "RunPaths": ("seq2track.rundir", "RunPaths"),
    "train_model": ("seq2track.train", "train_model"),
    "predict_windows": ("seq2track.predict", "predict_windows"),
    "torch_predictor": ("seq2track.predict", "torch_predictor"),
    "write_predictions": ("seq2track.export", "write_predictions"),
    "ConfigError": ("seq2track.errors", "ConfigError"),
    "DataError": ("seq2track.errors", "DataError"),
}

__all__ = sorted(_API) + ["__version__"]


def __getattr__(name: str) -> Any:
    try:
        module, attr = _API[name]
    except KeyError:
        raise AttributeError(f"module 'seq2track' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))

