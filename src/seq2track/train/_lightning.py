"""The Lightning classes of training (module, history callback, atomic checkpoint writer), at module
level so that ``train.strategy: ddp_spawn`` can pickle them into its ranks.

Imported only inside functions (``module.lightning_module``, ``callbacks.callbacks``): it imports
lightning and torch, which take seconds.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from .. import atomic
from ..config import Study
from ..errors import DataError
from ..rundir import RunPaths
from .callbacks import write_history
from .module import train_key


class SeqModule(L.LightningModule):
    """A seq2track model in Lightning: seeded steps, loss checks, AdamW, LR schedule, resume state."""

    def __init__(self, study: Study, model, loss, steps_per_epoch: int, max_epochs: int):
        super().__init__()
        self.s2t_study = study
        self.s2t_steps = int(steps_per_epoch)
        self.s2t_epochs = int(max_epochs)
        self.model = model
        self.loss_fn = loss
        self.sched = None
        self.warm_steps = 0
        self._val_sum = 0.0
        self._val_n = 0
        self.last_val_loss = float("nan")

    @property
    def cfg(self):
        """``study.train``."""
        return self.s2t_study.train

    def forward(self, x):
        return self.model(x)

    # -- steps --------------------------------------------------------------------
    def on_train_batch_start(self, batch, batch_idx):
        # dropout draws from torch's global generator: re-seed it from (seed, step, rank) so the
        # noise of step k is the same whether or not the run was resumed in between (rank 0 of
        # several draws what one process draws; every other rank draws its own noise)
        rank = int(self.global_rank)
        torch.manual_seed((int(self.s2t_study.seed) * 1_000_003 + int(self.global_step) + rank * 2**40) % (2**63 - 1))
        if self.warm_steps and self.global_step < self.warm_steps and self.cfg.schedule != "cosine":
            scale = (self.global_step + 1) / self.warm_steps
            for g in self.optimizers().param_groups:
                g["lr"] = self.cfg.lr * scale

    def training_step(self, batch, batch_idx):
        x, y = batch
        value = self.loss_fn.loss(self.model(x), y)
        if not torch.isfinite(value):
            raise DataError(
                f"training loss became {value.item()} at epoch {self.current_epoch}, step {self.global_step}: "
                f"lower train.lr (now {self.cfg.lr}) or check the targets (transform: {self.s2t_study.transform}, "
                f"loss: {self.cfg.loss}; poisson needs non-negative targets)"
            )
        return value

    def on_train_batch_end(self, outputs, batch, batch_idx):
        if self.cfg.schedule == "cosine" and self.sched is not None:
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
        if self.cfg.schedule == "plateau" and self.sched is not None:
            if self.global_step >= self.warm_steps:
                self.sched.step(val)

    # -- optimiser & schedule -----------------------------------------------------
    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.parameters(), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)
        self.warm_steps = self.cfg.warmup_epochs * self.s2t_steps
        if self.cfg.schedule == "plateau":
            self.sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
                opt, mode="min", factor=0.5, patience=max(0, self.cfg.patience // 2), min_lr=self.cfg.lr / 100
            )
        elif self.cfg.schedule == "cosine":
            total = max(1, self.s2t_epochs * self.s2t_steps)
            warm = self.warm_steps

            def factor(step: int) -> float:
                if warm and step < warm:
                    return (step + 1) / warm
                prog = (step - warm) / max(1, total - warm)
                return 0.01 + 0.99 * 0.5 * (1.0 + float(np.cos(np.pi * min(1.0, prog))))  # floor: 1% of lr

            self.sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        if self.warm_steps and self.cfg.schedule != "cosine":  # linear warm-up, set per step
            for g in opt.param_groups:
                g["lr"] = self.cfg.lr / self.warm_steps
        return opt

    def on_save_checkpoint(self, checkpoint):
        checkpoint["s2t_scheduler"] = None if self.sched is None else self.sched.state_dict()
        checkpoint["s2t_train_key"] = train_key(self.s2t_study)

    def on_load_checkpoint(self, checkpoint):
        self._pending_sched = checkpoint.get("s2t_scheduler")

    def on_train_start(self):
        state = getattr(self, "_pending_sched", None)
        if state is not None and self.sched is not None:
            self.sched.load_state_dict(state)
        self._pending_sched = None


class History(L.Callback):
    """Per-epoch train/val loss, LR, time, throughput and data wait; kept in the checkpoint."""

    def __init__(self, model_dir: Path):
        self.model_dir = Path(model_dir)
        self.rows: list[dict[str, float]] = []
        self._reset()

    def setup(self, trainer, pl_module, stage: str) -> None:
        from .tracking import quiet

        quiet()  # a rank spawned by ddp_spawn starts with Python's default warning filters (first callback)

    def _reset(self):
        self.loss_sum = 0.0
        self.n = 0
        self.step_s = 0.0
        self.wait_s = 0.0
        self.t_mark: float | None = None
        self.t_epoch = time.perf_counter()

    def on_train_epoch_start(self, trainer, pl_module):
        self._reset()
        self.t_mark = time.perf_counter()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        now = time.perf_counter()
        if self.t_mark is not None:
            self.wait_s += now - self.t_mark
        self.t_step = now

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        now = time.perf_counter()
        self.step_s += now - self.t_step
        self.t_mark = now
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        nb = len(batch[0])
        self.loss_sum += float(loss.detach()) * nb
        self.n += nb

    def on_validation_epoch_start(self, trainer, pl_module):
        self.t_mark = None  # validation time is not data wait

    def on_validation_end(self, trainer, pl_module):
        # after the module's on_validation_epoch_end (val loss known), before ModelCheckpoint
        # (Lightning runs checkpoint callbacks last), so the row is inside last.ckpt
        if trainer.sanity_checking or self.n == 0:
            return
        loss_sum, n, step_s, wait_s = self._over_ranks(trainer)
        busy = step_s + wait_s
        opt = trainer.optimizers[0]
        self.rows.append(
            {
                "epoch": int(trainer.current_epoch),
                "train_loss": loss_sum / n,
                "val_loss": float(pl_module.last_val_loss),
                "lr": float(opt.param_groups[0]["lr"]),
                "seconds": time.perf_counter() - self.t_epoch,
                "windows_per_s": n / busy if busy > 0 else float("nan"),
                "data_wait_fraction": wait_s / busy if busy > 0 else float("nan"),
            }
        )
        if trainer.is_global_zero:  # one writer of RUN/history.csv
            write_history(self.model_dir.parent / RunPaths.HISTORY, self.rows)
        for lg in trainer.loggers:
            lg.log_metrics({k: v for k, v in self.rows[-1].items() if k != "epoch"}, step=int(trainer.current_epoch))

    def _over_ranks(self, trainer) -> tuple[float, float, float, float]:
        """(loss sum, windows, step s, wait s) of the epoch over all ranks: sums of the losses and
        windows; the slowest rank's times (every rank waits for it at each all-reduce)."""
        if trainer.world_size <= 1:
            return self.loss_sum, float(self.n), self.step_s, self.wait_s
        mine = torch.tensor([self.loss_sum, float(self.n), self.step_s, self.wait_s], dtype=torch.float64)
        every = trainer.strategy.all_gather(mine.to(trainer.strategy.root_device)).reshape(-1, 4).cpu()
        slow = int(torch.argmax(every[:, 2] + every[:, 3]))
        return (float(every[:, 0].sum()), float(every[:, 1].sum()), float(every[slow, 2]), float(every[slow, 3]))

    def state_dict(self):
        return {"rows": self.rows}

    def load_state_dict(self, state_dict):
        self.rows = list(state_dict.get("rows", []))


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write each checkpoint under a temporary name, fsync, rename (``seq2track.atomic``)."""

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        with atomic.atomic_path(path) as tmp:
            buf = io.BytesIO()
            torch.save(checkpoint, buf)
            tmp.write_bytes(buf.getvalue())
