"""ranks.py: contiguous slices on block edges, one-process behaviour, and a real two-process gloo
group whose gathered result is the one-process result in the original order."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest

from seq2track.ranks import bounds, leave_if_worker, rank_world, split_across_ranks, split_map, splitting


@pytest.mark.parametrize("n, world, align", [(10, 2, 1), (1000, 3, 256), (7, 4, 4), (0, 2, 8), (3, 5, 1)])
def test_bounds_cover_every_item_once_on_block_edges(n, world, align):
    b = bounds(n, world, align)
    assert len(b) == world + 1 and b[0] == 0 and b[-1] == n
    assert np.all(np.diff(b) >= 0)
    assert all(x % align == 0 or x == n for x in b)  # every slice starts on a block edge (or is empty at the end)
    sizes = np.diff(b)
    blocks = -(-sizes // align)
    assert blocks.max() - blocks.min() <= 1  # blocks dealt out evenly


def test_one_process_is_a_plain_call():
    calls = []

    def f(lo, hi):
        calls.append((lo, hi))
        return np.arange(lo, hi)

    assert rank_world() == (0, 1) and not splitting()
    with split_across_ranks():
        assert not splitting()  # no group: nothing to split
        assert np.array_equal(split_map(5, f, align=2), np.arange(5))
        leave_if_worker()  # rank 0 / one process: stays
    assert calls == [(0, 5)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank: int, world: int, port: int, out: str, log: str) -> None:
    import torch.distributed as dist

    os.environ["SEQ2TRACK_SAMPLER_LOG"] = log
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        def f(lo, hi):  # an item's result depends on the item only
            i = np.arange(lo, hi)
            return (i[:, None] * np.array([1.0, -1.0])).astype(np.float32), i ** 2

        with split_across_ranks():
            got = split_map(11, f, align=3, name="toy")
        outside = split_map(4, lambda lo, hi: np.full(hi - lo, rank))  # outside the context: no split
        if rank == 0:
            np.savez(out, a=got[0], b=got[1], outside=outside)
        else:
            assert got is None
            assert np.array_equal(outside, np.full(4, rank))
    finally:
        dist.destroy_process_group()


def test_two_gloo_ranks_gather_in_the_original_order(tmp_path):
    import torch.multiprocessing as mp

    out, log = tmp_path / "got.npz", tmp_path / "log"
    mp.start_processes(_rank_main, args=(2, _free_port(), str(out), str(log)), nprocs=2, start_method="spawn")
    got = np.load(out)
    i = np.arange(11)
    assert np.array_equal(got["a"], (i[:, None] * np.array([1.0, -1.0])).astype(np.float32))
    assert np.array_equal(got["b"], i ** 2)
    assert np.array_equal(got["outside"], np.zeros(4))
    slices = {}
    for r in (0, 1):
        (line,) = (log / f"split-rank{r}.jsonl").read_text().splitlines()
        rec = json.loads(line)
        assert rec["name"] == "toy" and rec["world"] == 2 and rec["n"] == 11
        slices[r] = (rec["lo"], rec["hi"])
    assert slices == {0: (0, 6), 1: (6, 11)}  # 4 blocks of 3: two each, rank 1's last one short


def _rank_leave(rank: int, world: int, port: int, out: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    left = False
    with split_across_ranks():
        split_map(5, lambda lo, hi: np.arange(lo, hi))
        try:
            leave_if_worker()
        except SystemExit as exc:
            left = exc.code == 0
    Path(f"{out}.{rank}").write_text(json.dumps({"left": left, "group_up": dist.is_initialized()}))
    if dist.is_initialized():
        dist.destroy_process_group()


def test_a_worker_shuts_its_group_before_it_leaves(tmp_path):
    """A gloo rank that exits with its group open can abort at interpreter exit (SIGABRT); the
    worker that leaves a split shuts its group first, rank 0 keeps its own to write."""
    import torch.multiprocessing as mp

    out = tmp_path / "state"
    mp.start_processes(_rank_leave, args=(2, _free_port(), str(out)), nprocs=2, start_method="spawn")
    states = [json.loads(Path(f"{out}.{r}").read_text()) for r in (0, 1)]
    assert states[0] == {"left": False, "group_up": True}
    assert states[1] == {"left": True, "group_up": False}
