"""IAM `Condition` blocks, evaluated as IAM evaluates them, for the condition keys the rehearsal knows.

A request's context holds, per condition key (names compare case-insensitively), the values the request carries:
`aws:SecureTransport` is always "true" (the deployed clients use TLS; the loopback is plain HTTP) and
`dynamodb:LeadingKeys` holds the partition-key values of a DynamoDB item request (`rehearsal.iam`).
A key the request does not carry is absent; a key whose values the rehearsal could not work out is
`UNKNOWN`.

What is evaluated: the string operators (`StringEquals`, `StringNotEquals`, `StringEqualsIgnoreCase`,
`StringNotEqualsIgnoreCase`, `StringLike`, `StringNotLike`) and `Bool`, each with the `ForAllValues:` /
`ForAnyValue:` set qualifiers and the `...IfExists` suffix. Anything else (another operator, a key
outside the context's known keys, a key the request carries as `UNKNOWN`) is not guessed: the result
is `Outcome.unknown`, which an Allow statement treats as not holding and a Deny statement as holding.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

# A key whose values the rehearsal could not work out from the request (e.g. an unparsable key condition).
UNKNOWN: tuple[str, ...] | None = None
Context = Mapping[str, "tuple[str, ...] | None"]
EMPTY_CONTEXT: Context = MappingProxyType({})

# The condition keys the rehearsal puts in a request's context; any other key cannot be evaluated.
KNOWN_KEYS = frozenset({"aws:securetransport", "dynamodb:leadingkeys"})
# The values every request carries whatever it is.
ALWAYS: Mapping[str, tuple[str, ...]] = MappingProxyType({"aws:securetransport": ("true",)})

_STRING_OPERATORS = {"stringequals", "stringnotequals", "stringequalsignorecase", "stringnotequalsignorecase",
                     "stringlike", "stringnotlike", "bool"}


@dataclass(frozen=True)
class Outcome:
    """Whether a Condition block holds: True, False, or None (not evaluable, `why` says what)."""

    holds: bool | None
    why: str = ""


def glob(pattern: str, value: str, *, case: bool = True) -> bool:
    """IAM wildcard match: `*` any run of characters, `?` one character."""
    regex = "^" + ".*".join(".".join(re.escape(p) for p in part.split("?")) for part in pattern.split("*")) + "$"
    return re.match(regex, value, 0 if case else re.IGNORECASE) is not None


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _matches(operator: str, expected: str, value: str) -> bool:
    """One request value against one policy value, by the operator's positive form."""
    if operator in ("stringlike", "stringnotlike"):
        return glob(expected, value)
    if operator in ("stringequalsignorecase", "stringnotequalsignorecase"):
        return expected.lower() == value.lower()
    if operator == "bool":
        return expected.lower() == value.lower()
    return expected == value


def _value_holds(operator: str, expected: list[str], value: str) -> bool:
    """A value satisfies a positive operator when it matches any policy value, a negated one when none."""
    matched = any(_matches(operator, e, value) for e in expected)
    return not matched if "not" in operator else matched


def evaluate(conditions: dict[str, Any], context: Context) -> Outcome:
    """Every operator and every key of the block must hold (AND); the values of one key are ORed."""
    unknown = ""
    context = {k.lower(): v for k, v in context.items()}
    for raw_operator, tests in conditions.items():
        for key, expected in tests.items():
            outcome = _one(raw_operator, key, [str(e) for e in _as_list(expected)], context)
            if outcome.holds is False:
                return outcome
            if outcome.holds is None:
                unknown = unknown or outcome.why
    return Outcome(None, unknown) if unknown else Outcome(True)


def _one(raw_operator: str, name: str, expected: list[str], context: Context) -> Outcome:
    key = name.lower()
    qualifier, _, operator = raw_operator.rpartition(":")
    operator = operator.lower()
    if_exists = operator.endswith("ifexists")
    operator = operator.removesuffix("ifexists")
    described = f"{raw_operator} {name} {expected}"
    if operator not in _STRING_OPERATORS or qualifier.lower() not in ("", "forallvalues", "foranyvalue"):
        return Outcome(None, f"operator {raw_operator} is not evaluated by the rehearsal")
    if key not in KNOWN_KEYS:
        return Outcome(None, f"condition key {name} is not evaluated by the rehearsal")
    values = ALWAYS.get(key, context.get(key, ()))
    if values is None:  # UNKNOWN
        return Outcome(None, f"the request's {name} could not be worked out ({described})")
    holds = _set_holds(qualifier.lower(), operator, expected, values, if_exists)
    return Outcome(holds, "" if holds else f"{described} does not hold")


def _set_holds(qualifier: str, operator: str, expected: list[str], values: tuple[str, ...],
               if_exists: bool) -> bool:
    """ForAllValues: every request value holds (true when there is none); ForAnyValue: at least one
    does (false when there is none). Without a qualifier a missing key fails a positive operator and
    passes a negated one or an ...IfExists; a key with several values (never the case here: each check
    carries one item's key) holds when any value does."""
    if qualifier == "forallvalues":
        return all(_value_holds(operator, expected, v) for v in values)
    if qualifier == "foranyvalue":
        return any(_value_holds(operator, expected, v) for v in values)
    if not values:
        return if_exists or "not" in operator
    return any(_value_holds(operator, expected, v) for v in values)
