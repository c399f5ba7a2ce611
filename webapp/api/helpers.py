"""Small helpers the API endpoints share: JSON bodies, paging, API-level errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import request
from flask_babel import gettext as _
from sqlalchemy import Select, func, select
from werkzeug.exceptions import HTTPException

from ..extensions import db
from ..url_numbers import MAX_PER_PAGE, page_arg


class ApiError(HTTPException):
    """Abort an API request with ``{"error": message, ...details}`` and ``status``."""

    def __init__(self, status: int, message: str, **details: Any) -> None:
        super().__init__(description=message)
        self.code = status
        self.details = details


def json_body() -> dict:
    """The request's JSON object, or a clear 400/415 when it is not one."""
    if not request.is_json:
        raise ApiError(415, _("Send a JSON body with 'Content-Type: application/json'."))
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, _("The body is not a JSON object."))
    return body


def page_args() -> tuple[int, int]:
    """``page`` and ``per_page`` from the query string, validated."""
    page = page_arg()
    try:
        per_page = int(request.args.get("per_page", 50))
    except ValueError:
        raise ApiError(400, _("'per_page' must be a whole number.")) from None
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise ApiError(
            400, _("'per_page' must be between 1 and %(maximum)s.", maximum=MAX_PER_PAGE)
        )
    return page, per_page


def paged(query: Select, serialize: Callable[[Any], dict], total: int | None = None) -> dict:
    """One page of ``query`` (of one entity): ``{"items", "total", "page", "per_page"}``."""
    page, per_page = page_args()
    if total is None:
        total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = db.session.scalars(query.limit(per_page).offset((page - 1) * per_page))
    return {
        "items": [serialize(row) for row in rows],
        "total": total,
        "page": page,
        "per_page": per_page,
    }
