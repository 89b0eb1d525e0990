"""The near-duplicate check graded by what the flagged windows cost a trained run's test Pearson."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import TINY_SMALL

from seq2track.metrics import pearson as _pearson
from seq2track.metrics import regression_metrics
from seq2track.pitfalls.duplicate_cost import MAX_INFLATION, duplicate_cost


def _windows(n: int, rng) -> dict:
    obs = rng.gamma(2.0, 1.0, size=(n, 1, 8)).astype(np.float32)
    return {"obs": obs, "chrom": np.array(["chr1"] * n), "start": np.arange(n) * 100}


def test_memorised_duplicates_inflate_and_ordinary_ones_do_not():
    rng = np.random.default_rng(0)
    d = _windows(400, rng)
    noisy = d["obs"] + rng.normal(0, 2.0, size=d["obs"].shape).astype(np.float32)
    flagged = {("chr1", int(s)) for s in d["start"][:60]}
    # a model that reproduces the flagged windows exactly (it saw their copies in training)
    mem = noisy.copy()
    mem[:60] = d["obs"][:60]
    c = duplicate_cost({**d, "pred": mem}, flagged, seed=1)
    assert c["n_flagged"] == 60 and c["n_test"] == 400
    assert c["pearson_flagged"] == pytest.approx(1.0)
    assert c["pearson_rest"] == pytest.approx(_pearson(mem[60:], d["obs"][60:]))
    assert c["inflation"] == pytest.approx(_pearson(mem, d["obs"]) - c["pearson_rest"])
    assert c["inflation"] > MAX_INFLATION and c["ci_low"] > 0
    # the same share of flagged windows predicted like any other: no inflation to speak of
    o = duplicate_cost({**d, "pred": noisy}, flagged, seed=1)
    assert o["ci_low"] <= 0 <= o["ci_high"] or abs(o["inflation"]) < MAX_INFLATION
    assert duplicate_cost({**d, "pred": noisy}, set()) is None  # nothing flagged: nothing to measure


def test_audit_with_a_trained_run_measures_the_flagged_windows(tmp_path):
    from seq2track.config import load_study, override
    from seq2track.data.simulate import simulate
    from seq2track.pitfalls.audit import audit
    from seq2track.run import run_study

    sim = simulate(tmp_path / "sim", seed=0, n_chroms=4, length=60_000)
    study = override(load_study(sim.study_path), {**TINY_SMALL, "windows.target_length": 1024,
                                                  "windows.input_length": 2048, "windows.stride": 1024})
    run_study(study, tmp_path / "run")
    without = audit(study, cache=tmp_path / "caches").check("near_duplicates")
    res = audit(study, cache=tmp_path / "caches", model=tmp_path / "run")
    dup = res.check("near_duplicates")
    cost = dup.details["cost"]
    assert without.status == "fail" and without.details["cost"] is None and "--model RUN" in without.message
    assert cost is not None and 0 < cost["n_flagged"] < cost["n_test"]
    z = np.load(tmp_path / "run" / "predictions" / "test.npz")
    assert cost["n_test"] == len(z["pred"])
    assert cost["pearson_all"] == pytest.approx(_pearson(z["pred"], z["obs"]))
    # the same figure the run's metrics.json reports for its test split
    assert cost["pearson_all"] == pytest.approx(regression_metrics(z["pred"], z["obs"])["pearson"], rel=1e-6)
    measurable = cost["inflation"] > MAX_INFLATION and cost["ci_low"] > 0
    assert dup.status == ("fail" if measurable else "warn"), dup.message
    assert f"{cost['inflation']:+.4f}" in dup.message
