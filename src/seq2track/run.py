"""The pipeline of one study: prepare -> train -> evaluate -> report, in one run directory.

``run_study(study, RUN)`` writes::

    RUN/study.yaml          the validated study (absolute paths)
    RUN/data/               the prepared cache (data/prepare.py)
    RUN/model/              last.ckpt, best.ckpt, train_result.json (train.py)
    RUN/history.csv         one row per epoch
    RUN/metrics.json        val/test metrics, per chromosome, the k-mer baseline (evaluate.py)
    RUN/predictions/        test.npz, val.npz
    RUN/plots/              PNGs
    RUN/report.html         one self-contained page (report/html.py)
    RUN/timings.json        seconds per stage

Every file is written atomically. Re-running the same study in the same directory resumes
(a finished training is loaded, not repeated); another study there is refused unless
``force=True``, which clears the stage outputs first.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import Any

from . import atomic
from .config import Study, load_study
from .errors import ConfigError

STAGE_OUTPUTS = ("model", "predictions", "plots", "metrics.json", "history.csv", "report.html", "timings.json",
                 "mlflow.db", "mlartifacts", "tensorboard", "wandb", "report_sections")


def check_run_dir(study: Study, run_dir: Path, force: bool) -> None:
    """Refuse a run directory that holds another study (unless ``force``, which clears it)."""
    sp = run_dir / "study.yaml"
    if not sp.exists():
        return
    old = load_study(sp)
    if old.hash() == study.hash():
        return
    if not force:
        raise ConfigError(
            f"{run_dir} holds a run of a different study ({old.name!r}, hash {old.hash()}); "
            "choose another --out or pass --force to replace it"
        )
    clear_run(run_dir)


def clear_run(run_dir: Path) -> None:
    """Delete a run directory's stage outputs (not its prepared data, which has its own hash check)."""
    for name in STAGE_OUTPUTS + ("study.yaml",):
        p = run_dir / name
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink(missing_ok=True)


def _prepare(study: Study, run_dir: Path, force: bool):
    """The cache in ``RUN/data``: reused when its data hash matches; rebuilt under ``force``."""
    from .data.prepare import prepare
    from .errors import DataError

    try:
        return prepare(study, run_dir / "data")
    except DataError:
        if not force:
            raise
        return prepare(study, run_dir / "data", force=True)


def run_study(study: Study, run_dir: str | Path, force: bool = False, progress_bar: bool | None = None) -> dict[str, Any]:
    """Prepare, train, evaluate and report ``study`` into ``run_dir``; return the metrics dict
    (with ``report`` = path of the HTML page and ``timings`` in seconds)."""
    from .evaluate import evaluate_run
    from .report.html import render_report
    from .train import train_model

    from .pitfalls.audit import warn_if_unsound

    for w in warn_if_unsound(study):
        sys.stderr.write(f"\n!!! WARNING (pitfall): {w}\n\n")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if force:
        clear_run(run_dir)
    check_run_dir(study, run_dir, force)
    atomic.write_text(run_dir / "study.yaml", study.to_yaml())
    timings: dict[str, float] = {}
    t = time.perf_counter()
    prepared = _prepare(study, run_dir, force)
    timings["prepare"] = time.perf_counter() - t
    t = time.perf_counter()
    result = train_model(study, prepared, run_dir, resume=not force, progress_bar=progress_bar)
    timings["train"] = time.perf_counter() - t
    t = time.perf_counter()
    metrics = evaluate_run(study, prepared, run_dir, model=result.model, loss=result.loss)
    timings["evaluate"] = time.perf_counter() - t
    t = time.perf_counter()
    atomic.write_json(run_dir / "timings.json", timings)
    report = render_report(run_dir)
    timings["report"] = time.perf_counter() - t
    timings["total"] = sum(timings.values())
    atomic.write_json(run_dir / "timings.json", timings)
    from .provenance import write_manifest

    write_manifest(run_dir, study, timings, extra={"report": str(report)})
    return {**metrics, "report": str(report), "timings": timings}


def train_only(study: Study, run_dir: str | Path, force: bool = False, progress_bar: bool | None = None):
    """``seq2track train``: prepare and train (no evaluation); returns the ``TrainResult``."""
    from .train import train_model

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if force:
        clear_run(run_dir)
    check_run_dir(study, run_dir, force)
    atomic.write_text(run_dir / "study.yaml", study.to_yaml())
    prepared = _prepare(study, run_dir, force)
    return train_model(study, prepared, run_dir, resume=not force, progress_bar=progress_bar)


def evaluate_only(run_dir: str | Path) -> dict[str, Any]:
    """``seq2track evaluate RUN``: evaluate a trained run directory and re-render its report."""
    from .data.cache import PreparedDataset
    from .evaluate import evaluate_run
    from .report.html import render_report
    from .train import load_model

    run_dir = Path(run_dir)
    model, loss, study = load_model(run_dir)
    prepared = PreparedDataset.open(run_dir / "data")
    metrics = evaluate_run(study, prepared, run_dir, model=model, loss=loss)
    report = render_report(run_dir)
    return {**metrics, "report": str(report)}


#: what the demo changes in the simulator's study so that simulate + run takes <= 3 min on 2 cores
# Measured (2 cores, 2026-11-26): target_length 1024 / stride 512 supervises 32 of the 64
# positions the trunk computes per 2,048-bp window instead of 8, at the same cost per window:
# test Pearson 0.310 vs 0.276 (k-mer ridge 0.243) at 6 epochs; 14 epochs: 0.396, ~2 min idle.
DEMO_OVERRIDES: dict[str, Any] = {
    "windows.target_length": 1024,
    "windows.stride": 512,
    "model.channels": 32,
    "model.n_dilated": 4,
    "train.max_epochs": 14,
    "train.epoch_windows": 4096,
    "train.patience": 3,
}


def demo(out: str | Path = "seq2track-demo", seed: int = 0, progress_bar: bool | None = None,
         overrides: dict[str, Any] | None = None, sim_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """``seq2track demo``: simulate a genome with known biology, run its study, report.

    The simulator's noise-free ``expected_condA.bw`` is set as the reference track, so the
    report shows how close the model gets to the ceiling.
    """
    from .config import override
    from .data.simulate import simulate

    out = Path(out)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    sim = simulate(out / "sim", seed=seed, **(sim_kwargs or {}))
    timings["simulate"] = time.perf_counter() - t
    study = load_study(sim.study_path)
    changes = dict(DEMO_OVERRIDES)
    ref = sim.expected.get("condA")
    if ref is not None and Path(ref).exists() and "condA" in [tr.name for tr in study.tracks]:
        changes["evaluate.reference_tracks"] = {"condA": str(Path(ref).resolve())}
    changes.update(overrides or {})
    study = override(study, changes)
    res = run_study(study, out / "run", progress_bar=progress_bar)
    res["timings"] = {**timings, **res["timings"], "total": timings["simulate"] + res["timings"]["total"]}
    atomic.write_json(out / "run" / "timings.json", res["timings"])
    return res
