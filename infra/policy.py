"""Every wildcard the stack's policies hold, each where AWS allows nothing narrower: the one list.

A statement may grant an action with a "*" in it, or any action on resource "*", only when an
entry of WILDCARDS names that action for the kind of policy the statement is in. Identity
statements are checked as they are built (infra.functions.Statement), key policies by `check`,
and tests/infra/test_infra_security.py reviews every policy the program declares against this
list and fails on an entry nothing uses.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any


class PolicyKind(Enum):
    IDENTITY = "identity policy"  # what a role may do
    KEY = "key policy"  # who may use or manage a KMS key
    RESOURCE = "resource policy"  # any other resource's: a topic's, a queue's, a permission
    TRUST = "trust policy"  # who may assume a role


TRACING_ACTIONS = ("xray:PutTelemetryRecords", "xray:PutTraceSegments")  # tracing_config Active
# A traced state machine also reads the sampling rules (X-Ray samples its executions).
STATE_MACHINE_TRACING_ACTIONS = (
    *TRACING_ACTIONS,
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
)
# What Lambda does with a function's role to attach it to a VPC (its Hyperplane ENIs): the
# actions of AWSLambdaVPCAccessExecutionRole, granted only to functions in a VPC. Lambda verifies
# them when the function is created; an ec2:Vpc or ec2:Subnet condition is not documented to pass
# that check, so none is added. The function's own vpc_config confines the ENIs.
NETWORK_INTERFACE_ACTIONS = (
    "ec2:AssignPrivateIpAddresses",
    "ec2:CreateNetworkInterface",
    "ec2:DeleteNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:UnassignPrivateIpAddresses",
)
# What Step Functions does with a state machine's role to deliver its execution logs (vended
# logs: the delivery, and the log group's resource policy that admits it); Step Functions verifies
# them when the state machine is created or updated. Its logging configuration names the group.
LOG_DELIVERY_ACTIONS = (
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:DescribeLogGroups",
    "logs:DescribeResourcePolicies",
    "logs:GetLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:UpdateLogDelivery",
)
KEY_ADMINISTRATION_ACTIONS = ("kms:*",)  # to the account root only
# The statement SNS documents for an AWS service (here CloudWatch) publishing to an encrypted
# topic. SNS's publisher example names kms:GenerateDataKey alone, but for service principals it
# documents the wildcard, and a refused call drops the alarm's notification without a deploy error.
ALARM_PUBLISH_KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey*")


@dataclass(frozen=True)
class Wildcard:
    """Actions a policy of `kind` may grant on resource "*" (or name with a "*"), and why."""

    kind: PolicyKind
    actions: tuple[str, ...]
    why: str


WILDCARDS = (
    Wildcard(
        PolicyKind.IDENTITY,
        STATE_MACHINE_TRACING_ACTIONS,  # a function's TRACING_ACTIONS among them
        "X-Ray has no resource-level permissions: '*' is the only resource they accept",
    ),
    Wildcard(
        PolicyKind.IDENTITY,
        NETWORK_INTERFACE_ACTIONS,
        "Lambda documents and verifies its VPC actions on '*' (DescribeNetworkInterfaces takes no "
        "other)",
    ),
    Wildcard(
        PolicyKind.IDENTITY,
        LOG_DELIVERY_ACTIONS,
        "CloudWatch Logs' log-delivery actions support no resource-level permissions",
    ),
    Wildcard(
        PolicyKind.KEY,
        KEY_ADMINISTRATION_ACTIONS,
        "AWS's default key policy: the account governs the key through IAM, so it never becomes "
        "unmanageable; in a key policy '*' is the key itself",
    ),
    Wildcard(
        PolicyKind.KEY,
        ALARM_PUBLISH_KEY_ACTIONS,
        "what SNS documents for an AWS service publishing to an encrypted topic; in a key policy "
        "'*' is the key itself, whose ARN its own policy cannot name",
    ),
)


def listed(kind: PolicyKind) -> frozenset[str]:
    """The actions WILDCARDS lets a policy of `kind` grant with a wildcard."""
    return frozenset(
        action for entry in WILDCARDS if entry.kind is kind for action in entry.actions
    )


def unlisted(kind: PolicyKind, actions: Iterable[str], resources: Iterable[object]) -> list[str]:
    """The actions a statement grants with a wildcard that no entry lists for `kind`."""
    on_any = any(resource == "*" for resource in resources if isinstance(resource, str))
    allowed = listed(kind)
    return sorted(a for a in actions if (on_any or "*" in a) and a not in allowed)


def check(kind: PolicyKind, document: Mapping[str, Any]) -> Mapping[str, Any]:
    """The document, once every wildcard its Allow statements hold is listed for `kind`."""
    for statement in document["Statement"]:
        if statement["Effect"] != "Allow":
            continue
        actions, resources = statement.get("Action", []), statement.get("Resource", [])
        wild = unlisted(kind, _as_list(actions), _as_list(resources))
        if wild:
            raise ValueError(f"{kind.value}: {wild} hold a wildcard infra.policy does not list")
    return document


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
