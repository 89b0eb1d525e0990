"""Hyper-parameter search with Ray Tune: ASHA (or FIFO) over a space of dotted study keys.

``tune_study(study, space, out, n_trials)`` runs ``n_trials`` trials, each the same training
code as ``seq2track run`` (``train.train_model``) on ONE prepared cache that is built before
the search and opened read-only (memory-mapped) by every trial. A Lightning callback reports
the validation loss after every epoch to Tune, so ASHA can stop poor trials at its rungs.
Selection sees the validation split only; the chosen config is then retrained once and
evaluated on the test split.

The space file maps dotted study keys to one distribution each::

    train.lr: {loguniform: [0.0001, 0.01]}      # log-uniform on [low, high]
    train.weight_decay: {uniform: [0.0, 0.001]} # uniform on [low, high]
    model.n_dilated: {randint: [1, 5]}          # integer in [low, high) (high excluded, as numpy/Ray)
    model.channels: {choice: [16, 32]}          # one of the values

Sampling is Optuna's (``RandomSampler`` for ``random``, ``TPESampler`` for ``optuna``) through
Ray's ``OptunaSearch``, seeded from the study seed, so a random search draws the same
configs every time. Trial ``i`` trains with seed ``trial_seed(study.seed, i)``.

Selection metric: ``val_loss``; when the space searches ``train.loss`` it is ``val_mse`` (MSE of
the predicted signal on the target scale), since losses of different likelihoods do not share
a scale. Keys that change the prepared data (``windows.*``, ``transform``, ``split.*`` ...) are
refused: the cache is built once per search.

Outputs in ``OUT``: ``trials.csv`` (one row per trial: params, best val loss, epochs run,
stopped early and by what), ``curves.csv`` (val metric per trial and epoch), ``best_study.yaml``,
``best/`` (the retrained best config: checkpoints, history, test metrics), ``summary.json``
(settings, timings including each trial's CPU seconds, best config, test metrics),
``report.html``, ``mlflow.db`` (the search run with one child run per trial; not written when the
study says ``tracking: none``), ``prepared/``
(the shared cache) and ``trials/`` (one training directory per trial), ``ray/`` (Tune's own
experiment state).

Ray, Optuna, MLflow, torch and Lightning are imported inside the functions that need them.

Modules, one stage each: ``space`` (parse / validate / sample the space), ``trial`` (seeds, the
trial's study, the Ray trainable), ``search`` (Ray, scheduler, searcher, ``tune_study``),
``results`` (trials / curves tables, the retrain on test), ``tracking`` (MLflow), ``report``
(HTML). The public names are re-exported here: ``from seq2track.tune import tune_study``.
"""

from __future__ import annotations

from .report import importance, report_section
from .search import SCHEDULERS, SEARCHES, TuneResult, asha_rungs, tune_study
from .space import (DATA_KEYS, DISTRIBUTIONS, METRIC, UNCOMPARABLE_KEYS, Param, load_space, parse_space,
                    selection_metric, suggest)
from .trial import TRIAL_DONE, best_study_of, run_trial, trial_seed, trial_study

__all__ = [
    "DATA_KEYS", "DISTRIBUTIONS", "METRIC", "SCHEDULERS", "SEARCHES", "TRIAL_DONE", "UNCOMPARABLE_KEYS",
    "Param", "TuneResult", "asha_rungs", "best_study_of", "importance", "load_space", "parse_space",
    "report_section", "run_trial", "selection_metric", "suggest", "trial_seed", "trial_study", "tune_study",
]
