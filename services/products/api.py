"""HTTP routes of the catalogue: parse, call the service, shape the answer."""

import re
import uuid
from typing import Any

from flask import Blueprint, Response, current_app, request

from services.common.auth import require_admin
from services.common.errors import BadRequest
from services.common.http import current_principal, json_response, read_json, read_query
from services.common.openapi import operation
from services.products import schemas, service
from services.products.domain import Product, ProductNotFound
from services.products.ports import ProductRepository
from services.products.schemas import (
    IF_MATCH_PATTERN,
    IfMatchIn,
    ListQuery,
    ProductIn,
    ProductPatch,
)

REPOSITORY = "products.repository"
_IF_MATCH = re.compile(IF_MATCH_PATTERN)
# After a create, the stateful fuzzer (and a reader) can follow the new product's id.
_BY_ID = {"id": "$response.body#/id"}
_FOLLOW = {
    "getProduct": _BY_ID,
    "replaceProduct": {**_BY_ID, "header.If-Match": "$response.header.ETag"},
    "patchProduct": {**_BY_ID, "header.If-Match": "$response.header.ETag"},
    "deleteProduct": {**_BY_ID, "header.If-Match": "$response.header.ETag"},
}

bp = Blueprint("products", __name__)


def _repository() -> ProductRepository:
    repository: ProductRepository = current_app.extensions[REPOSITORY]
    return repository


def _product_id(raw: str) -> str:
    """A product id in canonical form; anything that is not a UUID can never name a product."""
    try:
        return str(uuid.UUID(raw))
    except ValueError as exc:
        raise ProductNotFound(raw[:64]) from exc


def _expected_version() -> int | None:
    """The version named by If-Match: None when absent, empty or `*` (any current version)."""
    match = _IF_MATCH.match(request.headers.get("If-Match", ""))
    if match is None:
        raise BadRequest('If-Match must be one entity tag as sent in ETag, such as "3".')
    # An empty If-Match lists no tag: HTTP ignores empty list members, so it asks for nothing.
    return int(match.group(2)) if match.group(2) else None


def _etag(product: Product) -> str:
    return f'"{product.version}"'


def _json(product: Product) -> dict[str, Any]:
    return {
        "id": product.id,
        "name": product.name,
        "price": product.price,
        "stock": product.stock,
        "category": product.category,
        "description": product.description,
        "createdAt": product.created_at,
        "updatedAt": product.updated_at,
        "version": product.version,
    }


def _one(product: Product, status: int = 200, **headers: str) -> Response:
    return json_response(_json(product), status, {"ETag": _etag(product), **headers})


@bp.get("/products")
@operation("GET /products", query=ListQuery, ok={200: schemas.ProductPage}, problems=[400])
def list_products() -> Response:
    """List products, newest first; `category` lists one category."""
    query = read_query(ListQuery)
    page = service.list_products(
        _repository(), category=query.category, limit=query.limit, cursor=query.cursor
    )
    return json_response(
        {"items": [_json(product) for product in page.items], "nextCursor": page.next_cursor}
    )


@bp.post("/products")
@operation(
    "POST /products",
    body=ProductIn,
    ok={201: schemas.Product},
    answer_headers=["Location", "ETag"],
    links=_FOLLOW,
)
def create_product() -> Response:
    """Add a product (admins)."""
    require_admin(current_principal())
    body = read_json(ProductIn)
    product = service.create_product(_repository(), body.fields())
    # A path, not url_for: behind API Gateway the WSGI script name may carry the stage.
    return _one(product, 201, Location=f"/products/{product.id}")


@bp.get("/products/<id>")
@operation("GET /products/{id}", ok={200: schemas.Product}, answer_headers=["ETag"])
def get_product(id: str) -> Response:
    """Read one product; its ETag is its version."""
    return _one(service.get_product(_repository(), _product_id(id)))


@bp.put("/products/<id>")
@operation(
    "PUT /products/{id}",
    body=ProductIn,
    headers=IfMatchIn,
    ok={200: schemas.Product},
    problems=[412],
    answer_headers=["ETag"],
)
def replace_product(id: str) -> Response:
    """Replace every mutable field (admins); an omitted description is removed."""
    require_admin(current_principal())
    canonical_id, expected = _product_id(id), _expected_version()
    body = read_json(ProductIn)
    return _one(service.replace_product(_repository(), canonical_id, body.fields(), expected))


@bp.patch("/products/<id>")
@operation(
    "PATCH /products/{id}",
    body=ProductPatch,
    headers=IfMatchIn,
    ok={200: schemas.Product},
    problems=[412],
    answer_headers=["ETag"],
)
def patch_product(id: str) -> Response:
    """Change some fields (admins); `"description": null` removes it."""
    require_admin(current_principal())
    canonical_id, expected = _product_id(id), _expected_version()
    body = read_json(ProductPatch)
    return _one(service.patch_product(_repository(), canonical_id, body.changes(), expected))


@bp.delete("/products/<id>")
@operation("DELETE /products/{id}", headers=IfMatchIn, ok={204: None}, problems=[400, 412])
def delete_product(id: str) -> Response:
    """Remove a product (admins)."""
    require_admin(current_principal())
    service.delete_product(_repository(), _product_id(id), _expected_version())
    return Response(status=204)
