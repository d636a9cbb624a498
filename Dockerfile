# The operator's image: `redis-operator run` as a non-root user (deploy/base/deployment.yaml).
#   docker build -t redis-operator:0.1.0 .
# BASE_IMAGE is any Debian-like image with python3 (3.11+) and its venv module; the test bed
# builds this file with a base it makes itself and the dependencies as wheels it downloaded
# beforehand (the `wheels` build context, PIP_NO_INDEX, PIP_FIND_LINKS): see docs/operations.md.
ARG BASE_IMAGE=python:3.11-slim

# Wheels to install from instead of an index: empty unless a build context of that name
# replaces this stage (`--build-context wheels=DIR`).
FROM scratch AS wheels

FROM ${BASE_IMAGE} AS install
# pip reads these from the environment; unset (the default) pip uses its index as usual.
ARG PIP_NO_INDEX
ARG PIP_FIND_LINKS
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# Only what the two distributions need (.dockerignore lets nothing else in: the event recorder's
# distribution in event-recorder/, the operator's in pyproject.toml + src/, never the test bed in
# testbed/). The recorder is installed first, so that the operator's dependency on it by name is
# already met and never looked up on an index. Dependencies are wheels: no compiler needed.
COPY event-recorder /build/event-recorder
COPY pyproject.toml README.md /build/
COPY src /build/src
RUN --mount=type=bind,from=wheels,target=/wheels \
    python3 -m venv /opt/redis-operator \
    && /opt/redis-operator/bin/pip install /build/event-recorder \
    && /opt/redis-operator/bin/pip install /build

FROM ${BASE_IMAGE}
ENV PATH=/opt/redis-operator/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# A fixed numeric uid/gid, so the pod's runAsNonRoot can verify it (deploy/ runs as 10001 too).
RUN groupadd --system --gid 10001 redis-operator \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin redis-operator
# The virtualenv alone: no build tree, no pip cache, no wheels.
COPY --from=install /opt/redis-operator /opt/redis-operator

USER 10001:10001
# 9443: admission webhook (HTTPS); 8080: /metrics, /healthz, /readyz.
EXPOSE 9443 8080
ENTRYPOINT ["redis-operator", "run"]
