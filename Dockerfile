# seq2track in a container: the same install as .ci/run, from the lock file.
#
#   docker build -t seq2track .                                   # CPU torch (default)
#   docker build -t seq2track:gpu --build-arg TORCH_VARIANT=cu128 .  # a CUDA build of the same torch
#   docker run --rm -v "$PWD/out:/work" seq2track                 # seq2track demo -> /work/demo
#   docker run --rm -v "$PWD/out:/work" seq2track tutorials       # execute tutorials/*.py -> /work/tutorials
#   docker run --rm -v "$PWD/data:/data" seq2track seq2track run /data/study.yaml --out /data/run
#
# Every package comes from requirements.lock at its exact version; the package itself is
# installed with --no-deps, so nothing is resolved afresh. torch is taken from the PyTorch
# index of TORCH_VARIANT: "cpu" (the lock's build) or a CUDA tag such as cu126/cu128, which
# also pulls NVIDIA's runtime wheels (not in the lock). Pass --build-arg GIT_COMMIT=$(git
# rev-parse HEAD) so run manifests record the commit (the image holds no .git).
#
# Behind a mirror or a TLS-inspecting proxy (what .ci/container does with podman), the same
# file takes: BASE_IMAGE (any Debian-like image with python3.11 and its venv module),
# TORCH_INDEX_URL (where "torch==<lock>+<variant>" is looked up), and pip's own settings
# PIP_INDEX_URL / PIP_EXTRA_INDEX_URL / PIP_FIND_LINKS / PIP_CERT. Those name paths only:
# mount the folders and the CA bundle at build time (docker/podman build -v, or a BuildKit
# bind mount); nothing of them is copied into a layer, and they are not kept in the image's
# environment. Unset, pip uses its defaults (PyPI, no find-links, certifi's CA bundle).
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ARG TORCH_VARIANT=cpu
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/${TORCH_VARIANT}
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_FIND_LINKS
ARG PIP_CERT
# a virtual environment: the same layout on python:3.11-slim and on Debian's python3
# (whose system site-packages pip may not touch, PEP 668)
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    MPLBACKEND=Agg \
    RAY_USAGE_STATS_ENABLED=0 \
    WANDB_MODE=offline

WORKDIR /opt/seq2track

# 1. dependencies, exactly as locked (cached as a layer until the lock file changes).
#    macs3 (and its build dependency cykhash) come as source only: a C compiler is installed
#    from the base's Debian sources for this step and removed in it (no compiler in the image;
#    Python's headers from Debian only where the base has none, i.e. Debian's own python3)
COPY requirements.lock ./
# DL3013: the torch pin is read from the lock file, which hadolint cannot see;
# DL3008: the compiler is Debian's of the base's release, removed again; SC2086: $build_deps is a word list
# hadolint ignore=DL3013,DL3008,SC2086
RUN python3 -m venv /opt/venv \
    && build_deps="gcc libc6-dev" \
    && { [ -f "$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["include"])')/Python.h" ] || build_deps="$build_deps python3-dev"; } \
    && apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends $build_deps > /dev/null \
    && TORCH_PIN="$(grep -E '^torch==' requirements.lock)" \
    && pip install "${TORCH_PIN}+${TORCH_VARIANT}" --index-url "${TORCH_INDEX_URL}" -c requirements.lock \
    && pip install -r requirements.lock --extra-index-url "${TORCH_INDEX_URL}" \
    && apt-get purge -y -qq --auto-remove $build_deps > /dev/null \
    && rm -rf /var/lib/apt/lists/* \
    && python -c "import torch, MACS3; print('torch', torch.__version__)"

# 2. the package, with no dependency resolution, and the tutorials (the commit is declared
#    here, after the dependency layer, so that a new commit does not reinstall the lock)
ARG GIT_COMMIT=""
ENV SEQ2TRACK_GIT_COMMIT=${GIT_COMMIT}
COPY pyproject.toml README.md ./
COPY src ./src
COPY configs ./configs
COPY tutorials ./tutorials
RUN pip install --no-deps . \
    && seq2track --help > /dev/null

RUN useradd --create-home --uid 1000 seq2track && mkdir -p /work && chown seq2track /work
USER 1000
WORKDIR /work

# `tutorials` executes every tutorial notebook (jupytext + nbclient: tutorials/_execute.py) into /work/tutorials;
# any other arguments run as a command.
ENTRYPOINT ["/bin/sh", "-c", "if [ \"$1\" = tutorials ]; then shift; mkdir -p /work/tutorials && cp /opt/seq2track/tutorials/*.py /work/tutorials/ && cd /work/tutorials && exec python _execute.py \"$@\" ./[0-9][0-9]*.py; fi; exec \"$@\"", "--"]
CMD ["seq2track", "demo", "--out", "/work/demo"]
