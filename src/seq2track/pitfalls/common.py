"""The pitfall lab's shared machinery: arms, seeds, scoring, differences with a 95% CI, verdicts.

A *pitfall experiment* trains the same small model with the same budget in a *sound* arm and
one or more *pitfall* arms, repeats that over seeds, and compares a metric between arms seed
by seed: ``diff[s] = metric(pitfall arm, seed s) - metric(sound arm, seed s)``, with a
Student-t 95% interval over seeds (``metrics.bootstrap_ci``). A comparison states the
direction the literature expects (``higher | lower | same | not lower``); its verdict says
whether the interval agrees.

:class:`Lab` owns the work directory (``OUT/pitfalls/_work``): prepared caches keyed by the
data hash, trained models keyed by the study hash and the cache they were trained on, so an
arm shared by two pitfalls (the sound condition-A model) is trained once.

Units: every regression metric is computed in the *transformed* units of the track it is
evaluated on (e.g. ``arcsinh(coverage)``), after undoing the training cache's normaliser.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import atomic
from ..config import Study, TrackConfig, override
from ..errors import ConfigError, DataError

log = logging.getLogger(__name__)

#: Small-model settings: all five pitfalls run on the simulator in minutes on 2 CPU cores.
SMALL: dict[str, Any] = {
    "windows.stride": 512,
    "model.arch": "dilated_cnn",
    "model.channels": 16,
    "model.n_dilated": 3,
    "model.dropout": 0.0,
    "train.lr": 3e-3,
    "train.batch_size": 64,
    "train.max_epochs": 3,
    "train.patience": 0,
    "train.schedule": "none",
    "train.warmup_epochs": 0,
    "train.limit_train_batches": 30,
    "tracking": "none",
}

EXPECT = ("higher", "lower", "same", "not lower", "not higher")


# --- tracks with roles -------------------------------------------------------------------
@dataclass
class Roles:
    """The tracks a pitfall needs beyond the study's first track.

    primary: the study's first track (deep, condition A); shallow: the same assay at a lower
    depth; other: another condition / cell type; fragments: the primary track's fragment file
    (for downsampling with ``pileup --fraction``).
    """

    primary: TrackConfig
    shallow: TrackConfig | None = None
    other: TrackConfig | None = None
    fragments: Path | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "primary": str(self.primary.path),
            "shallow": str(self.shallow.path) if self.shallow else None,
            "other": str(self.other.path) if self.other else None,
            "fragments": str(self.fragments) if self.fragments else None,
        }


def _track(name: str, path: str | Path, like: TrackConfig) -> TrackConfig:
    return TrackConfig(name=name, path=Path(path), missing=like.missing)


def discover_roles(
    study: Study,
    shallow: str | Path | None = None,
    other: str | Path | None = None,
    fragments: str | Path | None = None,
) -> Roles:
    """Roles from explicit paths, else from a simulator ``truth.json`` beside the first track.

    The simulator declares its files (``condA_deep``, ``condA_shallow``, ``condB``,
    ``fragments``) in ``truth.json``; real data must name them (``--shallow/--other/--fragments``).
    """
    primary = study.tracks[0]
    roles = Roles(primary=primary)
    truth_p = Path(primary.path).parent / "truth.json"
    if truth_p.exists():
        try:
            files = json.loads(truth_p.read_text()).get("files", {})
        except (OSError, ValueError):
            files = {}
        d = truth_p.parent
        if files.get("condA_deep") == Path(primary.path).name:
            if files.get("condA_shallow"):
                roles.shallow = _track("condA_shallow", d / files["condA_shallow"], primary)
            if files.get("condB"):
                roles.other = _track("condB", d / files["condB"], primary)
            if files.get("fragments"):
                roles.fragments = d / files["fragments"]
    for attr, val in (("shallow", shallow), ("other", other)):
        if val is not None:
            p = Path(val)
            if not p.exists():
                raise DataError(f"--{attr} track {p} does not exist; give the path of a bigWig")
            setattr(roles, attr, _track(p.name.split(".")[0], p, primary))
    if fragments is not None:
        p = Path(fragments)
        if not p.exists():
            raise DataError(f"--fragments file {p} does not exist; give the primary track's fragment BED")
        roles.fragments = p
    for t in (roles.shallow, roles.other):
        if t is not None and not Path(t.path).exists():
            raise DataError(f"track {t.path} named by {truth_p} does not exist; re-run `seq2track simulate`")
    return roles


# --- scoring (arrays in, dicts out) --------------------------------------------------------
def regression(pred: np.ndarray, obs: np.ndarray) -> dict[str, float]:
    """Headline regression metrics of ``pred, obs: float32[n, T, B]`` plus ``bias = mean(pred - obs)``."""
    from ..metrics import regression_metrics

    m = regression_metrics(pred, obs)
    out = {k: float(m[k]) for k in ("pearson", "spearman", "mse", "mae", "r2")}
    d = np.asarray(pred, np.float64) - np.asarray(obs, np.float64)
    out["bias"] = float(np.nanmean(d))
    out["n_windows"] = int(pred.shape[0])
    return out


def classification(prob: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """auROC, auPRC, its prevalence baseline, Brier score and mean probability of ``prob: float[m]``."""
    from ..metrics import classification_metrics

    p = np.asarray(prob, np.float64).ravel()
    lab = np.asarray(labels).ravel().astype(bool)
    m = classification_metrics(p, lab)
    out = {k: float(m[k]) for k in ("auroc", "auprc", "auprc_baseline")}
    out["auprc_lift"] = out["auprc"] / out["auprc_baseline"] if out["auprc_baseline"] > 0 else float("nan")
    out["brier"] = float(np.mean((p - lab) ** 2))
    out["mean_prob"] = float(p.mean())
    out["n_bins"] = int(p.size)
    return out


# --- comparisons ------------------------------------------------------------------------
@dataclass(frozen=True)
class Comparison:
    """``metric(pitfall) - metric(sound)`` per seed; ``expect`` is the direction of the pitfall arm."""

    name: str
    pitfall: str
    sound: str
    metric: str
    expect: str
    claim: str
    tol: float = 0.0  # for expect="same": an interval inside [-tol, tol] also counts as no change

    def __post_init__(self) -> None:
        if self.expect not in EXPECT:
            raise ValueError(f"expect must be one of {EXPECT}, not {self.expect!r}")


def summarise(records: list[dict[str, Any]], comp: Comparison) -> dict[str, Any]:
    """Per-seed differences, mean, 95% t-interval and a plain-language verdict of one comparison."""
    from ..metrics import bootstrap_ci

    by = {(r["arm"], r["seed"]): r for r in records}
    seeds = sorted({r["seed"] for r in records if r["arm"] == comp.pitfall} & {r["seed"] for r in records if r["arm"] == comp.sound})
    diffs = [float(by[(comp.pitfall, s)].get(comp.metric, np.nan)) - float(by[(comp.sound, s)].get(comp.metric, np.nan)) for s in seeds]
    mean, lo, hi = bootstrap_ci(np.array(diffs), method="t") if diffs else (np.nan, np.nan, np.nan)
    status = verdict(mean, lo, hi, comp.expect, comp.tol)
    sound_v = [float(by[(comp.sound, s)].get(comp.metric, np.nan)) for s in seeds]
    pit_v = [float(by[(comp.pitfall, s)].get(comp.metric, np.nan)) for s in seeds]
    return {
        **asdict(comp),
        "seeds": seeds,
        "sound_values": sound_v,
        "pitfall_values": pit_v,
        "diffs": diffs,
        "mean_diff": mean,
        "ci_low": lo,
        "ci_high": hi,
        "status": status,
        "verdict": plain_verdict(comp, status, mean, lo, hi, len(seeds)),
    }


def verdict(mean: float, lo: float, hi: float, expect: str, tol: float = 0.0) -> str:
    """``confirmed | opposite | unresolved`` for a direction; ``confirmed | changed`` for 'same'."""
    if not np.isfinite(mean):
        return "unresolved"
    excl_pos, excl_neg = np.isfinite(lo) and lo > 0, np.isfinite(hi) and hi < 0
    if expect == "higher":
        return "confirmed" if excl_pos else "opposite" if excl_neg else "unresolved"
    if expect == "lower":
        return "confirmed" if excl_neg else "opposite" if excl_pos else "unresolved"
    if expect == "not lower":
        return "opposite" if excl_neg else "confirmed"
    if expect == "not higher":
        return "opposite" if excl_pos else "confirmed"
    # same
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "confirmed" if abs(mean) <= tol else "unresolved"
    if max(abs(lo), abs(hi)) <= tol:
        return "confirmed"
    return "changed" if (excl_pos or excl_neg) else "confirmed"


def plain_verdict(c: Comparison, status: str, mean: float, lo: float, hi: float, n: int) -> str:
    """One sentence a reader can act on."""
    num = f"Δ{c.metric} = {mean:+.3g} (95% CI {lo:+.3g} to {hi:+.3g}, {n} seeds)"
    if status == "confirmed":
        if c.expect == "same":
            return f"{c.claim}: as expected, no detectable change; {num}."
        if c.expect.startswith("not"):
            return f"{c.claim}: as expected; {num}."
        return f"{c.claim}: shown; {num}, the interval excludes 0."
    if status == "opposite":
        return f"{c.claim}: NOT shown, the difference goes the other way; {num}."
    if status == "changed":
        return f"{c.claim}: NOT as expected, the metric changed; {num}."
    return f"{c.claim}: not resolved at this budget, the interval includes 0; {num}."


# --- result -----------------------------------------------------------------------------
@dataclass
class PitfallResult:
    """What one pitfall experiment measured; ``write`` puts it in ``OUT/pitfalls/<name>.json``."""

    name: str
    title: str
    question: str
    arms: dict[str, str]
    records: list[dict[str, Any]] = field(default_factory=list)
    comparisons: list[dict[str, Any]] = field(default_factory=list)
    audits: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: float = float("nan")
    skipped: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Everything but the wall time, so the same seeds give a byte-identical file."""
        d = asdict(self)
        d.pop("seconds")
        d["format"] = "seq2track.pitfall/1"
        return d

    def write(self, folder: str | Path) -> Path:
        p = Path(folder) / f"{self.name}.json"
        atomic.write_json(p, _finite(self.to_json()))
        return p

    @classmethod
    def read(cls, path: str | Path) -> "PitfallResult":
        d = json.loads(Path(path).read_text())
        d.pop("format", None)
        return cls(**d)

    def headline(self) -> str:
        if self.skipped:
            return f"skipped: {self.skipped}"
        st = [c["status"] for c in self.comparisons]
        return f"{st.count('confirmed')}/{len(st)} expectations confirmed"


def _finite(o: Any) -> Any:
    """NaN/inf -> None so the JSON is standard."""
    if isinstance(o, float):
        return o if np.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    if isinstance(o, (np.floating,)):
        return _finite(float(o))
    if isinstance(o, (np.integer,)):
        return int(o)
    return o


# --- the lab ----------------------------------------------------------------------------
@dataclass
class Trained:
    """A trained model with the cache it was trained on."""

    model: Any
    loss: Any
    ds: Any  # PreparedDataset
    study: Study
    seconds: float
    train_loss: float = float("nan")  # last epoch
    val_loss: float = float("nan")  # best epoch


@dataclass
class Lab:
    """Prepares, trains and predicts for pitfall arms; everything lives under ``out/_work``.

    ``base`` is the user's study with :data:`SMALL` applied (unless ``small=False``) and with
    only its first track; ``seeds`` are added to the study's seed.
    """

    study: Study
    out: Path
    seeds: list[int]
    roles: Roles
    small: bool = True
    max_eval_windows: int = 3000
    echo: Callable[[str], None] = print
    extra: dict[str, Any] = field(default_factory=dict)
    blocks: dict[str, Any] | None = None  # positional blocks (pitfalls/blocks.py), when used

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        changes = dict(SMALL) if self.small else {"tracking": "none"}
        changes.update(self.extra)
        changes["tracks"] = [json.loads(self.roles.primary.model_dump_json())]
        self.base = override(self.study, changes)
        self.work = self.out / "_work"
        self._trained: dict[str, Trained] = {}
        self._ds: dict[str, Any] = {}
        self.folds = self._folds()

    def _folds(self) -> list[list[str] | None]:
        """Test chromosome(s) per seed: the study's own first, then each training chromosome in turn.

        Rotating the held-out chromosome with the seed makes the repeats a cross-validation over
        chromosomes: a test chromosome that happens to be easy or hard cannot decide a comparison
        (e.g. "random-split test windows vs a held-out chromosome"). A random split has one fold.
        """
        if self.base.split.strategy != "chromosome" or len(self.seeds) < 2:
            return [None]
        from ..io.chroms import canonical

        ds0 = self.prepare(self.base.model_copy(update={"seed": int(self.base.seed) + self.seeds[0]}))
        skip = {canonical(c) for c in self.base.split.val + self.base.split.test}
        rest = [[c] for c in train_chroms(ds0) if canonical(c) not in skip]
        return [None] + rest

    def need(self, role: str) -> TrackConfig:
        """The track of ``role`` (``shallow`` or ``other``); a ``ConfigError`` naming the option when absent."""
        t = getattr(self.roles, role)
        if t is None:
            raise ConfigError(f"this pitfall needs a {role} track; give it with --{role} (a bigWig)")
        return t

    def fold(self, seed: int) -> list[str]:
        """The test chromosome(s) of ``seed``."""
        f = self.folds[self.seeds.index(seed) % len(self.folds)] if seed in self.seeds else None
        return list(self.base.split.test) if f is None else f

    # -- studies ---------------------------------------------------------------------------
    def make(self, seed: int, track: TrackConfig | None = None, changes: dict[str, Any] | None = None) -> Study:
        """The base study at ``seed`` (added to the study's seed), on ``track``, with dotted ``changes``."""
        ch: dict[str, Any] = {"seed": int(self.base.seed) + int(seed)}
        if self.base.split.strategy == "chromosome":
            ch["split.test"] = self.fold(seed)
        if track is not None:
            ch["tracks"] = [json.loads(track.model_dump_json())]
        ch.update(changes or {})
        return override(self.base, ch)

    def settings(self) -> dict[str, Any]:
        return {
            "small": self.small,
            "overrides": {**(SMALL if self.small else {}), **self.extra},
            "seeds": [int(self.base.seed) + s for s in self.seeds],
            "test_chromosomes": {int(self.base.seed) + s: self.fold(s) for s in self.seeds},
            "max_eval_windows": self.max_eval_windows,
            "roles": self.roles.describe(),
            "study": self.study.name,
            **({"blocks": self.blocks} if self.blocks else {}),
        }

    # -- data ------------------------------------------------------------------------------
    def prepare(self, study: Study, fit_on: str = "train"):
        """The prepared cache of ``study`` (built once per data hash)."""
        from ..data.prepare import prepare

        key = study.data_hash() + ("" if fit_on == "train" else f"-fit-{fit_on}")
        if key not in self._ds:
            self._ds[key] = prepare(study, self.work / "cache" / key, _fit_on=fit_on)
        return self._ds[key]

    def rows(self, ds, split: str, salt: int = 0) -> np.ndarray:
        """Row indices of ``split``, at most ``max_eval_windows`` (a fixed, seeded subset, sorted)."""
        rows = ds.rows(split)
        if len(rows) > self.max_eval_windows:
            rng = np.random.default_rng([int(self.base.seed), 4242, salt])
            rows = np.sort(rng.choice(rows, size=self.max_eval_windows, replace=False))
        return rows

    # -- models ----------------------------------------------------------------------------
    def train(self, study: Study, ds) -> Trained:
        """Train (or reload) ``study``'s model on ``ds``; keyed by study hash and cache hash."""
        from ..train import train_model

        key = hashlib.sha256(f"{study.hash()}|{ds.meta['data_hash']}".encode()).hexdigest()[:16]
        if key in self._trained:
            return self._trained[key]
        t = time.perf_counter()
        res = train_model(study, ds, self.work / "runs" / key, resume=True, log_to_tracker=False, progress_bar=False)
        last = res.history[-1] if res.history else {}
        tr = Trained(res.model, res.loss, ds, study, time.perf_counter() - t,
                     float(last.get("train_loss", np.nan)), float(res.best_val_loss))
        self.echo(f"    trained {study.tracks[0].name} seed {study.seed} in {tr.seconds:.0f} s (val loss {res.best_val_loss:.4g})")
        self._trained[key] = tr
        return tr

    def predict(self, tr: Trained, ds, rows: np.ndarray) -> np.ndarray:
        """Model output ``float32[n, T, B]`` on windows ``rows`` of ``ds``, in the training cache's units."""
        from ..train import predict

        return predict(tr.model, tr.loss, ds, rows, rc_average=tr.study.train.rc_average_eval)


# --- units and alignment ------------------------------------------------------------------
def observed(ds, rows: np.ndarray) -> np.ndarray:
    """Transformed (not normalised) targets ``float32[n, T, B]`` of ``rows``."""
    from ..data import transforms

    return transforms.forward(ds.raw_targets(rows), ds.transform)


def to_transformed(pred: np.ndarray, train_ds, eval_ds=None) -> np.ndarray:
    """Model-unit predictions -> transformed units of the evaluated track.

    Without ``eval_ds`` the training cache's normaliser is undone (the track the model learned);
    with it, the *evaluated* cache's normaliser (fitted on its own training split) maps the
    depth-normalised prediction to that track's scale: the depth correction.
    """
    from ..data import transforms

    state = (eval_ds if eval_ds is not None else train_ds).norm_state
    return transforms.invert(pred, state)


def align(src, rows: np.ndarray, dst, strict: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``src`` and the rows of ``dst`` at the same (chromosome, start), in ``rows``' order.

    Unmatched rows are dropped, or an error when ``strict``.
    """
    a = src.windows.iloc[rows][["chrom", "start"]].copy()
    a["_src"] = rows
    b = dst.windows[["chrom", "start"]].copy()
    b["_dst"] = np.arange(len(b))
    m = a.merge(b, on=["chrom", "start"], how="inner", sort=False)
    if len(m) == 0 or (strict and len(m) != len(rows)):
        raise DataError(
            f"caches {src.root} and {dst.root} do not hold the same windows ({len(m)} of {len(rows)} matched); "
            "they must tile the same genome the same way"
        )
    return m["_src"].to_numpy(np.int64), m["_dst"].to_numpy(np.int64)


def window_means(ds, rows: np.ndarray) -> np.ndarray:
    """float64[n]: mean transformed target of each window over tracks and bins."""
    return observed(ds, rows).astype(np.float64).mean(axis=(1, 2))


def check_seeds(seeds: int) -> list[int]:
    if seeds < 1:
        raise ConfigError(f"--seeds must be >= 1 (got {seeds}); use 3 or more for a confidence interval")
    return list(range(int(seeds)))


def dump_study(study: Study) -> dict[str, Any]:
    return json.loads(study.model_dump_json())


# --- arms shared by several pitfalls -------------------------------------------------------
def record(seed: int, arm: str, pred: np.ndarray, obs: np.ndarray, **extra: Any) -> dict[str, Any]:
    """One arm's row: ``{seed, arm, **extra, **regression(pred, obs)}``; ``pred, obs: float32[n, T, B]``."""
    return {"seed": seed, "arm": arm, **extra, **regression(pred, obs)}


@dataclass
class Pair:
    """Models of the primary track (A) and of a second track (B) at one seed, on the same test windows.

    ``rA``/``rB``: aligned test rows of ``dsA``/``dsB``; ``obsA, obsB, pA, pB: float32[n, T, B]`` in
    transformed units; ``pA`` is A's model on A's windows, ``pB`` B's model on B's windows.
    """

    sA: Study
    sB: Study
    dsA: Any
    dsB: Any
    trA: Trained
    trB: Trained
    rA: np.ndarray
    rB: np.ndarray
    obsA: np.ndarray
    obsB: np.ndarray
    pA: np.ndarray
    pB: np.ndarray


def train_pair(lab: Lab, seed: int, track: TrackConfig, strict: bool = False) -> Pair:
    """Train the study on its primary track and on ``track`` at ``seed``; predict both on the shared test windows.

    The within/across-track arms of ``depth`` (deep vs shallow) and ``shift`` (A vs B) are all
    built from this: same windows, same model and budget, only the training track differs.
    """
    sA, sB = lab.make(seed), lab.make(seed, track=track)
    dsA, dsB = lab.prepare(sA), lab.prepare(sB)
    trA, trB = lab.train(sA, dsA), lab.train(sB, dsB)
    rA, rB = align(dsA, lab.rows(dsA, "test"), dsB, strict=strict)
    obsA, obsB = observed(dsA, rA), observed(dsB, rB)
    pA = to_transformed(lab.predict(trA, dsA, rA), dsA)
    pB = to_transformed(lab.predict(trB, dsB, rB), dsB)
    return Pair(sA, sB, dsA, dsB, trA, trB, rA, rB, obsA, obsB, pA, pB)


def finish(
    lab: Lab,
    about: tuple[str, str, str],
    arms: dict[str, str],
    records: list[dict[str, Any]],
    comparisons: list[Comparison],
    specs: dict[str, "AuditSpec"],
    notes: list[str],
    t0: float,
) -> PitfallResult:
    """The result of a pitfall (``about = (NAME, TITLE, QUESTION)``): comparisons summarised, arms
    audited, settings recorded, wall time since ``t0``."""
    res = PitfallResult(*about, arms, records,
                        [summarise(records, c) for c in comparisons], audit_arms(lab, specs), notes, lab.settings())
    res.seconds = time.perf_counter() - t0
    return res


# --- audits of the arms -------------------------------------------------------------------
@dataclass
class AuditSpec:
    """What ``audit`` is shown for one arm: the training study, the study whose test split is
    evaluated (None: its own), how the normaliser was fitted, and declared outside steps."""

    study: Study
    eval_study: Study | None = None
    fit_on: str = "train"
    declared: dict[str, str] | None = None


def audit_arms(lab: Lab, specs: dict[str, AuditSpec]) -> dict[str, dict[str, Any]]:
    """``seq2track audit`` on each arm (caches reused): ``{arm: {status, failed, checks}}``."""
    from .audit import audit, summary

    out = {}
    for arm, sp in specs.items():
        ds = lab.prepare(sp.study, sp.fit_on)
        ev = lab.prepare(sp.eval_study) if sp.eval_study is not None else None
        r = audit(sp.study, cache=ds, eval_study=sp.eval_study, eval_cache=ev, declared=sp.declared)
        out[arm] = summary(r)
    return out


def train_chroms(ds) -> list[str]:
    """Chromosomes of the training split of a cache, in genome order."""
    w = ds.windows
    have = set(w.loc[w["split"] == "train", "chrom"])
    return [c for c in ds.chroms if c in have]
