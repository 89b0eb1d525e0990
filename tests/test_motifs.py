import numpy as np
import pytest

from conftest import SHARED, need_shared
from seq2track.errors import ConfigError, DataError
from seq2track.interpret.motifs import Motif, find_in, get_motifs, jaspar_motif, read_motif_file

FUNGI = SHARED / "yeast_sacCer3" / "motifs" / "JASPAR2020_fungi.pfm"
VERT = SHARED / "motifs" / "JASPAR2020_vertebrates.pfm"


def test_pyjaspar_by_id_matches_published_counts():
    m = jaspar_motif("MA0139.1")
    assert (m.id, m.name, m.width) == ("MA0139.1", "CTCF", 19)
    assert np.allclose(m.prob.sum(axis=0), 1.0)
    # JASPAR MA0139.1 column 1 counts are A87 C291 G76 T459 (n = 913)
    assert np.allclose(m.prob[:, 0], np.array([87, 291, 76, 459]) / 913)
    assert m.consensus == "TGGCCACCAGGGGGCGCTA"


def test_pyjaspar_by_name_and_unknown():
    reb1 = jaspar_motif("REB1")
    assert reb1.name == "REB1" and reb1.id.startswith("MA0363")
    assert "TTACCCG" in reb1.consensus
    with pytest.raises(ConfigError, match="MA9999.1"):
        jaspar_motif("MA9999.1")
    with pytest.raises(ConfigError, match="no motif named"):
        jaspar_motif("NOT_A_FACTOR_XYZ")


def test_gimmemotifs_files_agree_with_pyjaspar():
    need_shared()
    fungi = read_motif_file(FUNGI)
    assert len(fungi) == 235
    reb1 = find_in(fungi, "REB1", str(FUNGI))
    abf1 = find_in(fungi, "MA0265.1", str(FUNGI))
    assert (reb1.id, abf1.name) == ("MA0363.1", "ABF1")
    assert np.abs(reb1.prob - jaspar_motif("MA0363.1").prob).max() < 1e-3
    vert = read_motif_file(VERT)
    assert len(vert) == 917
    ctcf = find_in(vert, "MA0139.1", str(VERT))
    assert np.abs(ctcf.prob - jaspar_motif("MA0139.1").prob).max() < 1e-3
    # look-ups through get_motifs with a file: by name, by ID without version, case-insensitive
    got = get_motifs(["REB1", "MA0265", "abf1"], motif_file=FUNGI)
    assert [m.id for m in got] == ["MA0363.1", "MA0265.1", "MA0265.1"]
    with pytest.raises(ConfigError, match="not in"):
        get_motifs(["NOPE1"], motif_file=FUNGI)


def test_meme_and_jaspar_formats(tmp_path):
    meme = tmp_path / "m.meme"
    meme.write_text(
        "MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\n"
        "Background letter frequencies\nA 0.25 C 0.25 G 0.25 T 0.25\n\n"
        "MOTIF M1 FOO\nletter-probability matrix: alength= 4 w= 3 nsites= 20 E= 0\n"
        "0.5 0.5 0.0 0.0\n0.0 0.0 0.0 1.0\n0.0 1.0 0.0 0.0\n\n"
        "MOTIF M2\nletter-probability matrix: alength= 4 w= 2 nsites= 10 E= 0\n"
        "0.1 0.2 0.3 0.4\n1.0 0.0 0.0 0.0\n"
    )
    a, b = read_motif_file(meme)
    assert (a.id, a.name, a.consensus) == ("M1", "FOO", "ATC")
    assert np.allclose(a.prob[:, 0], [0.5, 0.5, 0, 0])
    assert (b.id, b.name, b.width) == ("M2", "M2", 2) and np.allclose(b.prob[:, 0], [0.1, 0.2, 0.3, 0.4])
    jas = tmp_path / "m.jaspar"
    jas.write_text(
        ">MA0004.1 Arnt\nA  [ 4 19  0  0  0  0 ]\nC  [16  0 20  0  0  0 ]\n"
        "G  [ 0  1  0 20  0 20 ]\nT  [ 0  0  0  0 20  0 ]\n"
    )
    (m,) = read_motif_file(jas)
    assert (m.id, m.name, m.consensus) == ("MA0004.1", "Arnt", "CACGTG")
    assert np.allclose(m.prob[:, 1], [19 / 20, 0, 1 / 20, 0])
    # a file path given as a spec yields all its motifs
    assert [x.id for x in get_motifs([str(meme)])] == ["M1", "M2"]


def test_bad_motif_files(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_motif_file(tmp_path / "none.meme")
    junk = tmp_path / "junk.txt"
    junk.write_text("hello world\nthis is not a motif\n")
    with pytest.raises(DataError, match="junk.txt"):
        read_motif_file(junk)
    with pytest.raises(DataError, match="4 x width"):
        Motif.from_counts("x", "x", np.ones((3, 5)))
    with pytest.raises(DataError, match="all-zero"):
        Motif.from_counts("x", "x", np.zeros((4, 2)))


def test_motif_operations():
    m = Motif.from_counts("t", "t", np.array([[8, 0, 1, 1], [1, 8, 0, 1], [1, 1, 8, 0], [0, 1, 1, 8]]).T)
    assert m.consensus == "ACGT"
    rc = m.reverse_complement()
    assert rc.consensus == "ACGT"  # ACGT is its own reverse complement
    assert np.allclose(rc.prob, m.prob[::-1, ::-1])
    rng = np.random.default_rng(0)
    s = m.sample(20000, rng)
    freq = np.stack([(s == b).mean(axis=0) for b in range(4)])
    assert np.abs(freq - m.prob).max() < 0.015
    sh = m.shuffled(np.random.default_rng(1))
    assert sh.consensus != m.consensus
    assert sorted(map(tuple, sh.prob.T)) == sorted(map(tuple, m.prob.T))
    assert np.all(m.information() > 0.9) and np.all(m.information() <= 2.0)
