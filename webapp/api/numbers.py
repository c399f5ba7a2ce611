"""WhatsApp numbers (the gateway's accounts) over the API: limits, pause, today's figures."""

from __future__ import annotations

from flask import g
from flask_babel import gettext as _

from ..extensions import db
from ..models import utcnow
from ..numbers import NumberError, list_numbers, update_number
from ..web.audit import audit
from . import bp
from .helpers import ApiError, json_body, page_args


@bp.get("/accounts")
def accounts():
    page, per_page = page_args()
    items = list_numbers(db.session.connection(), utcnow())
    db.session.commit()  # the implicit default number, the first time it is listed
    start = (page - 1) * per_page
    return {
        "items": [_public(n) for n in items[start : start + per_page]],
        "total": len(items),
        "page": page,
        "per_page": per_page,
    }


@bp.put("/accounts/<app>")
def update_account(app: str):
    if not g.api_user.is_admin:
        raise ApiError(403, "Only administrators change WhatsApp numbers.")
    given = json_body()
    try:
        number = update_number(db.session.connection(), app, given, utcnow())
    except NumberError as error:
        db.session.rollback()
        raise ApiError(422, f"{error.field}: {_(error.message, **error.params)}") from None
    audit("number_changed", ("settings", app), {name: given[name] for name in sorted(given)})
    db.session.commit()
    return _public(number)


def _public(number: dict) -> dict:
    return {name: value for name, value in number.items() if name != "limit_today"}
