"""The stack as a whole: settings from Pulumi.yaml, one tagged provider, the exported outputs."""

import json
from dataclasses import replace
from typing import Any

import pulumi
import pytest

from infra.config import StackConfig
from tests.infra.mocking import Declared, MockStack, pulumi_test

AWS_TYPES_PREFIX = "aws:"


def test_every_setting_is_declared_with_type_default_and_description(
    project_file: dict[str, Any],
) -> None:
    project = project_file
    assert project["runtime"] == {
        "name": "python",
        "options": {"toolchain": "pip", "virtualenv": ".venv"},
    }
    for key, declared in project["config"].items():
        assert declared.get("description"), key
        if ":" in key:  # another package's key: Pulumi allows only a value
            assert set(declared) == {"value", "description"}, key
        else:
            assert {"type", "default"} <= set(declared), key


def test_project_defaults_make_a_valid_stack_config(project_file: dict[str, Any]) -> None:
    project = project_file
    defaults = {key: declared.get("default") for key, declared in project["config"].items()}

    config = StackConfig(
        region=project["config"]["aws:region"]["value"],
        environment=defaults["environment"],
        lambda_architecture=defaults["lambdaArchitecture"],
        lambda_memory_mb=defaults["lambdaMemoryMb"],
        lambda_runtime=defaults["lambdaRuntime"],
        lambda_timeout_seconds=defaults["lambdaTimeoutSeconds"],
        log_retention_days=defaults["logRetentionDays"],
        deletion_protection=defaults["deletionProtection"],
        cors_origins=tuple(defaults["corsOrigins"]),
        throttle_burst_limit=defaults["throttleBurstLimit"],
        throttle_rate_limit=defaults["throttleRateLimit"],
    )

    assert config.lambda_architecture == "arm64"
    assert config.cors_origins == ()  # no CORS unless origins are configured


def test_stack_config_is_read_from_the_stack(program: dict[str, Any], stack: MockStack) -> None:
    config: StackConfig = program["config"]

    assert config.region == stack.region
    assert config.environment == stack.overrides["environment"]
    assert config.cors_origins == tuple(stack.overrides["corsOrigins"])
    assert config.deletion_protection is True
    assert config.python_version == "3.13"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("lambda_architecture", "arm"),
        ("lambda_memory_mb", 0),
        ("lambda_runtime", "nodejs22.x"),
        ("lambda_timeout_seconds", 901),
        ("log_retention_days", 13),
        ("throttle_burst_limit", 0),
        ("throttle_rate_limit", -1),
        ("cors_origins", ("shop.example.com",)),
        ("environment", "Prod Env"),
    ],
)
def test_stack_config_refuses_invalid_values(
    program: dict[str, Any], field: str, value: Any
) -> None:
    with pytest.raises(ValueError, match="invalid stack configuration"):
        replace(program["config"], **{field: value})


@pulumi_test
def test_every_aws_resource_uses_the_tagged_provider(
    program: dict[str, Any], declared: Declared, stack: MockStack
) -> Any:
    provider = program["provider"]

    def check(args: list[Any]) -> None:
        urn, provider_id = args
        reference = f"{urn}::{provider_id}"
        aws_resources = [c for c in declared.created if c.typ.startswith(AWS_TYPES_PREFIX)]
        assert aws_resources
        for resource in aws_resources:
            assert resource.provider == reference, resource.name
        (provider_inputs,) = [c.inputs for c in declared.of_type("pulumi:providers:aws")]
        assert provider_inputs["region"] == stack.region
        assert json.loads(provider_inputs["defaultTags"])["tags"] == {
            "project": "serverless-ecommerce",
            "stack": "test",
            "environment": stack.overrides["environment"],
        }

    return pulumi.Output.all(provider.urn, provider.id).apply(check)


@pulumi_test
def test_outputs_are_exported(program: dict[str, Any], stack: MockStack) -> Any:
    root = pulumi.runtime.get_root_resource()
    outputs: dict[str, Any] = getattr(root, "outputs", {})
    assert set(outputs) == {"apiUrl", "userPoolId", "userPoolClientId", "productsTable"}

    def check(args: list[Any]) -> None:
        api_url, pool_id, client_id, table, expected_client, expected_table = args
        assert api_url.startswith("https://")
        assert api_url.endswith(f".execute-api.{stack.region}.amazonaws.com")
        assert pool_id == stack.user_pool_id
        assert client_id == expected_client
        assert table == expected_table

    return pulumi.Output.all(
        outputs["apiUrl"],
        outputs["userPoolId"],
        outputs["userPoolClientId"],
        outputs["productsTable"],
        program["auth"].client_id,
        program["catalog"].table_name,
    ).apply(check)


def test_every_aws_resource_is_a_named_child_of_a_component(declared: Declared) -> None:
    aws_resources = [c for c in declared.created if c.typ.startswith(AWS_TYPES_PREFIX)]
    assert aws_resources
    for resource in aws_resources:
        parent_urn = declared.parents[(resource.typ, resource.name)]
        parent_type = parent_urn.split("::")[2].split("$")[-1]
        parent_name = parent_urn.split("::")[3]
        assert parent_type.startswith("ecommerce:"), resource.name
        assert resource.name.startswith(f"{parent_name}-"), resource.name
