"""The pitfall lab: each pitfall measured by a sound arm against pitfall arms, over seeds.

``run_pitfalls(study, out, which, seeds)`` runs the chosen experiments (``PITFALLS``) with a
small model (``common.SMALL``) and writes ``OUT/pitfalls/<name>.json`` (per arm and seed the
metrics, per comparison the difference with a 95% CI and a verdict), ``<name>.png``,
``<name>.html`` and ``index.html``. ``audit`` (``pitfalls/audit.py``) finds the same pitfalls
in a study without training.

Modules: ``leakage`` (random split, cross-cell-type trap), ``leaky`` (supervised selection and
normalisation fitted before the split), ``imbalance`` (thresholded windows, auPRC baseline,
weighted BCE), ``depth`` (sequencing depth), ``shift`` (another condition at test time).
"""

from __future__ import annotations

import importlib
import json
import time
from pathlib import Path
from typing import Callable

from .. import atomic
from ..errors import ConfigError

from .registry import NEEDS, PITFALLS


def parse_which(which: str) -> list[str]:
    """``"all"`` or a comma list of names -> names in lab order; unknown names are a ``ConfigError``."""
    if which.strip() == "all":
        return list(PITFALLS)
    names = [w.strip() for w in which.split(",") if w.strip()]
    bad = [n for n in names if n not in PITFALLS]
    if bad or not names:
        raise ConfigError(f"--which {which!r}: unknown pitfall(s) {bad}; choose 'all' or from {', '.join(PITFALLS)}")
    return [n for n in PITFALLS if n in names]


def run_pitfalls(
    study,
    out: str | Path,
    which: str = "all",
    seeds: int = 3,
    shallow: str | Path | None = None,
    other: str | Path | None = None,
    fragments: str | Path | None = None,
    budget: str = "study",
    max_eval_windows: int = 3000,
    overrides: dict | None = None,
    echo: Callable[[str], None] = print,
    blocks: int | None = None,
    cache: str | Path | None = None,
):
    """Run the chosen pitfalls; returns ``{name: PitfallResult}`` and writes ``OUT/pitfalls/``.

    ``budget``: ``"study"`` (default) trains every arm with the study's own model and training
    budget, the models users really train; ``"lab"`` with the lab's small model
    (``common.SMALL``) for a quick look. Prepared caches go to ``cache`` (a folder of caches),
    else the cache home shared with ``audit``.

    A pitfall whose track is missing (``depth`` without ``--shallow``, ``shift`` without
    ``--other``) is recorded as skipped when ``which='all'`` and is an error when named.
    ``blocks=N`` cuts each chromosome into N positional blocks first (``pitfalls/blocks.py``):
    for a data set of one chromosome, where a chromosome split is impossible.
    """
    from .common import Lab, PitfallResult, check_seeds
    from .roles import discover_roles
    from .report import write_index, write_outputs

    t_start = time.perf_counter()
    if budget not in ("study", "lab"):
        raise ConfigError(f"pitfalls --budget {budget!r}: use 'study' (the study's model and budget) or 'lab' "
                          "(the lab's small model, a quick look)")
    names = parse_which(which)
    roles = discover_roles(study, shallow, other, fragments)
    folder = Path(out) / "pitfalls"
    block_info = None
    if blocks:
        from .blocks import to_blocks

        study, roles, block_info = to_blocks(study, roles, int(blocks), folder / "_work" / "blocks")
        echo(f"cut into {blocks} blocks per chromosome: val {block_info['val']}, test {block_info['test']}")
    lab = Lab(study, folder, check_seeds(seeds), roles, small=budget == "lab", max_eval_windows=max_eval_windows,
              echo=echo, extra=dict(overrides or {}), blocks=block_info, cache=cache)
    results = {}
    for name in names:
        mod = importlib.import_module(f"{__name__}.{name}")
        need = NEEDS.get(name)
        if need and getattr(roles, need) is None:
            msg = f"needs a {need} track (--{need})"
            if which.strip() != "all":
                raise ConfigError(f"pitfall {name} {msg}; give it on the command line")
            res = PitfallResult(name, mod.TITLE, mod.QUESTION, {}, skipped=msg, settings=lab.settings())
        else:
            echo(f"pitfall {name}: {mod.TITLE}")
            t = time.perf_counter()
            res = mod.run(lab)
            echo(f"  {res.headline()} ({time.perf_counter() - t:.0f} s)")
            for c in res.comparisons:
                echo(f"  - {c['verdict']}")
        write_outputs(res, folder)
        results[name] = res
    write_index(folder)
    # wall times apart from the results, which are byte-identical for the same seeds; a later
    # run of some pitfalls updates their entries
    tp = folder / "timings.json"
    old = json.loads(tp.read_text()) if tp.exists() else {}
    if "total_s" in old:  # the file of an older version: one run
        old.setdefault("runs", []).append({"which": "earlier run", "total_s": old.pop("total_s")})
    atomic.write_json(tp, {
        "pitfalls_s": {**old.get("pitfalls_s", {}), **{n: r.seconds for n, r in results.items() if not r.skipped}},
        "trainings_s": {**old.get("trainings_s", {}), **{k: t.seconds for k, t in lab._trained.items()}},
        "runs": old.get("runs", []) + [{"which": names, "seeds": int(seeds), "total_s": time.perf_counter() - t_start}],
    })
    return results
