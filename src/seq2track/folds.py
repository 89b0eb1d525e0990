"""How sure is a test figure: a fold ensemble over held-out chromosome folds.

``seq2track folds STUDY --k 5 --out DIR [--run RUN]`` cuts the study's chromosomes into ``k``
folds of about equal length (a seeded order, then longest first into the shortest fold), and
runs the study ``k`` times: fold ``i`` is the test split, fold ``i+1`` (mod k) validation, the
rest training. Each fold is a full run directory (``DIR/fold-<i>``, resumable), so its model,
metrics and report are there to open. ``DIR/folds.json`` holds, for every headline metric of
the CNN and of the k-mer ridge, the value per fold, the mean, the range and a t-interval of the
mean (:func:`seq2track.metrics.interval`); ``DIR/folds.tsv`` the per-fold table. With ``--run``
the summary is added to that run's report beside its single-split figure.

The spread across folds is the question a single split cannot answer: is a 0.01 difference
between two models more than the difference between two equally sound choices of test
chromosomes? Folds differ in chromosomes (GC, repeats, signal depth), so the spread includes
that biology, not only training noise; that is the point.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np

from . import atomic
from .config import Study, override
from .errors import ConfigError
from .metrics import REGRESSION_KEYS, interval

#: headline keys summarised per fold (test split): regression + window totals + classification
_CLASS_KEYS = ("auroc", "auprc")


def chromosome_folds(sizes: dict[str, int], k: int, rng: np.random.Generator) -> list[list[str]]:
    """``k`` folds of chromosomes of about equal total length.

    ``sizes``: chromosome -> bp (the study's chromosomes). Chromosomes are put in a seeded random
    order, then (stable) longest first, each into the fold with the fewest bp so far; every fold
    keeps its chromosomes in the input order.
    """
    names = list(sizes)
    if k < 3:
        raise ConfigError(f"folds: k = {k}; a fold ensemble needs k >= 3 (test, val and at least one training fold)")
    if len(names) < k:
        raise ConfigError(
            f"folds: the study has {len(names)} chromosome(s) ({', '.join(names)}) for k = {k} folds; lower --k, "
            "or cut the chromosomes into blocks first (`seq2track pitfalls --blocks N`, docs/pitfalls.md)"
        )
    order = [names[i] for i in rng.permutation(len(names))]
    order.sort(key=lambda c: -sizes[c])
    bp = np.zeros(k, dtype=np.int64)
    member: dict[str, int] = {}
    for c in order:
        f = int(np.argmin(bp))
        member[c] = f
        bp[f] += sizes[c]
    return [[c for c in names if member[c] == f] for f in range(k)]


def fold_studies(study: Study, folds: list[list[str]]) -> list[Study]:
    """One study per fold: test = fold ``i``, val = fold ``i + 1`` (mod k), training = the rest."""
    k = len(folds)
    return [
        override(study, {"split.strategy": "chromosome", "split.test": folds[i], "split.val": folds[(i + 1) % k],
                         "name": f"{study.name}-fold{i}"})
        for i in range(k)
    ]


def study_chromosomes(study: Study) -> dict[str, int]:
    """The chromosomes the study's windows come from (genome spelling and order) -> bp."""
    from .data.prepare import select_chroms
    from .io import tracks as tracks_io
    from .io.genome import Genome

    with Genome(study.genome) as genome:
        headers = [tracks_io.open_header(t.path) for t in study.tracks]
        chroms = select_chroms(study, genome.sizes, [h.sizes for h in headers])
        return {c: int(genome.sizes[c]) for c in chroms}


def summarize(per_fold: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean, range and t-interval per headline metric over the folds' ``metrics.json`` dicts."""

    def collect(get) -> dict[str, Any]:
        v = np.array([np.nan if (x := get(m)) is None else float(x) for m in per_fold], dtype=np.float64)
        mean, lo, hi = interval(v)
        fin = v[np.isfinite(v)]
        return {"values": v.tolist(), "mean": mean, "ci_low": lo, "ci_high": hi,
                "min": float(fin.min()) if fin.size else float("nan"),
                "max": float(fin.max()) if fin.size else float("nan")}

    out: dict[str, Any] = {"cnn": {}, "kmer_ridge": {}}
    for key in (*REGRESSION_KEYS, *_CLASS_KEYS):
        out["cnn"][key] = collect(lambda m, key=key: (m.get("test") or {}).get(key))
        out["kmer_ridge"][key] = collect(lambda m, key=key: ((m.get("baseline") or {}).get("test") or {}).get(key))
    out["cnn"]["window_total_pearson"] = collect(lambda m: ((m.get("test") or {}).get("window_total") or {}).get("pearson"))
    gain = [((m.get("test") or {}).get("pearson"), ((m.get("baseline") or {}).get("test") or {}).get("pearson"))
            for m in per_fold]
    d = np.array([np.nan if None in g else g[0] - g[1] for g in gain], dtype=np.float64)
    mean, lo, hi = interval(d)
    out["cnn_minus_kmer_pearson"] = {"values": d.tolist(), "mean": mean, "ci_low": lo, "ci_high": hi}
    return out


def run_folds(study: Study, out: str | Path, k: int = 5, attach: str | Path | None = None,
              progress_bar: bool | None = None) -> dict[str, Any]:
    """Run the ``k`` fold studies into ``OUT/fold-<i>`` and write ``OUT/folds.json`` / ``folds.tsv``.

    Folds are drawn with ``numpy.random.default_rng(study.seed)``; a fold whose run directory
    holds the metrics of the same study is read, not re-run; an interrupted one resumes (``run_study``). ``attach``: a run directory of the same
    study whose report gains the fold section beside its single-split figure.
    """
    from .run import run_study

    out = Path(out)
    if study.split.strategy != "chromosome":
        raise ConfigError(
            f"folds: study {study.name} uses split.strategy {study.split.strategy!r}; folds hold out whole "
            "chromosomes (a random split of overlapping windows is the leakage pitfall): set split.strategy: chromosome"
        )
    folds = chromosome_folds(study_chromosomes(study), k, np.random.default_rng(study.seed))
    per_fold = [_done(s, out / f"fold-{i}") or run_study(s, out / f"fold-{i}", progress_bar=progress_bar)
                for i, s in enumerate(fold_studies(study, folds))]
    summary = {
        "study": study.name, "k": k, "seed": study.seed, "folds": [
            {"fold": i, "test": folds[i], "val": folds[(i + 1) % k], "run": str(out / f"fold-{i}"),
             "n_test_windows": (m.get("test") or {}).get("n_windows")} for i, m in enumerate(per_fold)],
        "test": summarize(per_fold), "interval": "95% Student-t interval of the mean over folds",
    }
    single = None
    if attach is not None:
        from .rundir import RunPaths

        single = _read_metrics(RunPaths(attach).metrics)
        summary["single_split"] = {"run": str(attach), "test": single.get("test", {}).get("pearson"),
                                   "kmer_ridge": ((single.get("baseline") or {}).get("test") or {}).get("pearson"),
                                   "test_chroms": study.split.test}
    atomic.write_json(out / "folds.json", summary)
    atomic.write_text(out / "folds.tsv", fold_table(summary))
    if attach is not None:
        from .report.html import Section, add_section

        add_section(attach, Section("How sure: fold ensemble", section_html(summary), order=15, id="folds"))
    return summary


def _done(study: Study, run_dir: Path) -> dict[str, Any] | None:
    """The metrics of a finished run of ``study`` in ``run_dir`` (same study hash), else None."""
    import json

    from .config import load_study
    from .rundir import RunPaths

    p = RunPaths(run_dir)
    if p.metrics.exists() and p.study.exists() and load_study(p.study).hash() == study.hash():
        return json.loads(p.metrics.read_text())
    return None


def _read_metrics(path: Path) -> dict[str, Any]:
    import json

    if not path.exists():
        raise ConfigError(f"folds --run: {path} does not exist; give a run directory that `seq2track run` evaluated")
    return json.loads(path.read_text())


def fold_table(summary: dict[str, Any]) -> str:
    """Tab-separated: one row per fold (test chromosomes, CNN and k-mer ridge test metrics)."""
    t = summary["test"]
    keys = ["pearson", "spearman", "r2", "auprc"]
    lines = ["\t".join(["fold", "test_chroms", "val_chroms", *[f"cnn_{k}" for k in keys], "kmer_pearson"])]
    for f in summary["folds"]:
        i = f["fold"]
        vals = [t["cnn"][k]["values"][i] for k in keys] + [t["kmer_ridge"]["pearson"]["values"][i]]
        lines.append("\t".join([str(i), ",".join(f["test"]), ",".join(f["val"]), *[f"{v:.4f}" for v in vals]]))
    return "\n".join(lines) + "\n"


def _fmt(v: float | None) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{v:.3f}"


def section_html(summary: dict[str, Any]) -> str:
    """The report fragment: fold mean, range and interval of test Pearson next to the single split."""
    c, b, g = summary["test"]["cnn"]["pearson"], summary["test"]["kmer_ridge"]["pearson"], summary["test"]["cnn_minus_kmer_pearson"]
    single = summary.get("single_split") or {}
    lead = (f"<p class='lead'>Test Pearson over {summary['k']} held-out chromosome folds: <b>{_fmt(c['mean'])}</b> "
            f"(range {_fmt(c['min'])} to {_fmt(c['max'])}; 95% interval of the mean {_fmt(c['ci_low'])} to "
            f"{_fmt(c['ci_high'])})")
    if single.get("test") is not None:
        lead += (f", against <b>{_fmt(single['test'])}</b> on this run's single split "
                 f"(test {html.escape(', '.join(single.get('test_chroms') or []))})")
    lead += (f". The CNN's gain over the k-mer ridge ({_fmt(b['mean'])}) is {_fmt(g['mean'])} "
             f"[{_fmt(g['ci_low'])}, {_fmt(g['ci_high'])}]. A difference between two models smaller than the "
             "spread across folds is not evidence that one is better.</p>")
    rows = "".join(
        f"<tr><td>{f['fold']}</td><td>{html.escape(', '.join(f['test']))}</td>"
        f"<td class='num'>{_fmt(c['values'][f['fold']])}</td><td class='num'>{_fmt(b['values'][f['fold']])}</td></tr>"
        for f in summary["folds"])
    return (lead + "<table><tr><th>fold</th><th>test chromosomes</th><th>CNN test Pearson</th>"
            f"<th>k-mer ridge test Pearson</th></tr>{rows}</table>")
