"""Checks over every synthesized template: no wildcard actions, cdk-nag clean, waivers explained, cfn-lint clean."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .support import Synth


def _statements(node: Any) -> Iterator[dict[str, Any]]:
    """Every IAM statement anywhere in a template (roles, policies, bucket/queue/topic policies)."""
    if isinstance(node, dict):
        if isinstance(node.get("Statement"), list):
            yield from node["Statement"]
        for value in node.values():
            yield from _statements(value)
    elif isinstance(node, list):
        for value in node:
            yield from _statements(value)


def _waivers(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield from node.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
        for value in node.values():
            yield from _waivers(value)


def _allowed_actions(s: Synth) -> set[str]:
    return {a for t in s.templates().values() for st in _statements(t) if st.get("Effect") == "Allow"
            for a in ([st["Action"]] if isinstance(st.get("Action"), str) else st.get("Action", []))}


@pytest.mark.parametrize("which", ["default_synth", "variant_synth"])
def test_no_allowed_action_has_a_wildcard(request: pytest.FixtureRequest, which: str) -> None:
    """Stricter than "no `*` or `service:*`": not even `s3:GetObject*` is allowed."""
    synth: Synth = request.getfixturevalue(which)
    assert sorted(a for a in _allowed_actions(synth) if "*" in a) == []


def test_wildcard_check_sees_the_platform_actions(default_synth: Synth) -> None:
    assert {"lambda:InvokeFunction", "sqs:ReceiveMessage", "dynamodb:PutItem"} <= _allowed_actions(default_synth)


@pytest.mark.parametrize("which", ["default_synth", "variant_synth"])
def test_cdk_nag_reports_no_unsuppressed_finding(request: pytest.FixtureRequest, which: str) -> None:
    synth: Synth = request.getfixturevalue(which)
    rows = [row for report in synth.outdir.glob("AwsSolutions-*-NagReport.csv")
            for row in csv.DictReader(report.open())]
    assert [f"{r['Rule ID']} {r['Resource ID']}" for r in rows if r["Compliance"] == "Non-Compliant"] == []


def test_cdk_nag_ran_on_every_stack(default_synth: Synth) -> None:
    reports = {p.name.split("--")[1].removesuffix("-NagReport.csv") for p in default_synth.outdir.glob("*NagReport.csv")}
    assert reports == set(default_synth.templates())


def test_every_waiver_names_a_rule_and_gives_a_reason(default_synth: Synth) -> None:
    waivers = [w for t in default_synth.templates().values() for w in _waivers(t)]
    bad = [w for w in waivers if not re.fullmatch(r"AwsSolutions-[A-Z]+\d+", w.get("id", ""))
           or len(w.get("reason", "").split()) < 6]
    assert (len(waivers) > 0, bad) == (True, [])


@pytest.mark.parametrize("which", ["default_synth", "variant_synth"])
def test_cfn_lint_finds_no_errors(request: pytest.FixtureRequest, which: str) -> None:
    synth: Synth = request.getfixturevalue(which)
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    templates = [str(p) for p in sorted(synth.outdir.glob("*.template.json"))]
    done = subprocess.run([str(cfn_lint), "--format", "parseable", *templates], capture_output=True, text=True,
                          timeout=120)
    errors = [line for line in done.stdout.splitlines() if ":E" in line]
    assert (errors, len(templates)) == ([], 4)
