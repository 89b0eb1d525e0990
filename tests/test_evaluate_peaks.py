"""Peak-vs-negative metrics and the peak-design audit checks, on known inputs and a prepared study."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seq2track.evaluate_peaks import audit_peak_windows, peak_metrics, profile_jsd


def test_peak_metrics_separate_correlations_and_prevalence():
    rng = np.random.default_rng(0)
    n_pos, n_neg = 100, 300
    obs = np.concatenate([rng.gamma(5, 20, n_pos), rng.gamma(2, 2, n_neg)])
    is_peak = np.arange(n_pos + n_neg) < n_pos
    # a predictor that knows only peak vs negative: pooled correlation high, within-group ~0
    pred = np.where(is_peak, 100.0, 4.0) + rng.normal(0, 0.1, len(obs))
    m = peak_metrics(pred, obs, is_peak)
    assert m["all"]["pearson"] > 0.7
    assert abs(m["peaks"]["pearson"]) < 0.3 and abs(m["negatives"]["pearson"]) < 0.3
    assert m["prevalence"] == pytest.approx(0.25) and m["auprc"] == pytest.approx(1.0) and m["auroc"] == 1.0
    # a perfect predictor: 1.0 in both groups
    p2 = peak_metrics(obs, obs, is_peak)
    assert p2["peaks"]["pearson"] == pytest.approx(1.0) and p2["negatives"]["spearman"] == pytest.approx(1.0)
    # a random ranking: auPRC near the prevalence
    p3 = peak_metrics(rng.random(len(obs)), obs, is_peak)
    assert abs(p3["auprc"] - 0.25) < 0.1


def test_profile_jsd():
    a = np.array([[1.0, 0, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]])
    b = np.array([[0.0, 0, 0, 1], [2, 2, 2, 2], [1, 1, 1, 1]])
    j = profile_jsd(a, b)
    assert j[0] == pytest.approx(1.0) and j[1] == pytest.approx(0.0) and np.isnan(j[2])
    m = peak_metrics(np.ones(3), np.ones(3), np.array([True, True, False]), a, b)
    assert m["jsd_median_peaks"] == pytest.approx(0.5)


def _table(rows):
    return pd.DataFrame(rows, columns=["chrom", "start", "end", "split", "keep", "kind", "gc"])


def test_audit_finds_each_planted_problem():
    good = _table([
        ("c1", 0, 100, "train", True, "peak", 0.4), ("c1", 500, 600, "train", True, "negative", 0.4),
        ("c2", 0, 100, "test", True, "peak", 0.5), ("c2", 500, 600, "test", True, "negative", 0.5),
        ("c2", 50, 150, "val", False, "negative", 0.5),  # dropped rows are not checked
    ])
    a = audit_peak_windows(good)
    assert a["problems"] == [] and a["gc_ks"]["train"] == 0.0
    bad = pd.concat([good, _table([
        ("c1", 500, 600, "val", True, "negative", 0.4),  # the train negative again, in val
        ("c1", 50, 150, "train", True, "negative", 0.4),  # overlaps the train peak
        ("c1", 80, 180, "test", True, "peak", 0.9),  # a test peak inside the train peak's window
    ])], ignore_index=True)
    b = audit_peak_windows(bad)
    assert b["negatives_shared_between_splits"] == 1
    assert b["positives_overlapping_negatives"] == 2  # train peak and the new test peak both hit c1:50-150
    assert b["peaks_overlapping_peaks_of_other_splits"] == 1
    assert any("GC" in p and "test" in p for p in b["problems"])  # the test peak at GC 0.9
    assert len(b["problems"]) == 4


def _peak_study_file(tmp_path: Path) -> Path:
    """The simulator's study (4 x 100 kb) turned into a peak-centred one: summit windows + GC-matched negatives."""
    from seq2track.data.simulate import simulate

    sim = simulate(tmp_path / "sim", seed=0, n_chroms=4, length=100_000, depth=3.0)
    text = Path(sim.study_path).read_text().replace(
        "windows: {input_length: 2048, target_length: 256, resolution: 32, stride: 256}",
        "windows: {strategy: peaks, peaks: peaks.bed, negatives: {gc_bins: 5}, "
        "input_length: 2048, target_length: 256, resolution: 32, stride: 64}",
    )
    p = tmp_path / "sim" / "peaks_study.yaml"
    p.write_text(text)
    return p


def test_audit_of_a_prepared_peak_study_is_clean(tmp_path):
    from seq2track.config import load_study
    from seq2track.data.prepare import prepare

    p = _peak_study_file(tmp_path)
    ds = prepare(load_study(p), tmp_path / "prep")
    a = audit_peak_windows(ds.all_windows, ks_limit=0.5)
    assert a["negatives_shared_between_splits"] == 0 and a["positives_overlapping_negatives"] == 0
    assert a["peaks_overlapping_peaks_of_other_splits"] == 0  # chromosome split
    assert a["problems"] == []


def test_a_peak_centred_run_reports_peaks_and_negatives_apart_and_the_audit_checks_the_design(tmp_path):
    """simulate -> peak-centred study -> run_study (tiny CNN, 1 epoch): metrics.json's test split
    has per-track counts at peaks and at negatives apart; the audit adds the peak-design check."""
    pytest.importorskip("lightning")
    import json

    from seq2track.config import load_study, override
    from seq2track.pitfalls.audit import audit
    from seq2track.run import run_study

    p = _peak_study_file(tmp_path)
    study = override(load_study(p), {"model.channels": 8, "model.n_dilated": 2, "train.max_epochs": 1,
                                     "train.epoch_windows": 256, "tracking": "none",
                                     "evaluate.browser_region_bp": 1024})
    run_study(study, tmp_path / "run", progress_bar=False)
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    pw = m["test"]["peak_windows"]
    assert set(pw) == set(m["track_names"])
    for t in pw.values():
        assert t["peaks"]["n"] > 0 and t["negatives"]["n"] > 0
        assert 0 < t["prevalence"] < 1 and 0 <= t["auprc"] <= 1
        assert t["jsd_median_peaks"] is None or 0 <= t["jsd_median_peaks"] <= 1
    res = audit(study, cache=tmp_path / "run" / "data")
    check = {c.name: c for c in res.checks}["peak_windows"]
    assert check.status in ("pass", "warn") and check.details["negatives_shared_between_splits"] == 0
