"""``tune``: hyper-parameter search with Ray Tune (ASHA or FIFO; random or Optuna TPE)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def tune(
        study: Path = typer.Argument(..., help="study YAML file"),
        space: Path = typer.Option(..., "--space", help="YAML: dotted study key -> {loguniform|uniform|randint|choice: [...]}"),
        trials: int = typer.Option(8, "--trials", "-n", help="number of trials"),
        out: Path = typer.Option(..., "--out", "-o", help="directory for the search (must be new or empty)"),
        scheduler: str = typer.Option("asha", "--scheduler", help="asha (early stopping at rungs) or fifo (none)"),
        search: str = typer.Option("random", "--search", help="random or optuna (TPE), both seeded from the study seed"),
        address: str = typer.Option("local", "--address", help="local (start Ray here), auto, HOST:PORT or ray://HOST:PORT"),
        cpus_per_trial: float = typer.Option(1.0, "--cpus-per-trial", help="CPUs reserved for each trial"),
        gpus_per_trial: float = typer.Option(0.0, "--gpus-per-trial", help="GPU fraction for each trial (0 = CPU)"),
        max_epochs: int = typer.Option(None, "--max-epochs", help="epochs per trial (ASHA max_t); default train.max_epochs"),
        grace_period: int = typer.Option(1, "--grace-period", help="ASHA: epochs before a trial can be stopped"),
        reduction_factor: float = typer.Option(2.0, "--reduction-factor", help="ASHA: keep 1/rf of trials per rung"),
        no_final: bool = typer.Option(False, "--no-final", help="skip retraining the best config and the test evaluation"),
    ) -> None:
        """Search hyper-parameters; write trials.csv, best_study.yaml, the retrained best model and its test metrics."""
        from ..config import load_study
        from ..tune import load_space, tune_study

        st = load_study(study)
        sp = load_space(space, st)
        res = tune_study(
            st, sp, out, trials, scheduler=scheduler, search=search, address=address,
            cpus_per_trial=cpus_per_trial, gpus_per_trial=gpus_per_trial, grace_period=grace_period,
            reduction_factor=reduction_factor, max_epochs=max_epochs, space_source=str(space), final=not no_final,
        )
        s = res.summary
        typer.echo(
            f"{len(res.trials)} trials ({scheduler}, {search}) in {s['search_seconds']:.1f} s, "
            f"{s['epochs_total']} epochs; best trial {s['best_trial']}: {res.metric} {res.best_score:.4g} "
            f"with {res.best_params}"
        )
        if res.test_metrics:
            shown = ", ".join(f"{k} {v:.4g}" for k, v in list(res.test_metrics.items())[:6])
            how = "best trial reused (it ran its whole budget)" if s.get("retrain", {}).get("reused_trial") else "best config retrained"
            typer.echo(f"{how} and evaluated on test once: {shown}")
        tracked = ", mlflow.db" if (res.out / "mlflow.db").exists() else ""
        typer.echo(f"wrote {res.out}/trials.csv, best_study.yaml, report.html{tracked}")
