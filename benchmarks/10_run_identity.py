"""Are two run directories the same run? File by file: byte-identical, or what differs and why.

    python benchmarks/10_run_identity.py RUN_A RUN_B

Used for the #19 redesign (moves, not a rewrite): the demo and the yeast study were run with the
code before it (commit 32b231b, `git archive 32b231b src | tar -x -C OLD`, run with
`PYTHONPATH=OLD/src`) and with HEAD, through the same API calls:

    python -c "from seq2track.run import demo; demo('A', progress_bar=False, overrides={'train.max_epochs': 10})"
    python -c "from seq2track.config import load_study; from seq2track.run import run_study; \\
               run_study(load_study('configs/yeast_atac.yaml'), 'A', progress_bar=False)"

Arrays (cache, predictions), plots and weights are compared bit for bit; JSON/YAML key by key
(keys only one side has, values that differ); CSV column by column; checkpoints by their
``state_dict`` tensors plus the names of the other entries that differ.
"""
from __future__ import annotations


from __future__ import annotations

import filecmp
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml


def flat(d, p: str = ""):
    """``(dotted key, value)`` of nested dicts (and lists of dicts)."""
    if isinstance(d, dict):
        for k, v in d.items():
            yield from flat(v, f"{p}.{k}" if p else k)
    elif isinstance(d, list) and d and all(isinstance(x, (dict, list)) for x in d):
        for i, v in enumerate(d):
            yield from flat(v, f"{p}[{i}]")
    else:
        yield p, d


def keyed(fa: dict, fb: dict) -> str:
    diff = sorted(k for k in set(fa) & set(fb) if fa[k] != fb[k])
    return f"only A {sorted(set(fa) - set(fb))}; only B {sorted(set(fb) - set(fa))}; values differ {diff}"


def explain(f: str, pa: Path, pb: Path) -> str:
    if f.endswith(".json") and f != "manifest.json":
        return keyed(dict(flat(json.loads(pa.read_text()))), dict(flat(json.loads(pb.read_text()))))
    if f.endswith(".yaml"):
        return keyed(dict(flat(yaml.safe_load(pa.read_text()))), dict(flat(yaml.safe_load(pb.read_text()))))
    if f.endswith(".csv"):
        da, db = pd.read_csv(pa), pd.read_csv(pb)
        return f"columns that differ {[c for c in da.columns if c not in db or not da[c].equals(db[c])]}"
    if f.endswith(".ckpt"):
        sa = torch.load(pa, map_location="cpu", weights_only=False)
        sb = torch.load(pb, map_location="cpu", weights_only=False)
        wa, wb = sa["state_dict"], sb["state_dict"]
        eq = set(wa) == set(wb) and all(torch.equal(wa[k], wb[k]) for k in wa)
        other = sorted(k for k in set(sa) | set(sb) if k != "state_dict" and str(sa.get(k)) != str(sb.get(k)))
        return f"weights bit-identical {eq} ({len(wa)} tensors); other entries that differ {other}"
    if f.endswith(".npz"):
        za, zb = np.load(pa), np.load(pb)
        same = set(za.files) == set(zb.files) and all(np.array_equal(za[k], zb[k]) for k in za.files)
        return f"arrays bit-identical {same}"
    return f"differs ({pa.stat().st_size:,} vs {pb.stat().st_size:,} bytes)"


def main(a: Path, b: Path) -> None:
    files = sorted(str(p.relative_to(a)) for p in a.rglob("*") if p.is_file() and "mlartifacts" not in p.parts)
    same = [f for f in files if (b / f).exists() and filecmp.cmp(a / f, b / f, shallow=False)]
    print(f"{len(same)} of {len(files)} files byte-identical: {', '.join(same)}")
    for f in files:
        if f not in same:
            print(f"{f}: " + (explain(f, a / f, b / f) if (b / f).exists() else "only in A"))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
