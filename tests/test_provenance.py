"""provenance.py: the manifest, ``reproduce`` (refuses changed inputs) and ``compare``.

The end-to-end test runs a tiny study (tiny FASTA + pyBigWig track, 8 channels, 1 epoch,
~200 windows), reproduces it from its manifest alone, and checks that ``compare`` finds
every metric and every weight bit-identical.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from conftest import make_tiny_study, write_bigwig
from seq2track import comparison as cmp
from seq2track import provenance as pv
from seq2track import run as runmod
from seq2track.nested import flatten
from seq2track.config import load_study
from seq2track.errors import DataError

ROOT = Path(__file__).resolve().parents[1]
SIZES = {"chr1": 30_000, "chr2": 9_000, "chr3": 9_000}


def _files(d: Path, seed: int = 3) -> dict:
    """The provenance study's files (conftest's tiny-study builder): {"study", "fa", "bw", ...}."""
    text = textwrap.dedent(
        """\
        name: prov
        seed: 11
        genome: genome.fa
        tracks: [{name: sig, path: sig.bw}]
        windows: {input_length: 512, target_length: 256, resolution: 32, stride: 128}
        split: {strategy: chromosome, val: [chr2], test: [chr3]}
        model: {channels: 8, n_dilated: 2}
        train: {max_epochs: 1, batch_size: 16, patience: 5}
        baseline: {kmer_ridge: true, k_max: 3, context: 64, max_train_windows: 500}
        evaluate: {n_browser_regions: 1}
        tracking: none
        """
    )
    return make_tiny_study(d, sizes=SIZES, seed=seed, smooth=48, scale=6, study_yaml=text)


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


# --- the manifest ------------------------------------------------------------------------------
def test_manifest_records_inputs_environment_and_outputs(tmp_path):
    f = _files(tmp_path)
    study = load_study(f["study"])
    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    (run / "metrics.json").write_text('{"test": {"pearson": 0.5}}')
    (run / "model" / "w.bin").write_bytes(b"\x00\x01" * 100)
    (run / "model" / ".tmp-half.bin").write_bytes(b"partial")
    m = pv.write_manifest(run, study, {"prepare": 1.5, "train": 2.0}, extra={"note": "x"})

    assert json.loads((run / "manifest.json").read_text()) == m
    inputs = {r["role"]: r for r in m["inputs"]}
    assert inputs["genome"]["sha256"] == _sha(f["fa"]) and inputs["genome"]["size"] == f["fa"].stat().st_size
    assert inputs["track:sig"]["sha256"] == _sha(f["bw"])
    assert m["study_hash"] == study.hash() and m["study"]["name"] == "prov"
    assert load_study_text(m["study_yaml"], tmp_path).hash() == study.hash()
    assert m["seeds"]["study"] == 11
    assert f"numpy=={metadata.version('numpy')}" in m["packages"]
    assert m["environment"]["python"] == sys.version.split()[0]
    assert m["environment"]["torch"] == metadata.version("torch") or m["environment"]["torch"].startswith(
        metadata.version("torch")
    )
    assert {"torch_deterministic_algorithms", "cudnn_benchmark", "torch_threads"} <= set(m["determinism"])
    assert m["stage_timings"] == {"prepare": 1.5, "train": 2.0} and m["extra"] == {"note": "x"}
    # outputs: every file with its checksum, but not the manifest itself nor .tmp-* leftovers
    assert set(m["outputs"]) == {"metrics.json", "model/w.bin"}
    assert m["outputs"]["model/w.bin"]["sha256"] == _sha(run / "model" / "w.bin")
    here = Path(pv.__file__).resolve().parent  # the checkout the package is imported from
    git = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True)
    if git.returncode == 0:
        assert m["seq2track"]["git_commit"] == git.stdout.strip()
        assert isinstance(m["seq2track"]["git_dirty"], bool)


def load_study_text(text: str, base: Path):
    from seq2track.config import parse_study

    return parse_study(text, base)


def test_reproduce_refuses_a_changed_or_missing_input_naming_it(tmp_path):
    f = _files(tmp_path)
    study = load_study(f["study"])
    run = tmp_path / "run"
    run.mkdir()
    pv.write_manifest(run, study, {})
    assert len(pv.verify_inputs(pv.read_manifest(run))) == 2

    # the same size, one value changed: only the checksum can tell
    old = f["bw"].read_bytes()
    write_bigwig(f["bw"], SIZES, {c: np.full(n, 2.0) for c, n in SIZES.items()})
    assert f["bw"].read_bytes() != old
    with pytest.raises(DataError, match=r"sig\.bw.*changed since the run was made"):
        runmod.reproduce(run, tmp_path / "again")
    cli = subprocess.run(
        [sys.executable, "-m", "seq2track", "reproduce", str(run), "--out", str(tmp_path / "again")],
        capture_output=True, text=True,
    )
    assert cli.returncode == 2 and str(f["bw"]) in cli.stderr and "changed" in cli.stderr
    assert len(cli.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "again").exists()

    f["bw"].write_bytes(old)
    assert len(pv.verify_inputs(pv.read_manifest(run))) == 2
    f["fa"].rename(tmp_path / "moved.fa")
    with pytest.raises(DataError, match=r"genome\.fa.*does not exist.*--remap"):
        pv.verify_inputs(pv.read_manifest(run))
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    (tmp_path / "moved.fa").rename(moved / "genome.fa")
    f["bw"].rename(moved / "sig.bw")
    remap = {str(tmp_path): str(moved)}
    assert [Path(r["path"]).parent for r in pv.verify_inputs(pv.read_manifest(run), remap)] == [moved, moved]
    assert pv.study_from_manifest(pv.read_manifest(run), remap).genome == moved / "genome.fa"


def test_reproduce_needs_a_finished_run(tmp_path):
    with pytest.raises(DataError, match="no manifest.json"):
        runmod.reproduce(tmp_path, tmp_path / "out")


# --- compare -------------------------------------------------------------------------------------
def test_compare_values_lines_up_differences_tolerance_and_timings():
    a = {"test": {"pearson": 0.5, "mse": float("nan"), "n": 10, "name": "sig"},
         "train": {"windows_per_s": 100.0}, "timings": {"train": 3.0}, "only_here": 1}
    b = {"test": {"pearson": 0.5 + 1e-7, "mse": float("nan"), "n": 10, "name": "sig"},
         "train": {"windows_per_s": 55.0}, "timings": {"train": 9.0}}
    exact = cmp.compare_values(flatten(a), flatten(b), tol=0.0)
    status = {r.key: r.status for r in exact.rows}
    assert status == {
        "test.pearson": "differs", "test.mse": "same", "test.n": "same", "test.name": "same",
        "train.windows_per_s": "timing", "timings.train": "timing", "only_here": "only_a",
    }
    assert exact.n_differ == 2 and not exact.ok
    row = next(r for r in exact.rows if r.key == "test.pearson")
    assert row.diff == pytest.approx(1e-7)
    loose = cmp.compare_values(flatten(a), flatten({**b, "only_here": 1}), tol=1e-6)
    assert loose.ok and loose.n_differ == 0
    text = exact.text()
    assert "test.pearson" in text and "differs" in text and "2 differ beyond tol=0" in text
    assert flatten({"a": [1, {"b": 2}]}) == {"a.0": 1, "a.1.b": 2}


def test_compare_cli_exit_status(tmp_path):
    for name, value in (("a", 0.25), ("b", 0.25), ("c", 0.5)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(json.dumps({"test": {"pearson": value}}))

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "seq2track", "compare", *map(str, args)],
                              capture_output=True, text=True)

    same = cli(tmp_path / "a", tmp_path / "b")
    assert same.returncode == 0 and "test.pearson" in same.stdout and "0 differ" in same.stdout
    diff = cli(tmp_path / "a", tmp_path / "c")
    assert diff.returncode == 1 and "differs" in diff.stdout and "0.25" in diff.stdout
    assert cli(tmp_path / "a", tmp_path / "c", "--tol", "0.3").returncode == 0
    missing = cli(tmp_path / "a", tmp_path / "nowhere")
    assert missing.returncode == 2 and "metrics.json" in missing.stderr


def test_compare_ignores_where_the_run_and_its_sibling_inputs_lie(tmp_path):
    """The demo writes OUT/run and its inputs in OUT/sim: two OUTs in different places compare
    the same; an input that really is elsewhere still differs."""
    runs = []
    for where in ("host/demo", "container/work/demo"):
        out = tmp_path / where
        (out / "run").mkdir(parents=True)
        m = {"labels": {"source": f"bins overlapping a peak of {out / 'sim' / 'peaks.bed'}"},
             "test": {"pearson": 0.5, "plot": str(out / "run" / "plots" / "a.png"),
                      "reference": str(out / "sim" / "truth.bw") if where == "host/demo" else "/data/truth.bw"}}
        (out / "run" / "metrics.json").write_text(json.dumps(m))
        runs.append(out / "run")
    status = {r.key: r.status for r in cmp.compare(*runs).rows if not r.key.startswith("weights.")}
    assert status == {"labels.source": "same", "test.pearson": "same", "test.plot": "same",
                      "test.reference": "differs"}
    # a run written inside a container at /work/demo/run, read here from its bind mount: metrics.json's
    # run_dir says where it was written, and its paths compare relative to that
    inside = tmp_path / "mount" / "demo"
    (inside / "run").mkdir(parents=True)
    m = {"run_dir": "/work/demo/run", "labels": {"source": "bins overlapping a peak of /work/demo/sim/peaks.bed"},
         "test": {"pearson": 0.5, "plot": "/work/demo/run/plots/a.png", "reference": "/work/demo/sim/truth.bw"}}
    (inside / "run" / "metrics.json").write_text(json.dumps(m))
    host = json.loads((runs[0] / "metrics.json").read_text())
    (runs[0] / "metrics.json").write_text(json.dumps({"run_dir": str(runs[0]), **host}))
    status = {r.key: r.status for r in cmp.compare(runs[0], inside / "run").rows if not r.key.startswith("weights.")}
    assert set(status.values()) == {"same"}, status


# --- end to end ------------------------------------------------------------------------------------
def test_a_reproduced_run_has_bit_identical_metrics_and_weights(tmp_path):
    """A tiny study run, then reproduced from its manifest alone: compare finds no difference."""
    pytest.importorskip("lightning")
    from seq2track.run import run_study

    f = _files(tmp_path)
    study = load_study(f["study"])
    a, b = tmp_path / "A", tmp_path / "B"
    metrics = run_study(study, a)
    if not (a / pv.MANIFEST).exists():  # until run_study writes it itself
        pv.write_manifest(a, study, metrics["timings"])
    man_a = pv.read_manifest(a)
    assert {"metrics.json", "model/best.ckpt", "data/meta.json"} <= set(man_a["outputs"])

    res = runmod.reproduce(a, b)
    assert res.out == b and (b / pv.MANIFEST).exists() and (b / runmod.REPRODUCED_FROM).exists()
    man_b = pv.read_manifest(b)
    assert [r["sha256"] for r in man_b["inputs"]] == [r["sha256"] for r in man_a["inputs"]]
    assert man_b["study_hash"] == man_a["study_hash"]

    comp = cmp.compare(a, b)
    compared = [r for r in comp.rows if r.status != "timing"]
    assert len(compared) > 20 and comp.ok, comp.text(all_rows=False)
    weights = [r for r in comp.rows if r.key.startswith("weights.")]
    assert weights and all(r.diff == 0.0 for r in weights)
    assert all(r.diff in (None, 0.0) for r in compared)
    # the arrays behind the metrics are identical too
    for split in ("val", "test"):
        pa, pb = np.load(a / "predictions" / f"{split}.npz"), np.load(b / "predictions" / f"{split}.npz")
        assert pa.files == pb.files and all(np.array_equal(pa[k], pb[k]) for k in pa.files)

    cli = subprocess.run([sys.executable, "-m", "seq2track", "compare", str(a), str(b)], capture_output=True, text=True)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert "weights.model/best.ckpt.max_abs_diff" in cli.stdout and " 0 differ beyond tol=0" in cli.stdout
