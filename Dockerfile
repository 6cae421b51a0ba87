# syntax=docker/dockerfile:1
# buzzwatch worker image: `docker build -t buzzwatch .` then `docker run buzzwatch worker`.
# Two stages: the build stage makes a virtualenv with buzzwatch and its dependencies; the final
# stage copies only that virtualenv onto a slim Python (no compiler, no pip cache, no sources).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# A compiler for the compiled detection core and for dependencies that ship no wheel for this
# platform; it stays in this stage.
# mimalloc, the allocator the worker runs on (stream/heap.py), goes into the virtualenv's lib/ and so
# into the final stage with it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential libmimalloc2.0 \
 && mkdir -p /opt/buzzwatch/lib \
 && cp -L /usr/lib/*/libmimalloc.so.2 /opt/buzzwatch/lib/libmimalloc.so.2 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY pipeline ./pipeline
# The wheel carries the detection core compiled by mypyc (setup.py, BUZZWATCH_COMPILE=1), built
# in a throwaway environment that holds mypy and the libraries the compiled modules import (mypy
# reads their types; tests/deploy/test_container.py builds in exactly this environment): the
# runtime virtualenv gets only the wheel.
RUN python -m venv /opt/buzzwatch \
 && /opt/buzzwatch/bin/pip install --upgrade pip \
 && python -m venv /tmp/build-env \
 && /tmp/build-env/bin/pip install "setuptools>=68" wheel "mypy>=1.13" "orjson>=3.9" "msgspec>=0.18" \
 && BUZZWATCH_COMPILE=1 /tmp/build-env/bin/pip wheel --no-build-isolation --no-deps --wheel-dir /tmp/wheels . \
 && /opt/buzzwatch/bin/pip install /tmp/wheels/buzzwatch-*.whl \
 && /opt/buzzwatch/bin/python -m compileall -q /opt/buzzwatch/lib \
 && /opt/buzzwatch/bin/python -c "import pipeline.core as c; assert c.compiled(), 'core not compiled'" \
 && /opt/buzzwatch/bin/buzzwatch --help > /dev/null

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="buzzwatch" \
      org.opencontainers.image.description="Alerts a brand's on-call team when negative buzz starts accelerating" \
      org.opencontainers.image.licenses="Apache-2.0"
# The chart runs the pod as 10001:10001 with a read-only root filesystem.
RUN groupadd --system --gid 10001 buzzwatch \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin buzzwatch \
 && mkdir -p /var/lib/buzzwatch \
 && chown 10001:10001 /var/lib/buzzwatch
COPY --from=build /opt/buzzwatch /opt/buzzwatch
# Read-only root filesystem: no bytecode writes (compiled in the build stage), caches and
# temporary files under /tmp (an emptyDir in Kubernetes), table data under /var/lib/buzzwatch.
# PYTHONMALLOC=malloc with mimalloc preloaded: the memory of evicted brands can go back to the OS,
# and small objects are as cheap as with pymalloc (stream/heap.py); set here, the worker need not
# re-execute itself with them at start-up.
ENV PATH=/opt/buzzwatch/bin:$PATH \
    PYTHONMALLOC=malloc \
    LD_PRELOAD=/opt/buzzwatch/lib/libmimalloc.so.2 \
    MIMALLOC_RESET_DELAY=0 \
    MIMALLOC_PAGE_RESET=1 \
    MIMALLOC_RESET_DECOMMITS=1 \
    MIMALLOC_PURGE_DELAY=0 \
    MIMALLOC_PURGE_DECOMMITS=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    MPLCONFIGDIR=/tmp/matplotlib \
    BUZZWATCH_DATA_DIR=/var/lib/buzzwatch
WORKDIR /var/lib/buzzwatch
USER 10001:10001
# 9108: Prometheus /metrics; 6066: /healthz, /readyz, POST /slack/actions.
EXPOSE 9108 6066
ENTRYPOINT ["buzzwatch"]
CMD ["worker"]
