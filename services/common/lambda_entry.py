"""The Lambda entry shared by every HTTP function: build the app once per container, then delegate.

We do not ship serverless-wsgi's own `wsgi_handler.py` (it runs commands sent in an event).

With SnapStart (the stack's `snapStart` setting), what an entry builds once per container (the
app or adapters and their SDK clients; never a connection, which opens on first use) is built
before Lambda takes the snapshot, through the runtime hooks of Lambda's Python runtime, so every
environment restored from it starts warm. Elsewhere the hooks do not exist and nothing changes.
"""

import random
from collections.abc import Callable
from typing import Any, TypeVar

import serverless_wsgi
from flask import Flask

from services.common.http import PROBLEM_JSON
from services.common.observability import observed

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]
T = TypeVar("T")


def once(build: Callable[[], T]) -> Callable[[], T]:
    """Build on the first call and return the same object after: one per container."""
    built: list[T] = []

    def get() -> T:
        if not built:
            built.append(build())
        return built[0]

    return get


def before_snapshot(build: Callable[[], object]) -> None:
    """Run `build` before Lambda snapshots a SnapStart function; elsewhere, never. An entry
    registers its `once` build here, so a snapshot holds what its first event would build.

    Every environment restored from one snapshot would draw the same pseudo-random numbers
    (botocore's retry jitter, log sampling), so `random` is re-seeded after each restore.
    """
    try:  # the runtime hooks of Lambda's Python runtimes (3.12 and later)
        from snapshot_restore_py import (  # type: ignore[import-not-found]
            register_after_restore,
            register_before_snapshot,
        )
    except ImportError:
        return
    register_before_snapshot(build)
    register_after_restore(random.seed)


def api_keys(event: dict[str, Any]) -> dict[str, str | None]:
    """An API request's correlation keys: API Gateway's request id and the caller's user id."""
    context = event.get("requestContext") or {}
    claims = ((context.get("authorizer") or {}).get("jwt") or {}).get("claims") or {}
    return {"correlation_id": context.get("requestId"), "user_id": claims.get("sub")}


def http_handler(
    create_app: Callable[[], Flask],
    keys_of: Callable[[dict[str, Any]], dict[str, str | None]] = api_keys,
) -> LambdaHandler:
    """A Lambda handler that builds the app lazily, on the first event, and reuses it after."""
    app = once(create_app)

    def snapshot() -> Flask:
        # The views' records, imported with the app (the other entries need not load them).
        from services.common import openapi

        made = app()
        openapi.build_request_models()  # what each route's first request would build
        return made

    before_snapshot(snapshot)
    # Problem documents are text; without this serverless-wsgi would base64-encode them.
    if PROBLEM_JSON not in serverless_wsgi.TEXT_MIME_TYPES:
        serverless_wsgi.TEXT_MIME_TYPES.append(PROBLEM_JSON)

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        response: dict[str, Any] = serverless_wsgi.handle_request(app(), event, context)
        return response

    entry: LambdaHandler = observed(handle, keys_of)
    return entry
