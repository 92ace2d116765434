# syntax=docker/dockerfile:1.7
#
# Targets:
#   runtime  (default)  the API: runtime dependencies only, `ml-service serve`
#   training            runtime + the training group (mlflow, faker, tqdm): train, retrain, seed,
#                       demo data, the MLflow UI
#
#   docker build -t ml-service .
#   docker build --target training -t ml-service-training .
#
# No lock file is copied (uv.lock is not committed): uv resolves from pyproject.toml, whose
# [tool.uv] exclude-newer pins the resolution. The project is installed editable at /app, so
# its default paths (models/, data/, alembic.ini, migrations/) resolve under /app.

ARG PYTHON_IMAGE=python:3.11-slim
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9

FROM ${UV_IMAGE} AS uv

# ---------------------------------------------------------------- build stages (have uv)
FROM ${PYTHON_IMAGE} AS build-base
COPY --from=uv /uv /bin/uv
# UV_COMPILE_BYTECODE: uv writes the bytecode of every package it installs, so a worker starts
# without compiling (without it, a cold worker took seconds more, compiling package sources).
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11
WORKDIR /app
COPY pyproject.toml README.md ./

FROM build-base AS build-runtime
# Dependencies first: this layer is rebuilt only when pyproject.toml changes.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --no-default-groups --no-install-project
COPY . .
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --no-default-groups
# The project is installed editable, outside site-packages: its own bytecode is compiled here
# (the runtime sets PYTHONDONTWRITEBYTECODE and could not write it anyway).
RUN python -m compileall -q -j 0 app cli

FROM build-base AS build-training
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --no-default-groups --group training --no-install-project
COPY . .
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --no-default-groups --group training
RUN python -m compileall -q -j 0 app cli data training

# ---------------------------------------------------------------- runtime stages (no uv, no compilers)
FROM ${PYTHON_IMAGE} AS runtime-base
ARG APP_UID=10001
RUN groupadd --system --gid ${APP_UID} app \
    && useradd --system --uid ${APP_UID} --gid app --create-home --home-dir /home/app --shell /usr/sbin/nologin app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /app

FROM runtime-base AS training
COPY --from=build-training /app /app
# models/ and mlruns/ are volumes shared with the API and the MLflow UI; data/ receives demo data.
RUN mkdir -p /app/models /app/mlruns /app/data \
    && chown app:app /app/models /app/mlruns /app/data
VOLUME ["/app/models", "/app/mlruns"]
USER app
CMD ["ml-service", "train"]

# Last stage: what `docker build .` produces.
FROM runtime-base AS runtime
COPY --from=build-runtime /app /app
RUN mkdir -p /app/models /app/data \
    && chown app:app /app/models /app/data
VOLUME ["/app/models"]
USER app
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=4)"]
CMD ["ml-service", "serve", "--host", "0.0.0.0", "--port", "8000"]
