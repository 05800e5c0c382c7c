"""An AWS WAF web ACL in front of the load balancer: a per-IP rate limit and AWS's common rule set."""

from __future__ import annotations

from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

# The rate limit counts requests per source IP over this window (WAF's default and most common).
RATE_WINDOW_S = 300
# Request bodies a task submission may carry: the common rule set's SizeRestrictions_BODY would block
# bodies over 8 KB, which long task inputs exceed; the API enforces its own body limit.
_COUNT_ONLY = ("SizeRestrictions_BODY",)


def _visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
    )


class ApiFirewall(Construct):
    """Blocks a source IP above `rate_limit` requests per 5 minutes and requests the AWS managed
    common rule set matches (except the body-size rule, which only counts); allows the rest."""

    def __init__(
        self, scope: Construct, construct_id: str, *, alb: elbv2.IApplicationLoadBalancer, rate_limit: int
    ) -> None:
        super().__init__(scope, construct_id)
        prefix = construct_id
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility(f"{prefix}WebAcl"),
            rules=[
                wafv2.CfnWebACL.RuleProperty(
                    name="RatePerIp",
                    priority=0,
                    action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                            aggregate_key_type="IP", limit=rate_limit, evaluation_window_sec=RATE_WINDOW_S
                        )
                    ),
                    visibility_config=_visibility(f"{prefix}RatePerIp"),
                ),
                wafv2.CfnWebACL.RuleProperty(
                    name="AwsCommonRules",
                    priority=1,
                    override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                            vendor_name="AWS",
                            name="AWSManagedRulesCommonRuleSet",
                            rule_action_overrides=[
                                wafv2.CfnWebACL.RuleActionOverrideProperty(
                                    name=rule, action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={})
                                )
                                for rule in _COUNT_ONLY
                            ],
                        )
                    ),
                    visibility_config=_visibility(f"{prefix}AwsCommonRules"),
                ),
            ],
        )
        self.association = wafv2.CfnWebACLAssociation(
            self, "Association", resource_arn=alb.load_balancer_arn, web_acl_arn=self.web_acl.attr_arn
        )
