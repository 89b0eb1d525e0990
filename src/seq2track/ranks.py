"""Inference split across ranks: each rank computes one contiguous slice of the items, and rank 0
gets the whole result back in the original order.

Evaluation, ``predict`` (bigWig export), attribution and variant scoring run their model calls
through :func:`split_map`. Outside :func:`split_across_ranks` (or with one rank) it is a plain
call. Inside it, with a torch.distributed group of ``world`` ranks up, every rank computes
items ``[bounds[r], bounds[r + 1])``: contiguous slices whose edges fall on multiples of
``align`` (the batch size), with no padding. No item is computed twice and none is dropped, and
every batch holds the same items as in one process, so rank 0's result is bit-identical to a
one-process run whatever the rank count. The other ranks get ``None`` back, and the orchestrator
calls :func:`leave_if_worker` once its last split is done: rank 0 alone writes the files.

Where the ranks come from:

* ``seq2track run`` with ``train.devices > 1``: the training ranks (train/distributed.py) stay
  up after ``fit`` and evaluate together;
* ``torchrun --nproc-per-node N -m seq2track evaluate|predict|attribute|variants ...`` or the
  same under ``srun``: :func:`join_launched_group` opens the group from the launcher's
  environment (Lightning's cluster environments read it: torchrun's ``RANK/WORLD_SIZE/MASTER_*``,
  SLURM's ``SLURM_PROCID/SLURM_NTASKS/SLURM_NODELIST``).

The functions that split must be run by every rank with the same arguments (SPMD); any
randomness inside a split is seeded per item or per block, never drawn across items.

``SEQ2TRACK_SAMPLER_LOG=DIR`` (a debug aid for the tests) makes every rank append the slice it
computed to ``DIR/split-rank<r>.jsonl``. torch is imported only when a group may be up.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

#: the environment variable naming a folder for the ranks' debug logs (shared with train/distributed.py)
SAMPLER_LOG_ENV = "SEQ2TRACK_SAMPLER_LOG"

_SPLITTING = [False]


def rank_world() -> tuple[int, int]:
    """``(rank, world size)`` of the torch.distributed group when one is up, else ``(0, 1)``."""
    if "torch.distributed" not in sys.modules:  # nobody opened a group: do not import torch for it
        return 0, 1
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def splitting() -> bool:
    """True inside :func:`split_across_ranks` with more than one rank up."""
    return _SPLITTING[0] and rank_world()[1] > 1


@contextmanager
def split_across_ranks() -> Iterator[None]:
    """Inside: :func:`split_map` splits its items over the open group. Every rank must enter it
    and run the same code (a rank that skipped a split would leave the others waiting)."""
    before = _SPLITTING[0]
    _SPLITTING[0] = True
    try:
        yield
    finally:
        _SPLITTING[0] = before


def bounds(n: int, world: int, align: int = 1) -> np.ndarray:
    """``int64[world + 1]``: rank ``r`` takes items ``[b[r], b[r + 1])``; the edges are multiples of
    ``align`` (blocks of ``align`` items dealt out as evenly as they go), the last is ``n``."""
    align = max(1, int(align))
    blocks = -(-int(n) // align)
    per = np.array([len(a) for a in np.array_split(np.arange(blocks), max(1, int(world)))], dtype=np.int64)
    return np.minimum(np.concatenate([[0], np.cumsum(per)]) * align, int(n)).astype(np.int64)


Result = Any  # an array [k, ...] or a tuple of such arrays, k = the items computed


def split_map(n: int, compute: Callable[[int, int], Result], align: int = 1, name: str = "split") -> Result | None:
    """``compute(lo, hi)`` -> the result for items ``lo..hi`` (an array with ``hi - lo`` rows, or a tuple
    of such arrays), over all ``n`` items.

    One rank, or outside :func:`split_across_ranks`: ``compute(0, n)``. Several: this rank's slice
    (:func:`bounds`), gathered on rank 0 and concatenated in rank order (= the original order);
    the other ranks get ``None``.
    """
    if not splitting():
        return compute(0, int(n))
    import torch.distributed as dist

    rank, world = rank_world()
    b = bounds(n, world, align)
    lo, hi = int(b[rank]), int(b[rank + 1])
    part = compute(lo, hi)
    _log(name, rank, world, lo, hi, n)
    parts: list[Any] | None = [None] * world if rank == 0 else None
    dist.gather_object(part, parts, dst=0)
    if rank != 0:
        return None
    assert parts is not None
    if isinstance(parts[0], tuple):
        return tuple(np.concatenate([p[i] for p in parts]) for i in range(len(parts[0])))
    return np.concatenate(parts)


def leave_if_worker() -> None:
    """End this process if it is a rank other than 0 of a split: its part is with rank 0, which
    writes every file. Outside :func:`split_across_ranks` it does nothing."""
    if splitting() and rank_world()[0] != 0:
        close_group()
        raise SystemExit(0)


def close_group() -> None:
    """Shut this process's torch.distributed group, if one is up (a local step, no collective).

    A process that ends with a gloo group still open can abort at interpreter exit ("terminate
    called without an active exception", SIGABRT: gloo's threads outlive the interpreter), so every
    rank closes its group before it leaves: the workers in :func:`leave_if_worker`, every CLI
    command on its way out (``cli.main``)."""
    if "torch.distributed" not in sys.modules:
        return
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def launched_externally() -> bool:
    """True when srun or torchrun started the ranks (Lightning then starts none itself)."""
    env = os.environ
    torchrun = all(k in env for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE"))
    srun = "SLURM_NTASKS" in env and env.get("SLURM_JOB_NAME") not in ("bash", "interactive")
    return torchrun or srun


def launched_world() -> int:
    """The number of ranks a launcher (torchrun, srun) started for this command; 1 when none did."""
    if not launched_externally():
        return 1
    n = os.environ.get("WORLD_SIZE") or os.environ.get("SLURM_NTASKS") or "1"
    return int(n) if n.isdigit() else 1


def join_launched_group() -> tuple[int, int]:
    """Open the torch.distributed group of a command that torchrun or srun started as several
    ranks (gloo on CPU, NCCL with one visible GPU per rank); ``(rank, world)``. A command started
    once is left alone: ``(0, 1)``."""
    if launched_world() <= 1:
        return 0, 1
    import torch
    import torch.distributed as dist
    from lightning.fabric.plugins.environments import SLURMEnvironment, TorchElasticEnvironment

    if not dist.is_initialized():
        env = TorchElasticEnvironment() if TorchElasticEnvironment.detect() else SLURMEnvironment()
        os.environ.setdefault("MASTER_ADDR", env.main_address)
        os.environ.setdefault("MASTER_PORT", str(env.main_port))
        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.set_device(env.local_rank() % torch.cuda.device_count())
        dist.init_process_group("nccl" if cuda else "gloo", rank=env.global_rank(), world_size=env.world_size())
    return rank_world()


@contextmanager
def launched_split() -> Iterator[None]:
    """Around a command (evaluate, predict, attribute, variants): join the group of a torchrun / srun
    launch (:func:`join_launched_group`) and split inside; a command started once runs as before."""
    join_launched_group()
    with split_across_ranks():
        yield


def _log(name: str, rank: int, world: int, lo: int, hi: int, n: int) -> None:
    d = os.environ.get(SAMPLER_LOG_ENV)
    if not d:
        return
    Path(d).mkdir(parents=True, exist_ok=True)
    with open(Path(d) / f"split-rank{rank}.jsonl", "a") as fh:
        fh.write(json.dumps({"name": name, "rank": rank, "world": world, "lo": lo, "hi": hi, "n": int(n)}) + "\n")


__all__ = ["bounds", "close_group", "join_launched_group", "launched_externally", "launched_split", "launched_world", "leave_if_worker", "rank_world", "split_across_ranks",
           "split_map", "splitting"]
