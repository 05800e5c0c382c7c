"""Processes the rehearsal runs: the moto server, and each agent service as ECS would start it.

A service replica is the task definition's container command (the image's CMD when the task
definition has none) with the container's environment, its secrets injected as ECS injects
them (resolved by the execution role, set as environment variables), and the credentials of
the task role (STS AssumeRole). It binds 127.0.0.1 on a free port instead of 0.0.0.0:8080.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rehearsal.assembly import REGION, REPO, Assembly, Resolver


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout_s: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until `url` answers 200 (raises if `proc` exits first or the time runs out)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout_s} s")


def image_command() -> list[str]:
    """The image's CMD from the Dockerfile (used when a task definition has no Command)."""
    for line in reversed((REPO / "Dockerfile").read_text().splitlines()):
        if line.startswith("CMD "):
            return list(json.loads(line[4:]))
    raise RuntimeError("the Dockerfile has no CMD")


def loopback(command: list[str], port: int) -> list[str]:
    """The command with --host 0.0.0.0 and --port 8080 moved to 127.0.0.1 and a free port."""
    out = list(command)
    for flag, value in (("--host", "127.0.0.1"), ("--port", str(port))):
        if flag in out:
            out[out.index(flag) + 1] = value
    return out


@dataclass
class ServiceSpec:
    """An agent service as its task definition describes it."""

    agent: str
    task_definition: str  # logical id
    stack: str
    command: list[str]
    environment: dict[str, str]
    secrets: dict[str, str]  # env name -> valueFrom
    task_role_arn: str
    cpu_units: int
    memory_mib: int
    container_port: int


def service_specs(assembly: Assembly, resolver: Resolver, agent_env: str) -> dict[str, ServiceSpec]:
    """Every task definition's container, keyed by the agent its environment names (`agent_env`)."""
    specs = {}
    for stack, lid, res in assembly.resources("AWS::ECS::TaskDefinition"):
        props = res["Properties"]
        (container,) = props["ContainerDefinitions"]
        env = {e["Name"]: str(resolver(e["Value"], stack)) for e in container.get("Environment", [])}
        secrets = {s["Name"]: str(resolver(s["ValueFrom"], stack)) for s in container.get("Secrets", [])}
        command = list(container.get("Command") or []) or image_command()
        agent = env.get(agent_env, lid)
        specs[agent] = ServiceSpec(
            agent=agent, task_definition=lid, stack=stack, command=command, environment=env, secrets=secrets,
            task_role_arn=resolver(props["TaskRoleArn"], stack), cpu_units=int(props.get("Cpu", 256)),
            memory_mib=int(props.get("Memory", 512)),
            container_port=int(container.get("PortMappings", [{}])[0].get("ContainerPort", 8080)))
    return specs


@dataclass
class Replica:
    """One running container of a service."""

    spec: ServiceSpec
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    access_key: str
    started: float = field(default_factory=time.monotonic)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        """user + system CPU of the process so far (from /proc)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def alive(self) -> bool:
        return self.proc.poll() is None


def start_replica(spec: ServiceSpec, name: str, *, base_env: dict[str, str], credentials: dict[str, str],
                  secret_values: dict[str, str], workdir: Path) -> Replica:
    """Start the container command as a process (the venv's installed package stands in for the image)."""
    port = free_port()
    bin_dir = str(Path(sys.executable).parent)
    command = loopback(spec.command, port)
    if command and not os.path.isabs(command[0]) and (Path(bin_dir) / command[0]).exists():
        command[0] = str(Path(bin_dir) / command[0])
    data_dir = workdir / name
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {**base_env, **spec.environment, **secret_values, **credentials,
           "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION, "PATH": bin_dir + os.pathsep + "/usr/bin:/bin",
           "HOME": str(data_dir), "TMPDIR": str(data_dir), "PYTHONUNBUFFERED": "1"}
    # The container's data directory (/tmp/agent-platform) is per container: give each replica its own.
    for key, value in spec.environment.items():
        if value.startswith("/tmp/"):
            env[key] = str(data_dir / value.removeprefix("/tmp/"))
    log_path = workdir / f"{name}.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(data_dir),
                                start_new_session=True)
    return Replica(spec, name, port, proc, log_path, credentials["AWS_ACCESS_KEY_ID"])


def stop_process(proc: subprocess.Popen[Any], *, sig: int = signal.SIGTERM, grace_s: float = 15.0) -> None:
    """Signal one process we started, then kill it if it outlives `grace_s`."""
    if proc.poll() is not None:
        return
    try:
        proc.send_signal(sig)
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    except ProcessLookupError:
        pass


def start_moto(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    """moto in server mode on a free loopback port."""
    port = free_port()
    log = open(workdir / "moto.log", "ab")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    wait_http(f"http://127.0.0.1:{port}/moto-api/", 30, proc)
    return proc, port


def describe(command: list[str]) -> str:
    return shlex.join(command)
