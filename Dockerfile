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
FROM python:3.11-slim

ARG TORCH_VARIANT=cpu
ARG GIT_COMMIT=""
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    MPLBACKEND=Agg \
    RAY_USAGE_STATS_ENABLED=0 \
    WANDB_MODE=offline \
    SEQ2TRACK_GIT_COMMIT=${GIT_COMMIT}

WORKDIR /opt/seq2track

# 1. dependencies, exactly as locked (cached as a layer until the lock file changes)
COPY requirements.lock ./
# DL3013: the torch pin is read from the lock file, which hadolint cannot see
# hadolint ignore=DL3013
RUN TORCH_PIN="$(grep -E '^torch==' requirements.lock)" \
    && pip install "${TORCH_PIN}+${TORCH_VARIANT}" --index-url "https://download.pytorch.org/whl/${TORCH_VARIANT}" \
    && pip install -r requirements.lock --extra-index-url "https://download.pytorch.org/whl/${TORCH_VARIANT}" \
    && python -c "import torch; print('torch', torch.__version__)"

# 2. the package, with no dependency resolution, and the tutorials
COPY pyproject.toml README.md ./
COPY src ./src
COPY configs ./configs
COPY tutorials ./tutorials
RUN pip install --no-deps . \
    && seq2track --help > /dev/null

RUN useradd --create-home --uid 1000 seq2track && mkdir -p /work && chown seq2track /work
USER 1000
WORKDIR /work

# `tutorials` executes every tutorial notebook (jupytext + nbclient) into /work/tutorials;
# any other arguments run as a command.
ENTRYPOINT ["/bin/sh", "-c", "if [ \"$1\" = tutorials ]; then shift; mkdir -p /work/tutorials && cp /opt/seq2track/tutorials/*.py /work/tutorials/ && cd /work/tutorials && exec jupytext --to ipynb --set-kernel python3 --execute \"$@\" ./*.py; fi; exec \"$@\"", "--"]
CMD ["seq2track", "demo", "--out", "/work/demo"]
