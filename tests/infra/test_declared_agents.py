"""A fourth agent in an agents file given with `-c agents_file=`: it gets its own queue, dead-letter queue,
service sized as declared, a task role that may invoke only its tools, a dashboard row and alarms; a bad
file fails the settings, one line per problem, before anything is synthesized."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent_runtime import envnames as env
from stacks.settings import AgentSize, SettingsError, load_settings
from stacks.tools_stack import tool_function_name
from tests.agent_file_support import FOURTH, FOURTH_TOOLS, agents_file_with_fourth

from .support import CDK_JSON_CONTEXT, CERT_ARN, Synth, synthesize

HTTPS = {**CDK_JSON_CONTEXT, "certificate_arn": CERT_ARN}


@pytest.fixture(scope="module")
def fourth_synth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synth]:
    """The platform synthesized with the shipped agents plus the fourth, from a file outside the repository."""
    folder = tmp_path_factory.mktemp("agents-file")
    yield synthesize(folder / "cdk.out", certificate_arn=CERT_ARN, agents_file=str(agents_file_with_fourth(folder)))


def _of_fourth(s: Synth, type_: str) -> list[dict[str, Any]]:
    """The fourth agent's resources of one type in the agents stack (by construct path)."""
    prefix = f"{s.stack_name('Agents')}/{FOURTH}"
    return [r for lid, r in s.resources("Agents", type_).items() if s.path_of("Agents", lid).startswith(prefix)]


def _container_env(s: Synth) -> dict[str, str]:
    ((container,),) = [t["Properties"]["ContainerDefinitions"] for t in _of_fourth(s, "AWS::ECS::TaskDefinition")]
    return {e["Name"]: e["Value"] for e in container["Environment"]}


def test_the_fourth_agent_gets_a_service(fourth_synth: Synth) -> None:
    assert len(_of_fourth(fourth_synth, "AWS::ECS::Service")) == 1
    assert len(fourth_synth.resources("Agents", "AWS::ECS::Service")) == 4


def test_the_fourth_agent_gets_a_queue_and_a_dead_letter_queue(fourth_synth: Synth) -> None:
    queues = _of_fourth(fourth_synth, "AWS::SQS::Queue")
    assert sorted("RedrivePolicy" in q["Properties"] for q in queues) == [False, True]


def test_the_fourth_agents_role_invokes_only_its_tools(fourth_synth: Synth) -> None:
    s = fourth_synth
    (task,) = _of_fourth(s, "AWS::ECS::TaskDefinition")
    role = {"Ref": task["Properties"]["TaskRoleArn"]["Fn::GetAtt"][0]}
    invokable = {s.render(r, s.stack_name("Agents"))
                 for p in s.resources("Agents", "AWS::IAM::Policy").values() if role in p["Properties"]["Roles"]
                 for st in p["Properties"]["PolicyDocument"]["Statement"]
                 if "lambda:InvokeFunction" in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
                 for r in (st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]])}
    assert invokable == {tool_function_name("AgentPlatform", t) for t in FOURTH_TOOLS}


def test_the_fourth_agents_task_is_sized_as_declared(fourth_synth: Synth) -> None:
    (task,) = _of_fourth(fourth_synth, "AWS::ECS::TaskDefinition")
    assert (task["Properties"]["Cpu"], task["Properties"]["Memory"]) == ("1024", "2048")


def test_the_fourth_agent_scales_up_to_its_declared_max(fourth_synth: Synth) -> None:
    targets = fourth_synth.resources("Agents", "AWS::ApplicationAutoScaling::ScalableTarget")
    mine = [t["Properties"] for lid, t in targets.items() if f"/{FOURTH}Agent/" in fourth_synth.path_of("Agents", lid)]
    assert [(t["MinCapacity"], t["MaxCapacity"]) for t in mine] == [(1, 2)]


def test_the_fourth_agent_runs_its_model_and_concurrency(fourth_synth: Synth) -> None:
    environment = _container_env(fourth_synth)
    assert (environment[env.MODEL], environment[env.WORKER_CONCURRENCY]) == ("gpt-4o", "8")


def test_each_service_is_given_the_deployed_agents(fourth_synth: Synth) -> None:
    declared = json.loads(_container_env(fourth_synth)[env.AGENTS_JSON])["agents"]
    assert [a["name"] for a in declared] == ["research", "content", "analysis", FOURTH]


def test_the_fourth_agent_has_a_dashboard_row_and_alarms(fourth_synth: Synth) -> None:
    (dashboard,) = fourth_synth.resources("Observability", "AWS::CloudWatch::Dashboard").values()
    assert f'\\"Agent\\",\\"{FOURTH}\\"' in json.dumps(dashboard["Properties"]["DashboardBody"])
    alarms = fourth_synth.resources("Observability", "AWS::CloudWatch::Alarm").values()
    assert any(FOURTH in a["Properties"]["AlarmDescription"] and "DLQ" in a["Properties"]["AlarmDescription"]
               for a in alarms)


def test_declared_sizing_is_over_task_size_and_under_agent_sizes(tmp_path: Path) -> None:
    path = str(agents_file_with_fourth(tmp_path))
    sizes = load_settings({**HTTPS, "agents_file": path}).agents
    assert (sizes["research"], sizes[FOURTH]) == (AgentSize(), AgentSize(cpu=1024, memory_mib=2048, max_tasks=2))
    sizes = load_settings({**HTTPS, "agents_file": path, "agent_sizes": {FOURTH: {"max_tasks": 5}}}).agents
    assert sizes[FOURTH] == AgentSize(cpu=1024, memory_mib=2048, max_tasks=5)


def test_a_bad_agents_file_fails_the_settings_one_line_each(tmp_path: Path) -> None:
    bad = tmp_path / "agents.toml"
    bad.write_text('[[agents]]\nname = "x"\ndescription = "d"\ninstructions = "i"\ntools = ["nope"]\n'
                   '[agents.service]\ncpu = 300\n')
    with pytest.raises(SettingsError) as caught:
        load_settings({**HTTPS, "agents_file": str(bad)})
    assert [p.split(": ", 2)[2].split(":")[0] for p in caught.value.problems] == [
        "agent 'x', tools", "agent 'x', service"]


def test_declared_sizing_is_checked_against_the_global_default(tmp_path: Path) -> None:
    path = tmp_path / "agents.toml"
    path.write_text('[[agents]]\nname = "big"\ndescription = "d"\ninstructions = "i"\ntools = ["search_documents"]\n'
                    '[agents.service]\ncpu = 4096\n')  # with task_size's 1024 MiB: not a Fargate size
    with pytest.raises(SettingsError, match=r"agents_file: agent 'big', service: cpu 4096 with memory_mib 1024"):
        load_settings({**HTTPS, "agents_file": str(path)})
