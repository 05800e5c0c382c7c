"""Provisions the templates' stateful resources into moto, each from its template properties.

moto's CloudFormation rejects the Tools and Agents stacks and ignores several types the Data
stack uses, so every resource is created by type here. Types that hold no state the runtime
touches (network, cluster, alarms, scaling) are given placeholder identifiers and listed in
`gaps`. Physical names the templates leave to CloudFormation are `<stack>-<logical id>`.
"""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rehearsal.assembly import ACCOUNT, REGION, Assembly, AssemblyError, Resolver, World


@dataclass
class Function:
    """A Lambda function as the template declares it (the local endpoint runs it)."""

    name: str
    arn: str
    handler: str
    code_dir: str
    layers: list[str]
    environment: dict[str, str]
    timeout_s: int
    memory_mb: int
    role_arn: str
    log_group: str | None


@dataclass
class Provisioned:
    """What the rehearsal needs from the created resources."""

    world: World
    resolver: Resolver
    functions: dict[str, Function] = field(default_factory=dict)  # by function name
    role_policies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # role arn -> documents
    secret_arns: dict[str, str] = field(default_factory=dict)  # name -> arn
    gaps: list[str] = field(default_factory=list)


def _name(stack: str, logical_id: str, limit: int, lower: bool = False) -> str:
    name = f"{stack}-{logical_id}"[:limit]
    return name.lower() if lower else name


def _generated_secret(spec: dict[str, Any]) -> str:
    """A value as Secrets Manager's GenerateSecretString would make it (length, exclusions)."""
    alphabet = string.ascii_letters + string.digits
    if not spec.get("ExcludePunctuation"):
        alphabet += "!#$%&()*+,-.:;<=>?@[]^_{|}~"
    alphabet = "".join(c for c in alphabet if c not in spec.get("ExcludeCharacters", ""))
    value = "".join(secrets.choice(alphabet) for _ in range(int(spec.get("PasswordLength", 32))))
    if "GenerateStringKey" in spec:
        template = json.loads(spec.get("SecretStringTemplate", "{}"))
        template[spec["GenerateStringKey"]] = value
        return json.dumps(template)
    return value


class Provisioner:
    """Creates resources type by type (in dependency order) with admin clients on moto."""

    # Types whose state the rehearsal does not need, with why; each becomes one line of `gaps`.
    NOT_REPRESENTED = {
        "AWS::EC2::": "network (VPC, subnets, routes, NAT, security groups, endpoints, flow logs): processes "
                      "talk over loopback",
        "AWS::ECS::Cluster": "ECS cluster: services run as local processes from the task definitions",
        "AWS::ElasticLoadBalancingV2::LoadBalancer": "ALB itself: the router applies its listener rules",
        "AWS::ApplicationAutoScaling::": "auto scaling policies are not exercised (scale-in is played by SIGTERM)",
        "AWS::CloudWatch::": "alarms and dashboard are not evaluated (moto has no metric math for them)",
        "AWS::Logs::MetricFilter": "log metric filters are not evaluated",
        "Custom::": "custom resources (VPC default security group) are not run",
    }

    def __init__(self, assembly: Assembly, client: Callable[[str], Any]) -> None:
        self.assembly = assembly
        self.client = client
        world = World()
        self.out = Provisioned(world, Resolver(assembly, world))
        self.r = self.out.resolver
        self.bucket_policies: dict[str, Any] = {}

    def run(self) -> Provisioned:
        """Create everything; returns the physical identifiers, functions, role policies and gaps."""
        steps: list[tuple[str, Callable[[str, str, dict[str, Any]], None]]] = [
            ("AWS::S3::Bucket", self._bucket), ("AWS::DynamoDB::Table", self._table),
            ("AWS::SNS::Topic", self._topic), ("AWS::SecretsManager::Secret", self._secret),
            ("AWS::Logs::LogGroup", self._log_group), ("AWS::IAM::Role", self._role),
        ]
        for stack, template in self.assembly.templates.items():
            for lid, res in template.get("Resources", {}).items():
                if any(res.get("Type", "").startswith(prefix) for prefix in self.NOT_REPRESENTED):
                    self.out.world.add(stack, lid, f"placeholder:{lid}")
                    self.out.world.placeholders.add((stack, lid))
        for type_, create in steps:
            for stack, lid, res in self.assembly.resources(type_):
                create(stack, lid, res.get("Properties", {}))
        self._queues()
        placeholders = ("AWS::ECS::TaskDefinition", "AWS::ElasticLoadBalancingV2::TargetGroup",
                        "AWS::ElasticLoadBalancingV2::Listener", "AWS::ElasticLoadBalancingV2::ListenerRule",
                        "AWS::ECS::Service")
        for type_ in placeholders:
            for stack, lid, _ in self.assembly.resources(type_):
                arn = f"arn:aws:rehearsal:{REGION}:{ACCOUNT}:{lid}"
                self.out.world.add(stack, lid, arn, Arn=arn, LoadBalancerFullName=lid, TargetGroupFullName=lid,
                                   DNSName="127.0.0.1", Name=lid, LoadBalancerArn=arn, TargetGroupName=lid)
        for stack, lid, res in self.assembly.resources("AWS::Lambda::Function"):
            self._function(stack, lid, res.get("Properties", {}))
        for stack, lid, res in self.assembly.resources("AWS::IAM::Policy"):
            self._policy(stack, lid, res["Properties"])
        for type_, apply in (("AWS::SQS::QueuePolicy", self._queue_policy),
                             ("AWS::S3::BucketPolicy", self._bucket_policy),
                             ("AWS::SNS::TopicPolicy", self._topic_policy)):
            for stack, lid, res in self.assembly.resources(type_):
                apply(stack, lid, res["Properties"])
        self._list_gaps()
        return self.out

    # -- stateful resources ------------------------------------------------------------------

    def _bucket(self, stack: str, lid: str, props: dict[str, Any]) -> None:
        name = props.get("BucketName") or _name(stack, lid, 63, lower=True)
        s3 = self.client("s3")
        s3.create_bucket(Bucket=name)
        if props.get("VersioningConfiguration", {}).get("Status") == "Enabled":
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        if "BucketEncryption" in props:
            rules = [{("ApplyServerSideEncryptionByDefault" if k == "ServerSideEncryptionByDefault" else k): v
                      for k, v in rule.items()}
                     for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]]
            s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
        arn = f"arn:aws:s3:::{name}"
        self.out.world.add(stack, lid, name, Arn=arn, DomainName=f"{name}.s3.amazonaws.com",
                           RegionalDomainName=f"{name}.s3.{REGION}.amazonaws.com")

    def _table(self, stack: str, lid: str, props: dict[str, Any]) -> None:
        name = props.get("TableName") or _name(stack, lid, 255)
        args: dict[str, Any] = {"TableName": name, "KeySchema": props["KeySchema"],
                                "AttributeDefinitions": props["AttributeDefinitions"],
                                "BillingMode": props.get("BillingMode", "PROVISIONED")}
        if args["BillingMode"] == "PROVISIONED":
            args["ProvisionedThroughput"] = props["ProvisionedThroughput"]
        if props.get("GlobalSecondaryIndexes"):
            args["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        ddb = self.client("dynamodb")
        ddb.create_table(**args)
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
        self.out.world.add(stack, lid, name, Arn=arn, StreamArn=f"{arn}/stream/rehearsal")

    def _topic(self, stack: str, lid: str, props: dict[str, Any]) -> None:
        name = props.get("TopicName") or _name(stack, lid, 256)
        attributes = {k: str(self.r(props[k], stack)) for k in ("DisplayName", "KmsMasterKeyId") if k in props}
        arn = self.client("sns").create_topic(Name=name, Attributes=attributes)["TopicArn"]
        self.out.world.add(stack, lid, arn, TopicArn=arn, TopicName=name)

    def _secret(self, stack: str, lid: str, props: dict[str, Any]) -> None:
        name = props.get("Name") or _name(stack, lid, 256)
        value = props.get("SecretString") or _generated_secret(props.get("GenerateSecretString", {}))
        arn = self.client("secretsmanager").create_secret(
            Name=name, SecretString=self.r(value, stack), Description=props.get("Description", ""))["ARN"]
        self.out.secret_arns[name] = arn
        self.out.world.add(stack, lid, arn, Id=arn)

    def _log_group(self, stack: str, lid: str, props: dict[str, Any]) -> None:
        name = props.get("LogGroupName") or f"/rehearsal/{stack}/{lid}"
        self.client("logs").create_log_group(logGroupName=name)
        if "RetentionInDays" in props:
            self.client("logs").put_retention_policy(logGroupName=name, retentionInDays=props["RetentionInDays"])
        self.out.world.add(stack, lid, name, Arn=f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*")

    def _role(self, stack: str, lid: str, props: dict[str, Any]) -> None:
        name = props.get("RoleName") or _name(stack, lid, 64)
        trust = json.dumps(self.r(props["AssumeRolePolicyDocument"], stack))
        arn = self.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
        self.out.role_policies[arn] = []
        for inline in props.get("Policies", []):
            self._put_role_policy(name, arn, inline["PolicyName"], self.r(inline["PolicyDocument"], stack))
        self.out.world.add(stack, lid, name, Arn=arn, RoleId=name)

    def _queues(self) -> None:
        """Queues in dependency order: a dead-letter queue exists before the queue that redrives to it."""
        pending = list(self.assembly.resources("AWS::SQS::Queue"))
        while pending:
            progressed = False
            for item in list(pending):
                stack, lid, res = item
                try:
                    props = self.r(res.get("Properties", {}), stack)
                except AssemblyError:
                    continue
                self._queue(stack, lid, props)
                pending.remove(item)
                progressed = True
            if not progressed:
                raise AssemblyError("queues reference each other in a cycle: "
                                    + ", ".join(lid for _, lid, _ in pending))

    def _queue(self, stack: str, lid: str, props: dict[str, Any]) -> None:
        name = props.get("QueueName") or _name(stack, lid, 80)
        keys = ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds",
                "MaximumMessageSize", "SqsManagedSseEnabled", "FifoQueue")
        attributes = {k: str(props[k]).lower() if isinstance(props[k], bool) else str(props[k])
                      for k in keys if k in props}
        if "RedrivePolicy" in props:
            attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
        url = self.client("sqs").create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        self.out.world.add(stack, lid, url, Arn=f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}", QueueName=name,
                           QueueUrl=url)

    # -- functions and policies ---------------------------------------------------------------

    def _function(self, stack: str, lid: str, props: dict[str, Any]) -> None:
        code = props.get("Code", {})
        name = props.get("FunctionName") or _name(stack, lid, 64)
        arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        self.out.world.add(stack, lid, name, Arn=arn)
        if "S3Key" not in code:  # inline code: CDK's own helper functions (custom resources)
            return
        env = self.r(props.get("Environment", {}).get("Variables", {}), stack)
        log_group = self.r(props.get("LoggingConfig", {}).get("LogGroup"), stack)
        self.out.functions[name] = Function(
            name=name, arn=arn, handler=props["Handler"],
            code_dir=str(self.assembly.asset_dir(stack, self.r(code["S3Key"], stack))),
            layers=[str(x) for x in self.r(props.get("Layers", []), stack)], environment=env,
            timeout_s=int(props.get("Timeout", 3)), memory_mb=int(props.get("MemorySize", 128)),
            role_arn=self.r(props["Role"], stack), log_group=log_group)

    def _put_role_policy(self, role: str, arn: str, policy: str, document: dict[str, Any]) -> None:
        self.client("iam").put_role_policy(RoleName=role, PolicyName=policy, PolicyDocument=json.dumps(document))
        self.out.role_policies.setdefault(arn, []).append(document)

    def _policy(self, stack: str, lid: str, props: dict[str, Any]) -> None:
        document = self.r(props["PolicyDocument"], stack)
        for role_ref in props.get("Roles", []):
            role = self.r(role_ref, stack)
            arn = self.out.world.attrs[(stack, role_ref["Ref"])]["Arn"] if "Ref" in role_ref else role
            self._put_role_policy(role, arn, props["PolicyName"], document)
        self.out.world.add(stack, lid, props["PolicyName"])

    def _queue_policy(self, stack: str, lid: str, props: dict[str, Any]) -> None:
        document = json.dumps(self.r(props["PolicyDocument"], stack))
        for url in self.r(props["Queues"], stack):
            self.client("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": document})
        self.out.world.add(stack, lid, lid)

    def _bucket_policy(self, stack: str, lid: str, props: dict[str, Any]) -> None:
        """Resolved and kept, not applied: moto enforces its aws:SecureTransport deny on the plain-HTTP loopback."""
        self.bucket_policies[self.r(props["Bucket"], stack)] = self.r(props["PolicyDocument"], stack)
        self.out.world.add(stack, lid, lid)

    def _topic_policy(self, stack: str, lid: str, props: dict[str, Any]) -> None:
        document = json.dumps(self.r(props["PolicyDocument"], stack))
        for arn in self.r(props["Topics"], stack):
            self.client("sns").set_topic_attributes(TopicArn=arn, AttributeName="Policy", AttributeValue=document)
        self.out.world.add(stack, lid, lid)

    def _list_gaps(self) -> None:
        """One line per kind of resource that is not represented (placeholders), and anything left over."""
        types = {self.assembly.resource(stack, lid)["Type"] for stack, lid in self.out.world.placeholders}
        for prefix, why in self.NOT_REPRESENTED.items():
            if any(t.startswith(prefix) for t in types):
                self.out.gaps.append(f"{prefix}*: {why}" if prefix.endswith("::") else f"{prefix}: {why}")
        for stack, template in self.assembly.templates.items():
            for lid, res in template.get("Resources", {}).items():
                if (stack, lid) not in self.out.world.refs:
                    self.out.gaps.append(f"{res.get('Type')} {stack}/{lid}: not provisioned")
