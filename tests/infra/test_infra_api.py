"""The HTTP API the program declares agrees with the route table, the user pool and the config."""

import json
from typing import Any

import pulumi

from infra.api import HttpApi, HttpApiArgs
from services.routes import ACCESS_TOKEN_SCOPE, FUNCTIONS, ROUTES
from tests.infra.mocking import MockStack, RecordingMocks, pulumi_test

# The functions behind the API; the others (the relay, the migration) have no routes.
API_FUNCTIONS = sorted({route.function for route in ROUTES})


def _route_outputs(api: HttpApi) -> pulumi.Output[list[Any]]:
    return pulumi.Output.all(
        *[
            pulumi.Output.all(
                r.route_key, r.authorization_type, r.authorizer_id, r.authorization_scopes, r.target
            )
            for r in api.routes.values()
        ]
    )


@pulumi_test
def test_declared_route_keys_are_exactly_the_route_table(program: dict[str, Any]) -> Any:
    def check(routes: list[list[Any]]) -> None:
        declared = [route[0] for route in routes]
        assert sorted(declared) == sorted(route.key for route in ROUTES)

    return _route_outputs(program["api"]).apply(check)


@pulumi_test
def test_protected_routes_need_the_jwt_authorizer_and_the_access_token_scope(
    program: dict[str, Any],
) -> Any:
    api: HttpApi = program["api"]

    def check(args: list[Any]) -> None:
        authorizer_id, routes = args
        by_key = {route[0]: route for route in routes}
        for route in ROUTES:
            _, auth_type, auth_id, scopes, _ = by_key[route.key]
            if route.protected:
                assert (auth_type, auth_id, scopes) == ("JWT", authorizer_id, [ACCESS_TOKEN_SCOPE])
            else:
                assert (auth_type, auth_id, scopes) == ("NONE", None, None), route.key

    return pulumi.Output.all(api.authorizer.id, _route_outputs(api)).apply(check)


@pulumi_test
def test_jwt_authorizer_trusts_only_the_user_pool_and_its_client(
    program: dict[str, Any], stack: MockStack
) -> Any:
    authorizer = program["api"].authorizer

    def check(args: list[Any]) -> None:
        auth_type, sources, jwt, client_id = args
        assert auth_type == "JWT"
        assert sources == ["$request.header.Authorization"]
        assert (
            jwt["issuer"]
            == f"https://cognito-idp.{stack.region}.amazonaws.com/{stack.user_pool_id}"
        )
        assert jwt["audiences"] == [client_id]

    return pulumi.Output.all(
        authorizer.authorizer_type,
        authorizer.identity_sources,
        authorizer.jwt_configuration,
        program["auth"].client_id,
    ).apply(check)


@pulumi_test
def test_each_route_reaches_its_function_through_a_payload_2_proxy(
    program: dict[str, Any],
) -> Any:
    api: HttpApi = program["api"]
    functions = {name: program[name] for name in API_FUNCTIONS}
    integrations = [
        pulumi.Output.all(
            name,
            integration.id,
            integration.integration_type,
            integration.payload_format_version,
            integration.integration_uri,
            functions[name].invoke_arn,
        )
        for name, integration in api.integrations.items()
    ]

    def check(args: list[Any]) -> None:
        integration_rows, routes = args
        target_of = {}
        for name, id_, kind, payload, uri, invoke_arn in integration_rows:
            assert (kind, payload, uri) == ("AWS_PROXY", "2.0", invoke_arn)
            target_of[name] = f"integrations/{id_}"
        assert set(target_of) == {route.function for route in ROUTES}
        targets = {route[0]: route[4] for route in routes}
        for route in ROUTES:
            assert targets[route.key] == target_of[route.function], route.key

    return pulumi.Output.all(pulumi.Output.all(*integrations), _route_outputs(api)).apply(check)


@pulumi_test
def test_only_this_api_may_invoke_each_function(program: dict[str, Any]) -> Any:
    api: HttpApi = program["api"]
    permissions = [
        pulumi.Output.all(p.action, p.principal, p.source_arn, p.function)
        for p in api.permissions.values()
    ]

    def check(args: list[Any]) -> None:
        execution_arn, function_names, rows = args
        assert sorted(rows) == sorted(
            ["lambda:InvokeFunction", "apigateway.amazonaws.com", f"{execution_arn}/*/*", name]
            for name in function_names
        )

    names = pulumi.Output.all(*(program[name].name for name in API_FUNCTIONS))
    return pulumi.Output.all(api.api.execution_arn, names, pulumi.Output.all(*permissions)).apply(
        check
    )


@pulumi_test
def test_default_stage_deploys_itself_throttled_as_configured(
    program: dict[str, Any], stack: MockStack
) -> Any:
    stage = program["api"].stage

    def check(args: list[Any]) -> None:
        name, auto_deploy, settings = args
        assert (name, auto_deploy) == ("$default", True)
        assert settings["throttling_burst_limit"] == stack.overrides["throttleBurstLimit"]
        assert settings["throttling_rate_limit"] == stack.overrides["throttleRateLimit"]

    return pulumi.Output.all(stage.name, stage.auto_deploy, stage.default_route_settings).apply(
        check
    )


@pulumi_test
def test_access_logs_are_json_with_the_request_fields(
    program: dict[str, Any], stack: MockStack
) -> Any:
    api: HttpApi = program["api"]

    def check(args: list[Any]) -> None:
        settings, log_group_arn, retention = args
        assert settings["destination_arn"] == log_group_arn
        fields = json.loads(settings["format"])
        for field in (
            "requestId",
            "ip",
            "requestTime",
            "httpMethod",
            "routeKey",
            "status",
            "protocol",
            "responseLength",
            "integrationErrorMessage",
            "latency",
        ):
            assert fields[field].startswith("$context."), field
        assert retention == stack.overrides["logRetentionDays"]

    return pulumi.Output.all(
        api.stage.access_log_settings, api.access_logs.arn, api.access_logs.retention_in_days
    ).apply(check)


@pulumi_test
def test_cors_follows_the_configured_origins(program: dict[str, Any], stack: MockStack) -> Any:
    def check(cors: Any) -> None:
        assert cors["allow_origins"] == stack.overrides["corsOrigins"]
        assert set(cors["allow_methods"]) == {route.method for route in ROUTES}
        # Header names are case-insensitive.
        allowed = {header.lower() for header in cors["allow_headers"]}
        exposed = {header.lower() for header in cors["expose_headers"]}
        assert {"authorization", "content-type", "if-match", "idempotency-key"} <= allowed
        assert {"etag", "location"} <= exposed

    return program["api"].api.cors_configuration.apply(check)


@pulumi_test
def test_no_cors_without_origins(
    program: dict[str, Any], stack: MockStack, mocks: RecordingMocks
) -> Any:
    api = HttpApi(
        "no-cors",
        HttpApiArgs(
            routes=ROUTES,
            functions={name: program[name] for name in API_FUNCTIONS},
            user_pool_id=program["auth"].user_pool_id,
            user_pool_client_id=program["auth"].client_id,
            region=stack.region,
            cors_origins=(),
            throttle_burst_limit=1,
            throttle_rate_limit=1,
            log_retention_days=1,
        ),
    )

    def check(cors: Any) -> None:
        assert cors is None
        assert "corsConfiguration" not in mocks.named("no-cors-api").inputs

    return api.api.cors_configuration.apply(check)


def test_only_functions_with_routes_are_behind_the_api(program: dict[str, Any]) -> None:
    api: HttpApi = program["api"]

    assert sorted(api.integrations) == sorted(api.permissions) == API_FUNCTIONS
    assert API_FUNCTIONS == ["orders", "products", "users"]
    assert sorted(set(FUNCTIONS) - set(API_FUNCTIONS)) == [
        "cancel-order",
        "confirm-order",
        "migrate",
        "order-worker",
        "refund-payment",
        "relay",
        "release-stock",
        "reserve-stock",
        "take-payment",
    ]
