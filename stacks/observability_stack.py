"""Dashboard and alarms over the agents, tools, queues and load balancer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from stacks.agents_stack import AgentsStack
from stacks.constructs.platform_alarms import PlatformAlarms
from stacks.constructs.platform_dashboard import PlatformDashboard
from stacks.constructs.secure_topic import SecureTopic
from stacks.settings import PlatformSettings


class ObservabilityStack(Stack):
    """Alarms notify one SNS topic (plus `alarm_email` if set); the dashboard is named after the prefix."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: PlatformSettings,
        agents: AgentsStack,
        tool_functions: Mapping[str, lambda_.IFunction],
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.alarm_topic = SecureTopic(self, "AlarmTopic", display_name="Agent platform alarms", encrypted=False).topic
        if settings.alarm_email:
            self.alarm_topic.add_subscription(subscriptions.EmailSubscription(settings.alarm_email))
        names = list(agents.services)
        alarms = PlatformAlarms(
            self,
            "Alarms",
            dlqs={name: q.dlq for name, q in agents.queues.items()},
            alb=agents.api.alb,
            agents=names,
            topic=self.alarm_topic,
        )
        self.dashboard = PlatformDashboard(
            self,
            "Dashboard",
            name=settings.prefix,
            agents=names,
            queues={name: (q.queue, q.dlq) for name, q in agents.queues.items()},
            functions=tool_functions,
            services={name: s.service for name, s in agents.services.items()},
            alb=agents.api.alb,
            alarms=list(alarms.alarms),
        ).dashboard
        CfnOutput(self, "AlarmTopicArn", value=self.alarm_topic.topic_arn)
        CfnOutput(self, "DashboardName", value=settings.prefix)
