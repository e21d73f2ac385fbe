"""cdk-nag: the AwsSolutions rule pack on the whole app, and suppressions that carry a reason.

Suppressions live beside the resource they excuse (each construct calls :func:`suppress`), so
the reason is read where the decision is made. A suppression is always scoped to one construct
and, for IAM findings, to the exact resource pattern it excuses.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aspects
from cdk_nag import AwsSolutionsChecks, NagPackSuppression, NagSuppressions, RegexAppliesTo
from constructs import IConstruct


def apply_checks(scope: IConstruct) -> None:
    """Run the AwsSolutions pack on everything under ``scope`` at synth time."""
    Aspects.of(scope).add(AwsSolutionsChecks(verbose=True))


def regex(pattern: str) -> RegexAppliesTo:
    """An ``applies_to`` matching findings by regular expression (for token-laden ARNs)."""
    return RegexAppliesTo(regex=f"/{pattern}/")


def suppress(
    construct: IConstruct,
    rule: str,
    reason: str,
    applies_to: Sequence[str | RegexAppliesTo] | None = None,
) -> None:
    """Suppress ``rule`` on ``construct`` and its children, for ``reason``."""
    NagSuppressions.add_resource_suppressions(
        construct,
        [NagPackSuppression(id=rule, reason=reason, applies_to=applies_to)],
        apply_to_children=True,
    )
