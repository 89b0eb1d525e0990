"""The pitfall lab's shared machinery: arms, seeds, scoring, differences with a 95% CI, verdicts.

A *pitfall experiment* trains the same small model with the same budget in a *sound* arm and
one or more *pitfall* arms, repeats that over seeds, and compares a metric between arms seed
by seed: ``diff[s] = metric(pitfall arm, seed s) - metric(sound arm, seed s)``, with a
Student-t 95% interval over seeds (``metrics.interval``). A comparison states the
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..config import Study, TrackConfig, override
from ..errors import ConfigError, DataError
from .roles import Roles
from .verdicts import Comparison, PitfallResult, summarise

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


# --- scoring (arrays in, dicts out) --------------------------------------------------------
def regression(pred: np.ndarray, obs: np.ndarray) -> dict[str, float]:
    """Headline regression metrics of ``pred, obs: float32[n, T, B]`` plus ``bias = mean(pred - obs)``."""
    from ..metrics import REGRESSION_KEYS, regression_metrics

    m = regression_metrics(pred, obs)
    out = {k: float(m[k]) for k in REGRESSION_KEYS}
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
    """Prepares, trains and predicts for pitfall arms; models live under ``out/_work``, prepared
    caches in the cache home (``cache``; shared with ``audit``).

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
    cache: Path | None = None  # a folder of prepared caches; None: the cache home (data.prepare.cache_home)

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
            "budget": "lab" if self.small else "study",
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
        from ..data.prepare import prepare_cached

        key = study.data_hash() + ("" if fit_on == "train" else f"-fit-{fit_on}")
        if key not in self._ds:  # in the cache home, shared with `audit` (and other labs of the same data)
            self._ds[key] = prepare_cached(study, home=self.cache, fit_on=fit_on)
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
        from ..predict import predict_windows as predict

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
