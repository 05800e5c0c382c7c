"""Dashboard and alarms over the agents, tools, queues and load balancer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Annotations, CfnOutput, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from stacks.agents_stack import AgentsStack
from stacks.constructs.platform_alarms import PlatformAlarms
from stacks.constructs.platform_dashboard import PlatformDashboard
from stacks.constructs.secure_topic import SecureTopic
from stacks.settings import PlatformSettings

NOBODY_NOTIFIED_WARNING = (
    "Neither alarm_email nor alarm_topic_arn is set: the alarms notify nobody. "
    "Set -c alarm_email=ops@example.com or -c alarm_topic_arn=arn:aws:sns:...."
)


class ObservabilityStack(Stack):
    """Alarms notify the stack's SNS topic (with `alarm_email` subscribed if set) and `alarm_topic_arn` if set;
    with neither, synth warns that nobody hears them. The dashboard is named after the prefix."""

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
        topics: list[sns.ITopic] = [self.alarm_topic]
        if settings.alarm_topic_arn:
            topics.append(sns.Topic.from_topic_arn(self, "ExternalAlarmTopic", settings.alarm_topic_arn))
        if not (settings.alarm_email or settings.alarm_topic_arn):
            Annotations.of(self).add_warning(NOBODY_NOTIFIED_WARNING)
        names = list(agents.services)
        alarms = PlatformAlarms(
            self,
            "Alarms",
            queues={name: q.queue for name, q in agents.queues.items()},
            dlqs={name: q.dlq for name, q in agents.queues.items()},
            services={name: s.service for name, s in agents.services.items()},
            target_groups=agents.api.target_groups,
            functions=tool_functions,
            alb=agents.api.alb,
            topics=topics,
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
            traces=settings.traces,
        ).dashboard
        CfnOutput(self, "AlarmTopicArn", value=self.alarm_topic.topic_arn)
        CfnOutput(self, "DashboardName", value=settings.prefix)
