"""``run``, ``train``, ``evaluate`` and ``demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer


def _fmt(v: Any) -> str:
    return "–" if v is None else f"{v:.3f}"


def _summary(m: dict[str, Any]) -> str:
    t, b = m.get("test", {}), (m.get("baseline") or {}).get("test", {})
    lines = [
        f"test Pearson {_fmt(t.get('pearson'))} (k-mer baseline {_fmt(b.get('pearson'))}), "
        f"window-total Pearson {_fmt((t.get('window_total') or {}).get('pearson'))} "
        f"(baseline {_fmt((b.get('window_total') or {}).get('pearson'))})",
        f"test auPRC {_fmt(t.get('auprc'))} (no-skill {_fmt(t.get('auprc_baseline'))}, "
        f"baseline {_fmt(b.get('auprc'))}), auROC {_fmt(t.get('auroc'))}",
    ]
    for name, r in (t.get("reference") or {}).items():
        lines.append(
            f"{name}: Pearson with the noise-free signal {_fmt(r.get('model_vs_reference_pearson'))}; "
            f"ceiling (noise-free vs observed) {_fmt(r.get('ceiling_pearson'))}"
        )
    return "\n".join(lines)


_DEVICES_HELP = "training processes per machine (train.devices: a number or 'auto'); see docs/scale.md"
_NODES_HELP = "machines taking part (train.num_nodes; SLURM: --nodes)"


def _load(study: Path, devices: str | None, num_nodes: int | None):
    """The study with the ``--devices`` / ``--num-nodes`` overrides (validated like the file)."""
    from ..config import load_study, override

    s = load_study(study)
    changes: dict[str, Any] = {}
    if devices is not None:
        changes["train.devices"] = int(devices) if devices.strip().lstrip("-").isdigit() else devices.strip()
    if num_nodes is not None:
        changes["train.num_nodes"] = num_nodes
    return override(s, changes) if changes else s


def register(app: typer.Typer) -> None:
    @app.command()
    def run(
        study: Path = typer.Argument(..., help="study YAML file"),
        out: Path = typer.Option(..., "--out", "-o", help="run directory"),
        force: bool = typer.Option(False, "--force", help="replace a run of another study in --out"),
        devices: str | None = typer.Option(None, "--devices", help=_DEVICES_HELP),
        num_nodes: int | None = typer.Option(None, "--num-nodes", help=_NODES_HELP),
    ) -> None:
        """Prepare, train, evaluate and report a study into one run directory (resumes if interrupted)."""
        from ..run import run_study

        m = run_study(_load(study, devices, num_nodes), out, force=force)
        typer.echo(_summary(m))
        typer.echo(f"report: {m['report']}")

    @app.command()
    def train(
        study: Path = typer.Argument(..., help="study YAML file"),
        out: Path = typer.Option(..., "--out", "-o", help="run directory"),
        force: bool = typer.Option(False, "--force", help="start over (replace a run in --out)"),
        devices: str | None = typer.Option(None, "--devices", help=_DEVICES_HELP),
        num_nodes: int | None = typer.Option(None, "--num-nodes", help=_NODES_HELP),
    ) -> None:
        """Prepare and train only; checkpoints go to RUN/model (resumes from last.ckpt)."""
        from ..run import train_only

        r = train_only(_load(study, devices, num_nodes), out, force=force)
        typer.echo(
            f"trained {r.epochs_run} epochs{' (stopped early)' if r.stopped_early else ''}: best validation loss "
            f"{r.best_val_loss:.4f}, {r.windows_per_s:.0f} windows/s, "
            f"{100 * r.data_wait_fraction:.1f}% waiting for data; checkpoint {r.checkpoint}"
        )

    @app.command()
    def evaluate(run_dir: Path = typer.Argument(..., help="a run directory written by `seq2track train` or `run`")) -> None:
        """Evaluate a trained run on val/test against the k-mer baseline; write metrics, plots, report."""
        from ..ranks import launched_split
        from ..run import evaluate_only

        with launched_split():  # under torchrun / srun the ranks split the predictions; rank 0 writes
            m = evaluate_only(run_dir)
        typer.echo(_summary(m))
        typer.echo(f"report: {m['report']}")

    @app.command()
    def demo(
        out: Path = typer.Option(Path("seq2track-demo"), "--out", "-o", help="folder for the data and the run"),
        seed: int = typer.Option(0, "--seed", help="simulation seed"),
    ) -> None:
        """Simulate a genome with known biology, train and evaluate on it, and write the report (~3 min, 2 cores)."""
        from ..run import demo as run_demo

        m = run_demo(out, seed=seed)
        typer.echo(_summary(m))
        tm = m.get("timings", {})
        typer.echo(f"took {tm.get('total', float('nan')):.0f} s; simulated data in {out / 'sim'}")
        typer.echo(f"report: {Path(m['report']).resolve()}")

    @app.command()
    def folds(
        study: Path = typer.Argument(..., help="study YAML file (a chromosome split)"),
        out: Path = typer.Option(..., "--out", "-o", help="folder: OUT/fold-<i>/ run directories, folds.json, folds.tsv"),
        k: int = typer.Option(5, "--k", help="number of chromosome folds (test = fold i, val = fold i+1)"),
        run_dir: Path = typer.Option(None, "--run", help="a run of the same study: its report gains the fold interval"),
    ) -> None:
        """Fold ensemble: train and test the study on k held-out chromosome folds; mean, range and interval of each metric."""
        from ..config import load_study
        from ..folds import run_folds

        s = run_folds(load_study(study), out, k=k, attach=run_dir)
        c = s["test"]["cnn"]["pearson"]
        b = s["test"]["kmer_ridge"]["pearson"]
        for f in s["folds"]:
            typer.echo(f"fold {f['fold']}: test {', '.join(f['test'])}: CNN {_fmt(c['values'][f['fold']])}, "
                       f"k-mer {_fmt(b['values'][f['fold']])}")
        typer.echo(f"test Pearson over {k} folds: mean {_fmt(c['mean'])}, range {_fmt(c['min'])}-{_fmt(c['max'])}, "
                   f"95% interval {_fmt(c['ci_low'])}-{_fmt(c['ci_high'])} (k-mer ridge mean {_fmt(b['mean'])})")
        typer.echo(f"wrote {out / 'folds.json'}" + (f"; report: {run_dir / 'report.html'}" if run_dir else ""))
