"""Property-based robustness of the study loader and the readers (hypothesis).

Random, truncated or mutated YAML; truncated or byte-flipped FASTA and bigWig files; absurd
window sizes. Each input must give a clean success or a one-line ``Seq2TrackError``:
never another exception, a hang, or a crash of the process. Readers run in a forked child
so that a segfault in a C library (pyBigWig, pyfaidx) fails the test instead of killing
pytest. Examples are few and derandomised so the suite is fast and repeatable.
"""

from __future__ import annotations

import faulthandler
import multiprocessing as mp
import random
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import write_bigwig, write_fasta
from seq2track.config import Study, parse_study
from seq2track.errors import Seq2TrackError

SETTINGS = dict(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
#: prepare costs ~0.3 s an example (fork + a real prepare): fewer examples
PREPARE_SETTINGS = {**SETTINGS, "max_examples": 15}
TIMEOUT_S = 60

SIZES = {"chr1": 5000, "chr2": 3000, "chr3": 2600}
VALID_STUDY = """\
name: fuzz
seed: 3
genome: genome.fa
tracks:
  - name: sig
    path: sig.bw
    missing: zero
windows:
  input_length: 1024
  target_length: 256
  resolution: 32
  stride: 256
  max_n_fraction: 0.1
transform: arcsinh
normalize: zscore
filter: {threshold: null, keep_below_fraction: 1.0}
split: {strategy: chromosome, val: [chr2], test: [chr3]}
model: {arch: dilated_cnn, channels: 8, n_dilated: 2}
train: {max_epochs: 1, batch_size: 16, lr: 0.001}
"""


# --- helpers -----------------------------------------------------------------------------
def _child(fn, args, conn) -> None:
    faulthandler.disable()  # a crash is reported by the parent; no traceback dump from here
    try:
        fn(*args)
        conn.send(("ok", ""))
    except Seq2TrackError as exc:
        conn.send(("error", str(exc)))
    except BaseException as exc:  # noqa: BLE001 - reporting any other exception is the point
        conn.send(("other", f"{type(exc).__name__}: {exc}"[:500]))


def isolated(fn, *args, timeout: float = TIMEOUT_S) -> tuple[str, str]:
    """Run ``fn(*args)`` in a forked child: ``("ok" | "error" | "other" | "died" | "hang", message)``."""
    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(fn, args, send))
    proc.start()
    send.close()
    try:
        if recv.poll(timeout):
            try:
                result = recv.recv()
            except EOFError:
                proc.join()
                return "died", f"child exited with {proc.exitcode} (negative = killed by that signal)"
            proc.join()
            return result
        proc.kill()
        proc.join()
        return "hang", f"no answer in {timeout} s"
    finally:
        recv.close()


def assert_clean(outcome: tuple[str, str], what: str) -> None:
    kind, msg = outcome
    assert kind in ("ok", "error"), f"{what}: {kind}: {msg}"
    if kind == "error":
        assert msg.strip() and "\n" not in msg, f"{what}: error message is not one line: {msg!r}"


def _clean_parse(text: str, base: Path) -> None:
    try:
        parse_study(text, base, source="fuzz.yaml")
    except Seq2TrackError as exc:
        assert "\n" not in str(exc), f"multi-line error: {exc}"


def _mutate(data: bytes, draw) -> bytes:
    """Truncate, or flip 1-6 bytes (half of them in the first KiB, where headers live)."""
    b = bytearray(data)
    if draw(st.booleans()):
        return bytes(b[: draw(st.integers(0, len(b) - 1))])
    for _ in range(draw(st.integers(1, 6))):
        hi = min(len(b), 1024) if draw(st.booleans()) else len(b)
        i = draw(st.integers(0, hi - 1))
        b[i] ^= draw(st.integers(1, 255))
    return bytes(b)


def _fasta_text(seed: int) -> str:
    rng = np.random.default_rng(seed)
    out = []
    for c, n in SIZES.items():
        s = "".join(rng.choice(list("ACGTacgtN"), n))
        out.append(f">{c}\n" + "\n".join(s[i : i + 60] for i in range(0, n, 60)) + "\n")
    return "".join(out)


def _track_values(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {c: np.round(rng.random(n) * 5, 1) * (rng.random(n) < 0.6) for c, n in SIZES.items()}


class _Originals(dict):
    """The valid files' bytes and a scratch folder (short repr for hypothesis' reports)."""

    def __repr__(self) -> str:
        return "<valid genome.fa and sig.bw>"


@pytest.fixture(scope="module")
def originals(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("orig")
    fa = d / "genome.fa"
    fa.write_text(_fasta_text(0))
    bw = write_bigwig(d / "sig.bw", SIZES, _track_values(1))
    return _Originals(fasta=fa.read_bytes(), bigwig=bw.read_bytes(), scratch=tmp_path_factory.mktemp("fuzz"))


def _workdir(originals: dict, fasta: bytes | None = None, bigwig: bytes | None = None) -> Path:
    """A fresh folder (one per example) holding genome.fa and sig.bw."""
    d = Path(tempfile.mkdtemp(prefix="ex-", dir=originals["scratch"]))
    (d / "genome.fa").write_bytes(originals["fasta"] if fasta is None else fasta)
    (d / "sig.bw").write_bytes(originals["bigwig"] if bigwig is None else bigwig)
    return d


def _read_genome(path: Path) -> None:
    from seq2track.io.genome import Genome

    with Genome(path) as g:
        for c in g.sizes:
            g.codes(c)


def _read_track(path: Path) -> None:
    from seq2track.io.tracks import open_header, read_bins

    h = open_header(path)
    for chrom, n in h.sizes.items():
        read_bins(path, chrom, n // 32, 32, "zero")
        read_bins(path, chrom, n // 32, 32, "covered")


def _prepare(study_path: Path, out: Path) -> None:
    from seq2track.config import load_study
    from seq2track.data.prepare import prepare

    ds = prepare(load_study(study_path), out)
    assert len(ds.windows) > 0


# --- the study loader --------------------------------------------------------------------
@settings(**SETTINGS)
@given(text=st.text(max_size=400))
def test_any_text_is_a_study_or_a_config_error(text, tmp_path):
    _clean_parse(text, tmp_path)


@settings(**SETTINGS)
@given(data=st.data())
def test_truncated_or_mutated_study_yaml(data, tmp_path):
    text = VALID_STUDY
    how = data.draw(st.sampled_from(["truncate", "drop_line", "replace_chars", "dup_line"]))
    lines = text.splitlines(keepends=True)
    if how == "truncate":
        text = text[: data.draw(st.integers(0, len(text)))]
    elif how == "drop_line":
        del lines[data.draw(st.integers(0, len(lines) - 1))]
        text = "".join(lines)
    elif how == "dup_line":
        i = data.draw(st.integers(0, len(lines) - 1))
        lines.insert(i, lines[i])
        text = "".join(lines)
    else:
        chars = list(text)
        for _ in range(data.draw(st.integers(1, 5))):
            i = data.draw(st.integers(0, len(chars) - 1))
            chars[i] = data.draw(st.sampled_from(list(":-[]{}&*!|>'\"%@` \t\n#,?0aZ\x00\u00e9")))
        text = "".join(chars)
    _clean_parse(text, tmp_path)


_KEYS = [
    "name", "seed", "genome", "tracks", "tracks.0", "tracks.0.name", "tracks.0.path", "tracks.0.missing",
    "windows", "windows.input_length", "windows.target_length", "windows.resolution", "windows.stride",
    "windows.max_n_fraction", "windows.chroms", "transform", "normalize", "filter.threshold",
    "filter.keep_below_fraction", "split", "split.strategy", "split.val", "split.test", "model.arch",
    "model.channels", "train.max_epochs", "train.lr", "train.augment", "train.augment.max_shift", "bogus_key",
]
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


@settings(**SETTINGS)
@given(key=st.sampled_from(_KEYS), value=_VALUES)
def test_any_value_at_any_key(key, value, tmp_path):
    d = yaml.safe_load(VALID_STUDY)
    cur = d
    parts = key.split(".")
    for p in parts[:-1]:
        cur = cur[int(p)] if p.isdigit() else cur.setdefault(p, {})
    last = parts[-1]
    if last.isdigit():
        cur[int(last)] = value
    else:
        cur[last] = value
    _clean_parse(yaml.safe_dump(d, allow_unicode=True), tmp_path)


def test_valid_study_parses(tmp_path):
    s = parse_study(VALID_STUDY, tmp_path)
    assert isinstance(s, Study) and s.genome == tmp_path / "genome.fa"


# --- the readers ---------------------------------------------------------------------------
@settings(**SETTINGS)
@given(data=st.data())
def test_truncated_or_flipped_fasta(data, originals):
    d = _workdir(originals, fasta=_mutate(originals["fasta"], data.draw))
    assert_clean(isolated(_read_genome, d / "genome.fa"), "Genome on a mutated FASTA")


@settings(**SETTINGS)
@given(data=st.data())
def test_fasta_changed_after_its_index_was_built(data, originals):
    d = _workdir(originals)
    assert isolated(_read_genome, d / "genome.fa") == ("ok", "")  # builds genome.fa.fai
    (d / "genome.fa").write_bytes(_mutate(originals["fasta"], data.draw))
    assert_clean(isolated(_read_genome, d / "genome.fa"), "Genome with a stale .fai")


@settings(**SETTINGS)
@given(data=st.data())
def test_truncated_or_flipped_bigwig(data, originals):
    d = _workdir(originals, bigwig=_mutate(originals["bigwig"], data.draw))
    assert_clean(isolated(_read_track, d / "sig.bw"), "open_header/read_bins on a mutated bigWig")


def _crasher_offset(b: bytes, name: str) -> int:
    """Byte offset of a field whose corruption made pyBigWig.open() segfault (found by the
    test above): the zoom-level count, a chromosome-tree leaf's item count, a chromosome id.
    Layout: UCSC bbi header (64 bytes), chromosome B+ tree header (32 bytes) then a leaf node
    (isLeaf, reserved, count:uint16, then items key[keySize], chromId:uint32, size:uint32)."""
    tree = struct.unpack_from("<Q", b, 8)[0]
    key_size = struct.unpack_from("<I", b, tree + 8)[0]
    return {"zoom_levels": 7, "leaf_count": tree + 32 + 2, "chrom_id": tree + 32 + 4 + key_size + 2}[name]


@pytest.mark.parametrize("name", ["zoom_levels", "leaf_count", "chrom_id"])
def test_bigwig_that_crashed_pybigwig_is_a_data_error(name, tmp_path):
    values = {"chr1": np.round(np.random.default_rng(0).random(5000) * 5, 1), "chr2": np.ones(3000)}
    bw = write_bigwig(tmp_path / "ok.bw", {"chr1": 5000, "chr2": 3000}, values)
    b = bytearray(bw.read_bytes())
    b[_crasher_offset(bytes(b), name)] ^= 0x9C
    bad = tmp_path / "bad.bw"
    bad.write_bytes(bytes(b))
    kind, msg = isolated(_read_track, bad)
    assert kind == "error" and str(bad) in msg, (kind, msg)


@settings(**PREPARE_SETTINGS)
@given(data=st.data())
def test_prepare_on_mutated_inputs(data, originals):
    which = data.draw(st.sampled_from(["fasta", "bigwig"]))
    d = _workdir(originals, **{which: _mutate(originals[which], data.draw)})
    (d / "study.yaml").write_text(VALID_STUDY)
    assert_clean(isolated(_prepare, d / "study.yaml", d / "cache"), f"prepare with a mutated {which}")


_LENGTHS = st.one_of(st.integers(-5, 5), st.integers(1, 70_000), st.sampled_from([2**31, 2**63, 10**12]))


@settings(**PREPARE_SETTINGS)
@given(
    input_length=_LENGTHS,
    target_length=_LENGTHS,
    resolution=st.one_of(st.integers(-2, 4), st.integers(1, 9000), st.just(2**40)),
    stride=_LENGTHS,
    max_n=st.floats(-1, 2) | st.just(float("nan")),
)
def test_prepare_with_absurd_windows(input_length, target_length, resolution, stride, max_n, originals):
    d = _workdir(originals)
    study = yaml.safe_load(VALID_STUDY)
    study["windows"] = {
        "input_length": input_length, "target_length": target_length, "resolution": resolution,
        "stride": stride, "max_n_fraction": max_n,
    }
    (d / "study.yaml").write_text(yaml.safe_dump(study))
    assert_clean(isolated(_prepare, d / "study.yaml", d / "cache"), f"prepare with windows {study['windows']}")


@settings(**PREPARE_SETTINGS)
@given(seed=st.integers(0, 2**32 - 1))
def test_prepare_with_valid_random_shapes_succeeds_or_explains(seed, originals):
    """Shapes that satisfy the schema: prepare either works or names why (e.g. no windows)."""
    rng = random.Random(seed)
    res = rng.choice([1, 2, 8, 32, 100, 128])
    n_bins = rng.randint(1, 16)
    flank = res * rng.randint(0, 12)
    study = yaml.safe_load(VALID_STUDY)
    study["windows"] = {
        "input_length": n_bins * res + 2 * flank, "target_length": n_bins * res, "resolution": res,
        "stride": res * rng.randint(1, 40), "max_n_fraction": rng.choice([0.0, 0.1, 1.0]),
    }
    d = _workdir(originals)
    (d / "study.yaml").write_text(yaml.safe_dump(study))
    assert_clean(isolated(_prepare, d / "study.yaml", d / "cache"), f"prepare with windows {study['windows']}")
