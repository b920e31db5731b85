"""The local HTTP gateway: API Gateway's HTTP API in front of the real Lambda handlers.

Each request is matched against the route table, checked by the JWT authorizer rules when the
route is protected, turned into a payload 2.0 event, handed to the function's own Lambda entry
in-process, and its response turned back into HTTP, answering as API Gateway does on errors.

Two paths are the gateway's own, as a deployed API has no such routes: `GET /openapi.json`, the
API's OpenAPI document, and `GET /docs`, Swagger UI on it (files from the flask-swagger-ui wheel,
no CDN).
"""

import base64
import importlib.resources
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from werkzeug.exceptions import NotFound
from werkzeug.utils import send_from_directory
from werkzeug.wrappers import Request, Response

from local.authorizer import Denied, JwtAuthorizer, event_claims
from local.runtime import LambdaHandler, LambdaRuntime
from services import openapi
from services.routes import ACCESS_TOKEN_SCOPE, CORS, Route

logger = logging.getLogger("local.gateway")

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway's limit for HTTP APIs
TEXT_TYPES = re.compile(
    r"^(text/.*|application/(.+\+)?(json|xml|javascript|x-www-form-urlencoded))$"
)


class RouteTable:
    """Matches requests to routes as API Gateway does: the most specific route wins."""

    def __init__(self, routes: Iterable[Route]) -> None:
        ordered = sorted(routes, key=lambda route: route.path.count("{"))
        self._patterns = [(route, self._pattern(route.path)) for route in ordered]
        self.methods = sorted({route.method for route in ordered})

    @staticmethod
    def _pattern(path: str) -> re.Pattern[str]:
        regex = re.sub(r"\\\{(\w+)\\\+\\\}", r"(?P<\1>.+)", re.escape(path))
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", regex)
        return re.compile(f"^{regex}$")

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route, pattern in self._patterns:
            matched = pattern.match(path)
            if matched and route.method == method:
                return route, matched.groupdict()
        return None


def _message(status: int, text: str, headers: Mapping[str, str] | None = None) -> Response:
    body = json.dumps({"message": text}, separators=(",", ":"))
    return Response(body, status=status, mimetype="application/json", headers=dict(headers or {}))


DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{title}</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({{
      url: "/openapi.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      presets: [SwaggerUIBundle.presets.apis],
      layout: "BaseLayout",
    }});
  </script>
</body>
</html>
"""


class ApiDocs:
    """The gateway's own pages: the OpenAPI document of the API and Swagger UI to explore it."""

    def __init__(self, document: Callable[[], dict[str, Any]] = openapi.document) -> None:
        self._document = document
        self._built: dict[str, Any] | None = None
        self._assets = Path(str(importlib.resources.files("flask_swagger_ui") / "dist"))

    def serves(self, request: Request) -> bool:
        return request.method in ("GET", "HEAD") and (
            request.path in ("/openapi.json", "/docs", "/docs/")
            or request.path.startswith("/docs/")
        )

    def answer(self, request: Request) -> Response:
        if request.path == "/openapi.json":
            # Built once, from the code this process runs; the servers entry is this gateway.
            if self._built is None:
                self._built = self._document()
            doc = {**self._built, "servers": [{"url": request.host_url.rstrip("/")}]}
            return Response(openapi.render(doc), mimetype="application/json")
        if request.path in ("/docs", "/docs/"):
            page = DOCS_PAGE.format(title=openapi.TITLE)
            return Response(page, mimetype="text/html")
        try:
            return send_from_directory(self._assets, request.path[len("/docs/") :], request.environ)
        except NotFound:
            return _message(404, "Not Found")


def _encode_body(raw: bytes, mimetype: str | None) -> tuple[str, bool]:
    """Text bodies travel as text, anything else base64-encoded, as API Gateway sends them."""
    if TEXT_TYPES.match(mimetype or ""):
        try:
            return raw.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(raw).decode(), True


def _read_body(request: Request, limit: int = MAX_PAYLOAD_BYTES) -> bytes | None:
    """The body, or None if it is longer than `limit`. At most limit + 1 bytes are read, so a
    chunked body, which states no Content-Length, is held to the limit as well."""
    if (request.content_length or 0) > limit:
        return None
    body = bytearray()
    while len(body) <= limit:
        chunk = request.stream.read(limit + 1 - len(body))
        if not chunk:
            break
        body += chunk
    return bytes(body) if len(body) <= limit else None


class Gateway:
    """A WSGI application that behaves like the deployed HTTP API."""

    def __init__(
        self,
        routes: Iterable[Route],
        authorizer: JwtAuthorizer,
        cors_origins: Iterable[str] = (),
        handlers: Mapping[str, LambdaHandler] | None = None,
        api_id: str = "local",
        runtime: LambdaRuntime | None = None,
        docs: ApiDocs | None = None,
    ) -> None:
        self.routes = RouteTable(routes)
        self.docs = docs or ApiDocs()
        self.authorizer = authorizer
        self.cors_origins = frozenset(cors_origins)
        self.runtime = runtime or LambdaRuntime(dict(handlers or {}))
        self.api_id = api_id

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        started = time.perf_counter()
        response = self.handle(request)
        response.headers["apigw-requestid"] = request.environ.setdefault(
            "local.request_id", base64.b64encode(uuid.uuid4().bytes[:10]).decode()
        )
        logger.info(
            "%s %s %s %.0fms",
            request.method,
            request.full_path.rstrip("?"),
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        if self.cors_origins and self._is_preflight(request):
            return self._preflight(request)
        found = self.routes.match(request.method, request.path)
        if found is None and self.docs.serves(request):
            return self._with_cors(request, self.docs.answer(request))
        if found is None:
            return self._with_cors(request, _message(404, "Not Found"))
        route, path_parameters = found
        body = _read_body(request)
        if body is None:
            return self._with_cors(request, _message(413, "Request Entity Too Large"))
        claims = None
        if route.protected:
            try:
                claims = self.authorizer.authorize(
                    request.headers.get("Authorization"), [ACCESS_TOKEN_SCOPE]
                )
            except Denied as denied:
                headers = {"www-authenticate": denied.www_authenticate}
                return self._with_cors(request, _message(denied.status, denied.message, headers))
        event = self.event(request, route, path_parameters, claims, body)
        return self._with_cors(request, self._invoke(route.function, event))

    def _invoke(self, function: str, event: dict[str, Any]) -> Response:
        try:
            result = self.runtime.invoke(function, event)
        except Exception:
            logger.exception("function %s failed", function)
            return _message(500, "Internal Server Error")
        return self._response(result)

    @staticmethod
    def _response(result: Any) -> Response:
        if not isinstance(result, dict) or "statusCode" not in result:
            return _message(500, "Internal Server Error")
        body = result.get("body") or ""
        data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
        response = Response(data, status=int(result["statusCode"]))
        response.headers.clear()
        for name, value in (result.get("headers") or {}).items():
            response.headers[name] = str(value)
        for name, values in (result.get("multiValueHeaders") or {}).items():
            for value in values:
                response.headers.add(name, str(value))
        for cookie in result.get("cookies") or []:
            response.headers.add("Set-Cookie", cookie)
        response.headers["Content-Length"] = str(len(data))
        return response

    def event(
        self,
        request: Request,
        route: Route,
        path_parameters: Mapping[str, str],
        claims: Mapping[str, Any] | None,
        body: bytes = b"",
    ) -> dict[str, Any]:
        """A payload format 2.0 event, shaped as API Gateway sends it."""
        now = datetime.now(UTC)
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        cookies = [part.strip() for part in headers.pop("cookie", "").split(";") if part.strip()]
        query: dict[str, str] = {}
        raw_query = request.environ.get("QUERY_STRING", "")
        for name, value in parse_qsl(raw_query, keep_blank_values=True):
            query[name] = f"{query[name]},{value}" if name in query else value
        context: dict[str, Any] = {
            "accountId": "000000000000",
            "apiId": self.api_id,
            "domainName": request.host,
            "domainPrefix": request.host.split(".")[0],
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "sourceIp": request.remote_addr or "127.0.0.1",
                "userAgent": request.headers.get("User-Agent", ""),
            },
            "requestId": request.environ.setdefault(
                "local.request_id", base64.b64encode(uuid.uuid4().bytes[:10]).decode()
            ),
            "routeKey": route.key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        }
        if claims is not None:
            scopes = str(claims.get("scope") or "").split()
            context["authorizer"] = {"jwt": {"claims": event_claims(claims), "scopes": scopes}}
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route.key,
            "rawPath": request.environ.get("RAW_URI", request.path).split("?")[0],
            "rawQueryString": raw_query,
            "headers": headers,
            "requestContext": context,
            "isBase64Encoded": False,
        }
        if cookies:
            event["cookies"] = cookies
        if query:
            event["queryStringParameters"] = query
        if path_parameters:
            event["pathParameters"] = dict(path_parameters)
        if body:
            event["body"], event["isBase64Encoded"] = _encode_body(body, request.mimetype)
        return event

    @staticmethod
    def _is_preflight(request: Request) -> bool:
        return (
            request.method == "OPTIONS"
            and "Origin" in request.headers
            and "Access-Control-Request-Method" in request.headers
        )

    def _allowed_origin(self, request: Request) -> str | None:
        origin = request.headers.get("Origin")
        if origin is None:
            return None
        if "*" in self.cors_origins:
            return "*"
        return origin if origin in self.cors_origins else None

    def _preflight(self, request: Request) -> Response:
        response = Response(status=204)
        origin = self._allowed_origin(request)
        if origin is not None:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Methods"] = ",".join(self.routes.methods)
            response.headers["Access-Control-Allow-Headers"] = ",".join(CORS.allow_headers)
            response.headers["Access-Control-Max-Age"] = str(CORS.max_age_seconds)
        return response

    def _with_cors(self, request: Request, response: Response) -> Response:
        origin = self._allowed_origin(request) if self.cors_origins else None
        if origin is not None:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = ",".join(CORS.expose_headers)
        return response
