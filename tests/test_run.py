"""run.py and the CLI: the whole pipeline into one run directory, resume, refusal, the demo."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from seq2track.config import load_study, override


@pytest.fixture
def small_study(tiny_run) -> Path:
    """The session's tiny study with TINY_SMALL (a YAML file)."""
    return tiny_run["study"]


def test_run_study_writes_every_artefact_and_resumes(tiny_run, tmp_path):
    from seq2track.errors import ConfigError
    from seq2track.run import run_study

    study = load_study(tiny_run["study"])
    # the session fixture ran run_study(study, fresh) into an empty directory
    fresh, m = tiny_run["run"], tiny_run["metrics"]
    for name in ("study.yaml", "data/meta.json", "model/best.ckpt", "model/last.ckpt", "history.csv",
                 "metrics.json", "predictions/test.npz", "plots/scatter.png", "report.html", "timings.json"):
        assert (fresh / name).exists(), name
    assert not list(fresh.rglob(".tmp-*"))
    assert Path(m["report"]) == fresh / "report.html"
    assert set(m["timings"]) >= {"prepare", "train", "evaluate", "report", "total"}
    assert load_study(fresh / "study.yaml").hash() == study.hash()
    # the same study again (in a copy): nothing is retrained and the metrics are identical
    run = Path(shutil.copytree(fresh, tmp_path / "run"))
    ckpt_mtime = (run / "model" / "best.ckpt").stat().st_mtime_ns
    m2 = run_study(study, run)
    assert (run / "model" / "best.ckpt").stat().st_mtime_ns == ckpt_mtime
    assert m2["test"] == m["test"]
    # another study in the same directory is refused, unless forced
    other = override(study, {"train.lr": 5e-3})
    with pytest.raises(ConfigError, match="different study"):
        run_study(other, run)
    m3 = run_study(other, run, force=True)
    assert load_study(run / "study.yaml").train.lr == 5e-3
    assert m3["test"]["pearson"] != m["test"]["pearson"]


def test_cli_run_train_evaluate(small_study, tmp_path):
    from seq2track.cli import app

    runner = CliRunner()
    run = tmp_path / "cli"
    r = runner.invoke(app, ["train", str(small_study), "--out", str(run)])
    assert r.exit_code == 0, r.output
    assert "best validation loss" in r.output and (run / "model" / "best.ckpt").exists()
    assert not (run / "metrics.json").exists()
    r = runner.invoke(app, ["evaluate", str(run)])
    assert r.exit_code == 0, r.output
    assert "test Pearson" in r.output and "report:" in r.output
    m = json.loads((run / "metrics.json").read_text())
    assert f"{m['test']['pearson']:.3f}" in r.output
    r = runner.invoke(app, ["run", str(small_study), "--out", str(run)])  # resumes: evaluates again, same numbers
    assert r.exit_code == 0, r.output
    assert json.loads((run / "metrics.json").read_text())["test"] == m["test"]


def test_evaluate_on_a_directory_without_a_run_is_a_clear_error(tmp_path):
    from seq2track.errors import DataError
    from seq2track.run import evaluate_only

    with pytest.raises(DataError, match="not a seq2track run directory"):
        evaluate_only(tmp_path)


def test_demo_on_a_small_simulation_reports_the_ceiling(tmp_path):
    from seq2track.run import demo

    m = demo(
        tmp_path / "demo",
        overrides={"model.channels": 8, "model.n_dilated": 2, "train.max_epochs": 1, "train.epoch_windows": 256,
                   "tracking": "none", "baseline.max_train_windows": 300},
        sim_kwargs={"n_chroms": 3, "length": 60_000},
    )
    ref = m["test"]["reference"]["condA"]
    assert 0 < ref["ceiling_pearson"] <= 1
    assert ref["model_vs_reference_pearson"] is not None
    assert (tmp_path / "demo" / "run" / "report.html").exists()
    page = (tmp_path / "demo" / "run" / "report.html").read_text()
    assert "Ceiling (condA" in page and "expected_condA.bw" in page
    assert m["timings"]["simulate"] > 0 and m["timings"]["total"] >= m["timings"]["simulate"]
