"""The Flask edge shared by every app: JSON in and out, problem responses, the caller's identity.

Routes parse with `read_json`/`read_query`, call the service, and shape the answer with
`json_response`. Every DomainError and HTTP error becomes an RFC 9457 problem in one place.
"""

import json
import logging
import re
from collections.abc import Mapping
from decimal import Decimal
from http import HTTPStatus
from typing import Any, TypeVar

from flask import Flask, Response, request
from flask.json.provider import DefaultJSONProvider
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import HTTPException

from services.common import errors
from services.common.auth import Principal, principal_from_authorizer
from services.common.money import json_number

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
MAX_BODY_BYTES = 64 * 1024

Model = TypeVar("Model", bound=BaseModel)

_STATUS_OF: tuple[tuple[type[errors.DomainError], HTTPStatus], ...] = (
    (errors.ValidationFailed, HTTPStatus.UNPROCESSABLE_ENTITY),
    (errors.BadRequest, HTTPStatus.BAD_REQUEST),
    (errors.Unauthorized, HTTPStatus.UNAUTHORIZED),
    (errors.Forbidden, HTTPStatus.FORBIDDEN),
    (errors.NotFound, HTTPStatus.NOT_FOUND),
    (errors.Conflict, HTTPStatus.CONFLICT),
    (errors.PreconditionFailed, HTTPStatus.PRECONDITION_FAILED),
    (errors.Throttled, HTTPStatus.TOO_MANY_REQUESTS),
    (errors.DependencyUnavailable, HTTPStatus.SERVICE_UNAVAILABLE),
)


# RFC 9110's names, fixed here because Python's own phrases change between versions.
_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    412: "Precondition Failed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class JSONProvider(DefaultJSONProvider):
    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return json.dumps(obj, default=json_number, ensure_ascii=False, separators=(",", ":"))

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads(s)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# Built once: json.loads and json.dumps build a new decoder or encoder on every call given options.
_DECODER = json.JSONDecoder(parse_float=Decimal, parse_constant=_reject_constant)
# A body is a tree of fresh dicts and lists, never circular: the encoder need not look for loops.
_ENCODER = json.JSONEncoder(default=json_number, separators=(",", ":"), check_circular=False)


def loads(data: str | bytes) -> Any:
    """Parse JSON with every non-integer number as Decimal, refusing NaN and Infinity."""
    if isinstance(data, bytes | bytearray):  # as json.loads reads bytes: UTF-8, -16 or -32
        return _DECODER.decode(data.decode(json.detect_encoding(data), "surrogatepass"))
    if data.startswith("\ufeff"):  # as json.loads refuses a decoded byte order mark
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", data, 0)
    return _DECODER.decode(data)


def problem(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    field_errors: list[errors.FieldError] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    phrase = _TITLES.get(status) or HTTPStatus(status).phrase
    slug = re.sub(r"[^a-z]+", "-", phrase.lower()).strip("-")
    body: dict[str, Any] = {
        "type": f"/problems/{slug}",
        "title": title or phrase,
        "status": status,
        "detail": detail,
    }
    if field_errors is not None:
        body["errors"] = [{"field": e.field, "message": e.message} for e in field_errors]
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    response.headers.update(headers or {})
    return response


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        _ENCODER.encode(body),
        status=status,
        mimetype="application/json",
        headers=dict(headers or {}),
    )


def _field_errors(exc: ValidationError, prefix: str = "") -> list[errors.FieldError]:
    found = []
    for item in exc.errors(include_url=False, include_input=False):
        location = ".".join(str(part) for part in item["loc"]) or prefix or "body"
        message = "unknown field" if item["type"] == "extra_forbidden" else item["msg"]
        found.append(errors.FieldError(location, message))
    return found


def validate(model: type[Model], data: Any, *, where: str = "body") -> Model:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise errors.ValidationFailed(_field_errors(exc, where)) from exc


def read_json(model: type[Model]) -> Model:
    """The request body as `model`: 415 unless JSON, 400 unless well-formed, 422 unless valid."""
    if request.mimetype != "application/json" and not request.mimetype.endswith("+json"):
        raise UnsupportedMediaType("The body must be JSON (Content-Type: application/json).")
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise errors.BadRequest("The request body is empty; a JSON object is expected.")
    try:
        data = loads(raw)
    except (ValueError, RecursionError) as exc:
        raise errors.BadRequest(f"The body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise errors.ValidationFailed([errors.FieldError("body", "must be a JSON object")])
    return validate(model, data)


def read_query(model: type[Model]) -> Model:
    return validate(model, request.args.to_dict(), where="query")


def current_principal() -> Principal | None:
    return principal_from_authorizer(request.environ.get("serverless.authorizer"))


def request_id() -> str | None:
    """API Gateway's id of this request: the correlation id that follows its work downstream."""
    event = request.environ.get("serverless.event") or {}
    value = (event.get("requestContext") or {}).get("requestId")
    return value if isinstance(value, str) else None


class UnsupportedMediaType(errors.DomainError):
    pass


def _domain_error(exc: errors.DomainError) -> Response:
    if isinstance(exc, UnsupportedMediaType):
        return problem(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, exc.detail)
    status = next(code for kind, code in _STATUS_OF if isinstance(exc, kind))
    headers = {}
    if isinstance(exc, errors.DependencyUnavailable):
        headers["Retry-After"] = str(exc.retry_after)
    field_errors = exc.errors if isinstance(exc, errors.ValidationFailed) else None
    return problem(status, exc.detail, field_errors=field_errors, headers=headers)


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or HTTPStatus.INTERNAL_SERVER_ERROR
    methods = getattr(exc, "valid_methods", None)
    headers = {"Allow": ", ".join(methods)} if methods else None
    return problem(status, exc.description or HTTPStatus(status).description, headers=headers)


def _unexpected(exc: Exception) -> Response:
    logger.exception("unhandled error", exc_info=exc)
    return problem(HTTPStatus.INTERNAL_SERVER_ERROR, "An unexpected error occurred.")


def configure(app: Flask) -> Flask:
    """Apply the shared JSON handling, body limit and error translation to an app."""
    app.json = JSONProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.register_error_handler(errors.DomainError, _domain_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
    return app
