"""``seq2track audit``: each pitfall's study fails, the sound default passes, duplications are found.

All on one small simulator output (4 chromosomes x 60 kb, real FASTA and bigWig files).
"""

from __future__ import annotations

import json
import numpy as np
import pytest

from seq2track.config import load_study, override
from seq2track.data.prepare import prepare
from seq2track.pitfalls import audit as au


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    from seq2track.data.simulate import simulate

    out = tmp_path_factory.mktemp("sim")
    res = simulate(out, seed=0, n_chroms=4, length=60_000)
    study = load_study(res.study_path)
    truth = json.loads(res.truth_path.read_text())
    return {"dir": out, "study": study, "truth": truth, "res": res}


@pytest.fixture(scope="module")
def sound(sim, tmp_path_factory):
    out = tmp_path_factory.mktemp("audit_sound")
    return au.audit(sim["study"], cache=out), out


@pytest.fixture(scope="module")
def clean(sim, sound, tmp_path_factory):
    """The simulated study with the flagged duplications blacklisted (as the audit advises), audited."""
    res, out = sound
    res.write(out)
    study = override(sim["study"], {"windows.blacklist": str(out / "audit_duplicates.bed")})
    out2 = tmp_path_factory.mktemp("audit_clean")
    return study, au.audit(study, cache=out2), out2


def _track(sim, name: str) -> dict:
    return {"name": name, "path": str(sim["dir"] / f"{name}.bw")}


def test_planted_duplications_are_found(sim, sound):
    res, out = sound
    assert res.check("split_chromosomes").status == "pass"
    # every duplication from a training chromosome into val/test is found; nothing else is flagged
    split = sim["truth"]["study"]
    held = set(split["val"]) | set(split["test"])
    crossing = [d for d in sim["truth"]["duplications"] if (d["src_chrom"] in held) != (d["dst_chrom"] in held)]
    assert crossing, "the simulator plants duplications across splits"
    regions = res.duplicates
    for d in crossing:
        chrom, s, e = (d["dst_chrom"], d["dst_start"], d["dst_end"]) if d["dst_chrom"] in held else (
            d["src_chrom"], d["src_start"], d["src_end"])
        assert any(c == chrom and rs < e and re > s for c, rs, re, _ in regions), (d, regions)
    copies = [(d[f"{k}_chrom"], d[f"{k}_start"], d[f"{k}_end"]) for d in sim["truth"]["duplications"] for k in ("src", "dst")]
    for c, rs, re, frac in regions:
        assert any(c == cc and rs < ce and re > cs for cc, cs, ce in copies), (c, rs, re)
        assert frac >= au.NEAR_DUP_CONTAINMENT
    # on 60-kb chromosomes the planted 5-9 kb copies are a large share of val/test: a fail
    dup = res.check("near_duplicates")
    assert dup.status == "fail" and dup.value > au.NEAR_DUP[1]
    assert res.failed() == ["near_duplicates"], res.table()
    res.write(out)
    j = json.loads((out / "audit.json").read_text())
    assert j["status"] == "fail" and len(j["checks"]) == len(res.checks)
    bed = out / "audit_duplicates.bed"
    assert len(bed.read_text().splitlines()) == len(regions)


def test_sound_study_passes_once_duplications_are_blacklisted(clean):
    _, res2, _ = clean
    assert res2.status in ("pass", "warn") and not res2.failed(), res2.table()
    for name in ("split_chromosomes", "context_overlap", "fit_on_train", "prevalence", "depth"):
        assert res2.check(name).status == "pass", res2.check(name)
    assert res2.check("near_duplicates").value < au.NEAR_DUP[1]


def test_random_split_fails(sim, clean, tmp_path):
    s = override(clean[0], {"split.strategy": "random"})
    res = au.audit(s, cache=tmp_path)
    assert res.status == "fail"
    assert {"split_chromosomes", "context_overlap"} <= set(res.failed())
    assert res.check("context_overlap").value > 0.9  # stride 256 < 2,048-bp inputs: nearly every test window
    assert any("random" in w for w in au.warn_if_unsound(s))
    assert au.warn_if_unsound(clean[0]) == []


def test_thresholded_test_windows_fail(clean, tmp_path):
    ds = prepare(clean[0], next(clean[2].glob("prepared-*")))
    thr = float(np.median(ds.targets(ds.rows("train")).mean(axis=(1, 2))))
    s = override(clean[0], {"filter.threshold": thr, "filter.keep_below_fraction": 0.0})
    res = au.audit(s, cache=tmp_path)
    assert res.failed() == ["prevalence"]
    d = res.check("prevalence").details["test"]
    assert d["kept"] < d["candidates"]
    assert any("keep_below_fraction" in w for w in au.warn_if_unsound(s))


def test_weighted_bce_warns(clean):
    s = override(clean[0], {"train.loss": "bce", "train.bce_threshold": 2.0, "train.pos_weight": 9.0})
    res = au.audit(s, cache=next(clean[2].glob("prepared-*")))  # same data: the cache is reused
    assert not res.failed()
    assert res.check("prevalence").status == "warn"
    assert "prevalence_kept" in res.check("prevalence").details["train"]


def test_leaky_normaliser_and_declared_selection_fail(clean, tmp_path):
    s = override(clean[0], {"normalize": "zscore"})
    leaky = au.audit(s, cache=tmp_path / "all", fit_on="all")
    assert leaky.failed() == ["fit_on_train"]
    ok = au.audit(s, cache=tmp_path / "train")
    assert ok.check("fit_on_train").status == "pass"
    sel = au.audit(clean[0], cache=next(clean[2].glob("prepared-*")), declared={"kmer_selection": "all"})
    assert sel.failed() == ["fit_on_train"]


def test_depth_mismatch_and_same_loci_fail(sim, clean, tmp_path):
    st = clean[0]
    shallow = override(st, {"tracks": [_track(sim, "condA_shallow")]})
    cache = next(clean[2].glob("prepared-*"))
    res = au.audit(st, cache=cache, eval_study=shallow, eval_cache=tmp_path)
    assert "depth" in res.failed() and "split_chromosomes" not in res.failed()
    ratio = res.check("depth").details["test_over_train_track"][0]
    frac = sim["truth"]["params"]["shallow_fraction"]
    assert ratio == pytest.approx(frac, rel=0.1)  # the thinning fraction, measured from the tracks
    # condition B tested at the training chromosomes: Schreiber et al.'s trap
    ds = prepare(st, cache)
    train = sorted(set(ds.windows.loc[ds.windows["split"] == "train", "chrom"]))
    same = override(st, {"tracks": [_track(sim, "condB")], "split.test": train})
    res2 = au.audit(st, cache=cache, eval_study=same, eval_cache=tmp_path)
    assert "split_chromosomes" in res2.failed()


def test_assembly_aliases_warn_and_lengths_fail(sim, tmp_path):
    import pyBigWig

    sizes = sim["truth"]["sizes"]
    for name, delta in (("alias", 0), ("other_assembly", 1000)):
        bw = pyBigWig.open(str(tmp_path / f"{name}.bw"), "w")
        bw.addHeader([(c.replace("chr", ""), n + delta) for c, n in sizes.items()])
        c0 = next(iter(sizes))
        bw.addEntries([c0.replace("chr", "")], [0], ends=[100], values=[1.0])
        bw.close()
    st = sim["study"]
    ok = au.check_assembly(override(st, {"tracks": [{"name": "a", "path": str(tmp_path / "alias.bw")}]}))
    assert ok.status == "warn" and "alias" in ok.message
    bad = au.check_assembly(override(st, {"tracks": [{"name": "b", "path": str(tmp_path / "other_assembly.bw")}]}))
    assert bad.status == "fail" and "lengths differ" in bad.message
    res = au.audit(override(st, {"tracks": [{"name": "b", "path": str(tmp_path / "other_assembly.bw")}]}), cache=tmp_path)
    assert res.status == "fail" and len(res.checks) == 1  # stops before preparing


def test_cli_audit_exit_codes(clean, tmp_path):
    from typer.testing import CliRunner

    from seq2track.cli import app

    runner = CliRunner()
    good = tmp_path / "clean.yaml"
    good.write_text(clean[0].to_yaml())
    ok = runner.invoke(app, ["audit", str(good), "--out", str(tmp_path / "ok"), "--cache", str(next(clean[2].glob("prepared-*")))])
    assert ok.exit_code == 0, ok.output
    assert "near_duplicates" in ok.output and (tmp_path / "ok" / "audit.json").exists()
    rnd = tmp_path / "random.yaml"
    rnd.write_text(override(clean[0], {"split.strategy": "random"}).to_yaml())
    bad = runner.invoke(app, ["audit", str(rnd), "--out", str(tmp_path / "bad")])
    assert bad.exit_code == 1, bad.output
    assert json.loads((tmp_path / "bad" / "audit.json").read_text())["status"] == "fail"
    # a cache of another study is refused with a one-line fix
    other = runner.invoke(app, ["audit", str(rnd), "--out", str(tmp_path / "x"), "--cache", str(next(clean[2].glob("prepared-*")))])
    assert other.exit_code != 0 and "another data configuration" in str(other.exception or other.output)


def test_audit_from_a_project_folder_leaves_it_clean_and_shares_the_cache_home(clean, tmp_path, monkeypatch):
    import os
    import subprocess
    import sys

    from seq2track.data.prepare import prepare_cached
    from seq2track.pitfalls.common import Lab
    from seq2track.pitfalls.roles import discover_roles

    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir()
    study = project / "study.yaml"
    study.write_text(clean[0].to_yaml())
    env = {**os.environ, "SEQ2TRACK_CACHE": str(home)}
    r = subprocess.run([sys.executable, "-m", "seq2track", "audit", "study.yaml"], cwd=project, env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "near_duplicates" in r.stdout
    assert sorted(p.name for p in project.iterdir()) == ["study.yaml"]  # no audit.json, BED or cache here
    (cache,) = home.glob("prepared-*")
    meta = (cache / "meta.json").stat().st_mtime_ns
    # the same data opened again (API, another process's cache home): the same folder, not rebuilt
    monkeypatch.setenv("SEQ2TRACK_CACHE", str(home))
    assert prepare_cached(clean[0]).root == cache and (cache / "meta.json").stat().st_mtime_ns == meta
    # the pitfall lab keeps its caches in the same home: its sound study's data hash finds the audit's cache
    lab = Lab(clean[0], tmp_path / "lab", [0], discover_roles(clean[0]), small=False)
    assert lab.prepare(lab.base).root == cache
    # --out writes the report where the user asks
    r = subprocess.run([sys.executable, "-m", "seq2track", "audit", "study.yaml", "--out", "reports"], cwd=project,
                       env=env, capture_output=True, text=True)
    assert r.returncode == 0 and (project / "reports" / "audit.json").exists()
