import pytest

from seq2track.errors import DataError
from seq2track.io.chroms import canonical, resolve, resolve_all


@pytest.mark.parametrize(
    "a,b",
    [("chr1", "1"), ("chrII", "II"), ("chrM", "MT"), ("chrM", "Mito"), ("MT", "chrMT"), ("chrX", "X")],
)
def test_aliases_match(a, b):
    assert canonical(a) == canonical(b)
    assert resolve(a, ["foo", b]) == b


def test_different_chroms_do_not_match():
    assert canonical("chr1") != canonical("chr11")
    assert resolve("chr2", ["1", "11", "Mito"]) is None


def test_resolve_all_error_lists_what_file_has():
    with pytest.raises(DataError) as e:
        resolve_all(["chrV"], {"I": 1, "II": 2}, "x.bw", what="track")
    msg = str(e.value)
    assert "x.bw" in msg and "chrV" in msg and "I, II" in msg and "chroms" in msg
