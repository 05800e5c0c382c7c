"""Tests of the CDK app (stacks/, app.py, Dockerfile): synthesized in-process, no Docker, no AWS account."""
