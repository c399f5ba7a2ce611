"""Campaigns over the JSON API: create and edit, the lifecycle, preview, test send, results.

Each view calls one function of ``webapp.campaigns.service`` and commits once; the functions'
refusals (``CampaignError``) become ``{"error": ..., ...details}`` in the reader's language.
"""

from __future__ import annotations

import json
from contextlib import closing
from datetime import datetime

from flask import current_app, g, request
from flask_babel import get_timezone
from flask_babel import gettext as _

from ..audit import CAMPAIGN_ACTIONS
from ..campaigns import service
from ..campaigns.options import OPTION_NAMES
from ..campaigns.service import CampaignError
from ..errors import json_error
from ..extensions import db
from ..models import Campaign
from ..results import export
from ..results.queries import RESULT_STATUSES, ResultRow, results_page, results_total
from ..sending.factory import build_gateway
from ..settings import sending_defaults
from ..web.audit import audit
from . import bp, openapi
from .helpers import ApiError, json_body, page_args, paged

CAMPAIGN = f"/campaigns/<int(max={service.MAX_ID}):campaign_id>"
PREVIEW_MAX = 1000
EXPORT_FORMATS = ("csv", "xlsx")
_TRANSITIONS = {
    "start": service.start_campaign,
    "pause": service.pause_campaign,
    "resume": service.resume_campaign,
    "cancel": service.cancel_campaign,
}


@bp.errorhandler(CampaignError)
def campaign_error(error: CampaignError):
    message = _(error.message, **error.params)
    field = error.details.get("field")
    return json_error(error.status, f"{field}: {message}" if field else message, **error.details)


def campaign_json(campaign: Campaign) -> dict:
    """The API's shape of a campaign; the sending options sit at the top level."""
    options = json.loads(campaign.options_json)
    reason = service.PAUSE_REASONS.get(campaign.pause_code or "")
    return {
        "id": campaign.id,
        "name": campaign.name,
        "status": campaign.status,
        "list_id": campaign.list_id,
        "template": campaign.template,
        **{name: options.get(name) for name in OPTION_NAMES},
        "counts": service.counts(campaign),
        "pause_code": campaign.pause_code,
        "pause_reason": _(reason, detail=campaign.pause_detail or "")
        if reason
        else campaign.pause_detail,
        "pause_detail": campaign.pause_detail,
        "started_at": _iso(campaign.started_at),
        "finished_at": _iso(campaign.finished_at),
        "eta": _iso(service.campaign_eta(campaign)),
        "created_at": _iso(campaign.created_at),
    }


@bp.get("/campaigns")
def list_campaigns():
    status = _choice_arg("status", service.STATUSES)
    return paged(service.campaigns_query(status), campaign_json)


@bp.post("/campaigns")
def create_campaign():
    campaign = service.create_campaign(
        db.session, json_body(), defaults=sending_defaults(), created_by_id=g.api_user.id
    )
    db.session.commit()
    return campaign_json(campaign), 201


@bp.get(CAMPAIGN)
def get_campaign(campaign_id: int):
    return campaign_json(service.get_campaign(db.session, campaign_id))


@bp.patch(CAMPAIGN)
def update_campaign(campaign_id: int):
    campaign = service.update_campaign(db.session, campaign_id, json_body())
    db.session.commit()
    return campaign_json(campaign)


@bp.post(f"{CAMPAIGN}/<any({', '.join(_TRANSITIONS)}):action>")
def change_status(campaign_id: int, action: str):
    campaign = _TRANSITIONS[action](db.session, campaign_id)
    audit(CAMPAIGN_ACTIONS[action], ("campaign", campaign_id))
    db.session.commit()
    return campaign_json(campaign)


@bp.post(f"{CAMPAIGN}/duplicate")
def duplicate(campaign_id: int):
    copy = service.duplicate_campaign(
        db.session, campaign_id, name_suffix=_(service.COPY_SUFFIX), created_by_id=g.api_user.id
    )
    db.session.commit()
    return campaign_json(copy), 201


@bp.delete(CAMPAIGN)
def delete(campaign_id: int):
    service.delete_draft(db.session, campaign_id)
    db.session.commit()
    return "", 204


@bp.post(f"{CAMPAIGN}/retry")
def retry(campaign_id: int):
    body = json_body()
    statuses = body.get("status")
    campaign = service.retry_campaign(
        db.session, campaign_id, statuses, confirmed=body.get("confirm") is True
    )
    audit("campaign_retried", ("campaign", campaign_id), {"status": statuses})
    db.session.commit()
    return campaign_json(campaign)


@bp.get(f"{CAMPAIGN}/preview")
def preview(campaign_id: int):
    limit = _int_arg("limit", default=20, minimum=1, maximum=PREVIEW_MAX)
    offset = _int_arg("offset", default=0, minimum=0, maximum=service.MAX_ID)
    page = service.preview(db.session, campaign_id, limit=limit, offset=offset)
    opted_out = _("This number has opted out: it will be skipped.")
    return {
        "items": [
            {
                "phone": item.phone,
                "message": item.message.text,
                "warnings": [_(w.message, **w.params) for w in item.message.warnings]
                + ([opted_out] if item.opted_out else []),
            }
            for item in page.items
        ],
        "total": page.total,
    }


@bp.post(f"{CAMPAIGN}/test")
def send_test(campaign_id: int):
    test = service.prepare_test(
        db.session,
        campaign_id,
        json_body().get("phone"),
        current_app.config["PHONE_DEFAULT_REGION"],
    )
    gateway = build_gateway(current_app)
    db.session.rollback()  # nothing was written: hold no transaction during the gateway call
    with closing(gateway):
        result = gateway.send_message(test.phone, test.text, test.app)
    body = {
        "phone": test.phone,
        "message": test.text,
        "result": {
            "outcome": result.outcome.value,
            "message_id": result.message_id,
            "error": result.error,
        },
    }
    if result.sent:
        return body
    error = _(
        "The gateway did not send the message: %(error)s",
        error=result.error or result.outcome.value,
    )
    return {"error": error, **body}, 502


@bp.get(f"{CAMPAIGN}/results")
def results(campaign_id: int):
    campaign = service.get_campaign(db.session, campaign_id)
    status = _choice_arg("status", RESULT_STATUSES)
    search = request.args.get("q", "").strip()
    page, per_page = page_args()
    offset = min((page - 1) * per_page, service.MAX_ID)  # a huge page: empty, not an error
    rows = results_page(
        db.session, campaign_id, status=status, search=search, limit=per_page, offset=offset
    )
    if 0 < len(rows) < per_page or (offset == 0 and not rows):
        total = offset + len(rows)  # the last page tells the total: a search needs no COUNT
    else:
        total = results_total(db.session, campaign, status=status, search=search)
    return {
        "items": [_result_json(row) for row in rows],
        "total": total,
        "page": page,
        "per_page": per_page,
    }


@bp.get(f"{CAMPAIGN}/export")
def export_results(campaign_id: int):
    """The results as a CSV (for Excel: UTF-8 with BOM, ";") or XLSX download."""
    campaign = service.get_campaign(db.session, campaign_id)
    return export.export_response(
        db.session,
        campaign,
        _choice_arg("format", EXPORT_FORMATS) or "csv",
        status=_choice_arg("status", RESULT_STATUSES),
        search=request.args.get("q", "").strip(),
        translate=_,
        timezone=get_timezone(),
    )


def _result_json(row: ResultRow) -> dict:
    return {
        "phone": row.phone,
        "status": row.status,
        "message_id": row.message_id,
        "gateway_status": row.gateway_status,
        # Our own reasons are stored untranslated; the gateway's words are shown as they came.
        "error": _(row.error) if row.error in service.SKIP_REASONS else row.error,
        "attempts": row.attempts,
        "sent_at": _iso(row.sent_at),
        "message": row.message,
        "fields": row.fields,
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _choice_arg(name: str, choices: tuple[str, ...]) -> str | None:
    value = request.args.get(name) or None
    if value is not None and value not in choices:
        raise ApiError(
            400, _("'%(name)s' must be one of: %(choices)s.", name=name, choices=", ".join(choices))
        )
    return value


def _int_arg(name: str, *, default: int, minimum: int, maximum: int) -> int:
    try:
        value = int(request.args.get(name, default))
    except ValueError:
        value = minimum - 1
    if not minimum <= value <= maximum:
        raise ApiError(
            400,
            _(
                "'%(name)s' must be a whole number from %(minimum)s to %(maximum)s.",
                name=name,
                minimum=minimum,
                maximum=maximum,
            ),
        )
    return value


openapi.SCHEMAS.update(
    {
        "SendingOptions": {
            "type": "object",
            "properties": {
                "rate_per_minute": {
                    "type": "number",
                    "nullable": True,
                    "description": "Ceiling, evenly paced; null: no limit",
                },
                "delay_min_s": {"type": "number", "nullable": True},
                "delay_max_s": {"type": "number", "nullable": True},
                "app": {
                    "nullable": True,
                    "oneOf": [
                        {"type": "integer"},
                        {"type": "array", "items": {"type": "integer"}},
                    ],
                    "description": "Gateway app id, or ids to rotate",
                },
                "send_window": {
                    "type": "object",
                    "nullable": True,
                    "properties": {
                        "start": {"type": "string", "example": "09:00"},
                        "end": {"type": "string", "example": "21:00"},
                        "timezone": {"type": "string", "example": "Europe/Moscow"},
                    },
                },
                "start_at": {"type": "string", "format": "date-time", "nullable": True},
                "daily_limit": {"type": "integer", "minimum": 1, "nullable": True},
            },
        },
        "CampaignInput": {
            "allOf": [
                {"$ref": "#/components/schemas/SendingOptions"},
                {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "maxLength": service.NAME_MAX_LENGTH},
                        "list_id": {"type": "integer"},
                        "template": {"type": "string"},
                    },
                },
            ],
        },
        "Campaign": {
            "allOf": [
                {"$ref": "#/components/schemas/SendingOptions"},
                {
                    "type": "object",
                    "required": ["id", "name", "status", "list_id", "template", "counts"],
                    "properties": {
                        "id": {"type": "integer"},
                        "name": {"type": "string"},
                        "status": {"type": "string", "enum": list(service.STATUSES)},
                        "list_id": {"type": "integer"},
                        "template": {"type": "string"},
                        "counts": {
                            "type": "object",
                            "properties": {
                                key: {"type": "integer"}
                                for key in ("total", *service.COUNTED_STATUSES)
                            },
                        },
                        "pause_code": {
                            "type": "string",
                            "nullable": True,
                            "enum": [*service.PAUSE_REASONS, None],
                        },
                        "pause_reason": {"type": "string", "nullable": True},
                        "pause_detail": {"type": "string", "nullable": True},
                        **{
                            key: {"type": "string", "format": "date-time", "nullable": True}
                            for key in ("started_at", "finished_at", "eta", "created_at")
                        },
                    },
                },
            ],
        },
        "Preview": {
            "type": "object",
            "properties": {
                "items": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "phone": {"type": "string"},
                            "message": {"type": "string"},
                            "warnings": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                },
                "total": {"type": "integer"},
            },
        },
        "TestSend": {
            "type": "object",
            "properties": {
                "phone": {"type": "string"},
                "message": {"type": "string"},
                "result": {
                    "type": "object",
                    "properties": {
                        "outcome": {"type": "string"},
                        "message_id": {"type": "string", "nullable": True},
                        "error": {"type": "string", "nullable": True},
                    },
                },
            },
        },
        "Result": {
            "type": "object",
            "properties": {
                "phone": {"type": "string"},
                "status": {"type": "string", "enum": list(RESULT_STATUSES)},
                "message_id": {"type": "string", "nullable": True},
                "gateway_status": {"type": "string", "nullable": True},
                "error": {"type": "string", "nullable": True},
                "attempts": {"type": "integer"},
                "sent_at": {"type": "string", "format": "date-time", "nullable": True},
                "message": {"type": "string", "nullable": True},
                "fields": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
    }
)


def _schema(name: str) -> str:
    return f"#/components/schemas/{name}"


def _errors(*statuses: int) -> dict:
    return openapi.errors(*statuses, 401)


_ID_PARAMETER = {
    "name": "campaign_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer"},
}
_CAMPAIGN_OK = openapi.json_response("The campaign", _schema("Campaign"))
_JSON_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {"$ref": _schema("CampaignInput")}}},
}


def _body_with(name: str, schema: dict, **optional: dict) -> dict:
    """A JSON object body with one required member, and ``optional`` ones."""
    body = {"type": "object", "required": [name], "properties": {name: schema, **optional}}
    return {"required": True, "content": {"application/json": {"schema": body}}}


def _transition_path(summary: str) -> dict:
    return {
        "post": {
            "summary": summary,
            "parameters": [_ID_PARAMETER],
            "responses": {"200": _CAMPAIGN_OK, **_errors(404, 409, 422)},
        }
    }


openapi.PATHS.update(
    {
        "/campaigns": {
            "get": {
                "summary": "Campaigns, newest first",
                "parameters": [
                    *openapi.PAGE_PARAMETERS,
                    {
                        "name": "status",
                        "in": "query",
                        "schema": {"type": "string", "enum": list(service.STATUSES)},
                    },
                ],
                "responses": {
                    "200": openapi.paged_response(_schema("Campaign")),
                    **_errors(400),
                },
            },
            "post": {
                "summary": "Create a draft campaign",
                "requestBody": _JSON_BODY,
                "responses": {
                    "201": openapi.json_response("The new draft", _schema("Campaign")),
                    **_errors(400, 415, 422),
                },
            },
        },
        "/campaigns/{campaign_id}": {
            "get": {
                "summary": "One campaign with its progress",
                "parameters": [_ID_PARAMETER],
                "responses": {"200": _CAMPAIGN_OK, **_errors(404)},
            },
            "patch": {
                "summary": "Edit a draft, or a paused campaign's sending options",
                "parameters": [_ID_PARAMETER],
                "requestBody": _JSON_BODY,
                "responses": {"200": _CAMPAIGN_OK, **_errors(400, 404, 409, 415, 422)},
            },
            "delete": {
                "summary": "Delete a draft (a started campaign keeps its results)",
                "parameters": [_ID_PARAMETER],
                "responses": {"204": {"description": "Deleted"}, **_errors(404, 409)},
            },
        },
        "/campaigns/{campaign_id}/duplicate": {
            "post": {
                "summary": "A new draft with the campaign's list, message and options",
                "parameters": [_ID_PARAMETER],
                "responses": {"201": _CAMPAIGN_OK, **_errors(404)},
            }
        },
        "/campaigns/{campaign_id}/start": _transition_path(
            "Start a draft (scheduled when start_at is ahead)"
        ),
        "/campaigns/{campaign_id}/pause": _transition_path("Pause a running or scheduled campaign"),
        "/campaigns/{campaign_id}/resume": _transition_path("Resume a paused campaign"),
        "/campaigns/{campaign_id}/cancel": _transition_path(
            "Cancel; recipients not yet sent to are skipped"
        ),
        "/campaigns/{campaign_id}/retry": {
            "post": {
                "summary": "Put failed and/or unknown recipients back to pending",
                "description": (
                    "An unknown recipient may already have the message: retrying unknown is "
                    'refused with 409 (`"confirm_required": true`, `"unknown": <count>`) '
                    'unless the body says `"confirm": true`.'
                ),
                "parameters": [_ID_PARAMETER],
                "requestBody": _body_with(
                    "status",
                    {"type": "array", "items": {"type": "string", "enum": list(service.RETRYABLE)}},
                    confirm={"type": "boolean", "default": False},
                ),
                "responses": {"200": _CAMPAIGN_OK, **_errors(400, 404, 409, 415, 422)},
            }
        },
        "/campaigns/{campaign_id}/preview": {
            "get": {
                "summary": "The messages the list's contacts will get, as the sender renders them",
                "parameters": [
                    _ID_PARAMETER,
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": PREVIEW_MAX,
                            "default": 20,
                        },
                    },
                    {
                        "name": "offset",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 0, "default": 0},
                    },
                ],
                "responses": {
                    "200": openapi.json_response("Rendered messages", _schema("Preview")),
                    **_errors(400, 404),
                },
            }
        },
        "/campaigns/{campaign_id}/test": {
            "post": {
                "summary": "Send the first contact's message to one phone now",
                "parameters": [_ID_PARAMETER],
                "requestBody": _body_with("phone", {"type": "string"}),
                "responses": {
                    "200": openapi.json_response("Sent", _schema("TestSend")),
                    "502": openapi.json_response("The gateway did not send it", _schema("Error")),
                    **_errors(400, 404, 415, 422),
                },
            }
        },
        "/campaigns/{campaign_id}/results": {
            "get": {
                "summary": "What happened to each recipient",
                "parameters": [
                    _ID_PARAMETER,
                    *openapi.PAGE_PARAMETERS,
                    {
                        "name": "status",
                        "in": "query",
                        "schema": {"type": "string", "enum": list(RESULT_STATUSES)},
                    },
                    {
                        "name": "q",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "A substring of the phone or of any field",
                    },
                ],
                "responses": {
                    "200": openapi.paged_response(_schema("Result")),
                    **_errors(400, 404),
                },
            }
        },
        "/campaigns/{campaign_id}/export": {
            "get": {
                "summary": "The results as a spreadsheet file",
                "parameters": [
                    _ID_PARAMETER,
                    {
                        "name": "format",
                        "in": "query",
                        "schema": {
                            "type": "string",
                            "enum": list(EXPORT_FORMATS),
                            "default": "csv",
                        },
                    },
                    {
                        "name": "status",
                        "in": "query",
                        "schema": {"type": "string", "enum": list(RESULT_STATUSES)},
                    },
                    {"name": "q", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": {
                        "description": "CSV (UTF-8 with BOM, ';') or XLSX; formulas neutralized",
                        "content": {
                            "text/csv": {"schema": {"type": "string"}},
                            export.XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}},
                        },
                    },
                    **_errors(400, 404),
                },
            }
        },
    }
)
