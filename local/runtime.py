"""The local Lambda runtime: each function's real entry, run in this process, one event at a time
per container, as Lambda runs it.

On Lambda a container serves one invocation at a time, and what a handler builds once (the
Flask app, its clients, its one database connection) belongs to that container. Here each
container is a fresh execution of the handler's module, so two concurrent invocations of one
function never share a connection either; idle containers are reused, as warm ones are.
"""

import importlib.util
import logging
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from services.routes import FUNCTIONS

logger = logging.getLogger("local.runtime")

LambdaHandler = Callable[[dict[str, Any], Any], Any]
ACCOUNT = "000000000000"
REGION = "us-east-1"
MAX_CONTAINERS = 10  # per function: concurrent invocations beyond it wait for a free one


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object that handlers and Powertools read."""

    function_name: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    timeout_ms: int = 30_000
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return function_arn(self.function_name)

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.timeout_ms - int((time.monotonic() - self.started) * 1000))


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def fresh_handler(dotted: str) -> LambdaHandler:
    """The handler of a new execution of its module: a new container, with nothing built yet."""
    module_name, _, attribute = dotted.rpartition(".")
    spec = importlib.util.find_spec(module_name)
    if spec is None or spec.loader is None:
        raise ImportError(f"no module {module_name}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handler: LambdaHandler = getattr(module, attribute)
    return handler


def error_payload(exc: BaseException) -> dict[str, Any]:
    """What the Python runtime answers for an unhandled exception."""
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": "",
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


class LocalFunction:
    """One function: a pool of containers, each serving one invocation at a time."""

    def __init__(
        self, name: str, handler: LambdaHandler | None = None, max_containers: int = MAX_CONTAINERS
    ) -> None:
        self.name = name
        self._dotted = FUNCTIONS[name].handler if name in FUNCTIONS else ""
        self._given = handler  # a test's handler: one container, shared
        self._idle: list[LambdaHandler] = []
        self._slots = threading.BoundedSemaphore(1 if handler else max_containers)
        self._lock = threading.Lock()
        self._started = 0

    def invoke(self, event: Any, context: LambdaContext | None = None) -> Any:
        with self._slots:
            container = self._take()
            try:
                return container(event, context or LambdaContext(self.name))
            finally:
                with self._lock:
                    self._idle.append(container)

    def _take(self) -> LambdaHandler:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            self._started += 1
        if self._given is not None:
            return self._given
        logger.debug("cold start of %s (container %d)", self.name, self._started)
        return fresh_handler(self._dotted)


class LambdaRuntime:
    """Every function of the route table, invoked by name: the gateway, the schedules, the queue
    poller and Step Functions (through moto's Lambda) all come through here."""

    def __init__(self, handlers: dict[str, LambdaHandler] | None = None) -> None:
        self._functions = {name: LocalFunction(name, h) for name, h in (handlers or {}).items()}
        self._lock = threading.Lock()

    def function(self, name: str) -> LocalFunction:
        with self._lock:
            if name not in self._functions:
                if name not in FUNCTIONS:
                    raise KeyError(f"no function {name!r} in the route table")
                self._functions[name] = LocalFunction(name)
            return self._functions[name]

    def invoke(self, name: str, event: Any) -> Any:
        return self.function(name).invoke(event)

    def __contains__(self, name: object) -> bool:
        return name in FUNCTIONS or name in self._functions
