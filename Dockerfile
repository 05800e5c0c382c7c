# The agent runtime image: one image for every agent (the AGENT_PLATFORM_AGENT variable picks the agent).
# Build context: the repository root, filtered by .dockerignore down to what `pip install .` needs.
# Python: the Lambda functions' minor version (stacks/constructs/tool_function.py RUNTIME; a test keeps them
# equal). The base is still pinned by tag only: pin it by digest (python:3.14-slim@sha256:...) at the next
# refresh, from a machine that reaches Docker Hub (tests/infra/test_dockerfile.py expects it, as an xfail).
FROM python:3.14-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    AGENT_PLATFORM_DATA_DIR=/tmp/agent-platform \
    AGENT_PLATFORM_AGENTS_FILE=/src/agents.toml

WORKDIR /src
# Third-party packages first (their layer is reused until the lock changes): exact versions, hash-checked,
# the runtime's dependencies only (`make lock`), so no CDK, test tools or Powertools in the image.
COPY requirements-image.lock ./
RUN pip install --require-hashes -r requirements-image.lock
# Then the project alone, built with the lock's setuptools, which the service does not need afterwards.
# agents.toml: the image's default agents (AGENT_PLATFORM_AGENTS_FILE); the stack hands each service its own.
COPY pyproject.toml README.md agents.toml ./
COPY agent_runtime ./agent_runtime
COPY lambda_tools ./lambda_tools
RUN pip install --no-deps --no-build-isolation . \
    && pip uninstall --yes setuptools \
    && rm -rf /src/build /src/*.egg-info \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin agent

WORKDIR /tmp
USER 10001
EXPOSE 8080

HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]

CMD ["agent-platform", "serve", "--host", "0.0.0.0", "--port", "8080"]
