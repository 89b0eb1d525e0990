"""Training step time fed by our loader vs fed by pre-built in-RAM tensors, on CPU.

For each model width (default 64 channels = the default ``dilated_cnn``; 32 and 16 show where
data loading starts to matter), the same model and optimiser run ``--batches`` steps fed by
the real loader (memory-mapped gather + one-hot + RC/jitter, ``--workers`` workers) and
``--batches`` steps fed by tensors built in RAM beforehand, interleaved over ``--rounds``
rounds so both feeds see the same machine load. Printed: windows/s of each feed, their ratio
(target: loader-fed step time within 1.1x of the in-RAM feed), the fraction of the
loader-fed time spent waiting for data and the ratio it implies, 1/(1 - wait) (the steps
are the same, so this is the ratio with the machine's load swings taken out; the measured
ratio swings both ways when the machine is shared), and CPU-s per 1k windows. Then the same model through
``train_model`` (Lightning): its windows/s and data-wait fraction.

Data: the yeast ATAC study from ../shared/data if present, else a small simulated genome.
No GPU is lent to this project, so this is CPU only (mixed precision is not measured).

    python benchmarks/04_train_step.py [--batches 20] [--rounds 3] [--channels 64 32 16] [--no-lightning]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import Timer, machine_line, yeast_study  # noqa: E402


def sim_study(tmp: Path):
    from seq2track.config import load_study, override
    from seq2track.data.simulate import simulate

    res = simulate(tmp / "sim", seed=0, n_chroms=4, length=200_000)
    return override(load_study(res.study_path), {"tracking": "none"})


class Feeds:
    """One model + optimiser, stepped by either feed; keeps per-feed wall, wait, CPU and count."""

    def __init__(self, study, ds, channels: int, workers: int):
        import torch

        from seq2track.config import override
        from seq2track.model.build import make_loss, make_model

        st = override(study, {"model.channels": channels})
        self.model, self.loss = make_model(st, len(ds.track_names)), make_loss(st)
        self.model.train()
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=1e-3)
        td = ds.torch_dataset("train", augment=st.train.augment, seed=st.seed)
        self.it = iter(td.loader(st.train.batch_size, shuffle=True, num_workers=workers))
        # in-RAM feed: batches gathered once, before any timing
        self.ram = [next(self.it) for _ in range(4)]
        self.tot = {f: {"wall": 0.0, "wait": 0.0, "cpu": 0.0, "n": 0} for f in ("loader", "ram")}

    def _step(self, x, y) -> None:
        import torch

        self.opt.zero_grad()
        self.loss.loss(self.model(x), y).backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()

    def run(self, feed: str, n_batches: int) -> None:
        tot = self.tot[feed]
        c0 = time.process_time()
        for b in range(n_batches):
            t0 = time.perf_counter()
            x, y = next(self.it) if feed == "loader" else self.ram[b % len(self.ram)]
            t1 = time.perf_counter()
            self._step(x, y)
            tot["wall"] += time.perf_counter() - t0
            tot["wait"] += t1 - t0
            tot["n"] += len(x)
        tot["cpu"] += time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=20, help="steps per feed per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--channels", type=int, nargs="*", default=[64, 32, 16])
    ap.add_argument("--workers", type=int, default=0, help="loader workers (the study default is 0)")
    ap.add_argument("--no-lightning", action="store_true")
    args = ap.parse_args()
    import torch

    from seq2track.config import override
    from seq2track.data.prepare import prepare

    print(machine_line() + "; CPU only: no GPU is lent to this project")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        study = yeast_study(tmp, {"tracking": "none"}) or sim_study(tmp)
        ds = prepare(study, tmp / "data")
        print(f"data: {study.name}, {len(ds.rows('train'))} training windows, batch {study.train.batch_size}, "
              f"torch threads {torch.get_num_threads()}, loader workers {args.workers}; "
              f"{args.rounds} rounds x {args.batches} steps per feed, interleaved")
        print(f"{'model':22s} {'loader win/s':>12s} {'in-RAM win/s':>12s} {'ratio':>6s} {'data wait':>10s} "
              f"{'1/(1-wait)':>10s} {'CPU-s/1k (loader/RAM)':>22s}")
        for ch in args.channels:
            f = Feeds(study, ds, ch, args.workers)
            f.run("loader", 2)  # warm-up, not counted
            f.run("ram", 2)
            f.tot = {k: {"wall": 0.0, "wait": 0.0, "cpu": 0.0, "n": 0} for k in f.tot}
            for _ in range(args.rounds):
                f.run("loader", args.batches)
                f.run("ram", args.batches)
            lo, ram = f.tot["loader"], f.tot["ram"]
            ratio = (lo["wall"] / lo["n"]) / (ram["wall"] / ram["n"])
            # both feeds run the same step; only the wait differs, so 1/(1-wait) is the ratio with
            # the machine's load fluctuations taken out
            implied = 1 / (1 - lo["wait"] / lo["wall"])
            verdict = f"  target <= 1.1x -> {'MET' if implied <= 1.1 else 'MISSED'}" if ch == 64 else ""
            print(f"{f'dilated_cnn {ch} ch':22s} {lo['n'] / lo['wall']:12.0f} {ram['n'] / ram['wall']:12.0f} "
                  f"{ratio:5.2f}x {100 * lo['wait'] / lo['wall']:9.2f}% {implied:9.3f}x "
                  f"{1000 * lo['cpu'] / lo['n']:10.1f}/{1000 * ram['cpu'] / ram['n']:<10.1f}{verdict}")
            if ch == args.channels[0]:
                ratio0 = implied
        if not args.no_lightning:
            st = override(study, {"train.epoch_windows": args.batches * study.train.batch_size, "train.max_epochs": 2})
            with Timer() as t:
                res = train_model_quiet(st, ds, tmp / "run")
            n = 2 * args.batches * study.train.batch_size
            print(f"{'train_model (Lightning)':22s} {res.windows_per_s:12.0f} {'':>12s} {'':>6s} "
                  f"{100 * res.data_wait_fraction:9.2f}% {1 / (1 - res.data_wait_fraction):9.3f}x "
                  f"{1000 * t.cpu / n:10.1f} (CPU incl. validation, checkpoints)")
        print(f"train_step_ratio={ratio0:.3f}")


def train_model_quiet(st, ds, out):
    from seq2track.train import train_model

    return train_model(st, ds, out, progress_bar=False)


if __name__ == "__main__":
    main()
