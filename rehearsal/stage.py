"""The stage: synthesize, start moto, provision, then the gateway, the Lambda endpoint, the services
and the router, all on 127.0.0.1. `Stage` is a context manager that stops every process it started.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import time
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3

from rehearsal.assembly import REGION, Assembly, synthesize
from rehearsal.gateway import Gateway, Principal, Recorder
from rehearsal.lambda_endpoint import LambdaEndpoint
from rehearsal.provision import Provisioned, Provisioner
from rehearsal.router import Router, listener_rules
from rehearsal.services import (
    Replica,
    ServiceSpec,
    service_specs,
    start_moto,
    start_replica,
    stop_process,
    wait_http,
)

OPERATOR_KEY = "AKIAREHEARSALOPERATOR"
AGENT_ENV = "AGENT_PLATFORM_AGENT"  # how a task definition says which agent it runs (agent_runtime.envnames)


def _describe_table(client: Any, table: str) -> dict[str, Any] | None:
    """DescribeTable's `Table`, None when there is no such table (the gateway's key schemas)."""
    try:
        return dict(client.describe_table(TableName=table)["Table"])
    except client.exceptions.ResourceNotFoundException:
        return None


class Stage:
    """Everything running; `replicas` by name, `targets` maps agent -> target group arn."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.recorder = Recorder()
        self.replicas: dict[str, Replica] = {}
        self._procs: list[Any] = []
        self._closers: list[Any] = []
        self.timings: dict[str, float] = {}

    def __enter__(self) -> Stage:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _track(self, pid: int) -> None:
        """Note a process in `workdir/pids`, so a runner that has to kill the rehearsal can stop it too."""
        with open(self.workdir / "pids", "a") as pids:
            pids.write(f"{pid}\n")

    def _timed(self, name: str, started: float) -> None:
        self.timings[name] = round(time.monotonic() - started, 2)

    def start(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir.mkdir(parents=True)
        t = time.monotonic()
        self.assembly: Assembly = synthesize(self.workdir / "cdk.out")
        self._timed("synth", t)
        t = time.monotonic()
        moto, self.moto_port = start_moto(self.workdir)
        self._procs.append(moto)
        self._track(moto.pid)
        direct = f"http://127.0.0.1:{self.moto_port}"
        self.provisioned: Provisioned = Provisioner(self.assembly, lambda s: self.operator(s, direct)).run()
        self.gateway = Gateway(self.moto_port, self._policies_from_iam(direct), self.provisioned.secret_arns,
                               self.recorder).start()
        self._closers.append(self.gateway.stop)
        self.gateway.register(OPERATOR_KEY, Principal("operator", None))
        self.gateway.describe_table = partial(_describe_table, self.operator("dynamodb", direct))
        self._timed("provision", t)
        self.lambdas = LambdaEndpoint(self.provisioned.functions, self.gateway, self.credentials,
                                      self.workdir / "lambda").start()
        self._closers.append(self.lambdas.stop)
        self.specs: dict[str, ServiceSpec] = service_specs(self.assembly, self.provisioned.resolver, AGENT_ENV)
        rules, default, groups = listener_rules(self.assembly, self.provisioned.resolver)
        self.router = Router(rules, default, groups).start()
        self._closers.append(self.router.stop)
        self.targets = self._target_groups()

    def _policies_from_iam(self, endpoint: str) -> dict[str, list[dict[str, Any]]]:
        """Every role's inline policy documents, read back from moto's IAM (what was really created)."""
        iam = self.operator("iam", endpoint)
        out: dict[str, list[dict[str, Any]]] = {}
        for role in iam.list_roles()["Roles"]:
            names = iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]
            out[role["Arn"]] = [iam.get_role_policy(RoleName=role["RoleName"], PolicyName=n)["PolicyDocument"]
                                for n in names]
        return out

    def _target_groups(self) -> dict[str, str]:
        """agent -> target group arn, from each ECS service's LoadBalancers and task definition."""
        by_task_def = {spec.task_definition: agent for agent, spec in self.specs.items()}
        out = {}
        for stack, _lid, res in self.assembly.resources("AWS::ECS::Service"):
            props = res["Properties"]
            agent = by_task_def.get(props["TaskDefinition"].get("Ref", ""))
            for lb in props.get("LoadBalancers", []):
                if agent:
                    out[agent] = self.provisioned.resolver(lb["TargetGroupArn"], stack)
        return out

    # -- clients and credentials ------------------------------------------------------------------

    def operator(self, service: str, endpoint: str | None = None) -> Any:
        """A boto3 client with the operator's (administrator's) credentials, through the gateway by default."""
        return boto3.client(service, region_name=REGION, endpoint_url=endpoint or self.gateway.url,
                            aws_access_key_id=OPERATOR_KEY, aws_secret_access_key="rehearsal")

    def credentials(self, role_arn: str, session: str) -> dict[str, str]:
        """Environment variables holding temporary credentials of `role_arn` (STS AssumeRole)."""
        creds = self.operator("sts").assume_role(RoleArn=role_arn, RoleSessionName=session)["Credentials"]
        return {"AWS_ACCESS_KEY_ID": creds["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
                "AWS_SESSION_TOKEN": creds["SessionToken"]}

    def client_as(self, role_arn: str, service: str, session: str = "probe") -> Any:
        """A boto3 client with a role's credentials (registered with the gateway under `session`)."""
        creds = self.credentials(role_arn, session)
        self.gateway.register(creds["AWS_ACCESS_KEY_ID"], Principal(f"probe:{session}", role_arn))
        endpoint = self.lambdas.url if service == "lambda" else self.gateway.url
        return boto3.client(service, region_name=REGION, endpoint_url=endpoint,
                            aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
                            aws_session_token=creds["AWS_SESSION_TOKEN"])

    # -- services ---------------------------------------------------------------------------------

    def launch(self, agent: str, name: str, *, register: bool = True) -> Replica:
        """Start one replica of `agent`'s service; registered with its target group once healthy."""
        spec = self.specs[agent]
        creds = self.credentials(spec.task_role_arn, name)
        secrets = self.operator("secretsmanager")
        secret_values = {env: secrets.get_secret_value(SecretId=ref)["SecretString"]
                         for env, ref in spec.secrets.items()}
        base = {"AWS_ENDPOINT_URL": self.gateway.url, "AWS_ENDPOINT_URL_LAMBDA": self.lambdas.url,
                "PYTHONPATH": str(self._hooks()), "PYTHONFAULTHANDLER": "1", "REHEARSAL_HOSTNAME": f"ip-{name}"}
        replica = start_replica(spec, name, base_env=base, credentials=creds, secret_values=secret_values,
                                workdir=self.workdir / "services")
        self._track(replica.proc.pid)
        self.gateway.register(replica.access_key, Principal(f"service:{agent}", spec.task_role_arn))
        self.replicas[name] = replica
        return replica

    def _hooks(self) -> Path:
        """A sitecustomize for the services: SIGUSR1 dumps every thread's stack into the replica's log, and
        each replica has a host name of its own, as each Fargate task has (not this machine's, shared)."""
        hooks = self.workdir / "hooks"
        if not hooks.is_dir():
            hooks.mkdir()
            (hooks / "sitecustomize.py").write_text(
                "import faulthandler, os, signal, socket, sys\n"
                "faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)\n"
                "if os.environ.get('REHEARSAL_HOSTNAME'):\n"
                "    socket.gethostname = lambda: os.environ['REHEARSAL_HOSTNAME']\n")
        return hooks

    def dump_stacks(self) -> list[str]:
        """Ask every live replica for its threads' stacks (they land in its log); names of those asked."""
        asked = []
        for replica in list(self.replicas.values()):
            if replica.alive():
                with contextlib.suppress(ProcessLookupError):
                    replica.proc.send_signal(signal.SIGUSR1)
                    asked.append(replica.name)
        return asked

    def await_healthy(self, replica: Replica, timeout_s: float = 90.0) -> None:
        group = self.targets[replica.spec.agent]
        try:
            wait_http(f"{replica.url}{self.router.groups[group].path}", timeout_s, replica.proc)
        except (RuntimeError, TimeoutError) as exc:
            tail = replica.log_path.read_text(errors="replace").strip().splitlines()[-6:]
            raise RuntimeError(f"replica {replica.name} of the {replica.spec.agent} service never became "
                               f"healthy: {exc}; its log ends:\n    " + "\n    ".join(tail)) from None
        self.router.register(group, replica.port, healthy=True)

    def remove(self, replica: Replica) -> None:
        self.router.deregister(self.targets[replica.spec.agent], replica.port)

    def close(self) -> None:
        for replica in self.replicas.values():
            with contextlib.suppress(Exception):
                stop_process(replica.proc, grace_s=10)
        for closer in reversed(self._closers):
            with contextlib.suppress(Exception):
                closer()
        for proc in self._procs:
            with contextlib.suppress(Exception):
                stop_process(proc, grace_s=5)
