# The agent runtime image: one image for every agent (the AGENT_PLATFORM_AGENT variable picks the agent).
# Build context: the repository root, filtered by .dockerignore down to what `pip install .` needs.
FROM python:3.13-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    AGENT_PLATFORM_DATA_DIR=/tmp/agent-platform

WORKDIR /src
COPY pyproject.toml README.md ./
COPY agent_runtime ./agent_runtime
COPY lambda_tools ./lambda_tools
RUN pip install . \
    && rm -rf /src/build /src/*.egg-info \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin agent

WORKDIR /tmp
USER 10001
EXPOSE 8080

HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]

CMD ["agent-platform", "serve", "--host", "0.0.0.0", "--port", "8080"]
