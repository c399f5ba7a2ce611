"""WhatsApp numbers (the gateway's accounts) over the API: limits, pause, today's figures."""

from __future__ import annotations

from flask import g
from flask_babel import gettext as _

from ..extensions import db
from ..models import utcnow
from ..numbers import FIELDS, NumberError, list_numbers, update_number
from ..web.audit import audit
from . import bp, openapi
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


@bp.put("/accounts/<key>")
def update_account(key: str):
    if not g.api_user.is_admin:
        raise ApiError(403, "Only administrators change WhatsApp numbers.")
    given = json_body()
    try:
        number = update_number(db.session.connection(), key, given, utcnow())
    except NumberError as error:
        db.session.rollback()
        raise ApiError(422, f"{error.field}: {_(error.message, **error.params)}") from None
    audit("number_changed", ("settings", key), {name: given[name] for name in sorted(given)})
    db.session.commit()
    return _public(number)


def _public(number: dict) -> dict:
    return {name: value for name, value in number.items() if name != "limit_today"}


_NUMBER_PROPERTIES = {
    "label": {"type": "string", "maxLength": 200},
    "rate_per_minute": {
        "type": "number",
        "nullable": True,
        "description": "Ceiling for the number across every campaign and process",
    },
    "daily_limit": {"type": "integer", "minimum": 1, "nullable": True},
    "warmup": {
        "type": "object",
        "nullable": True,
        "description": "Start at `start` messages a day, grow by `growth_percent` a day up to "
        "`daily_limit`",
        "required": ["start", "growth_percent"],
        "properties": {
            "start": {"type": "integer", "minimum": 1},
            "growth_percent": {"type": "number", "minimum": 0, "maximum": 1000},
        },
    },
    "paused": {"type": "boolean"},
}
openapi.SCHEMAS["Account"] = {
    "type": "object",
    "required": ["app", *FIELDS, "sent_today", "failed_today", "unknown_today"],
    "properties": {
        "app": {"type": "integer", "nullable": True, "description": "null: the default number"},
        **_NUMBER_PROPERTIES,
        "pause_reason": {"type": "string", "nullable": True},
        "sent_today": {"type": "integer"},
        "failed_today": {"type": "integer"},
        "unknown_today": {"type": "integer"},
        "last_error": {"type": "string", "nullable": True},
        "last_sent_at": {"type": "string", "format": "date-time", "nullable": True},
    },
}
openapi.PATHS["/accounts"] = {
    "get": {
        "summary": "WhatsApp numbers with today's figures (the day of each number's time zone)",
        "parameters": openapi.PAGE_PARAMETERS,
        "responses": {
            "200": openapi.paged_response("#/components/schemas/Account"),
            **openapi.errors(400, 401),
        },
    }
}
openapi.PATHS["/accounts/{app}"] = {
    "put": {
        "summary": "Change a number's limits, warm-up or pause (administrators only)",
        "parameters": [
            {
                "name": "app",
                "in": "path",
                "required": True,
                "description": "The gateway's app id, or `default`",
                "schema": {"type": "string"},
            }
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": _NUMBER_PROPERTIES,
                    }
                }
            },
        },
        "responses": {
            "200": openapi.json_response("The number", "#/components/schemas/Account"),
            **openapi.errors(400, 401, 403, 415, 422),
        },
    }
}
