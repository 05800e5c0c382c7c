"""An agent with MCP servers in the agents file: its task role may read exactly the secrets its servers name
(no other agent may), its container is given the servers (URL included) through the deployed agents,
and a bad server declaration fails the settings before anything is synthesized."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent_runtime import envnames as env
from agent_runtime.agent_file import DEFAULT_AGENTS_FILE
from stacks.settings import SettingsError, load_settings

from .support import CDK_JSON_CONTEXT, CERT_ARN, Synth, synthesize

TOKEN_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:wiki/mcp-token-AbCdEf"
HELPDESK = f'''
[[agents]]
name = "helpdesk"
description = "Answers from the team's wiki and tickets."
instructions = "Use the wiki and the ticket tools."
tools = ["search_documents"]

[[agents.mcp_servers]]
name = "wiki"
url = "https://wiki.example.com/mcp"
tools = ["read_page"]
secret = "{TOKEN_ARN}"

[[agents.mcp_servers]]
name = "tickets"
url = "https://tickets.example.com/mcp"
tools = ["open_ticket"]
sensitive = ["open_ticket"]
secret = "helpdesk/tickets-token"

[[agents.mcp_servers]]
name = "notes"
command = "notes-mcp"
tools = ["lookup_note"]
'''


@pytest.fixture(scope="module")
def mcp_synth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synth]:
    folder = tmp_path_factory.mktemp("agents-mcp")
    path = folder / "agents.toml"
    path.write_text(DEFAULT_AGENTS_FILE.read_text(encoding="utf-8") + HELPDESK, encoding="utf-8")
    yield synthesize(folder / "cdk.out", certificate_arn=CERT_ARN, agents_file=str(path))


def _task(s: Synth, agent: str) -> dict[str, Any]:
    (task,) = [t for lid, t in s.resources("Agents", "AWS::ECS::TaskDefinition").items()
               if s.path_of("Agents", lid).startswith(f"{s.stack_name('Agents')}/{agent}Agent/")]
    return task["Properties"]


def _secrets_read(s: Synth, agent: str) -> set[str]:
    """What the agent's task role may call GetSecretValue on, rendered (platform secrets by their paths)."""
    role = {"Ref": _task(s, agent)["TaskRoleArn"]["Fn::GetAtt"][0]}
    return {s.render(r, s.stack_name("Agents"), "Name")
            for p in s.resources("Agents", "AWS::IAM::Policy").values() if role in p["Properties"]["Roles"]
            for st in p["Properties"]["PolicyDocument"]["Statement"] if st["Action"] == "secretsmanager:GetSecretValue"
            for r in (st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]])}


PLATFORM_SECRETS = {"AgentPlatformData/Secrets/LlmApiKey/Resource", "AgentPlatformData/Secrets/ApiKeys/Resource"}


def test_the_agents_role_reads_exactly_its_mcp_servers_secrets(mcp_synth: Synth) -> None:
    extra = _secrets_read(mcp_synth, "helpdesk") - PLATFORM_SECRETS
    assert extra == {TOKEN_ARN, "arn:aws:secretsmanager:us-east-1:${AWS::AccountId}:secret:"
                                "helpdesk/tickets-token-??????"}


@pytest.mark.parametrize("agent", ["research", "content", "analysis"])
def test_other_agents_cannot_read_the_mcp_secrets(mcp_synth: Synth, agent: str) -> None:
    assert _secrets_read(mcp_synth, agent) == PLATFORM_SECRETS


def test_the_container_is_given_its_mcp_servers_and_their_urls(mcp_synth: Synth) -> None:
    (container,) = _task(mcp_synth, "helpdesk")["ContainerDefinitions"]
    environment = {e["Name"]: e["Value"] for e in container["Environment"]}
    (helpdesk,) = [a for a in json.loads(environment[env.AGENTS_JSON])["agents"] if a["name"] == "helpdesk"]
    assert [(m["name"], m.get("url"), m.get("secret")) for m in helpdesk["mcp_servers"]] == [
        ("wiki", "https://wiki.example.com/mcp", TOKEN_ARN),
        ("tickets", "https://tickets.example.com/mcp", "helpdesk/tickets-token"), ("notes", None, None)]


def test_a_bad_mcp_server_fails_the_settings_before_synthesis(tmp_path: Path) -> None:
    path = tmp_path / "agents.toml"
    path.write_text(HELPDESK.replace('url = "https://wiki.example.com/mcp"', 'url = "wiki.example.com"'))
    with pytest.raises(SettingsError) as caught:
        load_settings({**CDK_JSON_CONTEXT, "certificate_arn": CERT_ARN, "agents_file": str(path)})
    assert [p.split(": ", 2)[2] for p in caught.value.problems] == [
        "agent 'helpdesk', mcp_servers 'wiki', url: 'wiki.example.com' is not an http(s) URL"]
