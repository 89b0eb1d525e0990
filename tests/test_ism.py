import numpy as np
import torch
from torch import nn

from seq2track.data.cache import onehot
from seq2track.predict import torch_forward, torch_predictor
from seq2track.interpret.ism import (
    centre_span,
    integrated_gradients,
    ism,
    ism_importance,
    observed,
    plot_logos,
    site_enrichment,
)
from seq2track.io.genome import encode

SITE = "TTACCCGGA"
L, B = 120, 4


class MotifConv(nn.Module):
    """z[n, 1, B] = sum over positions of relu(PWM score - threshold) on both strands (a motif IS the filter)."""

    def __init__(self, site: str):
        super().__init__()
        lo = np.full((4, len(site)), -2.0, dtype=np.float32)
        lo[encode(site), np.arange(len(site))] = 1.0
        w = torch.from_numpy(np.stack([lo, lo[::-1, ::-1].copy()]))  # [2, 4, w]
        self.conv = nn.Conv1d(4, 2, len(site), bias=False)
        self.conv.weight.data.copy_(w)
        self.thr = 0.5 * len(site)

    def forward(self, x):
        s = torch.relu(self.conv(x) - self.thr).amax(dim=1).sum(dim=-1)  # [n]
        return s[:, None, None].expand(-1, 1, B)


def _window(seed=0, with_site=True):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, L).astype(np.uint8)
    if with_site:
        codes[55 : 55 + len(SITE)] = encode(SITE)
    return codes


def test_ism_locates_the_site():
    model = MotifConv(SITE)
    f = torch_predictor(model, loss=None, rc_average=False)
    x = np.stack([_window(0), _window(1)])
    span = centre_span(L, 60)
    assert span == (30, 90)
    s = ism(f, x, span)
    assert s.shape == (2, 1, 4, 60)
    ref_base = x[:, 30:90]
    assert np.all(s[0, 0][ref_base[0], np.arange(60)] == 0)  # no change at the reference base
    imp = ism_importance(s)[:, 0]  # [2, 60]
    in_site = np.zeros(60, bool)
    in_site[25 : 25 + len(SITE)] = True
    assert np.all(imp[:, in_site] > 0)
    assert np.abs(imp[:, ~in_site]).max() < 0.2 * imp[:, in_site].min()
    assert site_enrichment(imp[0], [(25, 25 + len(SITE))]) > 10


def test_integrated_gradients_completeness_and_focus():
    torch.manual_seed(0)
    model = MotifConv(SITE)
    g = torch_forward(model, loss=None, rc_average=True)
    x = np.stack([_window(0), _window(3)])
    rng = np.random.default_rng(0)
    attr = integrated_gradients(g, x, rng, track=0, n_baselines=3, n_steps=24)
    assert attr.shape == (2, 4, L) and attr.dtype == np.float32
    # completeness: per-sequence sum = f(x) - mean f(baselines) (same seeded baselines)
    from seq2track.interpret.marginalize import shuffle_backgrounds

    rng2 = np.random.default_rng(0)
    fx = g(torch.from_numpy(onehot(x)))[:, 0].mean(-1).detach().numpy()
    fb = np.mean([g(torch.from_numpy(onehot(shuffle_backgrounds(x, rng2))))[:, 0].mean(-1).detach().numpy()
                  for _ in range(3)], axis=0)
    assert np.allclose(attr.sum(axis=(1, 2)), fx - fb, atol=0.05 * np.abs(fx).max())
    per_pos = attr.sum(axis=1)
    assert site_enrichment(per_pos[0], [(55, 55 + len(SITE))]) > 5
    rerun = integrated_gradients(g, x, np.random.default_rng(0), n_baselines=3, n_steps=24)
    assert np.array_equal(attr, rerun)


def test_rc_averaged_predictor_is_strand_symmetric():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv1d(4, 3, 5, padding=2), nn.ReLU(), nn.AdaptiveAvgPool1d(B), nn.Conv1d(3, 2, 1))
    f = torch_predictor(model, loss=None, track_perm=np.array([1, 0]), rc_average=True)
    x = onehot(_window(5)[None])
    y = f(x)
    y_rc = f(x[:, ::-1, ::-1].copy())
    assert np.allclose(y, y_rc[:, [1, 0], ::-1], atol=1e-6)


def test_observed_and_logo_png(tmp_path):
    codes = encode("ACGTA")
    m = observed(np.array([1.0, -2.0, 0.5, 0.0, 3.0]), codes)
    assert m.shape == (4, 5) and m[0, 0] == 1.0 and m[1, 1] == -2.0 and m[0, 4] == 3.0 and m.sum() == 2.5
    p = plot_logos([("ism", m), ("ig", -m)], tmp_path / "logo.png", x0=100, sites=[(101, 103, "M1")], title="t")
    import matplotlib.image as mpimg

    img = mpimg.imread(p)
    assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and img.shape[0] > 100 and img.shape[1] > 100
    assert np.isnan(site_enrichment(np.ones(5), []))


def test_attribute_command_on_a_run_directory(tiny):
    import pandas as pd
    from typer.testing import CliRunner

    from seq2track.cli import app
    from test_marginalize import make_tiny_run

    run = make_tiny_run(tiny)
    res = CliRunner().invoke(app, ["attribute", str(run), "--region", "chr3:4400-4600", "--span", "40",
                                   "--baselines", "1", "--ig-steps", "4"])
    assert res.exit_code == 0, res.output
    out = run / "interpret" / "attributions"
    tab = pd.read_csv(out / "attributions.tsv", sep="\t")
    assert tab.loc[0, "start"] == 4500 - 512 and tab.loc[0, "span_start"] == 4500 - 20
    assert tab.loc[0, "sites"] == "CTCF" and tab.loc[0, "n_sites"] == 1  # truth.json instance 4500-4519
    npz = np.load(out / "attributions.npz")
    assert npz["ism"].shape == (1, 1, 4, 40) and npz["ig"].shape == (1, 4, 1024)
    assert (out / tab.loc[0, "png"]).read_bytes()[:4] == b"\x89PNG"
    assert "Attributions" in (run / "report.html").read_text()
    res = CliRunner().invoke(app, ["attribute", str(run), "--top", "2", "--span", "8", "--baselines", "1",
                                   "--ig-steps", "2"])
    assert res.exit_code == 0, res.output
    tab = pd.read_csv(out / "attributions.tsv", sep="\t")
    assert len(tab) == 2 and (abs(tab["start"][0] - tab["start"][1]) >= 1024 or tab["chrom"][0] != tab["chrom"][1])
    assert tab["prediction"][0] >= tab["prediction"][1]
    bad = CliRunner().invoke(app, ["attribute", str(run), "--region", "chr3:1-10"])
    assert bad.exit_code != 0 and "runs off" in str(bad.exception)
