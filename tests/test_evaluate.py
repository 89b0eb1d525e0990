"""evaluate.py: labels from peaks and thresholds, the baseline, the reference ceiling, outputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import TINY_SMALL as SMALL
from seq2track.config import load_study, override
from seq2track.data.prepare import prepare


@pytest.fixture
def trained(tiny_run, tmp_path):
    """A copy of the session's tiny trained run (each test re-evaluates it before it checks):
    (study, prepared dataset, (model, loss) of its best checkpoint, run directory)."""
    from seq2track.data.cache import PreparedDataset
    from seq2track.rundir import load_model

    run = Path(shutil.copytree(tiny_run["run"], tmp_path / "run"))
    model, loss, _ = load_model(run)
    return load_study(tiny_run["study"]), PreparedDataset.open(run / "data"), (model, loss), run


def test_peak_bin_labels_mark_bins_overlapping_peaks(tiny, tmp_path):
    from seq2track.evaluate import peak_bin_labels, read_peaks

    study = override(load_study(tiny["study"]), SMALL)
    ds = prepare(study, tmp_path / "data")
    row = int(ds.rows("test")[0])
    w = ds.windows.iloc[row]
    t0 = int(w["start"]) + ds.flank  # first target base
    bed = tmp_path / "peaks.bed"
    # Ensembl-style name "3" for chr3; a peak covering bin 1 fully and 1 bp of bin 2; one on another chrom
    bed.write_text(f"track name=x\n3\t{t0 + 32}\t{t0 + 65}\tp1\nchr1\t100\t200\tp2\nchrUn\t1\t5\tp3\n")
    peaks = read_peaks(bed, ds.chroms)
    assert set(peaks["chrom"]) == {"chr3", "chr1"}
    lab = peak_bin_labels(ds, np.array([row]), peaks)
    assert lab.shape == (1, ds.n_bins)
    assert lab[0].tolist() == [False, True, True] + [False] * (ds.n_bins - 3)


def test_threshold_is_the_90th_percentile_of_training_bins(tiny, tmp_path):
    from seq2track.evaluate import train_thresholds

    study = override(load_study(tiny["study"]), SMALL)
    ds = prepare(study, tmp_path / "data")
    thr = train_thresholds(ds, 0.9)
    y = ds.targets("train")[:, 0].ravel()
    assert thr.shape == (1,)
    assert np.mean(y > thr[0]) == pytest.approx(0.1, abs=0.02)
    # computed on train only: differs from the quantile over all windows in general
    assert thr[0] == pytest.approx(np.quantile(y, 0.9))


def test_browser_rows_are_contiguous_tiles(tiny, tmp_path):
    from seq2track.evaluate import browser_rows

    study = override(load_study(tiny["study"]), SMALL)
    ds = prepare(study, tmp_path / "data")
    regions = browser_rows(ds, ds.rows("train"), 2, 1024)
    assert 1 <= len(regions) <= 2
    tlen = ds.n_bins * ds.resolution
    for reg in regions:
        w = ds.windows.iloc[reg]
        assert w["chrom"].nunique() == 1
        assert len(reg) == 1024 // tlen
        assert (np.diff(w["start"].to_numpy()) == tlen).all()


def test_evaluate_run_writes_metrics_predictions_and_plots(trained):
    from seq2track.evaluate import evaluate_run
    from seq2track.metrics import regression_metrics

    study, ds, (model, loss), run = trained
    m = evaluate_run(study, ds, run, model=model, loss=loss)
    for split in ("val", "test"):
        for k in ("pearson", "spearman", "mse", "mae", "r2", "auroc", "auprc", "auprc_baseline", "per_track",
                  "window_total"):
            assert k in m[split], (split, k)
        assert k in m["baseline"][split]
    # prevalence of the threshold labels: a fraction, equal for CNN and baseline
    assert 0 < m["test"]["auprc_baseline"] < 1
    assert m["test"]["auprc_baseline"] == m["baseline"]["test"]["auprc_baseline"]
    assert set(m["per_chrom"]) == {"chr2", "chr3"}
    assert m["per_chrom"]["chr3"]["split"] == "test"
    assert m["train"]["epochs"] == 1
    on_disk = json.loads((run / "metrics.json").read_text())
    assert on_disk["test"]["pearson"] == m["test"]["pearson"]
    npz = np.load(run / "predictions" / "test.npz")
    assert np.array_equal(npz["rows"], ds.rows("test"))
    assert np.array_equal(npz["obs"], ds.targets("test"))
    assert npz["pred"].shape == npz["obs"].shape == npz["baseline"].shape
    # the stored metrics are those of the stored predictions
    again = regression_metrics(npz["pred"], npz["obs"])
    assert again["pearson"] == pytest.approx(m["test"]["pearson"], rel=1e-9)
    for name in ("scatter.png", "roc_pr.png", "browser.png"):
        data = (run / "plots" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    # same model, same data -> byte-identical metrics file
    before = (run / "metrics.json").read_bytes()
    evaluate_run(study, ds, run, model=model, loss=loss)
    assert (run / "metrics.json").read_bytes() == before


def test_the_kmer_baseline_learns_the_gc_signal(trained):
    """The tiny genome's signal is local GC: a k-mer model must predict it well on held-out chromosomes."""
    from seq2track.evaluate import evaluate_run

    study, ds, (model, loss), run = trained
    study = override(study, {"baseline.k_max": 2, "baseline.context": 0})
    m = evaluate_run(study, ds, run, model=model, loss=loss)
    assert m["baseline"]["test"]["pearson"] > 0.5
    assert m["baseline"]["info"]["n_windows"] == len(ds.rows("train"))


def test_the_kmer_baseline_caps_its_training_rows(trained):
    """``max_train_bins`` bounds windows x bins (the ridge's memory), a seeded subset of windows."""
    from seq2track.evaluate import fit_baseline

    study, ds, _, _ = trained
    n_train = len(ds.rows("train"))
    cap = (n_train // 2) * ds.n_bins
    a = fit_baseline(override(study, {"baseline.max_train_bins": cap + ds.n_bins - 1}), ds)
    assert a.info["n_windows"] == n_train // 2 and a.info["n_rows"] <= cap
    b = fit_baseline(override(study, {"baseline.max_train_bins": cap + ds.n_bins - 1}), ds)
    np.testing.assert_array_equal(a.predict(ds.codes(ds.rows("test"))), b.predict(ds.codes(ds.rows("test"))))
    assert fit_baseline(study, ds).info["n_windows"] == n_train  # the default cap is far above the tiny study


def test_peaks_file_and_reference_track(trained, tmp_path):
    """With peaks: labels come from the BED. A reference equal to the observed track has ceiling 1."""
    from seq2track.evaluate import evaluate_run

    study, ds, (model, loss), run = trained
    bed = tmp_path / "peaks.bed"
    bed.write_text("chr3\t1000\t1600\nchr3\t5000\t5100\nchr2\t2000\t2500\n")
    bw = str(study.tracks[0].path)
    st = override(study, {"peaks": str(bed), "evaluate.reference_tracks": {"sig": bw}})
    m = evaluate_run(st, ds, run, model=model, loss=loss)
    assert "peak" in m["labels"]["source"] and m["labels"]["thresholds"] is None
    lab = np.load(run / "predictions" / "test.npz")["labels"]
    assert 0 < lab.mean() < 0.5
    ref = m["test"]["reference"]["sig"]
    assert ref["ceiling_pearson"] == pytest.approx(1.0)
    assert ref["model_vs_reference_pearson"] == pytest.approx(m["test"]["pearson"], abs=1e-6)
    with pytest.raises(Exception, match="not a track"):
        evaluate_run(override(study, {"evaluate.reference_tracks": {"nope": bw}}), ds, run,
                     model=model, loss=loss)
