"""Monitoring: Powertools settings and traced, retained logs on every function."""

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from infra.functions import (
    LOG_LEVELS,
    POWERTOOLS_LOG_LEVEL,
    POWERTOOLS_METRICS_NAMESPACE,
    POWERTOOLS_SERVICE_NAME,
    FunctionRuntime,
)
from services.routes import FUNCTIONS
from tests.infra.mocking import Declared, MockStack, pulumi_test

PREFIX = "serverless-ecommerce-test"
NAMESPACE = "serverless-ecommerce/test"  # the project and stack, one namespace per stack
FUNCTION = "aws:lambda/function:Function"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"


# Powertools and logs


@pulumi_test
def test_every_function_is_traced_logs_for_the_retention_and_sets_powertools(
    program: dict[str, Any], declared: Declared, stack: MockStack
) -> Any:
    def check(_: Any) -> None:
        created = {c.inputs["name"]: c.inputs for c in declared.of_type(FUNCTION)}
        groups = {c.inputs["name"]: c.inputs for c in declared.of_type(LOG_GROUP)}
        level = stack.overrides["logLevel"]
        assert set(created) == {f"{PREFIX}-{function}" for function in FUNCTIONS}
        for function, spec in FUNCTIONS.items():
            inputs = created[f"{PREFIX}-{function}"]
            group = f"/aws/lambda/{PREFIX}-{function}"
            assert groups[group]["retentionInDays"] == stack.overrides["logRetentionDays"]
            assert inputs["loggingConfig"]["logGroup"] == group, function
            assert inputs["tracingConfig"] == {"mode": "Active"}, function
            variables = inputs["environment"]["variables"]
            assert variables[POWERTOOLS_SERVICE_NAME] == spec.service, function
            assert variables[POWERTOOLS_METRICS_NAMESPACE] == NAMESPACE, function
            assert variables[POWERTOOLS_LOG_LEVEL] == level, function
            # Lambda drops lines below its own level, so it must let Powertools' level through.
            assert inputs["loggingConfig"]["applicationLogLevel"] == LOG_LEVELS[level], function

    return program["products"].function.arn.apply(check)


def test_powertools_settings_cannot_be_overridden_by_a_function(tmp_path: Path) -> None:
    from infra.functions import LambdaFunctionArgs

    runtime = FunctionRuntime("python3.13", "arm64", 128, 3, 1, NAMESPACE)
    with pytest.raises(ValueError, match=POWERTOOLS_METRICS_NAMESPACE):
        LambdaFunctionArgs(
            "m.handler",
            tmp_path,
            runtime,
            "orders",
            environment={POWERTOOLS_METRICS_NAMESPACE: "x"},
        )
    with pytest.raises(ValueError, match="service"):
        LambdaFunctionArgs("m.handler", tmp_path, runtime, "")


@pytest.mark.parametrize("level", ["TRACE", "WARN", "info", "VERBOSE", ""])
def test_log_level_must_be_one_powertools_and_lambda_both_know(
    program: dict[str, Any], level: str
) -> None:
    with pytest.raises(ValueError, match="logLevel"):
        replace(program["config"], log_level=level)
    with pytest.raises(ValueError, match="log level"):
        FunctionRuntime("python3.13", "arm64", 128, 3, 1, NAMESPACE, log_level=level)


@pytest.mark.parametrize("level", list(LOG_LEVELS))
def test_every_python_level_is_accepted(program: dict[str, Any], level: str) -> None:
    assert replace(program["config"], log_level=level).log_level == level
