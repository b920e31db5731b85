"""What each view says about itself for the OpenAPI document: the part the functions run.

Every view carries `@operation("METHOD /path", ...)`, which records the request models the view
validates with (services/common/http.py does the validating and the problem answers) and the
response models of each status, and returns the view unchanged. services/openapi.py, which no
function ships, turns the records into the document with spectree, so the functions on Lambda
neither import spectree nor carry the document's writer.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from services.routes import ROUTES, Route

BEARER = "bearerAuth"
PROBLEM_JSON = "application/problem+json"

View = TypeVar("View", bound=Callable[..., Any])


def not_null(schema: dict[str, Any]) -> None:
    """For a field that may be left out but never sent as null: None only means "not sent"."""
    schema.pop("default", None)
    branches = schema.pop("anyOf", None)
    if branches is not None:
        (kept,) = [branch for branch in branches if branch != {"type": "null"}]
        schema.update(kept)


# The answer models only describe what the routes send (they build dicts): nothing validates with
# them on Lambda, so their validators are built only when the document asks for their schemas.
ANSWER = ConfigDict(extra="forbid", defer_build=True)

UuidText = Annotated[str, Field(json_schema_extra={"format": "uuid"})]
Timestamp = Annotated[
    str,
    Field(
        pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$",
        json_schema_extra={"format": "date-time"},
    ),
]


class FieldProblem(BaseModel):
    model_config = ANSWER

    field: str = Field(description="The bad field: a body path such as items.0.quantity, or a name")
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document: how every function answers an error."""

    model_config = ANSWER

    type: str = Field(pattern=r"^/problems/[a-z-]+$")
    title: str
    status: int = Field(ge=400, le=599)
    detail: str
    errors: list[FieldProblem] = Field(
        default_factory=list, description="Present on validation failures: every bad field"
    )


# What each error status means on this API; the problem statuses every operation may answer are
# added from what it reads (a body, a query, headers, a path id) and who may call it.
PROBLEMS: dict[int, str] = {
    400: "Malformed request: a body that is not JSON, or a cursor or header this API did not issue",
    401: "Not signed in",
    403: "Signed in, but not allowed",
    404: "Not found",
    409: "Conflicts with the current state",
    412: "If-Match names a version that is no longer current; nothing changed",
    413: "The body is larger than 64 KiB",
    415: "The body is not JSON (Content-Type: application/json)",
    422: "Well-formed but invalid: `errors` names every bad field",
    429: "Throttled; retry after Retry-After seconds",
    503: "A dependency is unavailable; retry after Retry-After seconds",
}

_ROUTES: dict[str, Route] = {route.key: route for route in ROUTES}


@dataclass(frozen=True)
class Extras:
    """What an operation answers beyond its models, applied by services.openapi.document()."""

    route: Route
    statuses: frozenset[str]
    success: tuple[int, ...]
    headers: tuple[str, ...]
    links: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


EXTRAS: dict[str, Extras] = {}
# What spectree's `validate` will be given for each view, applied when the document is built.
PENDING: dict[Callable[..., Any], dict[str, Any]] = {}


def build_request_models() -> None:
    """Build now the validators of every request model the imported views read, which are built
    on first use otherwise (services/common/validation.py): for a SnapStart snapshot, which
    should hold what any route's first request needs."""
    models = {
        model
        for arguments in PENDING.values()
        for model in (arguments["query"], arguments["json"], arguments["headers"])
        if model is not None
    }  # one model may serve several views (POST and PUT take the same body)
    for model in models:
        model.model_rebuild(force=True)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def operation(
    key: str,
    *,
    ok: Mapping[int, type[BaseModel] | None],
    problems: Iterable[int] = (),
    query: type[BaseModel] | None = None,
    body: type[BaseModel] | None = None,
    headers: type[BaseModel] | None = None,
    answer_headers: Iterable[str] = (),
    links: Mapping[str, Mapping[str, str]] | None = None,
) -> Callable[[View], View]:
    """Document the view serving `key` ("POST /orders"); the route table says who may call it.

    `ok` maps each success status to its body model; `problems` adds error statuses to the
    ones that follow from the inputs; `answer_headers` are sent with every success.
    """
    route = _ROUTES[key]
    statuses = set(problems) | {429, 503}
    if body is not None:
        statuses |= {400, 413, 415, 422}
    if query is not None:
        statuses |= {422}
    if "{" in route.path:
        statuses |= {404}
    if route.protected:
        statuses |= {401, 403}
    answers: dict[str, Any] = {f"HTTP_{code}": model for code, model in ok.items()}
    answers |= {f"HTTP_{code}": (Problem, PROBLEMS[code]) for code in sorted(statuses)}
    documented = frozenset(str(code) for code in (*ok, *statuses))
    EXTRAS[key] = Extras(route, documented, tuple(ok), tuple(answer_headers), links or {})

    def decorate(view: View) -> View:
        PENDING[view] = {
            "query": query,
            "json": body,
            "headers": headers,
            "answers": answers,
            "tags": [route.function],
            "security": {BEARER: []} if route.protected else None,
            "operation_id": _camel(view.__name__),
            "skip_validation": True,
        }
        return view

    return decorate
