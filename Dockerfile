# The operator's image: `redis-operator run` as a non-root user (deploy/deployment.yaml).
#   docker build -t redis-operator:0.1.0 .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed numeric uid/gid, so the pod's runAsNonRoot can verify it (deploy/ runs as 10001 too).
RUN groupadd --system --gid 10001 redis-operator \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin redis-operator

# Only what the two distributions need (.dockerignore lets nothing else in: the event recorder's
# distribution in event-recorder/, the operator's in pyproject.toml + src/, never the test bed in
# testbed/); the build tree is removed in the same layer. The recorder is installed first, so
# that the operator's dependency on it by name is already met and never looked up on an index.
# Dependencies are the wheels the pyproject.toml files name: no compiler needed.
COPY event-recorder /build/event-recorder
COPY pyproject.toml README.md /build/
COPY src /build/src
RUN pip install /build/event-recorder && pip install /build && rm -rf /build

USER 10001:10001
# 9443: admission webhook (HTTPS); 8080: /metrics, /healthz, /readyz.
EXPOSE 9443 8080
ENTRYPOINT ["redis-operator", "run"]
