# syntax=docker/dockerfile:1
# recipe-runner container image.
#   docker build -t recipe-runner:0.1.0 .
#   docker run -d --name recipe-runner \
#     -v "$PWD/recipes:/etc/recipe-runner/recipes:ro" \
#     -v "$PWD/connections:/etc/recipe-runner/connections:ro" \
#     -v recipe-runner-state:/var/lib/recipe-runner \
#     --env-file recipe-runner.env recipe-runner:0.1.0
# tests/test_container_build.py performs these install and start steps on a machine without
# a container engine; keep the two in step.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# -- builder: a wheel of every locked dependency (hash-checked) and of recipe-runner --------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
# requirements/*.lock pin every package with its hashes (`make lock` refreshes them): the
# image built next month holds the same files as today's.
COPY requirements/ requirements/
# /tools: the locked pip, setuptools and wheel (hash-checked); the final stage runs that pip
# from its wheel, so neither stage depends on the base image's own pip.
RUN python -m pip download --require-hashes --no-deps --dest /tools -r requirements/build.lock \
 && python -m pip install --require-hashes --no-index --find-links /tools \
      -r requirements/build.lock \
 && python -m pip wheel --require-hashes --wheel-dir /wheels -r requirements/runtime.lock
COPY pyproject.toml README.md ./
COPY docs/ docs/
COPY runner/ runner/
COPY connectors/ connectors/
COPY emulator/ emulator/
# runner/demo_files links to these: the demo's recipes and connections are package data
COPY recipes/ recipes/
COPY demo/ demo/
RUN python -m pip wheel --no-deps --no-build-isolation --wheel-dir /wheels .

# -- final: a virtualenv with only the runtime packages, no pip, no build tools ------------
FROM ${PYTHON_IMAGE}
ARG APP_UID=10001
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/recipe-runner/bin:$PATH \
    RECIPE_RUNNER_RECIPES=/etc/recipe-runner/recipes \
    RECIPE_RUNNER_CONNECTIONS=/etc/recipe-runner/connections/connections.yaml \
    RECIPE_RUNNER_STATE=sqlite:////var/lib/recipe-runner/recipe-runner.db \
    RECIPE_RUNNER_LOG_FORMAT=json \
    RECIPE_RUNNER_LISTEN=127.0.0.1:9464 \
    RECIPE_RUNNER_GRACE_S=8
# LISTEN stays on loopback so the image starts without a status token (HEALTHCHECK runs
# inside the container). To publish 9464 (webhooks, /metrics, the status page) set
# RECIPE_RUNNER_LISTEN=0.0.0.0:9464 and RECIPE_RUNNER_STATUS_TOKEN. With LISTEN=off the
# HEALTHCHECK checks the heartbeat file the daemon touches beside its state instead.
# No connections file is shipped: mount yours at /etc/recipe-runner/connections (a recipe
# naming a connection it does not find is reported as such, not as "unknown").
# GRACE_S=8: `docker stop` sends SIGKILL after 10 s; raise both (--stop-timeout) together.

RUN groupadd --system --gid "${APP_UID}" recipe-runner \
 && useradd --system --uid "${APP_UID}" --gid recipe-runner --no-create-home \
      --home-dir /var/lib/recipe-runner --shell /usr/sbin/nologin recipe-runner

# /wheels holds exactly the locked set (hash-checked in the builder; sdist-only packages
# such as sly were built there), so it is installed whole, and pip check proves it complete.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    --mount=type=bind,from=builder,source=/tools,target=/tools \
    python -m venv --without-pip /opt/recipe-runner \
 && pip_whl="$(echo /tools/pip-*.whl)" \
 && /opt/recipe-runner/bin/python "$pip_whl/pip" install --no-cache-dir --no-index \
      --no-deps /wheels/*.whl \
 && /opt/recipe-runner/bin/python "$pip_whl/pip" check \
 && mkdir -p /etc/recipe-runner/recipes /etc/recipe-runner/connections /var/lib/recipe-runner \
 && chown "${APP_UID}:${APP_UID}" /var/lib/recipe-runner \
 && chmod 0700 /var/lib/recipe-runner

WORKDIR /var/lib/recipe-runner
VOLUME ["/etc/recipe-runner/recipes", "/etc/recipe-runner/connections", "/var/lib/recipe-runner"]
EXPOSE 9464
USER ${APP_UID}:${APP_UID}
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-m", "runner.healthcheck"]
ENTRYPOINT ["recipe-runner"]
CMD ["run"]
