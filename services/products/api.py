"""HTTP routes of the catalogue: parse, call the service, shape the answer."""

import re
import uuid
from typing import Any

from flask import Blueprint, Response, current_app, request

from services.common.auth import require_admin
from services.common.errors import BadRequest
from services.common.http import current_principal, json_response, read_json, read_query
from services.products import service
from services.products.domain import Product, ProductNotFound
from services.products.ports import ProductRepository
from services.products.schemas import ListQuery, ProductIn, ProductPatch

REPOSITORY = "products.repository"
_STRONG_ETAG = re.compile(r'^"(\d{1,18})"$')

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
    """The version named by If-Match: None when absent or `*` (any current version)."""
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    match = _STRONG_ETAG.match(header.strip())
    if match is None:
        raise BadRequest('If-Match must be one entity tag as sent in ETag, such as "3".')
    return int(match.group(1))


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
def list_products() -> Response:
    query = read_query(ListQuery)
    page = service.list_products(
        _repository(), category=query.category, limit=query.limit, cursor=query.cursor
    )
    return json_response(
        {"items": [_json(product) for product in page.items], "nextCursor": page.next_cursor}
    )


@bp.post("/products")
def create_product() -> Response:
    require_admin(current_principal())
    body = read_json(ProductIn)
    product = service.create_product(_repository(), body.fields())
    # A path, not url_for: behind API Gateway the WSGI script name may carry the stage.
    return _one(product, 201, Location=f"/products/{product.id}")


@bp.get("/products/<id>")
def get_product(id: str) -> Response:
    return _one(service.get_product(_repository(), _product_id(id)))


@bp.put("/products/<id>")
def replace_product(id: str) -> Response:
    require_admin(current_principal())
    canonical_id, expected = _product_id(id), _expected_version()
    body = read_json(ProductIn)
    return _one(service.replace_product(_repository(), canonical_id, body.fields(), expected))


@bp.patch("/products/<id>")
def patch_product(id: str) -> Response:
    require_admin(current_principal())
    canonical_id, expected = _product_id(id), _expected_version()
    body = read_json(ProductPatch)
    return _one(service.patch_product(_repository(), canonical_id, body.changes(), expected))


@bp.delete("/products/<id>")
def delete_product(id: str) -> Response:
    require_admin(current_principal())
    service.delete_product(_repository(), _product_id(id), _expected_version())
    return Response(status=204)
