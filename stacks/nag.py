"""cdk-nag suppressions with their reasons, applied in one shape everywhere.

Every suppression names its rule and says why the finding does not apply; the
infra tests check that no suppression lacks either.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import IConstruct


@dataclass(frozen=True)
class Waiver:
    """One rule waived for a construct (and its children), with the reason and optional findings."""

    rule: str
    reason: str
    applies_to: tuple[str, ...] = ()


def suppress(construct: IConstruct, *waivers: Waiver) -> None:
    """Attach the waivers to `construct` and everything under it."""
    NagSuppressions.add_resource_suppressions(
        construct,
        [NagPackSuppression(id=w.rule, reason=w.reason, applies_to=list(w.applies_to) or None) for w in waivers],
        apply_to_children=True,
    )
