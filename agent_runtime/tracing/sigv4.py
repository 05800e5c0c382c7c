"""Requests to X-Ray's OTLP endpoint (`https://xray.<region>.amazonaws.com/v1/traces`) signed with SigV4.

The endpoint takes OTLP/HTTP as any collector does but wants each request signed like an AWS API call
(service `xray`, action `xray:PutSpans`). The OTLP exporter sends through a `requests.Session`; this one
signs every request with the process's AWS credentials (in ECS, the task role's) using botocore, which
the runtime has already: no collector sidecar, no other package.
"""

from __future__ import annotations

import re
from typing import Any

import requests

XRAY_OTLP = re.compile(r"^https://xray\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(/|$)")


def xray_region(endpoint: str | None) -> str | None:
    """The region of an X-Ray OTLP endpoint URL, None for any other endpoint (sent unsigned)."""
    match = XRAY_OTLP.match(endpoint or "")
    return match["region"] if match else None


class _SigV4(requests.auth.AuthBase):
    def __init__(self, region: str, credentials: Any) -> None:
        self.region, self.credentials = region, credentials

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        headers = {k: v for k, v in request.headers.items() if k.lower() in ("content-type", "content-encoding")}
        signed = AWSRequest(method=request.method, url=request.url, data=request.body, headers=headers)
        SigV4Auth(self.credentials.get_frozen_credentials(), "xray", self.region).add_auth(signed)
        request.headers.update(dict(signed.headers.items()))
        return request


def signed_session(region: str, credentials: Any = None) -> requests.Session:
    """A session whose requests are signed for X-Ray in `region` (credentials: boto3's default chain)."""
    if credentials is None:
        import boto3

        credentials = boto3.Session().get_credentials()
    session = requests.Session()
    session.auth = _SigV4(region, credentials)
    return session
