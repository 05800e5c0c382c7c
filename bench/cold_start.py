"""C. Cold starts: how fast a new container serves, and how fast each tool's first call can begin.

* `serve_s`: seconds from starting `agent-platform serve` in its AWS configuration (DynamoDB
  store, SQS queue, API keys in Secrets Manager, every tool on Lambda, the research agent, the
  offline model; moto in its own process plays AWS, `AWS_ENDPOINT_URL` points at it) to the
  first 200 on `/healthz`; the median of `SERVE_RUNS` starts. This is what a scale-out waits.
* `handler_init_ms`: per tool, the milliseconds a fresh interpreter takes to import the tool's
  Lambda handler module (which builds the handler), with only what Lambda has: the asset (the
  `lambda_tools` package), the runtime's boto3 and the Powertools layer (pydantic). The child
  runs with `-S` (no site-packages) and a folder of links to exactly those packages; the median
  of `HANDLER_RUNS` imports. Interpreter start-up itself is not counted.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2

from bench.aws import CREDENTIALS, client, create_resources, free_port, moto_server
from bench.common import REPO
from bench.table import Row, fmt, missing

SERVE_RUNS = 3
HANDLER_RUNS = 3
SERVE_MAX_S = 1.0
HANDLER_MAX_MS = 250.0
SERVE_TIMEOUT_S = 60.0
# What a tool function imports from: the Python runtime's boto3 and the Powertools layer (with pydantic).
LAMBDA_RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")
POWERTOOLS_LAYER_PACKAGES = ("aws_lambda_powertools", "pydantic", "pydantic_core", "typing_extensions",
                             "annotated_types", "typing_inspection")
API_KEY = "bench-cold-start-key"


def _site_packages() -> Path:
    import boto3

    return Path(boto3.__file__).resolve().parent.parent


def lambda_path(folder: Path) -> Path:
    """`folder` filled with links to what a tool function can import: the asset and the two package sets."""
    site = _site_packages()
    (folder / "lambda_tools").symlink_to(REPO / "lambda_tools")
    for name in LAMBDA_RUNTIME_PACKAGES + POWERTOOLS_LAYER_PACKAGES:
        for candidate in (site / name, site / f"{name}.py"):
            if candidate.exists():
                (folder / candidate.name).symlink_to(candidate)
                break
        else:
            raise RuntimeError(f"{name} is not installed in {site}")
    return folder


def _import_ms(module: str, path: Path) -> float:
    """Milliseconds to import `module` in a fresh `python -S` whose only import path is `path` (and the stdlib)."""
    code = f"import time; t = time.perf_counter(); import {module}; print((time.perf_counter() - t) * 1000)"
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(path), "LOG_LEVEL": "INFO",
           "POWERTOOLS_SERVICE_NAME": module.split(".")[1], **CREDENTIALS}
    out = subprocess.run([sys.executable, "-S", "-c", code], cwd=path, env=env, capture_output=True, text=True,
                         timeout=60)
    if out.returncode != 0:
        raise RuntimeError(f"import {module} failed: {out.stderr[-800:]}")
    return float(out.stdout.strip().splitlines()[-1])


def handler_init_ms(runs: int = HANDLER_RUNS) -> dict[str, float]:
    """Each catalog tool's handler import time (median of `runs`), with only the deployed packages."""
    from lambda_tools.catalog import TOOL_NAMES

    with tempfile.TemporaryDirectory(prefix="bench-lambda-") as tmp:
        path = lambda_path(Path(tmp))
        return {tool: round(statistics.median(_import_ms(f"lambda_tools.{tool}.handler", path) for _ in range(runs)), 1)
                for tool in TOOL_NAMES}


def _serve_env(moto_url: str, data_dir: str) -> dict[str, str]:
    """The environment of a deployed agent service (as the task definition sets it), on moto."""
    from agent_runtime import envnames as env
    from lambda_tools.catalog import TOOL_NAMES

    table, queue = create_resources(moto_url)
    secret = "bench/api-keys"
    secrets = client("secretsmanager", moto_url)
    if not secrets.list_secrets(Filters=[{"Key": "name", "Values": [secret]}])["SecretList"]:
        secrets.create_secret(Name=secret, SecretString=API_KEY)
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("AGENT_PLATFORM_", "AWS_", "OPENAI_"))}
    return {**keep, **CREDENTIALS, "AWS_ENDPOINT_URL": moto_url, env.STORE: "dynamodb", env.QUEUE: "sqs",
            env.TABLE_NAME: table, env.QUEUE_URL: queue, env.API_KEYS_SECRET: secret, env.AGENT_NAME: "research",
            env.MODEL: "offline", env.DATA_DIR: data_dir, env.API_DOCS: "false", env.LOG_LEVEL: "WARNING",
            env.TOOL_FUNCTIONS: json.dumps({t: f"bench-{t.replace('_', '-')}" for t in TOOL_NAMES})}


def _serve_once(env: dict[str, str], port: int) -> float:
    """Seconds from starting the server process to its first 200 on /healthz."""
    command = [str(Path(sys.executable).parent / "agent-platform"), "serve", "--port", str(port)]
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        with httpx2.Client(timeout=1) as http:
            while time.perf_counter() - started < SERVE_TIMEOUT_S:
                try:
                    if http.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                        return time.perf_counter() - started
                except httpx2.TransportError:
                    pass
                if proc.poll() is not None:
                    raise RuntimeError(f"agent-platform serve exited ({proc.returncode}): "
                                       f"{proc.stderr.read()[-1500:] if proc.stderr else ''}")
                time.sleep(0.005)
        raise RuntimeError(f"no 200 on /healthz within {SERVE_TIMEOUT_S:g} s")
    finally:
        # Killed, not stopped: a graceful stop waits out the worker's SQS long poll (10 s) and is not measured.
        proc.kill()
        proc.wait()


def serve_s(moto_url: str, runs: int = SERVE_RUNS) -> list[float]:
    """Each start's seconds to the first healthy answer."""
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as data_dir:
        env = _serve_env(moto_url, data_dir)
        return [_serve_once(env, free_port()) for _ in range(runs)]


def run() -> dict[str, Any]:
    """The section's figures."""
    with moto_server() as moto_url:
        starts = serve_s(moto_url)
    handlers = handler_init_ms()
    return {"serve_s": round(statistics.median(starts), 3), "serve_runs_s": [round(s, 3) for s in starts],
            "handler_init_ms": handlers, "handler_init_max_ms": max(handlers.values())}


def rows(c: dict[str, Any]) -> list[Row]:
    """The section's lines of the bench table."""
    why = missing(c, "serve_s", "handler_init_ms")
    if why:
        return [Row("C", "cold start: serve to first /healthz 200, s", why, goal=f"< {SERVE_MAX_S:g} s"),
                Row("C", "cold start: tool handler import + init, ms", why, goal=f"< {HANDLER_MAX_MS:g} ms each")]
    handlers: dict[str, float] = c["handler_init_ms"]
    slowest = max(handlers, key=lambda t: handlers[t])
    return [
        Row("C", "cold start: serve to first /healthz 200, s", fmt(c["serve_s"], 3),
            "runs " + ", ".join(fmt(s, 3) for s in c["serve_runs_s"]), f"< {SERVE_MAX_S:g} s",
            c["serve_s"] < SERVE_MAX_S),
        Row("C", "cold start: slowest tool handler import + init, ms", fmt(handlers[slowest], 1),
            f"{slowest}; " + ", ".join(f"{t} {fmt(v, 0)}" for t, v in handlers.items() if t != slowest),
            f"< {HANDLER_MAX_MS:g} ms each", all(v < HANDLER_MAX_MS for v in handlers.values())),
    ]
