"""The pipeline of one study: prepare -> train -> evaluate -> report, in one run directory
(its layout: ``rundir.RunPaths``); ``reproduce`` re-runs a finished run from its manifest.

Every file is written atomically. Re-running the same study in the same directory resumes
(a finished training is loaded, not repeated); another study there is refused unless
``force=True``, which clears the stage outputs first. ``reproduce(run_dir, out)`` re-runs
the study recorded in the manifest into ``out`` after checking that every input file still
has its recorded checksum, with the manifest's torch thread count.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import atomic
from .config import Study, load_study
from .errors import ConfigError, DataError
from .rundir import RunPaths


def check_run_dir(study: Study, run_dir: Path, force: bool) -> None:
    """Refuse a run directory that holds another study (unless ``force``, which clears it)."""
    sp = RunPaths(run_dir).study
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
    RunPaths(run_dir).clear()


def _prepare(study: Study, run_dir: Path, force: bool):
    """The cache in ``RUN/data``: reused when its data hash matches; rebuilt under ``force``.
    A worker rank of a multi-device run waits for rank 0's cache instead (train/distributed.py)."""
    from .data.prepare import prepare
    from .train.distributed import is_worker, wait_for_cache

    if is_worker():
        return wait_for_cache(study, RunPaths(run_dir).data)
    try:
        return prepare(study, RunPaths(run_dir).data)
    except DataError:
        if not force:
            raise
        return prepare(study, RunPaths(run_dir).data, force=True)


def run_study(study: Study, run_dir: str | Path, force: bool = False, progress_bar: bool | None = None) -> dict[str, Any]:
    """Prepare, train, evaluate and report ``study`` into ``run_dir``; return the metrics dict
    (with ``report`` = path of the HTML page and ``timings`` in seconds)."""
    from .evaluate import evaluate_run
    from .report.html import render_report
    from .train import train_model

    from .pitfalls.audit import warn_if_unsound

    from .ranks import close_group, split_across_ranks
    from .train.distributed import is_worker, release_ranks

    run_dir = Path(run_dir)
    paths = RunPaths(run_dir)
    if is_worker():  # a worker rank trains its shard, predicts its slice of val/test, and exits; rank 0 writes
        prepared = _prepare(study, run_dir, force)
        with release_ranks():
            result = train_model(study, prepared, run_dir, resume=True, progress_bar=False, keep_ranks=True)
            with split_across_ranks():
                evaluate_run(study, prepared, run_dir, model=result.model, loss=result.loss)
        close_group()
        raise SystemExit(0)
    for w in warn_if_unsound(study):
        sys.stderr.write(f"\n!!! WARNING (pitfall): {w}\n\n")
    run_dir.mkdir(parents=True, exist_ok=True)
    if force:
        clear_run(run_dir)
    check_run_dir(study, run_dir, force)
    paths.write_study(study)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    prepared = _prepare(study, run_dir, force)
    timings["prepare"] = time.perf_counter() - t
    with release_ranks():  # the training ranks stay up after fit and split the evaluation's predictions
        t = time.perf_counter()
        result = train_model(study, prepared, run_dir, resume=not force, progress_bar=progress_bar, keep_ranks=True)
        timings["train"] = time.perf_counter() - t
        t = time.perf_counter()
        with split_across_ranks():
            metrics = evaluate_run(study, prepared, run_dir, model=result.model, loss=result.loss)
        timings["evaluate"] = time.perf_counter() - t
    t = time.perf_counter()
    atomic.write_json(paths.timings, timings)
    report = render_report(run_dir)
    timings["report"] = time.perf_counter() - t
    timings["total"] = sum(timings.values())
    atomic.write_json(paths.timings, timings)
    from .provenance import write_manifest

    write_manifest(run_dir, study, timings, extra={"report": str(report)})
    return {**metrics, "report": str(report), "timings": timings}


def train_only(study: Study, run_dir: str | Path, force: bool = False, progress_bar: bool | None = None):
    """``seq2track train``: prepare and train (no evaluation); returns the ``TrainResult``."""
    from .train import train_model
    from .train.distributed import is_worker

    run_dir = Path(run_dir)
    if is_worker():  # a worker rank: no clearing or writing, only its shard of the training
        return train_model(study, _prepare(study, run_dir, force), run_dir, resume=True, progress_bar=False)
    run_dir.mkdir(parents=True, exist_ok=True)
    if force:
        clear_run(run_dir)
    check_run_dir(study, run_dir, force)
    RunPaths(run_dir).write_study(study)
    prepared = _prepare(study, run_dir, force)
    return train_model(study, prepared, run_dir, resume=not force, progress_bar=progress_bar)


def evaluate_only(run_dir: str | Path) -> dict[str, Any]:
    """``seq2track evaluate RUN``: evaluate a trained run directory and re-render its report."""
    from .evaluate import evaluate_run
    from .report.html import render_report
    from .rundir import Run

    run = Run.open(run_dir)
    metrics = evaluate_run(run.study, run.prepared, run.dir, model=run.model, loss=run.loss)
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
    # 10, not 14: the 14-epoch demo's best checkpoint is epoch 9 (val loss 0.4301; epochs 10-13 never beat
    # it, history.csv of `seq2track demo` on 2026-12-02), and epochs 0-9 are the same steps either way
    # (plateau schedule, no cosine), so 10 epochs restore the same best weights at 10/14 of the training time
    "train.max_epochs": 10,
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
    atomic.write_json(RunPaths(out / "run").timings, res["timings"])
    return res


# --- reproduce ---------------------------------------------------------------------------
#: written beside a reproduced run: which run and manifest it came from
REPRODUCED_FROM = "reproduced_from.json"


@dataclass
class ReproduceResult:
    """What ``reproduce`` did: the new run directory, the run's summary and the warnings."""

    out: Path
    summary: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def reproduce(
    run_dir: str | Path, out: str | Path, force: bool = False, remap: dict[str, str] | None = None
) -> ReproduceResult:
    """Re-run the run in ``run_dir`` into ``out`` from its manifest alone.

    Refuses (``DataError``) when an input's checksum changed or ``out`` already holds a
    finished run (unless ``force``). Package, Python or platform differences are warnings:
    the run goes on, but bit-identity is then not expected.
    """
    from .provenance import (environment, package_differences, read_manifest, sha256_file,
                             study_from_manifest, verify_inputs, write_manifest)

    run_dir, out = Path(run_dir), Path(out)
    manifest = read_manifest(run_dir)
    if out.resolve() == run_dir.resolve():
        raise DataError(f"--out {out} is the run being reproduced; choose a new directory")
    if RunPaths(out).manifest.exists() and not force:
        raise DataError(f"{out} already holds a finished run; choose another --out or pass --force")
    verify_inputs(manifest, remap)
    study = study_from_manifest(manifest, remap)
    warnings = [f"package changed: {d}" for d in package_differences(manifest)]
    env_then, env_now = manifest.get("environment", {}), environment()
    for key in ("python", "platform", "torch", "cuda", "device_name"):
        if env_then.get(key) != env_now.get(key):
            warnings.append(f"{key} changed: {env_then.get(key)} -> {env_now.get(key)}")
    threads = env_then.get("torch_threads")
    if threads and threads != env_now.get("torch_threads"):
        import torch

        torch.set_num_threads(int(threads))
        warnings.append(f"torch threads set to {threads} as recorded (was {env_now.get('torch_threads')})")

    t0 = time.perf_counter()
    summary = run_study(study, out, force=force)
    if not RunPaths(out).manifest.exists():  # run_study not yet wired to write it
        write_manifest(out, study, {"run": time.perf_counter() - t0}, {"reproduced_from": str(run_dir.resolve())})
    atomic.write_json(
        out / REPRODUCED_FROM,
        {
            "run_dir": str(run_dir.resolve()),
            "manifest_sha256": sha256_file(RunPaths(run_dir).manifest),
            "remap": remap or {},
            "warnings": warnings,
        },
    )
    return ReproduceResult(out=out, summary=summary if isinstance(summary, dict) else {}, warnings=warnings)
