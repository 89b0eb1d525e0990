"""The LightningModule around a seq2track model: steps, loss checks, optimiser, LR schedule, resume state."""

from __future__ import annotations

import json

import numpy as np

from ..config import Study
from ..errors import DataError


def train_key(study: Study) -> str:
    """Hash of everything that shapes the trained weights except ``train.max_epochs`` and
    ``tracking`` (a run may be resumed with more epochs, or logged elsewhere)."""
    import hashlib

    d = json.loads(study.model_dump_json())
    d["train"].pop("max_epochs", None)
    d.pop("tracking", None)
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def lightning_module(study: Study, model, loss, steps_per_epoch: int, max_epochs: int):
    """A LightningModule around ``model`` (built lazily so lightning is imported only here)."""
    import lightning as L
    import torch

    cfg = study.train
    seed = int(study.seed)

    class SeqModule(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.model = model
            self.loss_fn = loss
            self.sched = None
            self.warm_steps = 0
            self._val_sum = 0.0
            self._val_n = 0
            self.last_val_loss = float("nan")

        def forward(self, x):
            return self.model(x)

        # -- steps --------------------------------------------------------------------
        def on_train_batch_start(self, batch, batch_idx):
            # dropout draws from torch's global generator: re-seed it from (seed, step) so the
            # noise of step k is the same whether or not the run was resumed in between
            torch.manual_seed((seed * 1_000_003 + int(self.global_step)) % (2**63 - 1))
            if self.warm_steps and self.global_step < self.warm_steps and cfg.schedule != "cosine":
                scale = (self.global_step + 1) / self.warm_steps
                for g in self.optimizers().param_groups:
                    g["lr"] = cfg.lr * scale

        def training_step(self, batch, batch_idx):
            x, y = batch
            value = self.loss_fn.loss(self.model(x), y)
            if not torch.isfinite(value):
                raise DataError(
                    f"training loss became {value.item()} at epoch {self.current_epoch}, step {self.global_step}: "
                    f"lower train.lr (now {cfg.lr}) or check the targets (transform: {study.transform}, "
                    f"loss: {cfg.loss}; poisson needs non-negative targets)"
                )
            return value

        def on_train_batch_end(self, outputs, batch, batch_idx):
            if cfg.schedule == "cosine" and self.sched is not None:
                self.sched.step()

        def on_validation_epoch_start(self):
            self._val_sum, self._val_n = 0.0, 0

        def validation_step(self, batch, batch_idx):
            x, y = batch
            value = self.loss_fn.loss(self.model(x), y)
            self._val_sum += float(value.detach()) * len(x)
            self._val_n += len(x)
            return value

        def on_validation_epoch_end(self):
            val = self._val_sum / max(self._val_n, 1)
            self.last_val_loss = val
            self.log("val_loss", val, prog_bar=True)
            if self.trainer.sanity_checking:
                return
            # step the plateau scheduler here, before the epoch's checkpoints are written,
            # so that last.ckpt holds the scheduler state of the finished epoch
            if cfg.schedule == "plateau" and self.sched is not None and not self.trainer.sanity_checking:
                if self.global_step >= self.warm_steps:
                    self.sched.step(val)

        # -- optimiser & schedule -----------------------------------------------------
        def configure_optimizers(self):
            opt = torch.optim.AdamW(self.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
            self.warm_steps = cfg.warmup_epochs * steps_per_epoch
            if cfg.schedule == "plateau":
                self.sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
                    opt, mode="min", factor=0.5, patience=max(0, cfg.patience // 2), min_lr=cfg.lr / 100
                )
            elif cfg.schedule == "cosine":
                total = max(1, max_epochs * steps_per_epoch)
                warm = self.warm_steps

                def factor(step: int) -> float:
                    if warm and step < warm:
                        return (step + 1) / warm
                    prog = (step - warm) / max(1, total - warm)
                    return 0.01 + 0.99 * 0.5 * (1.0 + float(np.cos(np.pi * min(1.0, prog))))  # floor: 1% of lr

                self.sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
            if self.warm_steps and cfg.schedule != "cosine":  # linear warm-up, set per step
                for g in opt.param_groups:
                    g["lr"] = cfg.lr / self.warm_steps
            return opt

        def on_save_checkpoint(self, checkpoint):
            checkpoint["s2t_scheduler"] = None if self.sched is None else self.sched.state_dict()
            checkpoint["s2t_train_key"] = train_key(study)

        def on_load_checkpoint(self, checkpoint):
            self._pending_sched = checkpoint.get("s2t_scheduler")

        def on_train_start(self):
            state = getattr(self, "_pending_sched", None)
            if state is not None and self.sched is not None:
                self.sched.load_state_dict(state)
            self._pending_sched = None

    return SeqModule()
