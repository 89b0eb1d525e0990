"""The pitfall lab: verdict logic, the leaky k-mer selection end to end (ridge, no CNN), helpers.

The CNN pitfalls are measured by ``seq2track pitfalls`` (docs/pitfalls.md), not here: they
take minutes.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from seq2track.config import load_study
from seq2track.errors import ConfigError
from seq2track.pitfalls import PITFALLS, parse_which, run_pitfalls
from seq2track.pitfalls.common import Lab
from seq2track.pitfalls.roles import discover_roles
from seq2track.pitfalls.verdicts import Comparison, PitfallResult, summarise, verdict


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    from seq2track.data.simulate import simulate

    out = tmp_path_factory.mktemp("sim")
    res = simulate(out, seed=1, n_chroms=4, length=60_000)
    return {"dir": out, "study": load_study(res.study_path), "truth": json.loads(res.truth_path.read_text())}


# --- verdicts -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "mean, lo, hi, expect, status",
    [
        (0.2, 0.1, 0.3, "higher", "confirmed"),
        (0.2, -0.1, 0.5, "higher", "unresolved"),
        (-0.2, -0.3, -0.1, "higher", "opposite"),
        (-0.2, -0.3, -0.1, "lower", "confirmed"),
        (0.01, -0.02, 0.04, "same", "confirmed"),
        (0.2, 0.1, 0.3, "same", "changed"),
        (1e-8, 5e-9, 2e-8, "same", "confirmed"),  # inside the tolerance below
        (-0.05, -0.1, 0.01, "not lower", "confirmed"),
        (-0.2, -0.3, -0.1, "not lower", "opposite"),
    ],
)
def test_verdict(mean, lo, hi, expect, status):
    assert verdict(mean, lo, hi, expect, tol=1e-6) == status


def test_summarise_pairs_arms_by_seed():
    recs = [{"seed": s, "arm": "sound", "m": 1.0 + 0.01 * s} for s in range(4)]
    recs += [{"seed": s, "arm": "pit", "m": 1.5 + 0.02 * s} for s in range(4)]
    recs.append({"seed": 9, "arm": "pit", "m": 100.0})  # no sound partner: ignored
    c = summarise(recs, Comparison("x", "pit", "sound", "m", "higher", "pit is higher"))
    assert c["seeds"] == [0, 1, 2, 3]
    assert c["diffs"] == pytest.approx([0.5, 0.51, 0.52, 0.53])
    assert c["ci_low"] < c["mean_diff"] < c["ci_high"] and c["ci_low"] > 0
    assert c["status"] == "confirmed" and "shown" in c["verdict"]
    with pytest.raises(ValueError):
        Comparison("x", "a", "b", "m", "bigger", "")


def test_selection_leak_inflates_on_pure_noise():
    """Ambroise & McLachlan's case: features and target independent; only the leaky selection 'predicts'."""
    from seq2track.pitfalls.leaky import selection_experiment

    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3000)).astype(np.float32)
    y = rng.normal(size=120).astype(np.float32)
    r = {}
    for leak in (False, True):
        p = selection_experiment(x[:60], y[:60], x[60:], y[60:], n_select=20, alpha=1.0, leak=leak)
        r[leak] = float(np.corrcoef(p, y[60:])[0, 1])
    assert r[True] > 0.4
    assert abs(r[False]) < 0.3
    assert r[True] - r[False] > 0.3


def test_parse_which():
    assert parse_which("all") == list(PITFALLS)
    assert parse_which("shift, leaky") == ["leaky", "shift"]
    with pytest.raises(ConfigError, match="unknown pitfall"):
        parse_which("leaky,bogus")


def test_roles_from_simulator_truth(sim):
    roles = discover_roles(sim["study"])
    assert roles.shallow is not None and roles.shallow.path.name == "condA_shallow.bw"
    assert roles.other is not None and roles.other.path.name == "condB.bw"
    assert roles.fragments is not None and roles.fragments.exists()


def test_missing_track_is_an_error_when_named(tiny, tmp_path):
    study = load_study(tiny["study"])
    with pytest.raises(ConfigError, match="shallow"):
        run_pitfalls(study, tmp_path, which="depth", seeds=2, budget="lab", echo=lambda s: None)


def test_depth_helpers(sim):
    from seq2track.data import transforms
    from seq2track.pitfalls.depth import depth_ratio, rescale

    x = np.array([[[0.0, 1.0, 10.0, 100.0]]], np.float32)
    got = rescale(transforms.forward(x, "arcsinh"), 0.25, "arcsinh")
    assert np.allclose(got, np.arcsinh(x * 0.25), rtol=1e-5, atol=1e-6)
    lab = Lab(sim["study"], sim["dir"] / "lab", [0], discover_roles(sim["study"]))
    deep = lab.prepare(lab.make(0))
    shallow = lab.prepare(lab.make(0, track=lab.roles.shallow))
    assert depth_ratio(deep, shallow) == pytest.approx(sim["truth"]["params"]["shallow_fraction"], rel=0.1)


# --- the leaky pitfall end to end -----------------------------------------------------------
def test_leaky_pitfall_end_to_end(sim, tmp_path):
    from seq2track.pitfalls import leaky
    from seq2track.pitfalls.report import figure, markdown_table

    lines: list[str] = []
    res = run_pitfalls(sim["study"], tmp_path / "a", which="leaky", seeds=2, budget="lab", echo=lines.append)["leaky"]
    folder = tmp_path / "a" / "pitfalls"
    for name in ("leaky.json", "leaky.png", "leaky.html", "index.html"):
        assert (folder / name).exists(), name
    j = json.loads((folder / "leaky.json").read_text())
    assert j["format"] == "seq2track.pitfall/1" and len(j["records"]) == 2 * 4
    by = {(r["arm"], r["seed"]): r for r in j["records"]}
    comps = {c["name"]: c for c in j["comparisons"]}
    sel = comps["selection on all vs train windows"]
    assert len(sel["diffs"]) == 2
    for s, d in zip(sel["seeds"], sel["diffs"]):
        assert d == pytest.approx(by[(leaky.A_SEL_ALL, s)]["pearson"] - by[(leaky.A_SEL_TRAIN, s)]["pearson"])
    # the z-score control: an affine normaliser fitted on all windows cannot move a ridge's metrics
    z = comps["z-score on all vs train windows"]
    assert max(abs(d) for d in z["diffs"]) < 1e-4 and z["status"] == "confirmed"
    # the audit fails exactly the leaky arms on the fit check
    for arm in (leaky.A_SEL_ALL, leaky.A_Z_ALL):
        assert "fit_on_train" in j["audits"][arm]["failed"]
    for arm in (leaky.A_SEL_TRAIN, leaky.A_Z_TRAIN):
        assert j["audits"][arm]["checks"]["fit_on_train"]["status"] == "pass"
    assert any("pitfall leaky" in ln for ln in lines)
    # same seeds -> same numbers, same figure
    res2 = run_pitfalls(sim["study"], tmp_path / "b", which="leaky", seeds=2, budget="lab", echo=lambda s: None)["leaky"]
    assert (tmp_path / "b" / "pitfalls" / "leaky.json").read_bytes() == (folder / "leaky.json").read_bytes()
    assert "leaky" in json.loads((folder / "timings.json").read_text())["pitfalls_s"]
    png = figure(PitfallResult.read(folder / "leaky.json"))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png == figure(res2)
    table = markdown_table([res])
    assert table.count("\n| leaky |") == len(res.comparisons)


# --- positional blocks (a one-chromosome data set) -------------------------------------------
def test_block_edges_leave_an_input_length_between_blocks():
    from seq2track.pitfalls.blocks import block_edges

    edges = block_edges(100_000, 5, 2048, 32)
    assert len(edges) == 5 and edges[0][0] == 0 and edges[-1][1] <= 100_000
    sizes = {e - s for s, e in edges}
    assert len(sizes) == 1 and sizes.pop() % 32 == 0
    for (_, e0), (s1, _) in zip(edges, edges[1:]):
        assert s1 - e0 >= 2048 and (s1 - e0) % 32 == 0
    with pytest.raises(ConfigError, match="blocks"):
        block_edges(10_000, 8, 2048, 32)


def test_to_blocks_rewrites_genome_tracks_and_fragments(sim, tmp_path):
    import pyBigWig
    import pyfaidx

    from seq2track.config import override
    from seq2track.data.prepare import prepare
    from seq2track.io.pileup import read_fragments
    from seq2track.pitfalls.blocks import to_blocks

    study = override(sim["study"], {"windows.chroms": ["chr2"]})
    roles = discover_roles(study)
    bstudy, broles, info = to_blocks(study, roles, 4, tmp_path / "blocks")
    names = [f"chr2_b{i}" for i in range(4)]
    assert list(info["blocks"]) == names
    assert bstudy.split.val == ["chr2_b3"] and bstudy.split.test == ["chr2_b2"]
    fa, fb = pyfaidx.Fasta(str(sim["study"].genome)), pyfaidx.Fasta(str(bstudy.genome))
    assert list(fb.keys()) == names
    for (old, new) in ((roles.primary, broles.primary), (roles.shallow, broles.shallow), (roles.other, broles.other)):
        a, b = pyBigWig.open(str(old.path)), pyBigWig.open(str(new.path))
        for blk, (chrom, s, e) in info["blocks"].items():
            assert str(fb[blk][:]) == str(fa[chrom][s:e])
            x, y = a.values(chrom, s, e, numpy=True), b.values(blk, 0, e - s, numpy=True)
            assert np.array_equal(np.isnan(x), np.isnan(y)) and np.array_equal(x[~np.isnan(x)], y[~np.isnan(y)])
    # fragments: exactly those inside a block, shifted to block coordinates
    f = read_fragments(roles.fragments)
    g = read_fragments(broles.fragments)
    want = 0
    for blk, (chrom, s, e) in info["blocks"].items():
        inside = f[(f.chrom == chrom) & (f.start >= s) & (f.end <= e)]
        got = g[g.chrom == blk]
        assert sorted(zip(got.start, got.end)) == sorted(zip(inside.start - s, inside.end - s))
        want += len(inside)
    assert info["fragments_kept"] == len(g) == want and info["fragments_dropped"] == len(f) - want
    # the block study prepares; its split is by block, and a split naming blocks is kept
    ds = prepare(bstudy, tmp_path / "cache")
    w = ds.windows
    assert set(w.loc[w.split == "test", "chrom"]) == {"chr2_b2"} and set(w.loc[w.split == "val", "chrom"]) == {"chr2_b3"}
    own = override(study, {"split.val": ["chr2_b0"], "split.test": ["chr2_b1"]})
    assert to_blocks(own, roles, 4, tmp_path / "b2")[0].split.test == ["chr2_b1"]


def test_cli_set_overrides_parse_as_yaml():
    from seq2track.cli.pitfalls import _parse_sets

    assert _parse_sets(["train.lr=1e-3", "a=-2.5E+2", "name=1e3x"]) == {"train.lr": 0.001, "a": -250.0, "name": "1e3x"}
    assert _parse_sets(["train.max_epochs=6", "train.lr=0.001", "model.arch=conv"]) == {
        "train.max_epochs": 6, "train.lr": 0.001, "model.arch": "conv"}
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        _parse_sets(["train.max_epochs"])
