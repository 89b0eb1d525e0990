"""Experiment tracking for training: MLflow (sqlite store in the run), W&B (offline unless told
otherwise) or TensorBoard, as Lightning loggers; and quietening Lightning's banners."""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path

import numpy as np

from .. import atomic
from ..config import Study
from ..errors import ConfigError
from ..nested import flatten
from ..rundir import RunPaths


def quiet() -> None:
    """Silence Lightning's chatter that is not actionable here (device banners, worker hints)."""
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # read when mlflow is first imported
    for name in ("lightning.pytorch", "lightning.fabric", "lightning", "pytorch_lightning",
                 "lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda",
                 "alembic", "mlflow"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*number of training batches.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*treespec.*")
    warnings.filterwarnings("ignore", message=".*Checkpoint directory.*exists and is not empty.*")
    warnings.filterwarnings("ignore", message=".*is an invalid version.*")
    warnings.filterwarnings("ignore", message=".*`isinstance\\(treespec, LeafSpec\\)`.*")
    # several ranks: every rank computes the same val loss on the whole val split (no sync needed);
    # History gathers its sums with Lightning's all_gather, which calls a deprecated torch function
    warnings.filterwarnings("ignore", message=".*sync_dist=True.*")
    warnings.filterwarnings("ignore", message=".*all_gather is deprecated.*")


def make_logger(study: Study, run_dir: Path, enabled: bool):
    """The Lightning logger for ``study.tracking``; the MLflow / W&B run id persists in RUN/model."""
    if not enabled or study.tracking == "none":
        return False
    id_file = RunPaths(run_dir).tracker
    prev = json.loads(id_file.read_text()) if id_file.exists() else {}
    if study.tracking == "mlflow":
        from lightning.pytorch.loggers import MLFlowLogger

        lg = MLFlowLogger(
            experiment_name=study.name,
            run_name=run_dir.name,
            tracking_uri=f"sqlite:///{RunPaths(run_dir).mlflow_db.resolve()}",
            artifact_location=RunPaths(run_dir).mlartifacts.resolve().as_uri(),
            run_id=prev.get("mlflow_run_id"),
        )
        atomic.write_json(id_file, {"tracking": "mlflow", "mlflow_run_id": lg.run_id})
        return lg
    if study.tracking == "wandb":
        os.environ.setdefault("WANDB_MODE", "offline")
        os.environ.setdefault("WANDB_SILENT", "true")
        try:
            from lightning.pytorch.loggers import WandbLogger
            import wandb  # noqa: F401
        except ImportError:
            raise ConfigError("tracking: wandb needs the track extra: pip install 'seq2track[track]'") from None
        run_id = prev.get("wandb_run_id")
        if run_id is None:
            run_id = f"{study.name}-{study.hash()[:8]}".replace(" ", "_")
        lg = WandbLogger(project=study.name, name=run_dir.name, save_dir=str(run_dir), id=run_id, resume="allow")
        atomic.write_json(id_file, {"tracking": "wandb", "wandb_run_id": run_id})
        return lg
    if study.tracking == "tensorboard":
        try:
            from lightning.pytorch.loggers import TensorBoardLogger
        except ImportError:  # pragma: no cover
            raise ConfigError("tracking: tensorboard needs `pip install tensorboard`") from None
        return TensorBoardLogger(save_dir=str(run_dir), name="tensorboard", version=0, default_hp_metric=False)
    raise ConfigError(f"tracking {study.tracking!r} is unknown; use mlflow, wandb, tensorboard or none")


def log_run_info(logger, study: Study, run_dir: Path, checkpoint: Path | None, final: dict | None) -> None:
    """Params, the study YAML as an artefact, and (at the end) the checkpoint path and summary."""
    if not logger:
        return
    if final is None:
        logger.log_hyperparams({k: v if isinstance(v, (int, float, str, bool)) or v is None else json.dumps(v)
                                for k, v in flatten(json.loads(study.model_dump_json()), lists=False).items()})
        return
    name = type(logger).__name__
    if name == "MLFlowLogger":
        client = logger.experiment
        client.log_artifact(logger.run_id, str(RunPaths(run_dir).study))
        client.set_tag(logger.run_id, "checkpoint", str(checkpoint))
        for k, v in final.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v):
                client.log_metric(logger.run_id, f"final_{k}", float(v))
    elif name == "WandbLogger":
        run = logger.experiment
        run.summary.update({k: v for k, v in final.items() if isinstance(v, (int, float, str))})
        run.save(str(RunPaths(run_dir).study), base_path=str(run_dir), policy="now")
    logger.finalize("success")
