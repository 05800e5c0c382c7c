"""The VPC the agents run in: two AZs, NAT count from settings, S3/DynamoDB gateway endpoints, flow logs."""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_s3 as s3
from constructs import Construct


class AgentNetwork(Construct):
    """Public subnets for the load balancer; tasks in private subnets behind NAT.

    With `nat_gateways=0` (cheapest at rest) there are no private subnets: tasks run in
    the public subnets with a public IP, still reachable only from the load balancer's
    security group. The gateway endpoints keep S3 and DynamoDB traffic off the NAT.
    """

    def __init__(self, scope: Construct, construct_id: str, *, nat_gateways: int, flow_logs: s3.IBucket) -> None:
        super().__init__(scope, construct_id)
        subnets = [ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24)]
        if nat_gateways:
            subnets.append(
                ec2.SubnetConfiguration(name="tasks", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22)
            )
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=nat_gateways,
            subnet_configuration=subnets,
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3),
                "DynamoDB": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.DYNAMODB),
            },
            flow_logs={
                "ToS3": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_s3(flow_logs, "vpc-flow-logs/"),
                    traffic_type=ec2.FlowLogTrafficType.REJECT,
                )
            },
        )
        self.assign_public_ip = nat_gateways == 0
        self.task_subnets = ec2.SubnetSelection(
            subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS if nat_gateways else ec2.SubnetType.PUBLIC
        )
