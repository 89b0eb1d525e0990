"""Several training processes (ranks) through Lightning's DDP engine (torch.distributed: gloo on
CPU, NCCL on GPU); no launcher of our own.

* :func:`lightning_args`: ``train.devices / num_nodes / strategy`` -> the Trainer's arguments;
* :class:`ShardSampler`: each rank's batches of the training windows, read straight from the
  memory-mapped cache (the dataset gathers its own positions; nothing is copied per rank);
* :func:`launched_rank` / :func:`is_worker`: whether this process was started as a rank other than 0
  (by Lightning's ``ddp`` launcher re-running the command, by ``srun`` or by ``torchrun``);
  such a process trains and exits: it never prepares, clears or writes the run directory;
* :func:`wait_for_cache`: a worker rank waits for rank 0's ``meta.json`` (written last) instead
  of preparing the cache itself.

Sharding (``world`` ranks, ``batch_size`` B per rank): epoch ``e`` shuffles the training split
with ``(seed, e)`` exactly as one process does, drops the last ``n % world`` windows of that
order (so every rank takes as many steps: DDP needs it), and cuts it into global batches of
``B * world``; rank ``r`` takes the ``r``-th slice of each. The ranks' windows are disjoint,
and their union in step ``k`` is the batch ``k`` of one process with ``batch_size: B * world``.
Augmentation (RC, jitter) of rank ``r``'s batch ``b`` is drawn from ``(seed, epoch, b * world + r)``:
one process (world 1) draws ``(seed, epoch, b)``, as before.

``SEQ2TRACK_SAMPLER_LOG=DIR`` (a debug aid, used by the tests) makes every rank append the
window positions it drew to ``DIR/<name>-rank<r>.jsonl``, one JSON line per batch.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..config import Study
from ..errors import DataError
from ..ranks import SAMPLER_LOG_ENV, launched_externally, rank_world

#: seconds a worker rank waits for rank 0's cache (``meta.json``); override with this variable
CACHE_WAIT_ENV = "SEQ2TRACK_CACHE_WAIT_S"


def lightning_args(study: Study) -> dict[str, Any]:
    """``devices``, ``num_nodes`` and ``strategy`` for ``lightning.Trainer`` from ``study.train``.

    ``strategy: auto`` is one process when ``devices x num_nodes`` is 1 and Lightning's ``ddp``
    otherwise (we name ``ddp`` so the launch is the one docs/scale.md describes, and
    :func:`check_launch` says when it cannot work). With ``devices: auto`` the count is known only to
    Lightning, so its own ``auto`` chooses (``ddp``; ``ddp_fork`` in a notebook).
    """
    cfg = study.train
    strategy = cfg.strategy
    if strategy == "auto" and (cfg.num_nodes > 1 or (cfg.devices != "auto" and cfg.devices > 1)):
        strategy = "ddp"
    return {"devices": cfg.devices, "num_nodes": cfg.num_nodes, "strategy": strategy}


def launched_rank() -> int:
    """The global rank a launcher gave this process: ``RANK`` (torchrun), ``SLURM_PROCID`` (srun with
    several tasks), or ``NODE_RANK``/``LOCAL_RANK`` (Lightning's ``ddp`` re-run of the command);
    0 for a process that nobody launched as a rank (rank 0 or a plain single-process run)."""
    env = os.environ
    if env.get("RANK", "").isdigit():
        return int(env["RANK"])
    if (
        env.get("SLURM_PROCID", "").isdigit() and int(env.get("SLURM_NTASKS", "1") or 1) > 1
        and env.get("SLURM_JOB_NAME") not in ("bash", "interactive")
    ):
        return int(env["SLURM_PROCID"])
    local = env.get("LOCAL_RANK", "0")
    node = env.get("NODE_RANK", "0")
    local_i = int(local) if local.isdigit() else 0
    node_i = int(node) if node.isdigit() else 0
    return local_i if node_i == 0 else max(1, node_i * 1_000_000 + local_i)  # only "is it 0?" matters


def is_worker() -> bool:
    """True in a rank other than 0 (it trains, then exits; rank 0 owns every file of the run)."""
    return launched_rank() != 0


def wait_for_cache(study: Study, root: Path, poll_s: float = 1.0):
    """The ``PreparedDataset`` at ``root`` once rank 0 has written it for ``study`` (its ``meta.json``,
    written last, carries the study's data hash); a worker never reads a half-written cache."""
    from ..data.cache import META, PreparedDataset

    timeout = float(os.environ.get(CACHE_WAIT_ENV, 3 * 3600))
    want = study.data_hash()
    t0 = time.monotonic()
    meta = Path(root) / META
    while True:
        if meta.exists():
            try:
                got = json.loads(meta.read_text()).get("data_hash", "")
            except (OSError, ValueError):
                got = ""
            if str(got).startswith(want):
                return PreparedDataset(root)
        if time.monotonic() - t0 > timeout:
            raise DataError(
                f"rank {launched_rank()} waited {timeout:.0f} s for rank 0 to prepare {meta}; check rank 0's log, "
                f"or prepare first (`seq2track prepare STUDY --out {root}`) and raise {CACHE_WAIT_ENV}"
            )
        time.sleep(poll_s)


#: what Lightning's ddp launcher leaves in ``os.environ`` of rank 0 (restored after ``fit``)
_LAUNCH_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")


#: the seq2track commands whose re-run is a worker rank (run.py's run_study / train_only)
RERUN_COMMANDS = ("run", "train")


def _rerun_command() -> str | None:
    """The command Lightning's ddp launcher would re-run for each extra rank, or None when this
    process cannot be re-run as a training command: pytest, a notebook, ``python -c``, a REPL, a
    seq2track command other than ``run`` / ``train`` (a re-run ``pitfalls`` or ``tune`` would redo
    its whole experiment in every rank), or a script installed by another package (a Ray worker)."""
    import sys

    import __main__

    spec = getattr(__main__, "__spec__", None)
    name = spec.name if spec is not None else os.path.basename(sys.argv[0] if sys.argv else "")
    if hasattr(sys, "ps1") or "ipykernel" in sys.modules or not name or name == "-c" or "pytest" in name:
        return None
    if name in ("seq2track", "seq2track.__main__"):
        sub = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
        if sub not in RERUN_COMMANDS:
            return None
    elif spec is None and any(part in ("site-packages", "dist-packages") for part in Path(sys.argv[0]).resolve().parts):
        return None  # another package's script, e.g. a Ray worker running a Tune trial
    return name


def check_launch(strategy: str, world: int) -> None:
    """Refuse ``strategy: ddp`` with ``world`` > 1 ranks where Lightning cannot re-run this process's
    command (inside pytest or a notebook the ranks must come from ``ddp_spawn``)."""
    from ..errors import ConfigError

    if strategy != "ddp" or world <= 1 or launched_externally() or is_worker():
        return
    if _rerun_command() is None:
        raise ConfigError(
            "train.strategy: ddp starts each extra rank by re-running the command of this process, and this "
            "process (pytest, a notebook, `python -c`, a seq2track command other than run/train) cannot be "
            "re-run as one; set `train.strategy: ddp_spawn` here, or `train.devices: 1`, or train with "
            "`seq2track run` / `seq2track train`, a script, srun or torchrun"
        )


@contextmanager
def release_ranks():
    """Around ``trainer.fit`` in rank 0: afterwards, shut the process group this fit opened and
    restore the variables Lightning's launcher set, so a later fit in this process starts clean."""
    import torch.distributed as dist

    before = {k: os.environ.get(k) for k in _LAUNCH_ENV}
    was_up = dist.is_available() and dist.is_initialized()
    try:
        yield
    finally:
        if not was_up and not launched_externally() and not is_worker():
            if dist.is_available() and dist.is_initialized():
                dist.destroy_process_group()
            for k, v in before.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def in_child_processes(trainer) -> bool:
    """True when the trainer's ranks run in processes forked or spawned from this one (``ddp_spawn``,
    Lightning's ``ddp_fork`` in notebooks): this process then trains nothing itself, the loaders are
    pickled into the ranks, and rank 0's files are what there is to read afterwards."""
    from lightning.pytorch.strategies.launchers.multiprocessing import _MultiProcessingLauncher

    return isinstance(getattr(trainer.strategy, "launcher", None), _MultiProcessingLauncher)


class ShardSampler:
    """Yields this rank's ``(epoch, key, positions)`` batches (positions index the split, int64[k]).

    ``world``: the number of ranks (known when the Trainer is built); the rank itself is read
    from torch.distributed when the epoch starts (the process group exists only inside ``fit``).
    ``world == 1`` yields exactly what ``data.dataset.EpochBatchSampler`` yields, on every rank.
    """

    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: int, world: int, name: str = "train"):
        self.n, self.batch_size, self.shuffle, self.seed = int(n), int(batch_size), bool(shuffle), int(seed)
        self.world = max(1, int(world))
        self.name = name
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _used(self) -> int:
        return self.n - self.n % self.world

    def __len__(self) -> int:
        return -(-self._used() // (self.batch_size * self.world))

    def positions(self, epoch: int, rank: int) -> Iterator[tuple[int, np.ndarray]]:
        """``(key, positions)`` of each batch of rank ``rank`` in epoch ``epoch``."""
        w = self.world
        order = np.random.default_rng([self.seed, 11, epoch]).permutation(self.n) if self.shuffle else np.arange(self.n)
        order = order[: self._used()]
        g = self.batch_size * w
        for b, lo in enumerate(range(0, len(order), g)):
            gb = order[lo : lo + g]
            k = len(gb) // w
            yield b * w + rank, gb[rank * k : (rank + 1) * k]

    def __iter__(self):
        epoch = self.epoch
        self.epoch += 1
        me, world = rank_world()
        rank = 0 if self.world == 1 else me  # world 1: one process, or a split every rank reads whole (val)
        if self.world > 1 and world != self.world:
            raise RuntimeError(f"the sampler was built for {self.world} ranks but torch.distributed has {world}")
        log = _log_file(self.name, me)
        for key, pos in self.positions(epoch, rank):
            if log is not None:
                with open(log, "a") as fh:
                    fh.write(json.dumps({"epoch": epoch, "key": int(key), "rank": me, "world": world,
                                         "positions": pos.tolist()}) + "\n")
            yield epoch, key, pos


def _log_file(name: str, rank: int) -> Path | None:
    d = os.environ.get(SAMPLER_LOG_ENV)
    if not d:
        return None
    Path(d).mkdir(parents=True, exist_ok=True)
    return Path(d) / f"{name}-rank{rank}.jsonl"


def shard_loader(dataset, batch_size: int, shuffle: bool, seed: int, world: int, num_workers: int = 0,
                 name: str = "train"):
    """A DataLoader over ``dataset`` (a ``WindowDataset``) fed by a :class:`ShardSampler`: each batch is
    one gather from the memory maps, done by this rank for its own positions only."""
    from torch.utils.data import DataLoader

    from ..data.dataset import _seed_worker

    sampler = ShardSampler(len(dataset), batch_size, shuffle, seed, world, name=name)
    return DataLoader(
        dataset, sampler=sampler, batch_size=None, num_workers=num_workers,
        persistent_workers=num_workers > 0, worker_init_fn=_seed_worker,
    )


class ReopenedWindows:
    """A ``WindowDataset`` that pickles as ``(cache root, split, augmentation, seed)`` and reopens the
    memory maps in the process that unpickles it: ``ddp_spawn`` sends datasets to its ranks by
    pickling, which would copy every memory-mapped array into each rank (a whole genome per rank)."""

    def __init__(self, dataset):
        self._ds = dataset
        aug = {"rc": dataset.rc, "max_shift": dataset.max_shift} if (dataset.rc or dataset.max_shift) else None
        self._args = (str(dataset.prepared.root), dataset.split, aug, dataset.seed)

    def __getstate__(self) -> dict[str, Any]:
        return {"_args": self._args}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._args = state["_args"]
        self._ds = None

    @property
    def dataset(self):
        if self._ds is None:
            from ..data.cache import PreparedDataset
            from ..data.dataset import WindowDataset

            root, split, aug, seed = self._args
            self._ds = WindowDataset(PreparedDataset(root), split, augment=aug, seed=seed)
        return self._ds

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, item):
        return self.dataset[item]
