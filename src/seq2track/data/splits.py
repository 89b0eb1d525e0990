"""Train/val/test assignment: by whole chromosome (sound) or by random window (the pitfall)."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..io.chroms import canonical

SPLITS = ("train", "val", "test")


def chromosome_split(chrom_of_window: np.ndarray, val: list[str], test: list[str], study_chroms: list[str]) -> np.ndarray:
    """object[n] of 'train' | 'val' | 'test': val/test chromosomes by name (aliases allowed), rest train."""
    known = {canonical(c) for c in study_chroms}
    for name, lst in (("val", val), ("test", test)):
        missing = [c for c in lst if canonical(c) not in known]
        if missing:
            raise ConfigError(
                f"split.{name} names {missing}, which is not among the study's chromosomes "
                f"({', '.join(study_chroms)}); fix `split:` or `windows: {{chroms:, exclude_chroms:}}`"
            )
    vset = {canonical(c) for c in val}
    tset = {canonical(c) for c in test}
    names, inverse = np.unique(np.asarray(chrom_of_window, dtype=object).astype(str), return_inverse=True)
    canon = np.array([canonical(c) for c in names], dtype=object)  # once per chromosome, not per window
    label = np.full(len(names), "train", dtype=object)
    label[np.isin(canon, list(vset))] = "val"
    label[np.isin(canon, list(tset))] = "test"
    return label[inverse.reshape(-1)]


def random_split(n: int, val_fraction: float, test_fraction: float, rng: np.random.Generator) -> np.ndarray:
    """object[n]: each window assigned at random. Overlapping neighbours land in different splits:
    this is the dependent-examples pitfall, kept so that it can be measured."""
    u = rng.random(n)
    out = np.full(n, "train", dtype=object)
    out[u < val_fraction + test_fraction] = "val"
    out[u < test_fraction] = "test"
    return out
