"""The cloud assembly: synthesize the app in-process, read its templates, resolve intrinsic functions.

Everything the rehearsal names (tables, queues, functions, environment variables, routes,
policies) comes from here; nothing is restated by hand. `Resolver` evaluates Ref, Fn::GetAtt,
Fn::Join, Fn::Sub, Fn::Select, Fn::Split, Fn::ImportValue and Fn::GetStackOutput against the
physical resources the provisioner created (`World`).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
# What the rehearsal deploys: cdk.json's context, the region, and the offline model (no LLM endpoint).
# Deployed as a production deployment is: behind HTTPS (the router plays the listener over plain HTTP).
REHEARSAL_CONTEXT: dict[str, Any] = {"region": REGION, "model": "offline",
                                     "certificate_arn": f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/00000000-0000-4000-8000-000000000000"}


class AssemblyError(Exception):
    """The assembly cannot be read or a reference in it cannot be resolved."""


@dataclass
class Assembly:
    """The templates of a synthesized cloud assembly, keyed by stack name, and its asset directories."""

    outdir: Path
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def read(cls, outdir: Path) -> Assembly:
        """Read every `*.template.json` written to `outdir`."""
        templates = {p.name.removesuffix(".template.json"): json.loads(p.read_text())
                     for p in sorted(outdir.glob("*.template.json"))}
        if not templates:
            raise AssemblyError(f"no templates in {outdir}")
        return cls(outdir, templates)

    def resources(self, type_: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(stack, logical id, resource) of every resource of `type_`, in template order."""
        for stack, template in self.templates.items():
            for logical_id, resource in template.get("Resources", {}).items():
                if resource.get("Type") == type_:
                    yield stack, logical_id, resource

    def resource(self, stack: str, logical_id: str) -> dict[str, Any]:
        try:
            return self.templates[stack]["Resources"][logical_id]
        except KeyError:
            raise AssemblyError(f"{stack} has no resource {logical_id}") from None

    def path_of(self, stack: str, logical_id: str) -> str:
        """The construct path (e.g. "AgentPlatformAgents/researchQueue/Queue/Resource"), else the logical id."""
        meta = self.resource(stack, logical_id).get("Metadata", {})
        return str(meta.get("aws:cdk:path", f"{stack}/{logical_id}"))

    def asset_dir(self, stack: str, object_key: str) -> Path:
        """The staged directory of a file asset, found by the S3 key the template deploys it from."""
        manifest = json.loads((self.outdir / f"{stack}.assets.json").read_text())
        for asset in manifest.get("files", {}).values():
            for dest in asset.get("destinations", {}).values():
                if dest.get("objectKey") == object_key:
                    return self.outdir / asset["source"]["path"]
        raise AssemblyError(f"{stack}: no staged asset for object key {object_key}")

    def exports(self) -> dict[str, tuple[str, Any]]:
        """Export name -> (stack, output value) over every stack."""
        out = {}
        for stack, template in self.templates.items():
            for output in template.get("Outputs", {}).values():
                name = output.get("Export", {}).get("Name")
                if isinstance(name, str):
                    out[name] = (stack, output["Value"])
        return out


def synthesize(outdir: Path, **context: Any) -> Assembly:
    """Build and synthesize the CDK app in-process with cdk.json's context, REHEARSAL_CONTEXT and `context`."""
    bin_dir = str(Path(sys.executable).parent)
    if (Path(bin_dir) / "node").exists() and not os.environ.get("PATH", "").startswith(bin_dir):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")  # jsii needs node
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import app  # late: PATH must hold node before jsii starts

    cdk_context = json.loads((REPO / "cdk.json").read_text())["context"]
    platform = app.build({**cdk_context, **REHEARSAL_CONTEXT, **context}, outdir=str(outdir))
    platform.app.synth()
    return Assembly.read(outdir)


@dataclass
class World:
    """What was created: per (stack, logical id) its Ref value and attributes (Arn, QueueName, ...)."""

    refs: dict[tuple[str, str], str] = field(default_factory=dict)
    attrs: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    placeholders: set[tuple[str, str]] = field(default_factory=set)  # not represented: any attribute resolves

    def add(self, stack: str, logical_id: str, ref: str, **attrs: str) -> None:
        self.refs[(stack, logical_id)] = ref
        self.attrs[(stack, logical_id)] = dict(attrs)


_SUB = re.compile(r"\$\{([^}!][^}]*)\}")


class Resolver:
    """Evaluates a template value to plain JSON, looking references up in `world`."""

    def __init__(self, assembly: Assembly, world: World, *, account: str = ACCOUNT, region: str = REGION) -> None:
        self.assembly = assembly
        self.world = world
        self.pseudo = {"AWS::AccountId": account, "AWS::Region": region, "AWS::Partition": "aws",
                       "AWS::URLSuffix": "amazonaws.com", "AWS::NoValue": None}
        self._exports: dict[str, tuple[str, Any]] | None = None

    def __call__(self, value: Any, stack: str) -> Any:
        return self.resolve(value, stack)

    def resolve(self, value: Any, stack: str) -> Any:
        if isinstance(value, list):
            return [self.resolve(v, stack) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref" or key.startswith("Fn::"):
                return self._intrinsic(key, arg, stack)
        return {k: self.resolve(v, stack) for k, v in value.items()}

    def _intrinsic(self, key: str, arg: Any, stack: str) -> Any:
        if key == "Ref":
            return self._ref(arg, stack)
        if key == "Fn::GetAtt":
            logical_id, attr = arg if isinstance(arg, list) else arg.split(".", 1)
            return self._att(stack, logical_id, attr)
        if key == "Fn::Join":
            sep, parts = arg
            return sep.join(str(self.resolve(p, stack)) for p in self.resolve(parts, stack))
        if key == "Fn::Sub":
            return self._sub(arg, stack)
        if key == "Fn::Select":
            index, items = arg
            return self.resolve(items, stack)[int(self.resolve(index, stack))]
        if key == "Fn::Split":
            sep, text = arg
            return str(self.resolve(text, stack)).split(sep)
        if key == "Fn::ImportValue":
            return self._import(self.resolve(arg, stack))
        if key == "Fn::GetStackOutput":
            producer = arg["StackName"]
            try:
                output = self.assembly.templates[producer]["Outputs"][arg["OutputName"]]
            except KeyError:
                raise AssemblyError(f"{stack}: Fn::GetStackOutput names a missing output {producer}."
                                    f"{arg.get('OutputName')}") from None
            return self.resolve(output["Value"], producer)
        raise AssemblyError(f"{stack}: intrinsic function {key} is not supported by the rehearsal")

    def _ref(self, name: str, stack: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name == "AWS::StackName":
            return stack
        if (stack, name) not in self.world.refs:
            raise AssemblyError(f"{stack}: Ref {name} ({self._describe(stack, name)}) was not created")
        return self.world.refs[(stack, name)]

    def _att(self, stack: str, logical_id: str, attr: str) -> str:
        attrs = self.world.attrs.get((stack, logical_id))
        if (stack, logical_id) in self.world.placeholders:
            return f"placeholder:{logical_id}.{attr}"
        if attrs is None or attr not in attrs:
            raise AssemblyError(f"{stack}: Fn::GetAtt {logical_id}.{attr} ({self._describe(stack, logical_id)}) "
                                "is not available")
        return attrs[attr]

    def _sub(self, arg: Any, stack: str) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1], stack))

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, attr = name.split(".", 1)
                return self._att(stack, logical_id, attr)
            return str(self._ref(name, stack))

        return _SUB.sub(replace, text)

    def _import(self, name: str) -> Any:
        if self._exports is None:
            self._exports = self.assembly.exports()
        if name not in self._exports:
            raise AssemblyError(f"Fn::ImportValue {name}: no stack exports it")
        producer, value = self._exports[name]
        return self.resolve(value, producer)

    def _describe(self, stack: str, logical_id: str) -> str:
        try:
            return self.assembly.path_of(stack, logical_id)
        except AssemblyError:
            return "not in the template"
