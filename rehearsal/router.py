"""The load balancer, played: listener rules and target-group health checks from the template.

Requests are matched against the listener rules in priority order (path-pattern conditions),
else the listener's default action, and forwarded round-robin to the healthy targets of the
chosen target group. Health checks run at the group's interval with its path, timeout and
thresholds. Responses are streamed (SSE), and a refused connection is a 502 as on an ALB.
"""

from __future__ import annotations

import fnmatch
import http.client
import itertools
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from rehearsal.assembly import Assembly, Resolver
from rehearsal.gateway import QuietServer

_HOP = {"connection", "keep-alive", "transfer-encoding", "host", "content-length"}


@dataclass
class Target:
    url_host: str
    port: int
    healthy: bool = False
    passes: int = 0
    fails: int = 0


@dataclass
class TargetGroup:
    """One target group: its health check settings and registered targets."""

    arn: str
    path: str = "/"
    interval_s: float = 30.0
    timeout_s: float = 5.0
    healthy_threshold: int = 5
    unhealthy_threshold: int = 2
    matcher: str = "200"
    targets: list[Target] = field(default_factory=list)
    _rr: Any = field(default_factory=itertools.count)

    def pick(self) -> Target | None:
        healthy = [t for t in self.targets if t.healthy]
        return healthy[next(self._rr) % len(healthy)] if healthy else None


@dataclass(frozen=True)
class Rule:
    priority: int
    patterns: tuple[str, ...]
    target_group: str


def listener_rules(assembly: Assembly, resolver: Resolver) -> tuple[list[Rule], str, dict[str, TargetGroup]]:
    """(rules by priority, default target group arn, target groups) of the one HTTP(S) listener."""
    groups = {}
    for stack, lid, res in assembly.resources("AWS::ElasticLoadBalancingV2::TargetGroup"):
        p = res["Properties"]
        groups[resolver({"Ref": lid}, stack)] = TargetGroup(
            arn=resolver({"Ref": lid}, stack), path=p.get("HealthCheckPath", "/"),
            interval_s=float(p.get("HealthCheckIntervalSeconds", 30)), timeout_s=float(p.get("HealthCheckTimeoutSeconds", 5)),
            healthy_threshold=int(p.get("HealthyThresholdCount", 5)),
            unhealthy_threshold=int(p.get("UnhealthyThresholdCount", 2)),
            matcher=str(p.get("Matcher", {}).get("HttpCode", "200")))
    rules = []
    for stack, _lid, res in assembly.resources("AWS::ElasticLoadBalancingV2::ListenerRule"):
        p = res["Properties"]
        patterns: list[str] = []
        for condition in p.get("Conditions", []):
            if condition.get("Field") == "path-pattern":
                patterns += condition.get("PathPatternConfig", {}).get("Values", []) or condition.get("Values", [])
        (action,) = [a for a in p["Actions"] if a["Type"] == "forward"]
        rules.append(Rule(int(p["Priority"]), tuple(patterns), resolver(action["TargetGroupArn"], stack)))
    default = ""
    for stack, _lid, res in assembly.resources("AWS::ElasticLoadBalancingV2::Listener"):
        for action in res["Properties"].get("DefaultActions", []):
            if action["Type"] == "forward":
                default = resolver(action["TargetGroupArn"], stack)
    return sorted(rules, key=lambda r: r.priority), default, groups


def route(rules: list[Rule], default: str, path: str) -> str:
    """The target group a path goes to: first matching rule by priority (ALB wildcards), else the default."""
    path = path.split("?", 1)[0]
    for rule in rules:
        if any(fnmatch.fnmatchcase(path, pattern) for pattern in rule.patterns):
            return rule.target_group
    return default


class Router:
    """The ALB on 127.0.0.1: listener rules, health checks, streaming reverse proxy."""

    def __init__(self, rules: list[Rule], default: str, groups: dict[str, TargetGroup]) -> None:
        self.rules, self.default, self.groups = rules, default, groups
        self.server = QuietServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self.server.serve_forever, name="router", daemon=True),
                         threading.Thread(target=self._health_loop, name="health", daemon=True)]

    def start(self) -> Router:
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()

    def register(self, group_arn: str, port: int, *, healthy: bool) -> None:
        """Register a target (ECS registers a task once its container is up)."""
        self.groups[group_arn].targets.append(Target("127.0.0.1", port, healthy=healthy))

    def deregister(self, group_arn: str, port: int) -> None:
        group = self.groups[group_arn]
        group.targets = [t for t in group.targets if t.port != port]

    def _check(self, group: TargetGroup, target: Target) -> None:
        ok = False
        try:
            conn = http.client.HTTPConnection(target.url_host, target.port, timeout=group.timeout_s)
            conn.request("GET", group.path)
            ok = str(conn.getresponse().status) in group.matcher.split(",")
            conn.close()
        except OSError:
            ok = False
        if ok:
            target.passes, target.fails = target.passes + 1, 0
            if target.passes >= group.healthy_threshold:
                target.healthy = True
        else:
            target.fails, target.passes = target.fails + 1, 0
            if target.fails >= group.unhealthy_threshold:
                target.healthy = False

    def _health_loop(self) -> None:
        next_at = {arn: time.monotonic() + g.interval_s for arn, g in self.groups.items()}
        while not self._stop.wait(0.5):
            for arn, group in self.groups.items():
                if time.monotonic() >= next_at[arn]:
                    next_at[arn] = time.monotonic() + group.interval_s
                    for target in list(group.targets):
                        self._check(group, target)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        router = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                return

            def _any(self) -> None:
                router.forward(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any

        return Handler

    def forward(self, h: BaseHTTPRequestHandler) -> None:
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        group = self.groups.get(route(self.rules, self.default, h.path))
        target = group.pick() if group else None
        if target is None:
            _plain(h, 503, b"503 Service Temporarily Unavailable (no healthy target)")
            return
        headers = {k: v for k, v in h.headers.items() if k.lower() not in _HOP}
        headers["X-Forwarded-For"] = h.client_address[0]
        headers["X-Forwarded-Proto"] = "http"
        try:
            conn = http.client.HTTPConnection(target.url_host, target.port, timeout=330)
            conn.request(h.command, h.path, body=body or None, headers=headers)
            response = conn.getresponse()
        except OSError:
            _plain(h, 502, b"502 Bad Gateway")
            return
        h.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in _HOP:
                h.send_header(key, value)
        h.send_header("Connection", "close")
        h.end_headers()
        try:
            while chunk := response.read1(65536):
                h.wfile.write(chunk)
                h.wfile.flush()
        except OSError:
            pass  # the target died mid-stream or the client left: the connection just ends
        finally:
            conn.close()


def _plain(h: BaseHTTPRequestHandler, status: int, text: bytes) -> None:
    h.send_response(status)
    h.send_header("Content-Type", "text/plain")
    h.send_header("Content-Length", str(len(text)))
    h.end_headers()
    h.wfile.write(text)
