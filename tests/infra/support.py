"""Synthesizes the CDK app in-process and reads the written templates, following cross-stack references."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
# What `cdk synth` passes: cdk.json's context (settings, feature flags), plus path metadata and a fixed region.
CDK_JSON_CONTEXT: dict[str, Any] = json.loads((REPO / "cdk.json").read_text())["context"]
CERT_ARN = "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"
IMAGE_URI = "123456789012.dkr.ecr.us-east-1.amazonaws.com/agent-platform:v1"
ZONE_ID = "Z0123456789ABCDEFGHIJ"
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:ops-alarms"
# Data kept from an earlier deployment that a new one attaches to (the `existing_*` settings).
EXISTING = {
    "existing_table_name": "AgentPlatformData-TasksTable-OLD",
    "existing_documents_bucket": "agentplatformdata-documents-old",
    "existing_reports_bucket": "agentplatformdata-reports-old",
    "existing_llm_api_key_secret": "old/llm-api-key",
    "existing_api_keys_secret": "arn:aws:secretsmanager:us-east-1:123456789012:secret:old/api-keys-AbCdEf",
}


@dataclass
class Synth:
    """A synthesized platform: the composed app objects and the cloud assembly written to `outdir`."""

    platform: Any
    outdir: Path
    warnings: list[str]
    _templates: dict[str, dict[str, Any]] = field(default_factory=dict)

    def templates(self) -> dict[str, dict[str, Any]]:
        """Every template by stack name (e.g. "AgentPlatformAgents")."""
        if not self._templates:
            for path in sorted(self.outdir.glob("*.template.json")):
                self._templates[path.name.removesuffix(".template.json")] = json.loads(path.read_text())
        return self._templates

    def stack_name(self, suffix: str) -> str:
        (name,) = [n for n in self.templates() if n.endswith(suffix)]
        return name

    def template(self, suffix: str) -> dict[str, Any]:
        """The template of the stack whose name ends with `suffix` (e.g. "Agents")."""
        return self.templates()[self.stack_name(suffix)]

    def resources(self, suffix: str, type_: str) -> dict[str, dict[str, Any]]:
        """Resources of one CloudFormation type in one stack, by logical id."""
        return {k: r for k, r in self.template(suffix)["Resources"].items() if r["Type"] == type_}

    def path_of(self, suffix: str, logical_id: str) -> str:
        """The construct path of a resource, e.g. "AgentPlatformAgents/researchQueue/Queue/Resource"."""
        return self.template(suffix)["Resources"][logical_id]["Metadata"]["aws:cdk:path"]

    def target(self, value: Any, stack: str) -> tuple[str, str]:
        """(stack name, logical id) a Ref / Fn::GetAtt / Fn::GetStackOutput points at, across stacks."""
        if "Ref" in value:
            return stack, value["Ref"]
        if "Fn::GetAtt" in value:
            return stack, value["Fn::GetAtt"][0]
        ref = value["Fn::GetStackOutput"]
        producer = ref["StackName"]
        return self.target(self.templates()[producer]["Outputs"][ref["OutputName"]]["Value"], producer)

    def render(self, value: Any, stack: str, name_of: str = "FunctionName") -> str:
        """A string value with every reference replaced by the target's `name_of` property (or its path)."""
        if isinstance(value, str):
            return value
        if "Fn::Join" in value:
            sep, parts = value["Fn::Join"]
            return sep.join(self.render(p, stack, name_of) for p in parts)
        if str(value.get("Ref", "")).startswith("AWS::"):  # a pseudo parameter: keep its name
            return "${" + value["Ref"] + "}"
        producer, logical_id = self.target(value, stack)
        resource = self.templates()[producer]["Resources"][logical_id]
        return resource["Properties"].get(name_of) or resource["Metadata"]["aws:cdk:path"]


@cache
def _app_module() -> Any:
    import app  # late: conftest must have put node on PATH before jsii starts

    return app


def synthesize(outdir: Path, **overrides: Any) -> Synth:
    """Build and synthesize the app with cdk.json's context plus `overrides` (like `-c key=value`)."""
    context = {**CDK_JSON_CONTEXT, "region": "us-east-1", "aws:cdk:enable-path-metadata": True, **overrides}
    platform = _app_module().build(context, outdir=str(outdir))
    try:
        assembly = platform.app.synth()
    except RuntimeError as exc:  # validation failed: show every violation, not only "see the report"
        report = json.loads((outdir / "validation-report.json").read_text())
        violations = [f"{v['description'].split(': ')[0]} at {c['constructPath']}" for r in report["pluginReports"]
                      for v in r["violations"] if v.get("severity") == "error" for c in v["violatingConstructs"]]
        raise AssertionError("synth failed:\n" + "\n".join(violations or [str(exc)])) from None
    warnings = [str(m.entry.data) for s in assembly.stacks for m in s.messages if m.level.name == "WARNING"]
    return Synth(platform=platform, outdir=outdir, warnings=warnings)
