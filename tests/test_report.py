"""report/: the HTML page renders from a run directory, embeds its plots, takes extra sections,
and opens in headless Chromium with every image decoded and no console error."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.fixture
def run_dir(tiny_run) -> Path:
    """The session's tiny run (read-only: a test that adds report sections copies it first)."""
    return tiny_run["run"]


def test_report_embeds_plots_and_numbers(run_dir):
    page = (run_dir / "report.html").read_text()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    imgs = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(imgs) == 4  # training curves, scatter, ROC/PR, browser
    import base64

    for b in imgs:
        assert base64.b64decode(b)[:8] == b"\x89PNG\r\n\x1a\n"
    # nothing is fetched from elsewhere: a self-contained page
    assert not re.search(r'(src|href)="(https?:|//|file:)', page)
    # the headline numbers of metrics.json appear, with auPRC next to its no-skill baseline
    assert f"{metrics['test']['pearson']:.3f}" in page
    assert f"{metrics['baseline']['test']['pearson']:.3f}" in page
    assert f"no-skill {metrics['test']['auprc_baseline']:.3f}" in page
    for title in ("Results", "Plots", "Per chromosome", "Training", "Data", "Study"):
        assert f">{title}</h2>" in page
    # the data summary comes from the prepared cache
    n_train = json.loads((run_dir / "data" / "meta.json").read_text())["stats"]["splits"]["train"]["n_windows"]
    assert f"<td>train</td><td>{n_train:,}</td>" in page


def test_sections_can_be_appended_and_persist(run_dir, tmp_path):
    from seq2track.report.html import Section, add_section, figure_html, render_report
    from seq2track.report.plots import training_curves

    run_dir = Path(shutil.copytree(run_dir, tmp_path / "copy"))

    png = training_curves([{"epoch": 0, "train_loss": 1.0, "val_loss": 1.2, "lr": 1e-3},
                           {"epoch": 1, "train_loss": 0.8, "val_loss": 1.1, "lr": 1e-3}])
    add_section(run_dir, Section("Pitfalls", "<p>leakage check: OK</p>" + figure_html(png, "a figure"), order=200))
    page = (run_dir / "report.html").read_text()
    assert ">Pitfalls</h2>" in page and "leakage check: OK" in page
    assert page.index(">Study</h2>") < page.index(">Pitfalls</h2>")  # order 200 comes after the built-ins
    # a later render keeps the stored section and adds a one-off one before Results (order 5)
    render_report(run_dir, extra_sections=[Section("Summary first", "<p>hello</p>", order=5)])
    page = (run_dir / "report.html").read_text()
    assert "leakage check: OK" in page
    assert page.index(">Summary first</h2>") < page.index(">Results</h2>")
    # replacing a stored section by the same title does not duplicate it
    add_section(run_dir, Section("Pitfalls", "<p>leakage check: FAILED</p>", order=200))
    page = (run_dir / "report.html").read_text()
    assert page.count(">Pitfalls</h2>") == 1 and "FAILED" in page


def test_a_peak_centred_run_shows_the_gc_balance_per_split(tmp_path, run_dir):
    """A peak-centred tiny run's report has the GC section (figure, KS and counts of meta.json's
    ``peaks``, per split); the tiled tiny run's report has none."""
    pytest.importorskip("lightning")
    from test_evaluate_peaks import _peak_study_file

    from seq2track.config import load_study, override
    from seq2track.run import run_study

    study = override(load_study(_peak_study_file(tmp_path)), {
        "model.channels": 8, "model.n_dilated": 2, "train.max_epochs": 1, "train.epoch_windows": 256,
        "tracking": "none", "evaluate.browser_region_bp": 1024, "baseline.kmer_ridge": False})
    run_study(study, tmp_path / "run", progress_bar=False)
    page = (tmp_path / "run" / "report.html").read_text()
    bal = json.loads((tmp_path / "run" / "data" / "meta.json").read_text())["peaks"]
    assert ">GC balance of peaks and negatives</h2>" in page and 'alt="GC balance"' in page
    sec = page[page.index('id="gc-balance"'):]
    for s, d in bal["splits"].items():
        assert (f"<tr><td>{s}</td><td class='num'>{d['n_peaks']:,}</td><td class='num'>{d['n_negatives']:,}</td>"
                in sec)
        assert f"<b>{d['ks_gc']:.4f}</b>" in sec
    assert page.index(">Data</h2>") < page.index(">GC balance of peaks and negatives</h2>") < page.index(">Study</h2>")
    # the tiled run: no GC section
    tiled = (run_dir / "report.html").read_text()
    assert "GC balance" not in tiled and "gc-balance" not in tiled


def test_gc_balance_plot_has_a_panel_per_split():
    from seq2track.report import plots

    edges = [0.0, 0.35, 0.38, 0.40, 0.42, 1.0]
    splits = {s: {"hist_peaks": [5, 5, 5, 5, 5], "hist_negatives": [6, 4, 5, 5, 5], "ks_gc": 0.04}
              for s in ("train", "val", "test")}
    a = plots.gc_balance(splits, edges)
    assert a[:8] == b"\x89PNG\r\n\x1a\n" and a == plots.gc_balance(splits, edges)
    assert plots.gc_balance({"train": splits["train"]}, edges) != a


def test_plots_are_deterministic():
    from seq2track.report import plots

    rng = np.random.default_rng(0)
    obs = rng.random(500)
    preds = {"CNN": obs + rng.normal(0, 0.1, 500)}
    assert plots.scatter(obs, preds) == plots.scatter(obs, preds)
    lab = obs > 0.8
    a = plots.roc_pr({"CNN": (preds["CNN"], lab)}, float(lab.mean()))
    assert a[:8] == b"\x89PNG\r\n\x1a\n"


_PROBE = """
<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message || e)), true);
window.addEventListener('load', () => {
  const imgs = Array.from(document.images);
  document.body.setAttribute('data-probe', JSON.stringify({
    n: imgs.length, widths: imgs.map(i => i.naturalWidth), complete: imgs.map(i => i.complete),
    errors: window.__errors}));
});
</script>
"""


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (Debian: apt-get install -y chromium)")
def test_report_renders_in_headless_chromium(run_dir, tmp_path):
    page = (run_dir / "report.html").read_text()
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("<head>", "<head>" + _PROBE, 1))
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-dev-shm-usage", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000",
         f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", probe.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    m = re.search(r"data-probe=\"([^\"]*)\"", proc.stdout)
    assert m, "the page did not finish loading in Chromium"
    import html

    info = json.loads(html.unescape(m.group(1)))
    assert info["n"] == 4 == page.count("<img ")
    assert all(w > 0 for w in info["widths"]), info  # every embedded PNG decoded
    assert info["errors"] == []
    console_errors = [ln for ln in proc.stderr.splitlines() if "CONSOLE" in ln and ("Error" in ln or "Uncaught" in ln)]
    assert console_errors == []
