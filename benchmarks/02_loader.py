"""Loader throughput: 2,048-bp one-hot + targets with RC + jitter, batch 256.

Ours with 0/1/2 workers vs the tutorial's per-window pyBigWig+pyfaidx loop, and vs a
bulk-in-RAM numpy gather (the memory-bound ceiling). Ends with ``windows_per_s=<ours>``.

    python benchmarks/02_loader.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import YEAST_BW, YEAST_FA, Timer, machine_line, per_base_onehot, yeast_study  # noqa: E402

BATCH = 256


def ours(ds, workers: int, max_batches: int = 120) -> float:
    import torch

    torch.set_num_threads(2)
    td = ds.torch_dataset("train", augment={"rc": True, "max_shift": 3})
    dl = td.loader(BATCH, shuffle=True, num_workers=workers)
    n = 0
    it = iter(dl)
    next(it)  # start-up (workers) not counted
    with Timer() as t:
        for b, (x, y) in enumerate(it):
            n += len(x)
            if b + 1 >= max_batches:
                break
    return n / t.s


def naive_loop(ds, n_windows: int = 3000) -> float:
    import pyBigWig
    import pyfaidx

    fa = pyfaidx.Fasta(str(YEAST_FA))
    bw = pyBigWig.open(str(YEAST_BW))
    rng = np.random.default_rng(0)
    rows = rng.choice(ds.rows("train"), n_windows, replace=False)
    with Timer() as t:
        for r in rows:
            c, s = ds.windows.chrom[r], int(ds.windows.start[r])
            sh = int(rng.integers(-3, 4))
            s2 = min(max(0, s + sh), ds.chrom_sizes[c] - ds.input_length)
            seq = str(fa[c][s2 : s2 + ds.input_length]).upper()
            x = per_base_onehot(seq)
            y = np.arcsinh(np.nan_to_num(bw.values(c, s + ds.flank, s + ds.flank + 256, numpy=True)).reshape(8, 32).mean(1))
            if rng.random() < 0.5:
                x, y = x[::-1, ::-1].copy(), y[::-1].copy()
    return n_windows / t.s


def in_ram(ds, max_batches: int = 120) -> float:
    """Ceiling: all training windows' codes already in RAM as one array; gather + one-hot only."""
    from seq2track.data.cache import onehot

    rows = ds.rows("train")
    codes = ds.codes(rows)
    y = ds.targets(rows)
    rng = np.random.default_rng(0)
    n = 0
    with Timer() as t:
        for _ in range(max_batches):
            idx = rng.integers(0, len(rows), BATCH)
            x = onehot(codes[idx])
            yy = y[idx]
            n += len(x)
    del x, yy
    return n / t.s


def main() -> None:
    from seq2track.data.prepare import prepare

    with tempfile.TemporaryDirectory() as d:
        print(machine_line())
        ds = prepare(yeast_study(Path(d)), Path(d) / "cache")
        naive = naive_loop(ds)
        ceiling = in_ram(ds)
        res = {w: ours(ds, w) for w in (0, 1, 2)}
        print(f"naive per-window loop (pyfaidx + pyBigWig + python one-hot): {naive:10,.0f} windows/s")
        print(f"bulk in-RAM numpy gather (ceiling):                          {ceiling:10,.0f} windows/s")
        for w, v in res.items():
            print(f"seq2track loader, {w} workers:                                {v:10,.0f} windows/s "
                  f"({v / naive:.0f}x naive, {v / ceiling:.2f} of ceiling)")
        best = max(res.values())
        print(f"target: >= 50,000 windows/s and >= 6x naive -> {'MET' if best >= 50_000 and best >= 6 * naive else 'MISSED'}")
        print(f"windows_per_s={best:.0f}")


if __name__ == "__main__":
    main()
