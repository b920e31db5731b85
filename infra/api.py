"""The HTTP API: one route per entry of the route table, a Cognito JWT authorizer, access logs."""

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.functions import LambdaFunction
from services.routes import ACCESS_TOKEN_SCOPE, CORS, Route

PAYLOAD_FORMAT_VERSION = "2.0"
IDENTITY_SOURCE = "$request.header.Authorization"
# One JSON object per request; never headers or bodies, which may hold tokens and personal data.
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "userAgent": "$context.identity.userAgent",
        "requestTime": "$context.requestTime",
        "httpMethod": "$context.httpMethod",
        "path": "$context.path",
        "routeKey": "$context.routeKey",
        "status": "$context.status",
        "protocol": "$context.protocol",
        "responseLength": "$context.responseLength",
        "latency": "$context.responseLatency",
        "integrationLatency": "$context.integrationLatency",
        "integrationStatus": "$context.integrationStatus",
        "integrationErrorMessage": "$context.integrationErrorMessage",
        "authorizerError": "$context.authorizer.error",
    }
)


@dataclass
class HttpApiArgs:
    routes: Sequence[Route]
    functions: Mapping[str, LambdaFunction]  # by the function names the routes use
    user_pool_id: pulumi.Input[str]
    user_pool_client_id: pulumi.Input[str]
    region: str
    cors_origins: Sequence[str]
    throttle_burst_limit: int
    throttle_rate_limit: int
    log_retention_days: int

    def __post_init__(self) -> None:
        missing = sorted({r.function for r in self.routes} - set(self.functions))
        if missing:
            raise ValueError(f"routes name functions that were not built: {missing}")
        keys = [route.key for route in self.routes]
        if len(keys) != len(set(keys)):
            raise ValueError("the route table declares a route key twice")


def route_slug(route: Route) -> str:
    """A resource-name-safe form of a route key: GET /products/{id} -> get-products-id."""
    return "-".join([route.method.lower(), *re.findall(r"[A-Za-z0-9]+", route.path)])


def issuer_url(region: str, user_pool_id: pulumi.Input[str]) -> pulumi.Output[str]:
    return pulumi.Output.concat("https://cognito-idp.", region, ".amazonaws.com/", user_pool_id)


class HttpApi(pulumi.ComponentResource):
    """API Gateway HTTP API in front of the functions, routed from the single route table."""

    def __init__(
        self, name: str, args: HttpApiArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("ecommerce:api:HttpApi", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.api = aws.apigatewayv2.Api(
            f"{name}-api",
            protocol_type="HTTP",
            description="Serverless e-commerce API",
            cors_configuration=_cors(args.cors_origins, args.routes),
            opts=child,
        )
        self.authorizer = aws.apigatewayv2.Authorizer(
            f"{name}-authorizer",
            api_id=self.api.id,
            name="cognito",
            authorizer_type="JWT",
            identity_sources=[IDENTITY_SOURCE],
            jwt_configuration=aws.apigatewayv2.AuthorizerJwtConfigurationArgs(
                issuer=issuer_url(args.region, args.user_pool_id),
                audiences=[args.user_pool_client_id],
            ),
            opts=child,
        )
        used = sorted({route.function for route in args.routes})
        self.integrations = {
            function: aws.apigatewayv2.Integration(
                f"{name}-{function}-integration",
                api_id=self.api.id,
                integration_type="AWS_PROXY",
                integration_method="POST",
                # The function's alias with SnapStart: API Gateway then invokes the snapshot.
                integration_uri=args.functions[function].target_invoke_arn,
                payload_format_version=PAYLOAD_FORMAT_VERSION,
                opts=child,
            )
            for function in used
        }
        self.routes = {route.key: self._route(name, route, child) for route in args.routes}
        self.permissions = {
            function: aws.lambda_.Permission(
                f"{name}-{function}-invoke",
                action="lambda:InvokeFunction",
                function=args.functions[function].name,
                qualifier=args.functions[function].qualifier,
                principal="apigateway.amazonaws.com",
                # Any stage, method and path of this API, and of no other.
                source_arn=self.api.execution_arn.apply(lambda arn: f"{arn}/*/*"),
                opts=child,
            )
            for function in used
        }
        self.access_logs = aws.cloudwatch.LogGroup(
            f"{name}-access-logs",
            name=pulumi.Output.concat("/aws/apigateway/", self.api.name, "/access"),
            retention_in_days=args.log_retention_days,
            opts=child,
        )
        self.stage = aws.apigatewayv2.Stage(
            f"{name}-stage",
            api_id=self.api.id,
            name="$default",
            auto_deploy=True,
            default_route_settings=aws.apigatewayv2.StageDefaultRouteSettingsArgs(
                throttling_burst_limit=args.throttle_burst_limit,
                throttling_rate_limit=args.throttle_rate_limit,
            ),
            access_log_settings=aws.apigatewayv2.StageAccessLogSettingsArgs(
                destination_arn=self.access_logs.arn, format=ACCESS_LOG_FORMAT
            ),
            # Deploy once every route exists, so the first deployment is complete.
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(self.routes.values())),
        )
        self.url = self.api.api_endpoint  # the $default stage serves paths without a prefix
        self.api_id = self.api.id
        self.stage_name = self.stage.name  # with api_id, the dimensions of the API's metrics
        self.register_outputs({"url": self.url, "apiId": self.api_id, "stage": self.stage_name})

    def _route(
        self, name: str, route: Route, opts: pulumi.ResourceOptions
    ) -> aws.apigatewayv2.Route:
        protected = route.protected
        return aws.apigatewayv2.Route(
            f"{name}-route-{route_slug(route)}",
            api_id=self.api.id,
            route_key=route.key,
            target=self.integrations[route.function].id.apply(lambda id_: f"integrations/{id_}"),
            authorization_type="JWT" if protected else "NONE",
            authorizer_id=self.authorizer.id if protected else None,
            # Only access tokens carry this scope: ID tokens are refused at the gateway.
            authorization_scopes=[ACCESS_TOKEN_SCOPE] if protected else None,
            opts=opts,
        )


def _cors(
    origins: Sequence[str], routes: Sequence[Route]
) -> aws.apigatewayv2.ApiCorsConfigurationArgs | None:
    """CORS only when origins are configured: without it browsers on other origins get nothing."""
    if not origins:
        return None
    return aws.apigatewayv2.ApiCorsConfigurationArgs(
        allow_origins=list(origins),
        allow_methods=sorted({route.method for route in routes}),
        allow_headers=list(CORS.allow_headers),
        expose_headers=list(CORS.expose_headers),
        max_age=CORS.max_age_seconds,
        allow_credentials=False,  # bearer tokens, not cookies
    )
