"""``seq2track audit``: the pitfalls a study invites, found without training anything.

``audit(study)`` prepares (or opens) the study's cache and checks, each as pass / warn / fail:

============================  ======================================================================
``assembly``                  chromosome names resolve between genome and tracks (aliases are a
                              warning) and lengths agree (a mismatch is a different assembly)
``split_chromosomes``         train, val and test hold disjoint chromosomes (a random split fails)
``context_overlap``           fraction of val/test windows whose input (+- jitter) overlaps a
                              training window's input
``near_duplicates``           fraction of val/test windows whose k-mers (canonical 21-mers,
                              FracMinHash sample) occur mostly in training windows *elsewhere*
                              in the genome: segmental duplications, paralogs, repeats
``fit_on_train``              normalisers (and any declared supervised selection) fitted on the
                              training split only
``prevalence``                zero-bin fraction and positive prevalence per split, what
                              thresholding (``filter:``) removed from val/test, class weights
``depth``                     total signal per track and split; depth ratio between the tracks
                              used for training and for testing
``gc_shift``, ``target_shift``  Kolmogorov-Smirnov statistic of window GC content and of window
                              mean target between the training and the test windows
============================  ======================================================================

With ``eval_study`` the audit describes *training on study, testing on eval_study's test
split* (another track, condition or depth): the cross-study checks then compare the two.

``warn_if_unsound(study)`` gives the static warnings (no data read) that ``run`` prints.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import atomic
from ..config import Study
from ..errors import DataError, Seq2TrackError
from ..io.chroms import canonical
from .audit_signal import check_depth, check_shift
from .checks import CONTEXT_OVERLAP, NEAR_DUP, ORDER, Check, grade
from .sketch import NEAR_DUP_CONTAINMENT, near_duplicates, query_rows

@dataclass
class AuditResult:
    study: str
    eval_study: str | None
    checks: list[Check]
    duplicates: list[tuple[str, int, int, float]] = field(default_factory=list)  # chrom, start, end, containment

    @property
    def status(self) -> str:
        worst = max((ORDER[c.status] for c in self.checks), default=0)
        return {0: "pass", 1: "warn", 2: "fail"}[worst]

    def failed(self) -> list[str]:
        return [c.name for c in self.checks if c.status == "fail"]

    def check(self, name: str) -> Check:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "seq2track.audit/1",
            "study": self.study,
            "eval_study": self.eval_study,
            "status": self.status,
            "failed": self.failed(),
            "checks": [asdict(c) for c in self.checks],
            "duplicates": [list(d) for d in self.duplicates],
        }

    def table(self) -> str:
        """The pass/warn/fail table printed by the CLI."""
        w = max(len(c.name) for c in self.checks)
        lines = [f"audit of {self.study}" + (f" tested on {self.eval_study}" if self.eval_study else "")]
        for c in self.checks:
            v = f"{c.value:.3g}" if isinstance(c.value, float) else str(c.value)
            lines.append(f"  {c.status.upper():4s}  {c.name:{w}s}  {v:>9s}  {c.message}")
        lines.append(f"overall: {self.status.upper()}")
        return "\n".join(lines)

    def write(self, out: str | Path) -> Path:
        """``OUT/audit.json`` and, when near-duplicates were found, ``OUT/audit_duplicates.bed``."""
        out = Path(out)
        atomic.write_json(out / "audit.json", self.to_json())
        if self.duplicates:
            # BED3, ready for `windows.blacklist`; the containment of each region is in audit.json
            atomic.write_text(out / "audit_duplicates.bed", "".join(f"{c}\t{s}\t{e}\n" for c, s, e, _ in self.duplicates))
        return out / "audit.json"


# --- static -----------------------------------------------------------------------------
def warn_if_unsound(study: Study) -> list[str]:
    """Warnings about the study file alone (no data read), for ``run`` to print loudly."""
    out = []
    if study.split.strategy == "random":
        out.append(
            "split.strategy is 'random': overlapping windows of one chromosome land in train and test, so test "
            "metrics are inflated (dependent examples); use `split: {strategy: chromosome, val: [...], test: [...]}`"
        )
    f = study.filter
    if f.threshold is not None and f.keep_below_fraction < 1.0:
        out.append(
            f"filter.threshold {f.threshold} with keep_below_fraction {f.keep_below_fraction} thresholds the "
            "val/test windows too: metrics describe only high-signal windows and auPRC's baseline (prevalence) "
            "moves; evaluate on all windows (keep_below_fraction: 1.0) or report the prevalence"
        )
    if study.train.loss == "bce" and study.train.pos_weight is not None:
        out.append(
            f"train.pos_weight {study.train.pos_weight}: weighted BCE does not rank better and its probabilities "
            "are not calibrated (they overstate the positive rate)"
        )
    return out


# --- assembly ---------------------------------------------------------------------------
def check_assembly(study: Study, eval_study: Study | None = None) -> Check:
    """Genome vs track headers (names through aliases, lengths); eval genome vs train genome."""
    from ..io import tracks as tracks_io
    from ..io.chroms import resolve
    from ..io.genome import Genome

    problems, aliases, details = [], [], {}
    try:
        with Genome(study.genome) as g:
            gsizes = dict(g.sizes)
        chroms = study.windows.chroms or [c for c in gsizes if canonical(c) not in {canonical(x) for x in study.windows.exclude_chroms}]
        all_tracks = list(study.tracks) + (list(eval_study.tracks) if eval_study is not None else [])
        for t in all_tracks:
            h = tracks_io.open_header(t.path)
            missing, bad_len = [], []
            for c in chroms:
                gname = resolve(c, gsizes)
                tname = resolve(c, h.sizes)
                if gname is None:
                    continue
                if tname is None:
                    missing.append(c)
                    continue
                if tname != gname:
                    aliases.append(f"{t.name}:{tname}={gname}")
                if h.sizes[tname] != gsizes[gname]:
                    bad_len.append(f"{gname} {gsizes[gname]:,} vs {h.sizes[tname]:,}")
            if bad_len:
                problems.append(f"track {t.name} ({t.path}) lengths differ from the genome: {', '.join(bad_len[:3])}")
            details[t.name] = {"missing": missing, "length_mismatch": bad_len}
        if eval_study is not None and Path(eval_study.genome).resolve() != Path(study.genome).resolve():
            with Genome(eval_study.genome) as g2:
                s2 = dict(g2.sizes)
            diff = [c for c in gsizes if resolve(c, s2) and s2[resolve(c, s2)] != gsizes[c]]
            if diff:
                problems.append(f"the test genome {eval_study.genome} differs in length on {diff[:3]}: another assembly")
    except Seq2TrackError as exc:
        return Check("assembly", "fail", "error", str(exc))
    details["aliases"] = aliases[:20]
    if problems:
        return Check("assembly", "fail", len(problems), "; ".join(problems), details)
    if aliases:
        return Check("assembly", "warn", len(aliases),
                     f"names differ between files but match through aliases (e.g. {aliases[0]}); lengths agree", details)
    return Check("assembly", "pass", 0, "genome and tracks agree on chromosome names and lengths", details)


# --- splits -----------------------------------------------------------------------------
def _split_chroms(ds, split: str) -> set[str]:
    w = ds.windows
    return {canonical(c) for c in w.loc[w["split"] == split, "chrom"].unique()}


def check_split(ds, eval_ds=None) -> Check:
    """Chromosomes of train vs val/test (vs the eval study's test split) are disjoint."""
    tr = _split_chroms(ds, "train")
    query = {"val": _split_chroms(ds, "val"), "test": _split_chroms(ds, "test")}
    if eval_ds is not None:
        query = {"eval test": _split_chroms(eval_ds, "test")}
    shared = {k: sorted(tr & v) for k, v in query.items() if tr & v}
    if ds.study.split.strategy == "random":
        return Check("split_chromosomes", "fail", "random",
                     "random window split: every chromosome is in train and test; use a chromosome split",
                     {"shared": shared})
    if shared:
        what = "; ".join(f"{k} shares {v[:5]}" for k, v in shared.items())
        return Check("split_chromosomes", "fail", len(sum(shared.values(), [])),
                     f"training chromosomes are tested on ({what}): positions seen in training (another track "
                     "at the same loci is the cross-cell-type trap of Schreiber et al. 2020)", {"shared": shared})
    if ds.study.split.val and ds.study.split.test:
        vs, ts = _split_chroms(ds, "val"), _split_chroms(ds, "test")
        if vs & ts:
            return Check("split_chromosomes", "fail", len(vs & ts), f"val and test share {sorted(vs & ts)}")
    return Check("split_chromosomes", "pass", 0, "train, val and test chromosomes are disjoint")


def _spans(ds, rows: np.ndarray, pad: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per canonical chromosome: sorted, merged ``[start - pad, end + pad)`` of ``rows``."""
    w = ds.windows.iloc[rows]
    out = {}
    for c, g in w.groupby("chrom", sort=False):
        s = np.sort(g["start"].to_numpy(np.int64)) - pad
        e = s + ds.input_length + 2 * pad
        # merge (windows have equal length, so sorted starts give sorted ends)
        brk = np.flatnonzero(s[1:] > np.maximum.accumulate(e)[:-1]) + 1
        starts = s[np.concatenate([[0], brk])]
        ends = np.maximum.reduceat(e, np.concatenate([[0], brk]))
        out[canonical(str(c))] = (starts, ends)
    return out


def overlap_mask(train_ds, train_rows: np.ndarray, query_ds, query_rows: np.ndarray, shift: int) -> np.ndarray:
    """bool[len(query_rows)]: does the query window's input +- shift overlap a training input +- shift?"""
    spans = _spans(train_ds, train_rows, shift)
    q = query_ds.windows.iloc[query_rows]
    out = np.zeros(len(q), dtype=bool)
    qc = np.array([canonical(c) for c in q["chrom"].to_numpy()], dtype=object)
    qs = q["start"].to_numpy(np.int64) - shift
    qe = q["start"].to_numpy(np.int64) + query_ds.input_length + shift
    for c in np.unique(qc):
        if c not in spans:
            continue
        m = qc == c
        st, en = spans[c]
        i = np.searchsorted(st, qe[m], side="left") - 1
        out[m] = (i >= 0) & (en[np.maximum(i, 0)] > qs[m])
    return out


def check_model_chroms(ds, model_dir: str | Path) -> Check:
    """The model in ``model_dir`` (trained here or imported) never trained on the study's val/test chromosomes."""
    from ..rundir import trained_on

    trained = trained_on(model_dir)
    if trained is None:
        return Check("model_chromosomes", "warn", float("nan"),
                     f"the training chromosomes of the model in {model_dir} are unknown: declare train_chroms "
                     "in its adapter, or the test figures may include its training data")
    seen = {canonical(c) for c in trained}
    w = ds.windows
    hit = {s: sorted(c for c in w.loc[w["split"] == s, "chrom"].unique() if canonical(c) in seen) for s in ("val", "test")}
    n = sum(len(v) for v in hit.values())
    if n == 0:
        msg = f"the model in {model_dir} was not trained on any of the study's val/test chromosomes"
    else:
        msg = ("the model in " + str(model_dir) + " was trained on the study's " +
               "; ".join(f"{s} chromosomes {', '.join(v)}" for s, v in hit.items() if v) +
               ": those figures are not held-out; choose split.test/split.val among chromosomes it never saw")
    return Check("model_chromosomes", "fail" if n else "pass", n, msg,
                 {"trained_on": sorted(trained), **{f"{s}_overlap": v for s, v in hit.items()}})


def check_peak_windows(ds) -> Check:
    """A peak-centred cache (``windows.strategy: peaks``): negatives not shared between splits, not
    overlapping positives, no peak window overlapping a peak of another split (fail); GC of
    positives vs negatives per split (warn)."""
    from ..evaluate_peaks import audit_peak_windows

    res = audit_peak_windows(ds.all_windows)
    leaks = [p for p in res["problems"] if "GC" not in p]
    status = "fail" if leaks else ("warn" if res["problems"] else "pass")
    msg = "; ".join(res["problems"]) or "negatives are split-specific, away from peaks, and GC-matched to the peaks"
    return Check("peak_windows", status, len(res["problems"]), msg, res)


def check_context_overlap(ds, eval_ds=None, study: Study | None = None) -> Check:
    shift = int((study or ds.study).train.augment.max_shift)
    qds, qrows = query_rows(ds, eval_ds)
    m = overlap_mask(ds, ds.rows("train"), qds, qrows, shift)
    frac = float(m.mean()) if len(m) else 0.0
    st = grade(frac, CONTEXT_OVERLAP)
    msg = (f"{frac:.1%} of {'test' if eval_ds is not None else 'val/test'} windows share input sequence "
           f"(+-{shift} bp jitter) with a training window")
    if st != "pass":
        msg += ": dependent examples inflate the metrics; split by chromosome"
    return Check("context_overlap", st, frac, msg, {"n_query": int(len(m)), "n_overlapping": int(m.sum()), "jitter": shift})


def check_near_duplicates(ds, eval_ds=None, model: str | Path | None = None, **kw) -> tuple[Check, list]:
    """Near-identical val/test windows; graded by what they cost when ``model`` (a trained run) is given.

    Without a model the grade is by their share (> 5%: fail). With one, the run's test Pearson
    with and without them (``pitfalls/duplicate_cost.py``) decides: fail when they inflate it by
    more than ``MAX_INFLATION`` with a bootstrap interval above 0, else at most warn.
    """
    from .duplicate_cost import MAX_INFLATION, duplicate_cost, run_predictions

    r = near_duplicates(ds, eval_ds, **kw)
    st = grade(r["frac"], NEAR_DUP)
    n = int(r["flagged"].sum())
    bp = sum(e - s for _, s, e, _ in r["regions"])
    msg = (f"{r['frac']:.1%} of {'test' if eval_ds is not None else 'val/test'} windows ({n}) are near-identical "
           f"(>= {NEAR_DUP_CONTAINMENT:.0%} of sampled {r['k']}-mers) to training sequence elsewhere")
    if n:
        msg += f", in {len(r['regions'])} region(s), {bp:,} bp: listed in audit_duplicates.bed (blacklist them)"
    cost = None
    if n and model is not None and (preds := run_predictions(model)) is not None:
        qds = eval_ds if eval_ds is not None else ds
        w = qds.windows.iloc[r["rows"][r["flagged"]]]
        cost = duplicate_cost(preds, set(zip(w["chrom"].astype(str), w["start"].astype(int))))
    if cost is not None:
        measurable = cost["inflation"] > MAX_INFLATION and cost["ci_low"] > 0
        msg += (f"; the model in {model} scores Pearson {cost['pearson_flagged']:.3f} on the {cost['n_flagged']} flagged "
                f"test windows vs {cost['pearson_rest']:.3f} on the rest: they change its test Pearson by "
                f"{cost['inflation']:+.4f} [{cost['ci_low']:+.4f}, {cost['ci_high']:+.4f}]")
        if measurable:
            st = "fail"
            msg += " (a measurable inflation of the test figure)"
        elif st == "fail":
            st = "warn"
            msg += f" (not a measurable inflation: a fail needs more than +{MAX_INFLATION} with its interval above 0)"
    elif st == "fail":
        msg += "; what they cost is not measured: pass --model RUN (a trained run of this study)"
    return Check("near_duplicates", st, r["frac"], msg, {
        "n_flagged": n, "k": r["k"], "scale": r["scale"], "samples_per_window": r["samples_per_window"],
        "containment_threshold": NEAR_DUP_CONTAINMENT, "regions": [list(x) for x in r["regions"][:50]],
        "cost": cost,
    }), r["regions"]


# --- preprocessing ----------------------------------------------------------------------
def check_fit(ds, eval_ds=None, declared: dict[str, str] | None = None) -> Check:
    """Normalisers fitted on the training split; declared supervised steps (``{"feature_selection": "all"}``)."""
    bad = []
    for d in [x for x in (ds, eval_ds) if x is not None]:
        fo = d.norm_state.get("fit_on", "train")
        if fo != "train" and d.norm_state.get("kind", "none") != "none":
            bad.append(f"normaliser {d.norm_state['kind']} of {d.root.name} fitted on {fo!r}")
    for step, where in (declared or {}).items():
        if where != "train":
            bad.append(f"{step} fitted on {where!r} windows")
    kind = ds.norm_state.get("kind", "none")
    if bad:
        return Check("fit_on_train", "fail", len(bad), "; ".join(bad) + ": test data leaked into preprocessing",
                     {"problems": bad})
    return Check("fit_on_train", "pass", 0, f"normaliser {kind!r} and all declared steps fitted on the training split")


def _all_raw(ds, frame) -> np.ndarray:
    """float32[n, T, B] raw targets of any windows table (also dropped windows)."""
    from ..data.cache import gather_bins

    off = np.array([ds.bin_offsets[c] for c in frame["chrom"].to_numpy()], dtype=np.int64)
    b0 = off + (frame["start"].to_numpy(np.int64) + ds.flank) // ds.resolution
    return gather_bins(ds.bins, b0, ds.n_bins)


def check_prevalence(ds, eval_ds=None, study: Study | None = None) -> Check:
    """Zero-bin fraction and positive prevalence per split, before and after ``filter:``."""
    from ..data import transforms

    study = study or ds.study
    thr = study.train.bce_threshold if study.train.bce_threshold is not None else study.evaluate.peak_threshold
    details: dict[str, Any] = {"positive_threshold": thr}
    problems, warns = [], []
    for label, d in [("", ds)] + ([("eval ", eval_ds)] if eval_ds is not None else []):
        aw = d.all_windows
        cand = aw[(aw["reason"] == "") | (aw["reason"] == "below_threshold")]
        raw = _all_raw(d, cand)
        y = transforms.forward(raw, d.transform)
        kept = cand["keep"].to_numpy()
        sp = cand["split"].to_numpy()
        for s in ("train", "val", "test"):
            m = sp == s
            if not m.any():
                continue
            e = {
                "candidates": int(m.sum()),
                "kept": int((m & kept).sum()),
                "zero_bin_fraction_all": float((raw[m] == 0).mean()),
                "zero_bin_fraction_kept": float((raw[m & kept] == 0).mean()) if (m & kept).any() else None,
            }
            if thr is not None:
                e["prevalence_all"] = float((y[m] >= thr).mean())
                e["prevalence_kept"] = float((y[m & kept] >= thr).mean()) if (m & kept).any() else None
            details[f"{label}{s}"] = e
            dropped = e["candidates"] - e["kept"]
            evaluated = (s in ("val", "test") and eval_ds is None) or (label and s == "test")
            if evaluated and dropped > 0:
                z0, z1 = e["zero_bin_fraction_all"], e["zero_bin_fraction_kept"] or 0.0
                txt = f"{label}{s}: thresholding dropped {dropped}/{e['candidates']} windows (zero bins {z0:.1%} -> {z1:.1%}"
                if thr is not None:
                    txt += f", prevalence {e['prevalence_all']:.1%} -> {e['prevalence_kept'] or 0:.1%}"
                problems.append(txt + ")")
    if study.train.loss == "bce" and study.train.pos_weight is not None:
        warns.append(f"pos_weight {study.train.pos_weight}: probabilities will overstate the positive rate")
    tr = details.get("train", {})
    summary = f"train zero-bin fraction {tr.get('zero_bin_fraction_kept', float('nan')):.1%}"
    if thr is not None and tr.get("prevalence_kept") is not None:
        summary += f", prevalence {tr['prevalence_kept']:.1%} (auPRC baseline)"
    if problems:
        return Check("prevalence", "fail", len(problems),
                     "; ".join(problems) + ": metrics on thresholded windows do not hold genome-wide; evaluate on all "
                     "windows", details)
    if warns:
        return Check("prevalence", "warn", len(warns), summary + "; " + "; ".join(warns), details)
    return Check("prevalence", "pass", tr.get("zero_bin_fraction_kept", 0.0), summary, details)


# --- the audit --------------------------------------------------------------------------
def audit(
    study: Study,
    cache=None,
    eval_study: Study | None = None,
    eval_cache=None,
    declared: dict[str, str] | None = None,
    fit_on: str = "train",
    model: str | Path | None = None,
) -> AuditResult:
    """Run every check; writes nothing (``AuditResult.write`` does, where the user asks).

    ``cache``/``eval_cache``: a ``PreparedDataset``, a prepared cache folder, or a folder of caches
    (``data.prepare.prepare_cached``: ``FOLDER/prepared-<data hash>``); None: the cache home
    (``$SEQ2TRACK_CACHE`` or the XDG cache dir), shared with the pitfall lab.

    ``declared``: supervised steps done outside the cache and where they were fitted
    (``{"kmer_selection": "all"}``); ``fit_on`` is passed to ``prepare`` when a cache is built.
    ``model``: a run directory (trained, or from ``import-model``) whose training chromosomes are
    checked against the study's val/test chromosomes.
    """
    from ..data.cache import META, PreparedDataset
    from ..data.prepare import prepare_cached

    checks = [check_assembly(study, eval_study)]
    if checks[0].status == "fail":
        return AuditResult(study.name, eval_study.name if eval_study else None, checks)

    def _open(c, s):
        if c is None or (not isinstance(c, PreparedDataset) and not (Path(c) / META).exists()):
            return prepare_cached(s, home=c, fit_on=fit_on)  # one cache per data configuration, reused
        d = c if isinstance(c, PreparedDataset) else PreparedDataset(c)
        if s is not None and not str(d.meta.get("data_hash", "")).startswith(s.data_hash()):
            raise DataError(
                f"cache {d.root} was prepared for another data configuration than study {s.name!r}; "
                "drop --cache (the audit prepares its own) or give the cache of this study"
            )
        return d

    ds = _open(cache, study)
    ev = _open(eval_cache, eval_study) if eval_study is not None or eval_cache is not None else None
    checks.append(check_split(ds, ev))
    if model is not None:
        checks.append(check_model_chroms(ds, model))
    if "kind" in getattr(ds, "all_windows", {}):
        checks.append(check_peak_windows(ds))
    checks.append(check_context_overlap(ds, ev, study))
    dup, regions = check_near_duplicates(ds, ev, model=model, shift=int(study.train.augment.max_shift))
    checks.append(dup)
    checks.append(check_fit(ds, ev, declared))
    checks.append(check_prevalence(ds, ev, study))
    checks.append(check_depth(ds, ev))
    checks.extend(check_shift(ds, ev))
    return AuditResult(study.name, (ev.study.name if ev is not None else None), checks, regions)


def summary(result: AuditResult) -> dict[str, Any]:
    """Compact form stored with each pitfall arm."""
    return {"status": result.status, "failed": result.failed(),
            "checks": {c.name: {"status": c.status, "value": c.value} for c in result.checks}}


def load(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())
