"""The API's name and certificate: an ACM certificate (given or DNS-validated) and a Route 53 alias record."""

from __future__ import annotations

from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as targets
from constructs import Construct


class ApiDomain(Construct):
    """The certificate the HTTPS listener serves, and, with a hosted zone, the DNS name of the API.

    With `certificate_arn` that certificate is imported; otherwise one is issued for `domain_name`
    and validated through a record in the hosted zone `hosted_zone_id` (the deploy waits until
    ACM has validated it, usually a few minutes). `point_at` adds the alias record when a zone
    is known; without one the domain is left for the owner to point at the load balancer.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        certificate_arn: str | None,
        domain_name: str | None,
        hosted_zone_id: str | None,
        zone_name: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.domain_name = domain_name
        self.zone: route53.IHostedZone | None = None
        if hosted_zone_id and zone_name:
            self.zone = route53.HostedZone.from_hosted_zone_attributes(
                self, "Zone", hosted_zone_id=hosted_zone_id, zone_name=zone_name
            )
        if certificate_arn:
            self.certificate: acm.ICertificate = acm.Certificate.from_certificate_arn(
                self, "Certificate", certificate_arn
            )
        elif domain_name and self.zone is not None:
            self.certificate = acm.Certificate(
                self, "Certificate", domain_name=domain_name, validation=acm.CertificateValidation.from_dns(self.zone)
            )
        else:
            raise ValueError("ApiDomain needs certificate_arn, or domain_name with a hosted zone")

    def point_at(self, alb: elbv2.IApplicationLoadBalancer) -> route53.ARecord | None:
        """An alias A record from the domain name to `alb`, when the hosted zone is known."""
        if self.zone is None or not self.domain_name:
            return None
        return route53.ARecord(
            self,
            "Alias",
            zone=self.zone,
            record_name=self.domain_name + ".",
            target=route53.RecordTarget.from_alias(targets.LoadBalancerTarget(alb)),
        )
