"""The fulfilment state machine: the workflow's definition on the deployed step functions, its
own role, execution logs and tracing."""

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields

import pulumi
import pulumi_aws as aws

from infra.functions import (
    LOG_DELIVERY_ACTIONS,
    STATE_MACHINE_TRACING_ACTIONS,
    Statement,
    physical_name,
    policy_document,
)
from services.orders import workflow

STEPS = tuple(field.name for field in fields(workflow.StepArns))
# The steps that read or write the order in PostgreSQL: each holds a database connection per
# instance. Release and refund touch only the products table.
DATABASE_STEPS = ("reserve", "pay", "confirm", "cancel")
# Errors only: every state transition would log each order's path, which the execution history
# already keeps for 90 days. Execution data (inputs, outputs, errors' causes) stays out of the logs.
LOG_LEVEL = "ERROR"


def trust_policy(account_id: str) -> str:
    """Step Functions may assume the role, and only for state machines of this account."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "states.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
                }
            ],
        },
        sort_keys=True,
    )


def rendered_definition(step_arns: list[str]) -> str:
    """The workflow's ASL on the given function ARNs, in the order of STEPS."""
    arns = workflow.StepArns(**dict(zip(STEPS, step_arns, strict=True)))
    return json.dumps(workflow.definition(arns), sort_keys=True)


@dataclass
class StateMachineArgs:
    step_functions: Mapping[str, pulumi.Input[str]]  # each step of StepArns -> its function's ARN
    log_retention_days: int

    def __post_init__(self) -> None:
        if set(self.step_functions) != set(STEPS):
            raise ValueError(f"a function ARN is needed for exactly the steps {list(STEPS)}")


class StateMachine(pulumi.ComponentResource):
    """A Standard state machine that may invoke its step functions and nothing else."""

    def __init__(
        self, name: str, args: StateMachineArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("ecommerce:fulfilment:StateMachine", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        machine_name = physical_name(name)
        step_arns = [args.step_functions[step] for step in STEPS]

        # Under /aws/vendedlogs/ so that the log delivery's resource policy in CloudWatch Logs
        # covers all such groups with one entry instead of growing with every group.
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/vendedlogs/states/{machine_name}",
            retention_in_days=args.log_retention_days,
            opts=child,
        )
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=self))
        self.role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=identity.account_id.apply(trust_policy),
            description=f"Execution role of the {machine_name} state machine",
            opts=child,
        )
        statements = [
            # Exactly the ARNs the definition's tasks name: each step's function, or its alias
            # when SnapStart is on (a task that names an alias may invoke only that alias).
            Statement(("lambda:InvokeFunction",), tuple(step_arns)),
            Statement(LOG_DELIVERY_ACTIONS, ("*",)),
            Statement(STATE_MACHINE_TRACING_ACTIONS, ("*",)),
        ]
        self.policy = aws.iam.RolePolicy(
            f"{name}-policy", role=self.role.id, policy=policy_document(statements), opts=child
        )
        self.state_machine = aws.sfn.StateMachine(
            f"{name}-state-machine",
            name=machine_name,
            type="STANDARD",
            role_arn=self.role.arn,
            definition=pulumi.Output.all(*step_arns).apply(rendered_definition),
            logging_configuration=aws.sfn.StateMachineLoggingConfigurationArgs(
                level=LOG_LEVEL,
                include_execution_data=False,
                log_destination=self.log_group.arn.apply(lambda arn: f"{arn}:*"),
            ),
            tracing_configuration=aws.sfn.StateMachineTracingConfigurationArgs(enabled=True),
            # Step Functions checks the role's logging rights when it creates the state machine.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.policy]),
        )
        self.arn = self.state_machine.arn
        self.name = self.state_machine.name
        self.register_outputs({"arn": self.arn, "name": self.name})
