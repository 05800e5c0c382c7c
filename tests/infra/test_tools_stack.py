"""The tools stack: one Lambda function per catalog entry, configured from the catalog."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from typing import Any

import pytest

from lambda_tools import envnames
from lambda_tools.catalog import CATALOG
from lambda_tools.spec import TOOL_RESOURCES
from stacks.tools_stack import tool_function_name

from .support import Synth

BY_NAME = {spec.name: spec for spec in CATALOG}
_DATA = "AgentPlatformData"
# What each resource a catalog entry may declare amounts to: the variable naming it, and the
# (action, resource path) pairs its grant adds to the function's role.
VARIABLES = {"documents:read": envnames.DOCUMENTS_BUCKET, "reports:read": envnames.REPORTS_BUCKET,
             "reports:write": envnames.REPORTS_BUCKET, "reports_topic:publish": envnames.REPORTS_TOPIC_ARN}
GRANTS = {
    "documents:read": {("s3:ListBucket", f"{_DATA}/Documents/Bucket/Resource"),
                       ("s3:GetObject", f"{_DATA}/Documents/Bucket/Resource/*")},
    "reports:read": {("s3:ListBucket", f"{_DATA}/Reports/Bucket/Resource"),
                     ("s3:GetObject", f"{_DATA}/Reports/Bucket/Resource/*")},
    "reports:write": {("s3:PutObject", f"{_DATA}/Reports/Bucket/Resource/*")},
    "reports_topic:publish": {("sns:Publish", f"{_DATA}/ReportsTopic/Topic/Resource")},
}


def _functions(s: Synth) -> dict[str, dict[str, Any]]:
    """Function properties by tool name (every function is named `<prefix>-<tool>`)."""
    found = {}
    for fn in s.resources("Tools", "AWS::Lambda::Function").values():
        props = fn["Properties"]
        (tool,) = [t for t in BY_NAME if props["FunctionName"] == tool_function_name("AgentPlatform", t)]
        found[tool] = props
    return found


def _role_actions(s: Synth, tool: str) -> set[str]:
    """Every action the tool function's role is allowed."""
    role = _functions(s)[tool]["Role"]["Fn::GetAtt"][0]
    policies = [p["Properties"] for p in s.resources("Tools", "AWS::IAM::Policy").values()
                if {"Ref": role} in p["Properties"]["Roles"]]
    return {a for p in policies for st in p["PolicyDocument"]["Statement"]
            for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])}


def _data_grants(s: Synth, tool: str) -> set[tuple[str, str]]:
    """(action, resource path) pairs of the tool's role beyond its own logs and tracing."""
    role = _functions(s)[tool]["Role"]["Fn::GetAtt"][0]
    statements = [st for p in s.resources("Tools", "AWS::IAM::Policy").values()
                  if {"Ref": role} in p["Properties"]["Roles"] for st in p["Properties"]["PolicyDocument"]["Statement"]]
    return {(action, s.render(resource, s.stack_name("Tools"), "BucketName"))
            for st in statements
            for action in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
            for resource in (st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]])
            if not action.startswith(("logs:", "xray:"))}


def test_one_function_per_catalog_tool(default_synth: Synth) -> None:
    assert sorted(_functions(default_synth)) == sorted(BY_NAME)


@pytest.mark.parametrize("tool", sorted(BY_NAME))
def test_timeout_and_memory_come_from_the_catalog(default_synth: Synth, tool: str) -> None:
    props = _functions(default_synth)[tool]
    assert (props["Timeout"], props["MemorySize"]) == (BY_NAME[tool].timeout_s, BY_NAME[tool].memory_mb)


@pytest.mark.parametrize("tool", sorted(BY_NAME))
def test_handler_comes_from_the_catalog(default_synth: Synth, tool: str) -> None:
    assert _functions(default_synth)[tool]["Handler"] == BY_NAME[tool].handler


def test_functions_run_current_python_on_arm64(default_synth: Synth) -> None:
    assert {(p["Runtime"], tuple(p["Architectures"])) for p in _functions(default_synth).values()} == {
        ("python3.14", ("arm64",))
    }


def test_functions_are_traced(default_synth: Synth) -> None:
    assert {p["TracingConfig"]["Mode"] for p in _functions(default_synth).values()} == {"Active"}


def test_functions_log_json_to_retained_groups(default_synth: Synth) -> None:
    groups = default_synth.resources("Tools", "AWS::Logs::LogGroup").values()
    assert sorted(g["Properties"]["RetentionInDays"] for g in groups) == [30] * len(CATALOG)


def test_powertools_layer_matches_runtime_and_architecture(default_synth: Synth) -> None:
    layers = {str(layer) for p in _functions(default_synth).values() for layer in p["Layers"]}
    assert len(layers) == 1 and "AWSLambdaPowertoolsPythonV3-python314-arm64" in layers.pop()


def test_every_function_knows_the_documents_bucket(default_synth: Synth) -> None:
    assert all(envnames.DOCUMENTS_BUCKET in p["Environment"]["Variables"] for p in _functions(default_synth).values())


def test_only_sensitive_tools_know_the_reports_bucket_and_topic(default_synth: Synth) -> None:
    told = {t for t, p in _functions(default_synth).items()
            if {envnames.REPORTS_BUCKET, envnames.REPORTS_TOPIC_ARN} <= set(p["Environment"]["Variables"])}
    assert told == {spec.name for spec in CATALOG if spec.sensitive}


def test_only_sensitive_tools_may_write_objects_or_publish(default_synth: Synth) -> None:
    writers = {t for t in BY_NAME if _role_actions(default_synth, t) & {"s3:PutObject", "sns:Publish"}}
    assert writers == {spec.name for spec in CATALOG if spec.sensitive}


def test_read_only_tools_may_only_read_the_corpus_and_log(default_synth: Synth) -> None:
    actions = set().union(*(_role_actions(default_synth, s.name) for s in CATALOG if not s.sensitive))
    assert actions == {"s3:GetObject", "s3:ListBucket", "logs:CreateLogStream", "logs:PutLogEvents",
                       "xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def test_every_declarable_resource_has_a_known_meaning() -> None:
    assert set(VARIABLES) == set(GRANTS) == set(TOOL_RESOURCES)


@pytest.mark.parametrize("tool", sorted(BY_NAME))
def test_function_is_granted_exactly_the_resources_it_declares(default_synth: Synth, tool: str) -> None:
    assert _data_grants(default_synth, tool) == set().union(*(GRANTS[r] for r in BY_NAME[tool].resources))


@pytest.mark.parametrize("tool", sorted(BY_NAME))
def test_function_is_told_exactly_the_resources_it_declares(default_synth: Synth, tool: str) -> None:
    variables = set(_functions(default_synth)[tool]["Environment"]["Variables"]) & set(VARIABLES.values())
    assert variables == {VARIABLES[r] for r in BY_NAME[tool].resources}


def _asset_dir(s: Synth) -> Any:
    (key,) = {p["Code"]["S3Key"] for p in _functions(s).values()}
    return s.outdir / f"asset.{key.removesuffix('.zip')}"


def test_asset_holds_only_the_tools_package(default_synth: Synth) -> None:
    asset = _asset_dir(default_synth)
    assert ([p.name for p in asset.iterdir()], list(asset.rglob("__pycache__"))) == (["lambda_tools"], [])


def test_handlers_import_from_the_asset_alone(default_synth: Synth) -> None:
    """Import every handler with only the asset and third-party packages on the path (no repo, no editable
    install): what Lambda sees, with pydantic and Powertools in the layer and boto3 in the runtime."""
    modules = [spec.handler.rsplit(".", 1)[0] for spec in CATALOG]
    code = ("import importlib, sys; sys.path[:0] = sys.argv[1:3]; "
            f"[getattr(importlib.import_module(m), 'handler') for m in {modules!r}]; "
            "import lambda_tools; print(lambda_tools.__file__)")
    done = subprocess.run([sys.executable, "-I", "-S", "-c", code, str(_asset_dir(default_synth)),
                           sysconfig.get_paths()["purelib"]], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip().startswith(str(_asset_dir(default_synth))), done.stderr[-2000:]
