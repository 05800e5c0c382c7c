"""A local endpoint speaking the Lambda Invoke API (what boto3 sends to AWS_ENDPOINT_URL_LAMBDA).

Each function runs in worker processes of its own (`lambda_worker.py`) with the function's
environment from the template, its role's credentials (STS AssumeRole, one session per worker)
and only the packages the deployed function has: its asset directory, its layers and what the
Lambda Python runtime provides (boto3). Timeouts, handler errors and crashes come back as Lambda
returns them (200 with X-Amz-Function-Error), unknown functions as ResourceNotFoundException and
callers without lambda:InvokeFunction on the function as AccessDeniedException.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import select
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from rehearsal.assembly import REGION
from rehearsal.gateway import TASK_ID, Call, Gateway, Principal, QuietServer
from rehearsal.iam import Request, access_key_of
from rehearsal.provision import Function

WORKER_SCRIPT = str(Path(__file__).with_name("lambda_worker.py"))
# What the Lambda Python runtime itself provides to every function.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")
# Known public layers by name pattern -> the top-level packages they ship.
LAYERS = {
    r":layer:AWSLambdaPowertoolsPythonV3-": ("aws_lambda_powertools", "pydantic", "pydantic_core",
                                              "annotated_types", "typing_extensions", "typing_inspection",
                                              "aws_xray_sdk", "wrapt", "fastjsonschema", "jmespath"),
    # The ADOT Python layer (an opt-in for handler spans, docs/traces.md): the SDK and the OTLP exporters.
    r":layer:aws-otel-python-": ("opentelemetry", "google", "requests", "charset_normalizer", "idna", "certifi",
                                 "typing_extensions"),
}
_INVOKE = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations")
MAX_WORKERS_PER_FUNCTION = 4

Credentials = Callable[[str, str], dict[str, str]]  # (role arn, session name) -> env vars


def package_dir(packages: tuple[str, ...], into: Path) -> Path:
    """A directory holding exactly `packages` (symlinks into this interpreter's site-packages)."""
    into.mkdir(parents=True, exist_ok=True)
    for name in packages:
        spec = importlib.util.find_spec(name)
        if spec is None:
            continue
        if spec.origin is None or spec.origin == "namespace":  # a namespace package (opentelemetry, google)
            locations = list(spec.submodule_search_locations or ())
            if not locations:
                continue
            source = Path(locations[0])
        else:
            origin = Path(spec.origin)
            source = origin.parent if origin.name == "__init__.py" else origin
        target = into / source.name
        if not target.exists():
            target.symlink_to(source)
    return into


@dataclass
class Worker:
    """One warm execution environment of one function."""

    proc: subprocess.Popen[bytes]
    results: Any
    access_key: str
    log_path: Path
    task_id: str | None = None


@dataclass
class Invocation:
    """One invocation, for the scenarios' checks (no repeated tool calls)."""

    function: str
    task_id: str | None
    call_id: str | None
    outcome: str
    duration_ms: float


@dataclass
class FunctionPool:
    function: Function
    paths: list[str]
    idle: list[Worker] = field(default_factory=list)
    count: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    freed: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.freed = threading.Condition(self.lock)


class LambdaEndpoint:
    """The Invoke API on 127.0.0.1, backed by per-function worker pools."""

    def __init__(self, functions: dict[str, Function], gateway: Gateway, credentials: Credentials,
                 workdir: Path) -> None:
        self.gateway = gateway
        self.credentials = credentials
        self.workdir = workdir
        self.gaps: list[str] = []
        self.invocations: list[Invocation] = []
        runtime_dir = str(package_dir(RUNTIME_PACKAGES, workdir / "runtime"))
        self.pools: dict[str, FunctionPool] = {}
        for fn in functions.values():
            paths = [fn.code_dir, *self._layer_dirs(fn), runtime_dir]
            self.pools[fn.name] = FunctionPool(fn, paths)
            self.pools[fn.arn] = self.pools[fn.name]
        self._by_key: dict[str, Worker] = {}
        gateway.task_of_key = lambda key: w.task_id if (w := self._by_key.get(key)) else None
        self.server = QuietServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="lambda", daemon=True)

    def _layer_dirs(self, fn: Function) -> list[str]:
        dirs = []
        for arn in fn.layers:
            packages = next((p for pattern, p in LAYERS.items() if re.search(pattern, arn)), None)
            if packages is None:
                self.gaps.append(f"Lambda layer {arn}: contents unknown to the rehearsal, not provided")
                continue
            dirs.append(str(package_dir(packages, self.workdir / "layers" / re.sub(r"\W", "_", arn))))
        return dirs

    def start(self) -> LambdaEndpoint:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        for pool in {id(p): p for p in self.pools.values()}.values():
            for worker in pool.idle:
                worker.proc.kill()
                worker.proc.wait()

    # -- workers ---------------------------------------------------------------------------------

    def _spawn(self, pool: FunctionPool) -> Worker:
        fn = pool.function
        session = f"{fn.name}-{pool.count}"[:64]
        creds = self.credentials(fn.role_arn, session)
        env = {**{k: str(v) for k, v in fn.environment.items()}, **creds,
               "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL": self.gateway.url,
               "AWS_LAMBDA_FUNCTION_NAME": fn.name, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_mb),
               "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_LOG_GROUP_NAME": fn.log_group or "",
               "LAMBDA_TASK_ROOT": fn.code_dir, "_HANDLER": fn.handler, "REHEARSAL_FUNCTION_ARN": fn.arn,
               "TZ": ":UTC", "PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"}
        read_fd, write_fd = os.pipe()
        env["REHEARSAL_RESULTS_FD"] = str(write_fd)
        self.gateway.register(creds["AWS_ACCESS_KEY_ID"], Principal(f"function:{fn.name}", fn.role_arn))
        log_path = Path(tempfile.mkstemp(prefix=f"{fn.name}-", suffix=".log", dir=self.workdir)[1])
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-S", "-E", WORKER_SCRIPT, fn.handler, *pool.paths],
                stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=fn.code_dir,
                pass_fds=(write_fd,))
        os.close(write_fd)
        worker = Worker(proc, os.fdopen(read_fd, "r"), creds["AWS_ACCESS_KEY_ID"], log_path)
        ready = json.loads(worker.results.readline() or '{"ready": false, "errorMessage": "no start"}')
        if not ready.get("ready"):
            proc.kill()
            raise RuntimeError(f"{fn.name}: {ready.get('errorType')}: {ready.get('errorMessage')}")
        self._by_key[worker.access_key] = worker
        return worker

    def _acquire(self, pool: FunctionPool) -> Worker:
        with pool.lock:
            while not pool.idle and pool.count >= MAX_WORKERS_PER_FUNCTION:
                pool.freed.wait()
            if pool.idle:
                return pool.idle.pop()
            pool.count += 1
        try:
            return self._spawn(pool)
        except Exception:
            with pool.lock:
                pool.count -= 1
                pool.freed.notify()
            raise

    def _release(self, pool: FunctionPool, worker: Worker | None) -> None:
        with pool.lock:
            if worker is not None:
                worker.task_id = None
                pool.idle.append(worker)
            else:
                pool.count -= 1
            pool.freed.notify()

    def invoke(self, pool: FunctionPool, payload: bytes) -> tuple[bool, bytes, dict[str, Any]]:
        """Run one invocation: (function error?, payload, facts for the recorder)."""
        fn = pool.function
        event = _json_or_none(payload)
        task_id = event.get("task_id") if isinstance(event, dict) else None
        worker = self._acquire(pool)
        worker.task_id = task_id if isinstance(task_id, str) else None
        log_before = worker.log_path.stat().st_size
        started = time.perf_counter()
        deadline = time.time() + fn.timeout_s
        stdin = worker.proc.stdin
        assert stdin is not None  # started with stdin=PIPE
        stdin.write(json.dumps({"payload": payload.decode(), "deadline": deadline}).encode() + b"\n")
        stdin.flush()
        ready, _, _ = select.select([worker.results], [], [], fn.timeout_s)
        line = worker.results.readline() if ready else ""
        duration_ms = (time.perf_counter() - started) * 1000
        facts = {"duration_ms": duration_ms, "log_bytes": worker.log_path.stat().st_size - log_before,
                 "task_id": worker.task_id}
        if not line:
            worker.proc.kill()
            worker.proc.wait()
            self._release(pool, None)
            if not ready:
                message = f"Task timed out after {fn.timeout_s:.2f} seconds"
                return True, json.dumps({"errorMessage": message, "errorType": "Sandbox.Timedout"}).encode(), facts
            message = f"Runtime exited with error: exit status {worker.proc.returncode}"
            return True, json.dumps({"errorMessage": message, "errorType": "Runtime.ExitError"}).encode(), facts
        self._release(pool, worker)
        result = json.loads(line)
        return not result["ok"], result["payload"].encode(), facts

    # -- HTTP ------------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                return

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                endpoint.handle(self)

        return Handler

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        match = _INVOKE.match(h.path)
        who = access_key_of({k.lower(): v for k, v in h.headers.items()}, h.path)
        if match is None or who is None:
            _send(h, 400, {"x-amzn-ErrorType": "InvalidRequestContentException"}, b'{"message": "bad request"}')
            return
        name = match.group(1)
        pool = self.pools.get(name)
        arn = pool.function.arn if pool else name
        principal, denied = self.gateway.authorize(who[0], Request("lambda", "lambda:InvokeFunction", (arn,), {}))
        label = principal.label if principal else "unknown"
        if denied is not None or pool is None:
            code, status = (("AccessDeniedException", 403) if denied is not None
                            else ("ResourceNotFoundException", 404))
            message = (f"User: {label} is not authorized to perform: lambda:InvokeFunction on resource: {arn}"
                       if denied is not None else f"Function not found: {arn}")
            _send(h, status, {"x-amzn-ErrorType": code}, json.dumps({"Type": "User", "message": message}).encode())
            self.gateway.recorder.add(Call(label, "lambda", "lambda:Invoke", len(body), 0, status,
                                           TASK_ID.search(body) and TASK_ID.search(body).group().decode(),  # type: ignore[union-attr]
                                           denied=denied or "not found"))
            return
        failed, payload, facts = self.invoke(pool, body)
        headers = {"Content-Type": "application/json", "X-Amz-Executed-Version": "$LATEST"}
        if failed:
            headers["X-Amz-Function-Error"] = "Unhandled"
        _send(h, 200, headers, payload)
        event = _json_or_none(body)
        call_id = event.get("call_id") if isinstance(event, dict) else None
        self.invocations.append(Invocation(pool.function.name, facts["task_id"], call_id,
                                           "error" if failed else "ok", facts["duration_ms"]))
        self.gateway.recorder.add(Call(label, "lambda", "lambda:Invoke", len(body), len(payload), 200,
                                       facts["task_id"], duration_ms=facts["duration_ms"],
                                       memory_mb=pool.function.memory_mb,
                                       extra={"log_bytes": facts["log_bytes"], "function": pool.function.name}))


def _json_or_none(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None


def _send(h: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes) -> None:
    h.send_response(status)
    for key, value in headers.items():
        h.send_header(key, value)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)
