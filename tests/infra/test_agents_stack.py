"""The agents stack: services, queues, environment wiring, routing, scaling and least-privilege roles."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from agent_runtime import envnames as env
from agent_runtime.agents import AGENTS
from agent_runtime.settings import DEFAULT_MAX_ATTEMPTS, DEFAULT_QUEUE_VISIBILITY_S, Settings
from stacks.constructs.agent_service import WORK_PER_TASK
from stacks.grants import WORK_QUEUE_ACTIONS
from stacks.tools_stack import tool_function_name

from .support import EXISTING, Synth

NAMES = sorted(AGENTS)


def _task_definition(s: Synth, agent: str) -> dict[str, Any]:
    (found,) = [r["Properties"] for lid, r in s.resources("Agents", "AWS::ECS::TaskDefinition").items()
                if s.path_of("Agents", lid).startswith(f"{s.stack_name('Agents')}/{agent}Agent/")]
    return found


def _env(s: Synth, agent: str) -> dict[str, Any]:
    (container,) = _task_definition(s, agent)["ContainerDefinitions"]
    return {e["Name"]: e["Value"] for e in container["Environment"]}


def _statements(s: Synth, role_ref: Any) -> list[dict[str, Any]]:
    return [st for p in s.resources("Agents", "AWS::IAM::Policy").values() if role_ref in p["Properties"]["Roles"]
            for st in p["Properties"]["PolicyDocument"]["Statement"]]


def _task_role_statements(s: Synth, agent: str) -> list[dict[str, Any]]:
    return _statements(s, {"Ref": _task_definition(s, agent)["TaskRoleArn"]["Fn::GetAtt"][0]})


def _actions_on(s: Synth, agent: str, resource: str, name_of: str) -> set[str]:
    """The actions the agent's task role may take on the resource named `resource`."""
    return {a for st in _task_role_statements(s, agent)
            for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
            for r in (st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]])
            if s.render(r, s.stack_name("Agents"), name_of) == resource}


def _resources_for(s: Synth, agent: str, action: str, name_of: str) -> set[str]:
    """Names of the resources the agent's task role may use `action` on."""
    found = set()
    for st in _task_role_statements(s, agent):
        if action in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"]):
            for res in st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]:
                found.add(s.render(res, s.stack_name("Agents"), name_of))
    return found


def test_one_service_per_agent(default_synth: Synth) -> None:
    assert len(default_synth.resources("Agents", "AWS::ECS::Service")) == len(AGENTS)


def test_a_queue_and_a_dead_letter_queue_per_agent(default_synth: Synth) -> None:
    queues = default_synth.resources("Agents", "AWS::SQS::Queue").values()
    with_dlq = [q for q in queues if "RedrivePolicy" in q["Properties"]]
    assert (len(with_dlq), len(queues)) == (len(AGENTS), 2 * len(AGENTS))


def test_max_receive_count_comes_from_settings(default_synth: Synth) -> None:
    queues = default_synth.resources("Agents", "AWS::SQS::Queue").values()
    assert {q["Properties"]["RedrivePolicy"]["maxReceiveCount"] for q in queues if "RedrivePolicy" in q["Properties"]} == {5}


def _task_queue(s: Synth, agent: str) -> dict[str, Any]:
    (found,) = [r["Properties"] for lid, r in s.resources("Agents", "AWS::SQS::Queue").items()
                if s.path_of("Agents", lid) == f"{s.stack_name('Agents')}/{agent}Queue/Queue/Resource"]
    return found


def test_queue_visibility_is_the_runtime_default(default_synth: Synth) -> None:
    assert {_task_queue(default_synth, a)["VisibilityTimeout"] for a in NAMES} == {DEFAULT_QUEUE_VISIBILITY_S}


@pytest.mark.parametrize(("which", "visibility", "max_receive_count", "attempts"), [
    ("default_synth", DEFAULT_QUEUE_VISIBILITY_S, 5, DEFAULT_MAX_ATTEMPTS), ("variant_synth", 600, 8, 6)])
@pytest.mark.parametrize("agent", NAMES)
def test_service_is_told_the_visibility_and_attempts_of_its_queue(
    request: pytest.FixtureRequest, which: str, agent: str, visibility: int, max_receive_count: int, attempts: int
) -> None:
    """The worker receives with the queue's visibility and gives up (failing the task with its reason)
    two receives before SQS would move the message to the dead-letter queue without a word."""
    synth: Synth = request.getfixturevalue(which)
    queue, variables = _task_queue(synth, agent), _env(synth, agent)
    assert (queue["VisibilityTimeout"], queue["RedrivePolicy"]["maxReceiveCount"],
            variables[env.QUEUE_VISIBILITY_S], variables[env.MAX_ATTEMPTS]) == (
        visibility, max_receive_count, str(visibility), str(attempts))


def test_runtime_reads_the_visibility_and_attempts_the_stack_sets(
    variant_synth: Synth, monkeypatch: pytest.MonkeyPatch
) -> None:
    variables = _env(variant_synth, "research")
    for name in (env.QUEUE_VISIBILITY_S, env.MAX_ATTEMPTS):
        monkeypatch.setenv(name, variables[name])
    settings = Settings()
    assert (settings.queue_visibility_s, settings.max_attempts) == (600, 6)


def test_services_require_a_second_approver(default_synth: Synth, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(env.REQUIRE_SECOND_APPROVER, _env(default_synth, "content")[env.REQUIRE_SECOND_APPROVER])
    assert Settings().require_second_approver


def test_queues_are_encrypted(default_synth: Synth) -> None:
    queues = default_synth.resources("Agents", "AWS::SQS::Queue").values()
    assert all(q["Properties"]["SqsManagedSseEnabled"] for q in queues)


@pytest.mark.parametrize("agent", NAMES)
def test_service_is_told_its_agent_and_backends(default_synth: Synth, agent: str) -> None:
    variables = _env(default_synth, agent)
    assert {k: variables[k] for k in (env.AGENT_NAME, env.STORE, env.QUEUE)} == {
        env.AGENT_NAME: agent, env.STORE: "dynamodb", env.QUEUE: "sqs"}


@pytest.mark.parametrize("agent", NAMES)
def test_service_data_dir_is_the_one_the_dockerfile_sets(default_synth: Synth, agent: str) -> None:
    dockerfile = (Path(__file__).parents[2] / "Dockerfile").read_text()
    assert f"{env.DATA_DIR}={_env(default_synth, agent)[env.DATA_DIR]}" in dockerfile


@pytest.mark.parametrize("agent", NAMES)
def test_service_gets_the_shared_table(default_synth: Synth, agent: str) -> None:
    table = default_synth.render(_env(default_synth, agent)[env.TABLE_NAME], default_synth.stack_name("Agents"))
    assert table == "AgentPlatformData/Tasks/Table/Resource"


@pytest.mark.parametrize("agent", NAMES)
def test_service_gets_its_own_queue_url(default_synth: Synth, agent: str) -> None:
    queue = default_synth.render(_env(default_synth, agent)[env.QUEUE_URL], default_synth.stack_name("Agents"))
    assert queue == f"AgentPlatformAgents/{agent}Queue/Queue/Resource"


@pytest.mark.parametrize("agent", NAMES)
def test_service_gets_its_tool_function_names(default_synth: Synth, agent: str) -> None:
    rendered = default_synth.render(_env(default_synth, agent)[env.TOOL_FUNCTIONS], default_synth.stack_name("Agents"))
    assert json.loads(rendered) == {t: tool_function_name("AgentPlatform", t) for t in AGENTS[agent].tools}


@pytest.mark.parametrize("agent", NAMES)
def test_service_gets_the_secret_ids(default_synth: Synth, agent: str) -> None:
    variables = _env(default_synth, agent)
    assert {default_synth.render(variables[k], default_synth.stack_name("Agents"), "Name")
            for k in (env.LLM_SECRET, env.API_KEYS_SECRET)} == {
        "AgentPlatformData/Secrets/LlmApiKey/Resource", "AgentPlatformData/Secrets/ApiKeys/Resource"}


def test_service_gets_kept_secrets_by_the_id_given(domain_synth: Synth) -> None:
    variables = _env(domain_synth, "research")
    assert (variables[env.LLM_SECRET], variables[env.API_KEYS_SECRET]) == (
        EXISTING["existing_llm_api_key_secret"], EXISTING["existing_api_keys_secret"])


@pytest.mark.parametrize(("which", "value"), [("default_synth", "false"), ("domain_synth", "true")])
def test_api_docs_follow_the_setting(request: pytest.FixtureRequest, which: str, value: str) -> None:
    assert _env(request.getfixturevalue(which), "research")[env.API_DOCS] == value


@pytest.mark.parametrize("agent", NAMES)
def test_service_gets_the_default_approval_timeout_policy(default_synth: Synth, agent: str) -> None:
    assert _env(default_synth, agent)[env.APPROVAL_TIMEOUT_POLICY] == "deny"


@pytest.mark.parametrize("agent", NAMES)
def test_service_gets_the_configured_approval_timeout_policy(variant_synth: Synth, agent: str) -> None:
    assert _env(variant_synth, agent)[env.APPROVAL_TIMEOUT_POLICY] == "approve"


@pytest.mark.parametrize(("which", "value"), [("default_synth", "light"), ("variant_synth", "boto3")])
def test_service_gets_the_aws_transport(request: pytest.FixtureRequest, which: str, value: str) -> None:
    assert {_env(request.getfixturevalue(which), agent)[env.AWS_TRANSPORT] for agent in NAMES} == {value}


@pytest.mark.parametrize("agent", NAMES)
def test_service_is_not_given_the_reports_bucket(default_synth: Synth, agent: str) -> None:
    """Reports are written by the publish_report function; the task role has no write access to them."""
    assert env.REPORTS_BUCKET not in _env(default_synth, agent)


@pytest.mark.parametrize("agent", NAMES)
def test_service_environment_names_only_runtime_settings(default_synth: Synth, agent: str) -> None:
    """Every variable the stack sets is one `agent_runtime.settings.Settings` reads (no dead wiring)."""
    read = {env.PREFIX + name.upper() for name in Settings.model_fields} | {env.OPENAI_BASE_URL, env.OPENAI_API_KEY}
    assert set(_env(default_synth, agent)) - read == set()


@pytest.mark.parametrize("agent", NAMES)
def test_task_role_invokes_exactly_its_catalog_tools(default_synth: Synth, agent: str) -> None:
    invokable = _resources_for(default_synth, agent, "lambda:InvokeFunction", "FunctionName")
    assert invokable == {tool_function_name("AgentPlatform", t) for t in AGENTS[agent].tools}


@pytest.mark.parametrize("agent", NAMES)
def test_task_role_consumes_only_its_own_queue(default_synth: Synth, agent: str) -> None:
    queues = _resources_for(default_synth, agent, "sqs:ReceiveMessage", "QueueName")
    assert queues == {f"AgentPlatformAgents/{agent}Queue/Queue/Resource"}


@pytest.mark.parametrize("agent", NAMES)
def test_task_role_sends_only_to_its_own_queue_and_dead_letter_queue(default_synth: Synth, agent: str) -> None:
    queues = _resources_for(default_synth, agent, "sqs:SendMessage", "QueueName")
    assert queues == {f"AgentPlatformAgents/{agent}Queue/Queue/Resource", f"AgentPlatformAgents/{agent}Queue/Dlq/Resource"}


@pytest.mark.parametrize("agent", NAMES)
def test_task_role_looks_up_only_its_own_dead_letter_queue_url(default_synth: Synth, agent: str) -> None:
    """SqsQueue resolves the DLQ named in the redrive policy with GetQueueUrl before sending to it
    (its own queue's URL it is given)."""
    queues = _resources_for(default_synth, agent, "sqs:GetQueueUrl", "QueueName")
    assert queues == {f"AgentPlatformAgents/{agent}Queue/Dlq/Resource"}


@pytest.mark.parametrize("agent", NAMES)
def test_task_role_does_on_its_queue_exactly_what_the_runtime_calls(default_synth: Synth, agent: str) -> None:
    queue = f"AgentPlatformAgents/{agent}Queue/Queue/Resource"
    assert _actions_on(default_synth, agent, queue, "QueueName") == set(WORK_QUEUE_ACTIONS)


@pytest.mark.parametrize("agent", NAMES)
def test_task_role_reads_the_redrive_policy_of_its_own_queue_only(default_synth: Synth, agent: str) -> None:
    queues = _resources_for(default_synth, agent, "sqs:GetQueueAttributes", "QueueName")
    assert queues == {f"AgentPlatformAgents/{agent}Queue/Queue/Resource"}


@pytest.mark.parametrize("agent", NAMES)
def test_task_role_does_nothing_else_on_its_dead_letter_queue(default_synth: Synth, agent: str) -> None:
    dlq = f"AgentPlatformAgents/{agent}Queue/Dlq/Resource"
    assert _actions_on(default_synth, agent, dlq, "QueueName") == {"sqs:GetQueueUrl", "sqs:SendMessage"}


def _table_statements(s: Synth, agent: str) -> list[dict[str, Any]]:
    return [st for st in _task_role_statements(s, agent) if any(a.startswith("dynamodb:") for a in st["Action"])]


@pytest.mark.parametrize("agent", NAMES)
def test_task_role_reads_and_writes_only_the_table(default_synth: Synth, agent: str) -> None:
    """The table itself, no index: the runtime queries none."""
    assert _resources_for(default_synth, agent, "dynamodb:PutItem", "TableName") == {
        "AgentPlatformData/Tasks/Table/Resource"}


@pytest.mark.parametrize("agent", NAMES)
def test_task_role_has_exactly_the_table_actions_the_store_calls(default_synth: Synth, agent: str) -> None:
    (statement,) = _table_statements(default_synth, agent)
    assert sorted(statement["Action"]) == ["dynamodb:BatchGetItem", "dynamodb:BatchWriteItem",
                                           "dynamodb:ConditionCheckItem", "dynamodb:GetItem", "dynamodb:PutItem",
                                           "dynamodb:Query", "dynamodb:UpdateItem"]


@pytest.mark.parametrize("which", ["default_synth", "domain_synth"])
def test_task_role_reaches_only_its_own_partition_keys(request: pytest.FixtureRequest, which: str) -> None:
    """Kept tables too: the condition holds whichever table the agents are given."""
    synth: Synth = request.getfixturevalue(which)
    conditions = {agent: [st.get("Condition") for st in _table_statements(synth, agent)] for agent in NAMES}
    assert conditions == {agent: [{"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [
        f"{agent}-*", f"{agent}#*", f"{agent}/*"]}}] for agent in NAMES}


def test_no_role_may_scan_or_delete_items(default_synth: Synth) -> None:
    """A Scan has no partition key, so a LeadingKeys condition would not limit it; items expire by TTL.
    (BatchGetItem is granted: the task list reads its page's tasks in one batch, each key checked.)"""
    actions = {a for p in default_synth.resources("Agents", "AWS::IAM::Policy").values()
               for st in p["Properties"]["PolicyDocument"]["Statement"]
               for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])}
    assert actions & {"dynamodb:Scan", "dynamodb:DeleteItem", "dynamodb:DescribeTable"} == set()


@pytest.mark.parametrize("agent", NAMES)
def test_task_role_reaches_no_bucket(default_synth: Synth, agent: str) -> None:
    """Every tool runs in its Lambda function: the runtime reads no document in ECS."""
    actions = {a for st in _task_role_statements(default_synth, agent)
               for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"]) if a.startswith("s3:")}
    assert actions == set()


@pytest.mark.parametrize("agent", NAMES)
def test_service_is_not_given_the_documents_bucket(default_synth: Synth, agent: str) -> None:
    assert env.DOCUMENTS_BUCKET not in _env(default_synth, agent)


@pytest.mark.parametrize("agent", NAMES)
def test_task_role_reads_both_secrets(default_synth: Synth, agent: str) -> None:
    assert _resources_for(default_synth, agent, "secretsmanager:GetSecretValue", "Name") == {
        "AgentPlatformData/Secrets/LlmApiKey/Resource", "AgentPlatformData/Secrets/ApiKeys/Resource"}


@pytest.mark.parametrize("agent", NAMES)
def test_task_role_only_reads_secret_values(default_synth: Synth, agent: str) -> None:
    actions = {a for st in _task_role_statements(default_synth, agent)
               for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
               if a.startswith("secretsmanager:")}
    assert actions == {"secretsmanager:GetSecretValue"}


def test_task_role_reads_kept_secrets_imported_by_name(domain_synth: Synth) -> None:
    """A secret given by name has no random suffix in its ARN: the statement matches it with `-??????`."""
    (statement,) = [st for st in _task_role_statements(domain_synth, "research")
                    if st["Action"] == "secretsmanager:GetSecretValue"]
    rendered = json.dumps(statement["Resource"])
    assert ":secret:old/llm-api-key-??????" in rendered and EXISTING["existing_api_keys_secret"] in rendered


@pytest.mark.parametrize("agent", NAMES)
def test_execution_role_is_not_the_task_role(default_synth: Synth, agent: str) -> None:
    task = _task_definition(default_synth, agent)
    assert task["ExecutionRoleArn"] != task["TaskRoleArn"]


def test_deployments_roll_back_on_failure(default_synth: Synth) -> None:
    services = default_synth.resources("Agents", "AWS::ECS::Service").values()
    assert all(s["Properties"]["DeploymentConfiguration"]["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
               for s in services)


def test_cluster_has_container_insights(default_synth: Synth) -> None:
    (cluster,) = default_synth.resources("Agents", "AWS::ECS::Cluster").values()
    assert {"Name": "containerInsights", "Value": "enabled"} in cluster["Properties"]["ClusterSettings"]


def test_tasks_run_the_server_with_a_health_check(default_synth: Synth) -> None:
    (container,) = _task_definition(default_synth, "research")["ContainerDefinitions"]
    assert "/healthz" in " ".join(container["HealthCheck"]["Command"])


def _scaling_policies(s: Synth) -> list[dict[str, Any]]:
    return [p["Properties"] for p in s.resources("Agents", "AWS::ApplicationAutoScaling::ScalingPolicy").values()]


def test_no_service_scales_on_cpu(default_synth: Synth) -> None:
    assert {p["PolicyType"] for p in _scaling_policies(default_synth)} == {"StepScaling"}


def test_each_service_scales_out_and_in_on_its_backlog(default_synth: Synth) -> None:
    """Both directions come from the same work-per-task metric: one step policy each way per agent."""
    adjustments = sorted(min(a["ScalingAdjustment"] for a in p["StepScalingPolicyConfiguration"]["StepAdjustments"])
                         for p in _scaling_policies(default_synth))
    assert adjustments == [-1] * len(AGENTS) + [1] * len(AGENTS)


def test_backlog_alarms_divide_queue_work_by_running_tasks(default_synth: Synth) -> None:
    alarms = default_synth.resources("Agents", "AWS::CloudWatch::Alarm").values()
    expressions = [m["Expression"] for a in alarms for m in a["Properties"]["Metrics"] if "Expression" in m]
    assert expressions == [WORK_PER_TASK] * 2 * len(AGENTS)


def test_scaling_bounds_come_from_settings(default_synth: Synth) -> None:
    targets = default_synth.resources("Agents", "AWS::ApplicationAutoScaling::ScalableTarget").values()
    assert {(t["Properties"]["MinCapacity"], t["Properties"]["MaxCapacity"]) for t in targets} == {(1, 4)}


def test_vpc_has_gateway_endpoints_for_s3_and_dynamodb(default_synth: Synth) -> None:
    endpoints = default_synth.resources("Agents", "AWS::EC2::VPCEndpoint").values()
    services = sorted(json.dumps(e["Properties"]["ServiceName"]).split(".")[-1].strip('"]}') for e in endpoints)
    assert (services, {e["Properties"]["VpcEndpointType"] for e in endpoints}) == (["dynamodb", "s3"], {"Gateway"})


def test_nat_gateway_count_comes_from_settings(default_synth: Synth, variant_synth: Synth) -> None:
    counts = [len(s.resources("Agents", "AWS::EC2::NatGateway")) for s in (default_synth, variant_synth)]
    assert counts == [1, 0]


def test_without_nat_tasks_get_public_ips(variant_synth: Synth) -> None:
    services = variant_synth.resources("Agents", "AWS::ECS::Service").values()
    assert {s["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] for s in services} == {
        "ENABLED"}


def test_prebuilt_image_is_used_when_configured(variant_synth: Synth) -> None:
    (container,) = _task_definition(variant_synth, "research")["ContainerDefinitions"]
    assert "agent-platform:v1" in json.dumps(container["Image"])


def test_services_run_on_demand_unless_spot_is_chosen(default_synth: Synth) -> None:
    services = default_synth.resources("Agents", "AWS::ECS::Service").values()
    assert {s["Properties"]["LaunchType"] for s in services} == {"FARGATE"}


def test_with_spot_all_but_one_task_per_agent_run_on_spot(domain_synth: Synth) -> None:
    services = domain_synth.resources("Agents", "AWS::ECS::Service").values()
    strategies = {json.dumps(s["Properties"]["CapacityProviderStrategy"], sort_keys=True) for s in services}
    assert [json.loads(x) for x in strategies] == [[
        {"Base": 1, "CapacityProvider": "FARGATE", "Weight": 0}, {"CapacityProvider": "FARGATE_SPOT", "Weight": 1}]]


@pytest.mark.parametrize("agent", NAMES)
def test_task_role_may_protect_only_tasks_of_its_cluster_from_scale_in(default_synth: Synth, agent: str) -> None:
    """The worker protects its own busy task (agent_runtime.protection); the task's ARN is known only at run
    time, so the grant is the cluster's tasks, nothing wider."""
    (cluster,) = default_synth.resources("Agents", "AWS::ECS::Cluster")
    resources = [r for st in _task_role_statements(default_synth, agent)
                 if "ecs:UpdateTaskProtection" in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
                 for r in (st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]])]
    arns = ["".join(p if isinstance(p, str) else f"<{p['Ref']}>" for p in r["Fn::Join"][1]) for r in resources]
    assert len(arns) == 1 and re.fullmatch(rf"arn:[^:]+:ecs:[^:]+:(\d{{12}}|<AWS::AccountId>):task/<{cluster}>/\*", arns[0]), arns
