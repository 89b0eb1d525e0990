"""Fold ensembles over held-out chromosome folds, on the tiny real-file study."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import TINY_SMALL, make_tiny_study

from seq2track.config import load_study, override
from seq2track.errors import ConfigError
from seq2track.folds import chromosome_folds, fold_studies, run_folds


def test_folds_partition_the_chromosomes_by_length_and_are_seeded():
    sizes = {f"chr{i}": n for i, n in enumerate([900, 850, 700, 500, 480, 300, 200, 150, 120, 100], 1)}
    a = chromosome_folds(sizes, 3, np.random.default_rng(7))
    assert sorted(c for f in a for c in f) == sorted(sizes)  # each chromosome exactly once
    bp = [sum(sizes[c] for c in f) for f in a]
    assert max(bp) - min(bp) <= max(sizes.values())  # greedy longest-first: within one chromosome
    assert a == chromosome_folds(sizes, 3, np.random.default_rng(7))
    for f in a:  # input order kept inside a fold
        assert f == sorted(f, key=list(sizes).index)
    with pytest.raises(ConfigError, match="k >= 3"):
        chromosome_folds(sizes, 2, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="lower --k"):
        chromosome_folds(dict(list(sizes.items())[:4]), 5, np.random.default_rng(0))


def test_fold_studies_rotate_test_and_val(tmp_path):
    f = make_tiny_study(tmp_path)
    st = fold_studies(load_study(f["study"]), [["chr1"], ["chr2"], ["chr3"]])
    assert [(s.split.test, s.split.val) for s in st] == [(["chr1"], ["chr2"]), (["chr2"], ["chr3"]), (["chr3"], ["chr1"])]


def test_run_folds_summarises_each_fold_and_attaches_to_a_run(tmp_path, tiny_run):
    f = make_tiny_study(tmp_path)
    study = override(load_study(f["study"]), TINY_SMALL)
    run = tmp_path / "run"
    shutil.copytree(tiny_run["run"], run)
    s = run_folds(study, tmp_path / "folds", k=3, attach=run)
    per = [json.loads((tmp_path / "folds" / f"fold-{i}" / "metrics.json").read_text()) for i in range(3)]
    # every chromosome is the test split of exactly one fold, and the fold runs were evaluated on it
    assert sorted(c for fo in s["folds"] for c in fo["test"]) == ["chr1", "chr2", "chr3"]
    for fo, m in zip(s["folds"], per):
        y = load_study(tmp_path / "folds" / f"fold-{fo['fold']}" / "study.yaml")
        assert y.split.test == fo["test"] and y.split.val == fo["val"]
        assert set(m["per_chrom"]) == set(fo["test"]) | set(fo["val"])
    vals = [m["test"]["pearson"] for m in per]
    c = s["test"]["cnn"]["pearson"]
    assert c["values"] == pytest.approx(vals)
    assert c["mean"] == pytest.approx(np.mean(vals)) and c["min"] == min(vals) and c["max"] == max(vals)
    assert c["ci_low"] <= c["mean"] <= c["ci_high"]
    kv = [m["baseline"]["test"]["pearson"] for m in per]
    assert s["test"]["cnn_minus_kmer_pearson"]["values"] == pytest.approx(np.subtract(vals, kv))
    on_disk = json.loads((tmp_path / "folds" / "folds.json").read_text())
    assert on_disk["test"]["cnn"]["pearson"]["mean"] == pytest.approx(c["mean"])
    assert len((tmp_path / "folds" / "folds.tsv").read_text().splitlines()) == 4
    page = (run / "report.html").read_text()
    assert "How sure: fold ensemble" in page and f"{c['mean']:.3f}" in page
    assert f"{tiny_run['metrics']['test']['pearson']:.3f}" in page  # the single-split figure beside it
    # a second call reads every finished fold: nothing retrained or re-evaluated, the same summary
    ck = tmp_path / "folds" / "fold-0" / "model" / "best.ckpt"
    mj = tmp_path / "folds" / "fold-0" / "metrics.json"
    mtime, mtime_m = ck.stat().st_mtime_ns, mj.stat().st_mtime_ns
    again = run_folds(study, tmp_path / "folds", k=3)
    assert ck.stat().st_mtime_ns == mtime and mj.stat().st_mtime_ns == mtime_m
    assert again["test"]["cnn"]["pearson"]["values"] == c["values"]


def test_cli_refuses_a_random_split_in_one_line(tmp_path):
    f = make_tiny_study(tmp_path)
    p = tmp_path / "random.yaml"
    p.write_text(override(load_study(f["study"]), {"split.strategy": "random"}).to_yaml())
    r = subprocess.run([sys.executable, "-m", "seq2track", "folds", str(p), "--out", str(tmp_path / "f"), "--k", "3"],
                       capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and "split.strategy: chromosome" in err[0] and "Traceback" not in r.stderr
