"""The torch side of the data: a Dataset over one split of a ``PreparedDataset``.

A batch is one vectorised gather from the memory maps (``__getitems__``), not a Python
loop over windows. Reverse complement and jitter are drawn from a Generator seeded by
``(seed, epoch, batch number)``, so augmentation is identical across runs and across
worker counts; they apply to the training split only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ..errors import ConfigError


def _augment_params(augment: Any) -> tuple[bool, int]:
    if augment is None or augment is False:
        return False, 0
    if isinstance(augment, dict):
        return bool(augment.get("rc", False)), int(augment.get("max_shift", 0))
    return bool(getattr(augment, "rc")), int(getattr(augment, "max_shift"))


class WindowDataset(Dataset):
    """Windows of one split. ``ds[i] -> (x: float32[4, L], y: float32[T, B])``.

    ``ds[(epoch, batch_no, rows)]`` returns a whole batch ``(x[n,4,L], y[n,T,B])``; this is what
    :meth:`loader` feeds, with the augmentation drawn from ``(seed, epoch, batch_no)``.
    """

    def __init__(self, prepared, split: str, augment: Any = None, seed: int = 0):
        rc, shift = _augment_params(augment if augment is not True else prepared.study.train.augment)
        if (rc or shift) and split != "train":
            raise ConfigError(
                f"augmentation asked for on the {split} split: reverse complement and jitter apply to the "
                "training split only (evaluating on augmented windows would change the test set)"
            )
        self.prepared = prepared
        self.split = split
        self.rows = prepared.rows(split)
        self.rc = rc
        self.max_shift = shift
        self.seed = int(seed)

    def __len__(self) -> int:
        return len(self.rows)

    def batch(self, positions: np.ndarray, rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
        """x: float32[n, 4, L], y: float32[n, T, B] for positions (0..len-1) within the split."""
        rows = self.rows[np.asarray(positions, dtype=np.int64)]
        shifts = rcm = None
        if rng is not None and self.max_shift:
            shifts = rng.integers(-self.max_shift, self.max_shift + 1, size=len(rows))
        if rng is not None and self.rc:
            rcm = rng.random(len(rows)) < 0.5
        x = self.prepared.onehot(rows, shifts, rcm)
        y = self.prepared.targets(rows, rcm)
        return x, y

    def _rng(self, epoch: int, key: int) -> np.random.Generator | None:
        if not (self.rc or self.max_shift):
            return None
        return np.random.default_rng([self.seed, 7, int(epoch), int(key)])

    def __getitem__(self, item):
        if isinstance(item, tuple):
            epoch, batch_no, positions = item
            x, y = self.batch(positions, self._rng(epoch, batch_no))
            return torch.from_numpy(x), torch.from_numpy(y)
        x, y = self.batch(np.array([item]), self._rng(0, 1_000_000_007 + int(item)))
        return torch.from_numpy(x[0]), torch.from_numpy(y[0])

    def __getitems__(self, items: list[int]):
        """Batched fetch for a plain ``DataLoader(batch_size=...)``: one gather, stacked tensors."""
        x, y = self.batch(np.asarray(items), self._rng(0, int(items[0]) if len(items) else 0))
        return torch.from_numpy(x), torch.from_numpy(y)

    def loader(self, batch_size: int, shuffle: bool = False, num_workers: int = 0, drop_last: bool = False) -> DataLoader:
        """A DataLoader that gathers each batch in one call; deterministic for a given seed."""
        sampler = EpochBatchSampler(len(self), batch_size, shuffle, self.seed, drop_last)
        return DataLoader(
            self,
            sampler=sampler,
            batch_size=None,
            num_workers=num_workers,
            persistent_workers=num_workers > 0,
            worker_init_fn=_seed_worker,
        )


class EpochBatchSampler(Sampler):
    """Yields ``(epoch, batch_no, positions)``; the shuffle of epoch e comes from ``(seed, e)``."""

    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: int, drop_last: bool = False):
        self.n, self.batch_size, self.shuffle, self.seed, self.drop_last = n, batch_size, shuffle, seed, drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self):
        epoch = self.epoch
        self.epoch += 1
        order = (
            np.random.default_rng([self.seed, 11, epoch]).permutation(self.n) if self.shuffle else np.arange(self.n)
        )
        for b, lo in enumerate(range(0, self.n, self.batch_size)):
            pos = order[lo : lo + self.batch_size]
            if self.drop_last and len(pos) < self.batch_size:
                break
            yield epoch, b, pos

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)


def _seed_worker(worker_id: int) -> None:
    """Workers draw nothing from global RNGs; this only pins torch's per-worker seed."""
    torch.manual_seed(torch.initial_seed() % 2**31 + worker_id)
