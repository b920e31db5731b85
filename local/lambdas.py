"""What moto needs to run the fulfilment workflow locally: Lambda tasks that reach our handlers.

moto's own ASL interpreter runs the executions (`execute_state_machine`); each Task state
invokes its function through moto's Lambda API. Without Docker, moto's Lambda answers every
invocation with its input. In the local stack's process, `install` routes the invocations of
our functions to the local runtime instead: the real handler runs, its answer is the task's
result, and an exception becomes a function error whose `errorType` the workflow's Retry and
Catch match by name, as on AWS. Service code is unchanged; only the fake endpoint learns this.

`configure` also makes moto's DynamoDB answer one request at a time. DynamoDB applies each
request atomically; moto checks a condition and then writes without a lock, so concurrent
executions could otherwise both pass one stock check.
"""

import io
import json
import logging
import threading
import zipfile
from collections.abc import Callable, Iterable
from typing import Any

from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.dynamodb.responses import DynamoHandler
from moto.moto_api._internal.models import moto_api_backend

from local.runtime import LambdaRuntime, error_payload

logger = logging.getLogger("local.lambdas")

ROLE_NAME = "local-functions"
RUNTIME = "python3.13"
_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
_runtime: LambdaRuntime | None = None
_ORIGINALS: dict[str, Callable[..., Any]] = {}
_DYNAMODB_TURN = threading.RLock()


def configure() -> None:
    """Run state machines, answer Lambda without Docker, apply each DynamoDB request whole."""
    moto_api_backend.set_config(
        {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
    )
    if "dynamodb" not in _ORIGINALS:
        _ORIGINALS["dynamodb"] = DynamoHandler.call_action

        def call_action(self: DynamoHandler) -> Any:
            with _DYNAMODB_TURN:
                return _ORIGINALS["dynamodb"](self)

        DynamoHandler.call_action = call_action  # type: ignore[method-assign]


def install(runtime: LambdaRuntime | None) -> None:
    """Route moto's Lambda invocations of our functions to `runtime` from now on (None: stop)."""
    global _runtime
    _runtime = runtime
    configure()
    if "lambda" not in _ORIGINALS:
        _ORIGINALS["lambda"] = LambdaSimpleBackend.invoke
        LambdaSimpleBackend.invoke = _invoke  # type: ignore[method-assign]


def _function_name(name_or_arn: str) -> str:
    # arn:aws:lambda:region:account:function:name[:qualifier]
    parts = name_or_arn.split(":")
    return parts[6] if name_or_arn.startswith("arn:") and len(parts) > 6 else name_or_arn


def _invoke(
    self: LambdaSimpleBackend,
    function_name: str,
    qualifier: str | None,
    body: Any,
    headers: Any,
    response_headers: Any,
) -> bytes:
    name = _function_name(function_name)
    if _runtime is None or name not in _runtime:
        original: Callable[..., bytes] = _ORIGINALS["lambda"]
        return original(self, function_name, qualifier, body, headers, response_headers)
    event = json.loads(body) if body else {}
    try:
        result = _runtime.invoke(name, event)
    except Exception as exc:  # as Lambda does: the error is the invocation's answer
        logger.info("function %s failed: %s: %s", name, type(exc).__name__, exc)
        response_headers["x-amz-function-error"] = "Unhandled"
        result = error_payload(exc)
    return json.dumps(result, default=str).encode()


def role_arn(iam_client: Any) -> str:
    """The one role of the local functions and state machine (moto checks only that it exists)."""
    try:
        arn: str = iam_client.get_role(RoleName=ROLE_NAME)["Role"]["Arn"]
    except iam_client.exceptions.NoSuchEntityException:
        arn = iam_client.create_role(
            RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(_TRUST)
        )["Role"]["Arn"]
    return arn


def ensure_functions(lambda_client: Any, iam_client: Any, names: Iterable[str]) -> dict[str, str]:
    """Declare the functions in moto's Lambda (their code runs in the local runtime); their ARNs."""
    role = role_arn(iam_client)
    placeholder = io.BytesIO()
    with zipfile.ZipFile(placeholder, "w") as archive:
        archive.writestr("README.txt", "The local stack runs this function's real handler.\n")
    arns = {}
    for name in names:
        try:
            arns[name] = lambda_client.get_function(FunctionName=name)["Configuration"][
                "FunctionArn"
            ]
        except lambda_client.exceptions.ResourceNotFoundException:
            arns[name] = lambda_client.create_function(
                FunctionName=name,
                Runtime=RUNTIME,
                Role=role,
                Handler="local.runtime",
                Code={"ZipFile": placeholder.getvalue()},
            )["FunctionArn"]
    return arns
