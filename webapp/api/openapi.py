"""The OpenAPI 3 description of the JSON API, served at /api/v1/openapi.json.

Each endpoint added to the API adds its path here (tests/api/test_openapi.py checks that every
route is described and every described path is routed), so the document mirrors docs/api.md.
Imported after the endpoint modules, whose limits it states.
"""

from __future__ import annotations

from typing import Any

from ..audit import ACTIONS, TARGETS
from ..campaigns import service
from ..numbers import FIELDS, WAIT_REASONS
from ..results import export
from ..results.queries import RESULT_STATUSES
from .campaigns import EXPORT_FORMATS, PREVIEW_MAX


def _error(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


ERROR_TEXTS = {
    400: "Malformed request",
    401: "Missing or invalid API key",
    403: "Forbidden",
    404: "Not found",
    409: "Not allowed in the current state",
    413: "Too large",
    415: "Unsupported type",
    422: "Understood but semantically wrong",
}


def errors(*statuses: int) -> dict:
    """Error responses for ``statuses``, each with the ``{"error": ...}`` body."""
    return {str(status): _error(ERROR_TEXTS[status]) for status in statuses}


def json_response(description: str, schema_ref: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": schema_ref}}},
    }


def paged_response(item_ref: str) -> dict:
    return {
        "description": "One page",
        "content": {"application/json": {"schema": paged_schema(item_ref)}},
    }


def paged_schema(item_ref: str) -> dict:
    return {
        "type": "object",
        "required": ["items", "total", "page", "per_page"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": item_ref}},
            "total": {"type": "integer"},
            "page": {"type": "integer"},
            "per_page": {"type": "integer"},
        },
    }


PAGE_PARAMETERS = [
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "default": 1}},
    {
        "name": "per_page",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50},
    },
]

PATHS: dict[str, Any] = {
    "/health": {
        "get": {
            "summary": "Liveness check",
            "security": [],
            "responses": {
                "200": {
                    "description": "The service is up",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"status": {"type": "string", "enum": ["ok"]}},
                            }
                        }
                    },
                }
            },
        }
    },
}

PATHS["/me"] = {
    "get": {
        "summary": "The user the API key belongs to",
        "responses": {
            "200": {
                "description": "The key's owner",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "email": {"type": "string"},
                                "role": {"type": "string", "enum": ["admin", "member"]},
                            },
                        }
                    }
                },
            },
            **errors(401),
        },
    }
}

PATHS["/openapi.json"] = {
    "get": {
        "summary": "This description of the API",
        "security": [],
        "responses": {"200": {"description": "The OpenAPI 3 document"}},
    }
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string"}},
        "additionalProperties": True,
    },
}


# Campaigns

SCHEMAS.update(
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
                "schedule": {
                    "type": "object",
                    "nullable": True,
                    "description": (
                        "Reminders: each recipient's own send time from a date (and time) "
                        "column, in the send window's time zone; null: everyone at once"
                    ),
                    "required": ["column"],
                    "properties": {
                        "column": {"type": "string", "example": "Дата визита"},
                        "time_column": {"type": "string", "nullable": True},
                        "rule": {"type": "string", "enum": ["before", "at"], "default": "before"},
                        "days": {"type": "integer", "minimum": 0, "default": 0},
                        "hours": {"type": "integer", "minimum": 0, "default": 0},
                        "at": {"type": "string", "nullable": True, "example": "10:00"},
                        "late": {
                            "default": "skip",
                            "oneOf": [
                                {"type": "string", "enum": ["skip"]},
                                {
                                    "type": "object",
                                    "required": ["grace_hours"],
                                    "properties": {"grace_hours": {"type": "number"}},
                                },
                            ],
                        },
                    },
                },
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
                        "waiting_code": {
                            "type": "string",
                            "nullable": True,
                            "enum": [*WAIT_REASONS, None],
                            "description": "Why a running campaign waits for its WhatsApp "
                            "numbers (all paused, or at their daily limit); null when it does not.",
                        },
                        "waiting_reason": {"type": "string", "nullable": True},
                        **{
                            key: {"type": "string", "format": "date-time", "nullable": True}
                            for key in (
                                "waiting_until",
                                "started_at",
                                "finished_at",
                                "eta",
                                "next_reminder_at",
                                "created_at",
                            )
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
                            "due_at": {"type": "string", "format": "date-time", "nullable": True},
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
        "AddedRecipients": {
            "type": "object",
            "properties": {
                "added": {"type": "integer", "description": "New recipients, pending"},
                "skipped": {"type": "integer", "description": "Opted out, unreadable or passed"},
                "duplicates": {"type": "integer"},
                "rejected": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"row": {"type": "integer"}, "error": {"type": "string"}},
                    },
                },
                "campaign": {"$ref": "#/components/schemas/Campaign"},
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
                "due_at": {"type": "string", "format": "date-time", "nullable": True},
                "due_moved": {
                    "type": "boolean",
                    "description": "The due time fell outside the send window: due_at is the"
                    " window's next opening.",
                },
                "message": {"type": "string", "nullable": True},
                "fields": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
    }
)


def _upload(**fields: dict) -> dict:
    """A spreadsheet uploaded as the multipart field ``file``, with ``sheet`` and ``fields``."""
    properties = {
        "file": {"type": "string", "format": "binary"},
        **fields,
        "sheet": {"type": "string"},
    }
    schema = {"type": "object", "required": ["file"], "properties": properties}
    return {"multipart/form-data": {"schema": schema}}


def _schema(name: str) -> str:
    return f"#/components/schemas/{name}"


def _errors(*statuses: int) -> dict:
    return errors(*statuses, 401)


_ID_PARAMETER = {
    "name": "campaign_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer"},
}
_CAMPAIGN_OK = json_response("The campaign", _schema("Campaign"))
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


PATHS.update(
    {
        "/campaigns": {
            "get": {
                "summary": "Campaigns, newest first",
                "parameters": [
                    *PAGE_PARAMETERS,
                    {
                        "name": "status",
                        "in": "query",
                        "schema": {"type": "string", "enum": list(service.STATUSES)},
                    },
                ],
                "responses": {
                    "200": paged_response(_schema("Campaign")),
                    **_errors(400),
                },
            },
            "post": {
                "summary": "Create a draft campaign",
                "requestBody": _JSON_BODY,
                "responses": {
                    "201": json_response("The new draft", _schema("Campaign")),
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
        "/campaigns/{campaign_id}/recipients": {
            "post": {
                "summary": "Add rows to a started campaign's list and schedule them",
                "description": (
                    'Rows with the list\'s columns, as JSON `{"rows": [{column: text}]}` or '
                    "a file in any format lists are uploaded in. Rows the campaign has by phone "
                    "and due time are left out, opted-out phones skipped; a completed campaign "
                    "runs again. `rejected` numbers rows from 1."
                ),
                "parameters": [_ID_PARAMETER],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["rows"],
                                "properties": {
                                    "rows": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "additionalProperties": {"type": "string"},
                                        },
                                    }
                                },
                            }
                        },
                        **_upload(),
                    },
                },
                "responses": {
                    "200": json_response("What was added", _schema("AddedRecipients")),
                    **_errors(400, 404, 409, 413, 415, 422),
                },
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
                    "200": json_response("Rendered messages", _schema("Preview")),
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
                    "200": json_response("Sent", _schema("TestSend")),
                    "502": json_response("The gateway did not send it", _schema("Error")),
                    **_errors(400, 404, 415, 422),
                },
            }
        },
        "/campaigns/{campaign_id}/results": {
            "get": {
                "summary": "What happened to each recipient",
                "parameters": [
                    _ID_PARAMETER,
                    *PAGE_PARAMETERS,
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
                    "200": paged_response(_schema("Result")),
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

# Contact lists and opt-outs

LIST_ID = [{"name": "list_id", "in": "path", "required": True, "schema": {"type": "integer"}}]
SCHEMAS["ContactList"] = {
    "type": "object",
    "required": ["id", "name", "contacts", "invalid", "duplicates", "columns", "phone_column"],
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "contacts": {"type": "integer", "description": "contacts stored"},
        "invalid": {"type": "integer", "description": "rows rejected for their phone"},
        "duplicates": {"type": "integer", "description": "rows dropped as repeats"},
        "opted_out": {"type": "integer"},
        "columns": {"type": "array", "items": {"type": "string"}},
        "phone_column": {"type": "string"},
        "source_filename": {"type": "string"},
        "encoding": {"type": "string", "nullable": True},
        "delimiter": {"type": "string", "nullable": True},
        "sheet": {"type": "string", "nullable": True},
        "created_at": {"type": "string", "format": "date-time"},
    },
}
SCHEMAS["Contact"] = {
    "type": "object",
    "properties": {
        "phone": {"type": "string", "example": "79243555100"},
        "fields": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
SCHEMAS["Reject"] = {
    "type": "object",
    "properties": {
        "row": {"type": "integer", "description": "1-based row in the file, the header is row 1"},
        "value": {"type": "string"},
        "reason": {"type": "string"},
        "kind": {"type": "string", "enum": ["invalid", "duplicate", "opted_out"]},
    },
}
SCHEMAS["OptOut"] = {
    "type": "object",
    "properties": {
        "phone": {"type": "string"},
        "note": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
    },
}
PATHS.update(
    {
        "/lists": {
            "post": {
                "summary": "Import a spreadsheet as a contact list",
                "requestBody": {
                    "required": True,
                    "content": _upload(name={"type": "string"}, phone_column={"type": "string"}),
                },
                "responses": {
                    "201": json_response("The list", "#/components/schemas/ContactList"),
                    **errors(400, 401, 413, 415, 422),
                },
            },
            "get": {
                "summary": "Contact lists, newest last",
                "parameters": PAGE_PARAMETERS,
                "responses": {
                    "200": paged_response("#/components/schemas/ContactList"),
                    **errors(400, 401),
                },
            },
        },
        "/lists/{list_id}": {
            "get": {
                "summary": "One contact list",
                "parameters": LIST_ID,
                "responses": {
                    "200": json_response("The list", "#/components/schemas/ContactList"),
                    **errors(401, 404),
                },
            },
            "delete": {
                "summary": "Delete a list and its contacts (refused while campaigns use it)",
                "parameters": LIST_ID,
                "responses": {"204": {"description": "Deleted"}, **errors(401, 404, 409)},
            },
        },
        "/lists/{list_id}/contacts": {
            "get": {
                "summary": "The list's contacts in file order",
                "parameters": [
                    *LIST_ID,
                    *PAGE_PARAMETERS,
                    {"name": "q", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": paged_response("#/components/schemas/Contact"),
                    **errors(400, 401, 404),
                },
            }
        },
        "/lists/{list_id}/rejects": {
            "get": {
                "summary": "Rows of the file that were not stored, with why",
                "parameters": [*LIST_ID, *PAGE_PARAMETERS],
                "responses": {
                    "200": paged_response("#/components/schemas/Reject"),
                    **errors(400, 401, 404),
                },
            }
        },
        "/opt-outs": {
            "get": {
                "summary": "Numbers that are never messaged",
                "parameters": PAGE_PARAMETERS,
                "responses": {
                    "200": paged_response("#/components/schemas/OptOut"),
                    **errors(400, 401),
                },
            },
            "post": {
                "summary": "Add numbers to the opt-out list",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["phones"],
                                "properties": {
                                    "phones": {"type": "array", "items": {"type": "string"}},
                                    "note": {"type": "string"},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "201": {"description": "Added (already listed numbers are kept as they were)"},
                    **errors(400, 401, 415, 422),
                },
            },
        },
        "/opt-outs/{phone}": {
            "delete": {
                "summary": "Allow messages to a number again, saying why (kept in the audit trail)",
                "parameters": [
                    {"name": "phone", "in": "path", "required": True, "schema": {"type": "string"}},
                    {
                        "name": "reason",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "Why; required here or as 'reason' in a JSON body",
                    },
                ],
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"reason": {"type": "string"}},
                            }
                        }
                    },
                },
                "responses": {"204": {"description": "Removed"}, **errors(401, 404, 422)},
            }
        },
    }
)

# The audit trail

SCHEMAS["AuditEvent"] = {
    "type": "object",
    "required": ["at", "actor", "ip", "action", "object", "detail"],
    "properties": {
        "at": {"type": "string", "format": "date-time"},
        "actor": {"type": "string", "nullable": True, "description": "e-mail; null: command line"},
        "actor_id": {"type": "integer", "nullable": True},
        "ip": {"type": "string", "nullable": True},
        "action": {"type": "string", "enum": list(ACTIONS)},
        "object": {
            "type": "object",
            "nullable": True,
            "properties": {
                "type": {"type": "string", "enum": list(TARGETS)},
                "id": {"type": "string", "nullable": True},
            },
        },
        "detail": {"type": "object", "additionalProperties": True},
    },
}
PATHS["/audit"] = {
    "get": {
        "summary": "Who did what, when and from where, newest first (administrators only)",
        "parameters": [
            *PAGE_PARAMETERS,
            {"name": "actor", "in": "query", "schema": {"type": "string", "format": "email"}},
            {"name": "action", "in": "query", "schema": {"type": "string", "enum": list(ACTIONS)}},
            *(
                {
                    "name": name,
                    "in": "query",
                    "description": description,
                    "schema": {"type": "string", "format": "date-time"},
                }
                for name, description in (
                    ("since", "Events at or after this time (UTC when no zone is given)"),
                    ("until", "Events before this time"),
                )
            ),
        ],
        "responses": {
            "200": paged_response("#/components/schemas/AuditEvent"),
            **errors(400, 401, 403),
        },
    }
}


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
SCHEMAS["Account"] = {
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
PATHS["/accounts"] = {
    "get": {
        "summary": "WhatsApp numbers with today's figures (the day of each number's time zone)",
        "parameters": PAGE_PARAMETERS,
        "responses": {
            "200": paged_response("#/components/schemas/Account"),
            **errors(400, 401),
        },
    }
}
PATHS["/accounts/{app}"] = {
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
            "200": json_response("The number", "#/components/schemas/Account"),
            **errors(400, 401, 403, 415, 422),
        },
    }
}


def document(server_url: str) -> dict:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Volna API",
            "version": "1",
            "description": "Bulk WhatsApp campaigns through the telefon-ip.ru gateway.",
        },
        "servers": [{"url": server_url}],
        "security": [{"bearer": []}],
        "paths": PATHS,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": SCHEMAS,
        },
    }
