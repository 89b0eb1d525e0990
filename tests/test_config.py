from pathlib import Path

import pytest

from seq2track.config import load_study, override, parse_study
from seq2track.errors import ConfigError

BASE = """name: t
seed: 3
genome: g.fa
tracks:
  - {name: a, path: a.bw}
windows:
  input_length: 2048
  target_length: 256
  resolution: 32
  stride: 256
split: {strategy: chromosome, val: [chr2], test: [chr3]}
"""


def test_paths_relative_to_study(tmp_path: Path):
    p = tmp_path / "sub" / "s.yaml"
    p.parent.mkdir()
    p.write_text(BASE)
    s = load_study(p)
    assert s.genome == p.parent / "g.fa"
    assert s.tracks[0].path == p.parent / "a.bw"
    assert s.windows.n_bins == 8 and s.windows.flank == 896
    assert s.train.loss == "poisson"  # sound defaults


def test_unknown_key_names_key_line_and_suggestion():
    text = BASE.replace("  stride: 256", "  strid: 256")
    with pytest.raises(ConfigError) as e:
        parse_study(text, Path("."), "s.yaml")
    msg = str(e.value)
    assert "windows.strid" in msg and "s.yaml:10" in msg and "stride" in msg


def test_wrong_type_names_key_and_line():
    with pytest.raises(ConfigError) as e:
        parse_study(BASE.replace("seed: 3", "seed: seven"), Path("."), "s.yaml")
    assert "seed" in str(e.value) and "s.yaml:2" in str(e.value)


def test_val_and_test_share_a_chromosome():
    with pytest.raises(ConfigError, match="share"):
        parse_study(BASE.replace("test: [chr3]", "test: ['2']"), Path("."), "s.yaml")


def test_bad_yaml_is_one_clean_error():
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_study("name: [unclosed\n", Path("."), "s.yaml")


def test_shape_checks():
    with pytest.raises(ConfigError, match="multiple of resolution"):
        parse_study(BASE.replace("target_length: 256", "target_length: 250"), Path("."), "s.yaml")


def test_hash_is_stable_and_sensitive(tmp_path):
    a = parse_study(BASE, tmp_path, "s")
    b = parse_study(BASE, tmp_path, "s")
    c = parse_study(BASE.replace("seed: 3", "seed: 4"), tmp_path, "s")
    assert a.hash() == b.hash() and a.data_hash() == b.data_hash()
    assert a.hash() != c.hash() and a.data_hash() != c.data_hash()


def test_override_dotted_keys(tmp_path):
    s = parse_study(BASE, tmp_path, "s")
    s2 = override(s, {"train.lr": 0.01, "model.channels": 16})
    assert s2.train.lr == 0.01 and s2.model.channels == 16 and s.train.lr != 0.01
    with pytest.raises(ConfigError, match="not a key"):
        override(s, {"train.lrr": 0.1})
