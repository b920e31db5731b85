"""The security review of the whole stack, under the Pulumi mocks: each check runs over every
resource of its kind the program declares, so a resource added later is reviewed too.

- IAM: every permission any role holds is an inline policy of specific actions on specific
  resources; no policy of any kind holds a wildcard action or resource "*" that infra.policy does
  not list, with why, for that kind of policy, and that list holds nothing unused; no resource
  policy lets in anyone or any service unconditionally.
- Secrets: none in a function's environment or in a stack output; the database secret travels as
  its ARN.
- Encryption at rest: the table, the queues and their dead-letter queues, the database, the alarm
  topic (with a rotating key). Log groups and function environments use the keys AWS manages for
  them unless a key of this stack is named.
- The API: throttled, CORS for the configured origins only, access logs without headers, bodies or
  claims; no debug or execution-data logging elsewhere.
"""

import json
import re
from collections.abc import Iterator
from typing import Any

import pulumi
import pytest

from infra.policy import WILDCARDS, PolicyKind
from infra.policy import check as check_wildcards
from tests.infra.mocking import ACCOUNT, Created, Declared, MockStack, pulumi_test

ROLE = "aws:iam/role:Role"
IDENTITY_POLICIES = {
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/policy:Policy",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/groupPolicy:GroupPolicy",
}
ATTACHMENTS = {
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
    "aws:iam/rolePoliciesExclusive:RolePoliciesExclusive",
}
FUNCTION = "aws:lambda/function:Function"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
KMS_KEY = "aws:kms/key:Key"
KEY_POLICIES = {KMS_KEY, "aws:kms/keyPolicy:KeyPolicy"}
LAMBDA_PERMISSION = "aws:lambda/permission:Permission"
# What infra.policy lets each kind of policy grant with a wildcard.
LISTED = {(entry.kind, action) for entry in WILDCARDS for action in entry.actions}

# A name that says it holds a credential; a variable ending in _ARN says where one is kept.
SECRET_NAME = re.compile(
    r"(^|_)(PASSWORD|PASSWD|PWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIALS?)(_|$)",
    re.IGNORECASE,
)
# Values that are credentials whatever they are called.
SECRET_VALUE = re.compile(
    r"://[^/@\s:]+:[^/@\s]+@"  # user:password@ in a URL
    r"|(AKIA|ASIA)[0-9A-Z]{16}"  # an AWS access key id
    r"|eyJ[A-Za-z0-9_-]{10,}\.eyJ"  # a JWT
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"
    r"|password",
    re.IGNORECASE,
)
# Powertools' switch that writes every incoming event, with its Authorization header, to the logs.
LOG_EVENT = "POWERTOOLS_LOGGER_LOG_EVENT"


def _statements(document: str) -> list[dict[str, Any]]:
    statements = json.loads(document)["Statement"]
    return [statements] if isinstance(statements, dict) else list(statements)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _documents(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every policy document in a resource's inputs, with where it sits."""
    if isinstance(value, str) and '"Statement"' in value:
        parsed = json.loads(value)
        if isinstance(parsed, dict) and "Statement" in parsed:
            yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _documents(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _documents(item, f"{path}[{index}]")


def _identity_policies(declared: Declared) -> list[tuple[Created, str]]:
    """Every identity policy: the IAM policy resources, and any role's inline policies."""
    found = [(c, c.inputs["policy"]) for c in declared.created if c.typ in IDENTITY_POLICIES]
    for role in declared.of_type(ROLE):
        for inline in role.inputs.get("inlinePolicies") or []:
            found.append((role, inline["policy"]))
    return found


def _check_identity_statement(where: str, statement: dict[str, Any]) -> None:
    assert set(statement) <= {"Sid", "Effect", "Action", "Resource", "Condition"}, where
    if statement["Effect"] == "Deny":
        return  # a Deny may be as broad as it likes
    assert statement["Effect"] == "Allow", where
    actions = _as_list(statement["Action"])
    for action in actions:
        assert "*" not in action, f"{where}: wildcard action {action!r}"
        assert re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9]+", action), f"{where}: {action!r}"
    resources = _as_list(statement["Resource"])
    if "*" in resources:
        unjustified = [a for a in actions if (PolicyKind.IDENTITY, a) not in LISTED]
        assert not unjustified, f"{where}: {unjustified} on resource '*'"
    for resource in resources:
        if resource == "*":
            continue
        # arn:partition:service:region:account:resource; the resource named before any wildcard.
        parts = resource.split(":", 5)
        assert len(parts) == 6, f"{where}: {resource!r}"
        assert (parts[0], parts[1]) == ("arn", "aws"), f"{where}: {resource!r}"
        assert re.fullmatch(r"[a-z0-9-]+", parts[2]), f"{where}: {resource!r}"
        assert parts[4] == ACCOUNT, f"{where}: {resource!r} is not this account's"
        assert not parts[5].startswith("*"), f"{where}: {resource!r}"


@pulumi_test
def test_every_role_holds_only_specific_actions_on_specific_resources(
    program: dict[str, Any], declared: Declared
) -> Any:
    def check(_: Any) -> None:
        roles = declared.of_type(ROLE)
        policies = _identity_policies(declared)
        assert roles
        assert policies
        for owner, document in policies:
            for index, statement in enumerate(_statements(document)):
                _check_identity_statement(f"{owner.name} statement {index}", statement)
        # Every permission a role holds is one of the documents above.
        assert [c.name for c in declared.created if c.typ in ATTACHMENTS] == []
        for role in roles:
            assert not role.inputs.get("managedPolicyArns"), role.name
        role_ids = {f"{role.name}-id": role.name for role in roles}  # the mocks' physical ids
        holders = {
            role_ids[policy.inputs["role"]]
            for policy, _ in policies
            if policy.typ == "aws:iam/rolePolicy:RolePolicy"
        }
        assert holders == {role.name for role in roles}  # no role left out, none from elsewhere

    return program["fulfilment"].arn.apply(check)


def _kind(created: Created, path: str) -> PolicyKind:
    """The kind of policy a document in `created`'s inputs at `path` is."""
    if created.typ in IDENTITY_POLICIES:
        return PolicyKind.IDENTITY
    if created.typ == ROLE:
        return PolicyKind.IDENTITY if path.startswith(".inlinePolicies") else PolicyKind.TRUST
    if created.typ in KEY_POLICIES:
        return PolicyKind.KEY
    return PolicyKind.RESOURCE  # a topic's, a queue's, a secret's, a log group's ...


def _every_statement(declared: Declared) -> Iterator[tuple[str, PolicyKind, dict[str, Any]]]:
    """Every statement of every policy the program declares, with where it is and its kind.

    A Lambda permission is a statement Lambda adds to the function's policy: its action, on the
    function, for its principal and source.
    """
    for created in declared.created:
        for path, document in _documents(created.inputs):
            for index, statement in enumerate(_statements(document)):
                yield f"{created.name}{path} statement {index}", _kind(created, path), statement
        if created.typ == LAMBDA_PERMISSION:
            statement = {
                "Effect": "Allow",
                "Action": created.inputs["action"],
                "Resource": created.inputs["function"],
            }
            yield created.name, PolicyKind.RESOURCE, statement


def _wildcards(declared: Declared) -> Iterator[tuple[str, PolicyKind, str, bool]]:
    """Each action an Allow statement grants with a wildcard: where, the policy's kind, the
    action, and whether infra.policy lists it for that kind."""
    for where, kind, statement in _every_statement(declared):
        assert not {"NotAction", "NotResource"} & set(statement), f"{where}: a negated wildcard"
        if statement["Effect"] != "Allow":
            continue  # a Deny may be as broad as it likes
        actions = _as_list(statement["Action"])
        resources = _as_list(statement.get("Resource", []))  # a trust policy names none
        for action in actions:
            if "*" in action or "*" in resources:
                yield where, kind, action, (kind, action) in LISTED


@pulumi_test
def test_every_wildcard_in_any_policy_is_one_infra_policy_lists_for_its_kind(
    program: dict[str, Any], declared: Declared
) -> Any:
    """An action with a "*" anywhere in it, or any action on resource "*", in a role's policy, a
    trust policy, a key policy, a topic's or queue's policy or a Lambda permission."""

    def check(_: Any) -> None:
        found = list(_wildcards(declared))
        kinds = {kind for _, kind, _, _ in found}
        assert {PolicyKind.IDENTITY, PolicyKind.KEY} <= kinds  # both kinds were reviewed
        unjustified = [(where, kind.value, action) for where, kind, action, ok in found if not ok]
        assert unjustified == []

    return program["alarm_topic"].arn.apply(check)


@pulumi_test
def test_infra_policy_lists_no_wildcard_that_nothing_uses(
    program: dict[str, Any], declared: Declared
) -> Any:
    """So the list cannot outlive the statements it justifies (the test stack puts functions in
    the VPC, traces and logs the state machine: every entry is in use there)."""

    def check(_: Any) -> None:
        used = {(kind, action) for _, kind, action, ok in _wildcards(declared) if ok}
        assert sorted((kind.value, action) for kind, action in LISTED - used) == []
        for entry in WILDCARDS:
            assert entry.actions, entry
            assert entry.why.strip(), entry  # each says why nothing narrower works

    return program["alarm_topic"].arn.apply(check)


@pulumi_test
def test_every_role_in_use_is_one_of_this_stacks(
    program: dict[str, Any], declared: Declared
) -> Any:
    """A function, state machine or proxy running as a role made elsewhere escapes the review."""

    def check(_: Any) -> None:
        names = {role.name for role in declared.of_type(ROLE)}
        used = [
            (created.name, value)
            for created in declared.created
            for value in created.inputs.values()
            if isinstance(value, str) and ":role/" in value
        ]
        in_use = set()
        for user, arn in used:
            assert arn.startswith(f"arn:aws:iam::{ACCOUNT}:role/"), (user, arn)
            physical = arn.split(":role/", 1)[1]  # the mocks name it <resource name>-<suffix>
            roles = [name for name in names if physical.startswith(f"{name}-")]
            assert len(roles) == 1, f"{user} runs as {arn}, a role made elsewhere"
            in_use.add(roles[0])
        assert in_use == names  # and every role here is some resource's

    return program["orders"].function.arn.apply(check)


def _principals(statement: dict[str, Any]) -> list[tuple[str, str]]:
    principal: Any = statement.get("Principal") or {}
    if principal == "*":
        return [("*", "*")]
    return [(kind, value) for kind, values in principal.items() for value in _as_list(values)]


@pulumi_test
def test_no_resource_policy_lets_in_anyone_or_any_service_unconditionally(
    program: dict[str, Any], declared: Declared, stack: MockStack
) -> Any:
    root = f"arn:aws:iam::{stack.account}:root"

    def check(_: Any) -> None:
        reviewed = 0
        for created in declared.created:
            if created.typ in IDENTITY_POLICIES:
                continue
            if created.typ == ROLE:
                continue  # trust policies: test_infra_functions; inline ones: the test above
            for path, document in _documents(created.inputs):
                for statement in _statements(document):
                    reviewed += 1
                    where = f"{created.name}{path}"
                    assert "NotPrincipal" not in statement, where
                    if statement["Effect"] != "Allow":
                        continue
                    for kind, principal in _principals(statement):
                        assert principal != "*", f"{where}: anyone is let in"
                        if kind == "Service":
                            assert statement.get("Condition"), f"{where}: {principal} unscoped"
                        elif kind == "AWS":
                            assert principal == root, f"{where}: {principal}"
                    for action in _as_list(statement["Action"]):
                        if action.endswith(":*"):
                            # AWS's default key policy: the account manages its key through IAM.
                            assert created.typ == KMS_KEY, where
                            assert _principals(statement) == [("AWS", root)], where
        assert reviewed  # the alarm topic's key policy at least

    return program["alarm_topic"].arn.apply(check)


@pulumi_test
def test_only_the_intended_service_may_invoke_a_function_and_only_from_its_source(
    program: dict[str, Any], declared: Declared, stack: MockStack
) -> Any:
    def check(_: Any) -> None:
        permissions = declared.of_type(LAMBDA_PERMISSION)
        assert permissions
        for permission in permissions:
            inputs = permission.inputs
            assert inputs["action"] == "lambda:InvokeFunction", permission.name
            assert inputs["principal"].endswith(".amazonaws.com"), permission.name
            source = inputs.get("sourceArn") or ""
            assert source.startswith("arn:aws:"), f"{permission.name}: invocable from anywhere"
            # arn:aws:service:region:account:resource, the resource named before any wildcard.
            parts = source.split(":", 5)
            assert len(parts) == 6, f"{permission.name}: {source!r}"
            assert parts[4] == stack.account, f"{permission.name}: {source!r}"
            assert parts[5], f"{permission.name}: {source!r}"
            assert not parts[5].startswith("*"), f"{permission.name}: {source!r}"

    return program["api"].url.apply(check)


# --- secrets --------------------------------------------------------------------------------


def _secret_free(where: str, name: str, value: Any) -> None:
    text = value if isinstance(value, str) else json.dumps(value)
    assert not SECRET_VALUE.search(text), f"{where}: {name} carries what looks like a credential"


@pulumi_test
def test_no_function_environment_holds_a_secret(program: dict[str, Any], declared: Declared) -> Any:
    database = program["database"]

    def check(secret_arn: str) -> None:
        functions = declared.of_type(FUNCTION)
        assert functions
        holders = []
        for function in functions:
            variables = (function.inputs.get("environment") or {}).get("variables") or {}
            for name, value in variables.items():
                if name.upper().endswith("_ARN"):
                    assert str(value).startswith("arn:aws:"), (function.name, name)
                else:
                    assert not SECRET_NAME.search(name), f"{function.name}: {name}"
                _secret_free(function.name, name, value)
                if "secretsmanager" in str(value):
                    assert value == secret_arn, (function.name, name)  # by ARN, and only this one
                    holders.append(function.name)
            assert str(variables.get(LOG_EVENT, "false")).lower() != "true", function.name
        assert holders  # the database functions find their credentials by the secret's ARN

    return database.secret_arn.apply(check)


@pulumi_test
def test_no_stack_output_carries_a_secret(program: dict[str, Any]) -> Any:
    root = pulumi.runtime.get_root_resource()
    outputs: dict[str, Any] = dict(getattr(root, "outputs", {}))
    assert outputs
    names = sorted(outputs)

    def check(values: list[Any]) -> None:
        for name, value in zip(names, values, strict=True):
            assert not SECRET_NAME.search(re.sub(r"(?<!^)(?=[A-Z])", "_", name)), name
            _secret_free("stack output", name, value)
            if "secretsmanager" in json.dumps(value):
                assert str(value).startswith("arn:aws:secretsmanager:"), name  # by ARN only

    return pulumi.Output.all(*[outputs[name] for name in names]).apply(check)


# --- encryption at rest ---------------------------------------------------------------------


def _stack_keys(declared: Declared) -> list[Created]:
    return declared.of_type(KMS_KEY)


def _is_stack_key(reference: Any, keys: list[Created]) -> bool:
    """Whether a key id or ARN names one of `keys` (the mocks derive ids from resource names)."""
    last = str(reference).rsplit("/", 1)[-1]
    return any(last.startswith(f"{key.name}-") for key in keys)


@pulumi_test
def test_every_data_store_is_encrypted_at_rest(program: dict[str, Any], declared: Declared) -> Any:
    def check(_: Any) -> None:
        tables = declared.of_type("aws:dynamodb/table:Table")
        queues = declared.of_type("aws:sqs/queue:Queue")
        clusters = declared.of_type("aws:rds/cluster:Cluster")
        assert tables
        assert len(queues) >= 2  # the orders queue and its dead-letter queue at least
        assert clusters
        for table in tables:
            assert table.inputs["serverSideEncryption"]["enabled"] is True, table.name
        for queue in queues:
            sse = queue.inputs.get("sqsManagedSseEnabled") or queue.inputs.get("kmsMasterKeyId")
            assert sse, f"{queue.name} is not encrypted"
        for cluster in clusters:
            assert cluster.inputs["storageEncrypted"] is True, cluster.name
            assert cluster.inputs.get("manageMasterUserPassword") is True, cluster.name

    return program["catalog"].table_arn.apply(check)


@pulumi_test
def test_topics_are_encrypted_with_a_rotating_key_of_this_stack(
    program: dict[str, Any], declared: Declared
) -> Any:
    def check(_: Any) -> None:
        keys = _stack_keys(declared)
        for key in keys:
            assert key.inputs["enableKeyRotation"] is True, key.name
        for topic in declared.of_type("aws:sns/topic:Topic"):
            key_id = topic.inputs.get("kmsMasterKeyId")
            assert key_id, f"{topic.name} is not encrypted"
            assert _is_stack_key(key_id, keys), f"{topic.name}: {key_id}"

    return program["alarm_topic"].arn.apply(check)


@pulumi_test
def test_log_groups_and_function_settings_use_aws_keys_or_a_rotating_key_of_this_stack(
    program: dict[str, Any], declared: Declared
) -> Any:
    """CloudWatch Logs encrypts every group, and Lambda every environment, with keys AWS manages;
    a customer managed key, when one is named, must be one of this stack's rotating keys."""

    def check(_: Any) -> None:
        keys = _stack_keys(declared)
        groups = declared.of_type(LOG_GROUP)
        assert groups
        for group in groups:
            key = group.inputs.get("kmsKeyId")
            assert key is None or _is_stack_key(key, keys), f"{group.name}: {key}"
        for function in declared.of_type(FUNCTION):
            key = function.inputs.get("kmsKeyArn")
            assert key is None or _is_stack_key(key, keys), f"{function.name}: {key}"

    return program["api"].access_logs.arn.apply(check)


# --- the API and what is logged -------------------------------------------------------------


@pulumi_test
def test_every_stage_is_throttled_as_configured_with_no_route_above_it(
    program: dict[str, Any], declared: Declared, stack: MockStack
) -> Any:
    burst, rate = stack.overrides["throttleBurstLimit"], stack.overrides["throttleRateLimit"]

    def check(_: Any) -> None:
        stages = declared.of_type("aws:apigatewayv2/stage:Stage")
        assert stages
        for stage in stages:
            settings = stage.inputs["defaultRouteSettings"]
            assert settings["throttlingBurstLimit"] == burst > 0, stage.name
            assert settings["throttlingRateLimit"] == rate > 0, stage.name
            for route in stage.inputs.get("routeSettings") or []:
                assert route.get("throttlingBurstLimit", 0) <= burst, (stage.name, route)
                assert route.get("throttlingRateLimit", 0) <= rate, (stage.name, route)

    return program["api"].stage_name.apply(check)


@pulumi_test
def test_cors_lets_in_exactly_the_configured_origins(
    program: dict[str, Any], declared: Declared, stack: MockStack
) -> Any:
    configured = stack.overrides["corsOrigins"]
    assert configured
    assert "*" not in configured

    def check(_: Any) -> None:
        apis = declared.of_type("aws:apigatewayv2/api:Api")
        assert apis
        for api in apis:
            cors = api.inputs.get("corsConfiguration")
            if cors is None:
                continue  # no CORS at all: browsers on other origins get nothing
            assert cors["allowOrigins"] == configured, api.name
            assert cors.get("allowCredentials") is not True, api.name
            for key in ("allowMethods", "allowHeaders", "exposeHeaders"):
                assert "*" not in (cors.get(key) or []), (api.name, key)
        main = next(api for api in apis if api.name == "http-api")
        assert main.inputs.get("corsConfiguration"), "the configured origins reach the API"

    return program["api"].url.apply(check)


@pulumi_test
def test_nothing_logs_headers_bodies_claims_sql_or_execution_data(
    program: dict[str, Any], declared: Declared
) -> Any:
    def check(_: Any) -> None:
        stages = declared.of_type("aws:apigatewayv2/stage:Stage")
        for stage in stages:
            fields = json.loads(stage.inputs["accessLogSettings"]["format"])
            for name, variable in fields.items():
                assert variable.startswith("$context."), (stage.name, name)
                assert "claims" not in variable, (stage.name, name)  # e-mail, username ...
        for proxy in declared.of_type("aws:rds/proxy:Proxy"):
            assert proxy.inputs.get("debugLogging") is not True, proxy.name
        for machine in declared.of_type("aws:sfn/stateMachine:StateMachine"):
            logging = machine.inputs.get("loggingConfiguration") or {}
            assert logging.get("includeExecutionData") is not True, machine.name

    return program["api"].stage_name.apply(check)


@pytest.mark.parametrize(
    ("kind", "action", "resource"),
    [
        (PolicyKind.KEY, "kms:ReEncrypt*", "*"),  # a partial wildcard
        (PolicyKind.KEY, "kms:Encrypt", "*"),
        (PolicyKind.IDENTITY, "kms:*", "*"),  # listed, but for key policies only
        (PolicyKind.RESOURCE, "sns:Publish", "*"),
        (PolicyKind.RESOURCE, "sqs:*", "arn:aws:sqs:eu-west-1:123456789012:q"),  # on one queue
    ],
)
def test_a_policy_is_refused_a_wildcard_not_listed_for_its_kind(
    kind: PolicyKind, action: str, resource: str
) -> None:
    statement = {"Effect": "Allow", "Action": [action], "Resource": resource}
    with pytest.raises(ValueError, match="does not list"):
        check_wildcards(kind, {"Statement": [statement]})
