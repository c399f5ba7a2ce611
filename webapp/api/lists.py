"""Contact lists and the opt-out list over the API."""

from __future__ import annotations

from pathlib import Path

from flask import current_app, g, request
from flask_babel import gettext as _
from sqlalchemy import select

from .. import contacts
from ..audit import list_facts
from ..edge import get_or_404, import_upload, normalize_opt_outs
from ..extensions import db
from ..models import ContactList, OptOut
from ..uploads import temporary_upload
from ..web.audit import audit
from . import bp, openapi
from .helpers import ApiError, json_body, page_args, paged


def list_summary(contact_list: ContactList) -> dict:
    return {
        "id": contact_list.id,
        "name": contact_list.name,
        "contacts": contact_list.contact_count,
        "invalid": contact_list.invalid_count,
        "duplicates": contact_list.duplicate_count,
        "opted_out": contact_list.opted_out_count,
        "columns": contacts.list_columns(contact_list),
        "phone_column": contact_list.phone_column,
        "source_filename": contact_list.source_filename,
        "encoding": contact_list.encoding,
        "delimiter": contact_list.delimiter,
        "sheet": contact_list.sheet,
        "created_at": contact_list.created_at.isoformat(),
    }


@bp.post("/lists")
def create_list():
    file = request.files.get("file")
    if file is None or not file.filename:
        raise ApiError(400, _("Send the spreadsheet as the multipart field 'file'."))
    with temporary_upload(file, Path(current_app.instance_path) / "uploads") as path:
        report = import_upload(
            path,
            file.filename,
            name=request.form.get("name", ""),
            phone_column=request.form.get("phone_column"),
            sheet=request.form.get("sheet"),
            created_by_id=g.api_user.id,
        )
    db.session.commit()
    return list_summary(get_or_404(ContactList, report.list_id)), 201


@bp.get("/lists")
def lists():
    return paged(select(ContactList).order_by(ContactList.id), list_summary)


@bp.get("/lists/<int:list_id>")
def list_detail(list_id: int):
    return list_summary(get_or_404(ContactList, list_id))


@bp.get("/lists/<int:list_id>/contacts")
def list_contacts(list_id: int):
    get_or_404(ContactList, list_id)
    page, per_page = page_args()
    found = contacts.search_contacts(
        db.session, list_id, request.args.get("q", ""), limit=per_page, offset=(page - 1) * per_page
    )
    items = [{"phone": c["phone"], "fields": c["fields"]} for c in found.items]
    return {"items": items, "total": found.total, "page": page, "per_page": per_page}


@bp.get("/lists/<int:list_id>/rejects")
def list_rejects(list_id: int):
    get_or_404(ContactList, list_id)
    page, per_page = page_args()
    found = contacts.list_rejects(db.session, list_id, limit=per_page, offset=(page - 1) * per_page)
    items = [
        {"row": r["row"], "value": r["value"], "reason": _(r["reason"]), "kind": r["kind"]}
        for r in found.items
    ]
    return {"items": items, "total": found.total, "page": page, "per_page": per_page}


@bp.delete("/lists/<int:list_id>")
def delete_list(list_id: int):
    contact_list = get_or_404(ContactList, list_id)
    contacts.delete_list(db.session, contact_list)
    audit("list_deleted", ("contact_list", list_id), list_facts(contact_list))
    db.session.commit()
    return "", 204


def opt_out_json(opt_out: OptOut) -> dict:
    return {
        "phone": opt_out.phone,
        "note": opt_out.note,
        "created_at": opt_out.created_at.isoformat(),
    }


@bp.get("/opt-outs")
def opt_outs():
    return paged(select(OptOut).order_by(OptOut.created_at.desc(), OptOut.phone), opt_out_json)


@bp.post("/opt-outs")
def add_opt_outs():
    """Add numbers that must never be messaged: ``{"phones": [...], "note": "..."}``."""
    body = json_body()
    phones = body.get("phones")
    if not isinstance(phones, list) or not all(isinstance(p, str) for p in phones):
        raise ApiError(400, _("'phones' must be a list of strings."))
    normalized, invalid = normalize_opt_outs(phones)
    if invalid:
        raise ApiError(
            422,
            _("Some numbers are not valid; nothing was added."),
            invalid=[{"value": raw, "reason": _(reason)} for raw, reason in invalid],
        )
    note = str(body.get("note", ""))
    added = contacts.add_opt_outs(db.session.connection(), normalized, note)
    audit("opt_outs_added", ("opt_out", None), {"added": added, "note": note})
    db.session.commit()
    return {"added": added, "phones": normalized}, 201


@bp.delete("/opt-outs/<phone>")
def remove_opt_out(phone: str):
    """Allow messages to a number again, saying why: ``?reason=`` or ``{"reason": "..."}``."""
    body = request.get_json(silent=True) if request.is_json else None
    reason = request.args.get("reason") or (body.get("reason") if isinstance(body, dict) else None)
    if not isinstance(reason, str) or not reason.strip():
        raise ApiError(422, _("Say why the number may receive messages again: send 'reason'."))
    opt_out = get_or_404(OptOut, phone)
    db.session.delete(opt_out)
    audit("opt_out_removed", ("opt_out", phone), {"reason": reason.strip(), "note": opt_out.note})
    db.session.commit()
    return "", 204


LIST_ID = [{"name": "list_id", "in": "path", "required": True, "schema": {"type": "integer"}}]
openapi.SCHEMAS["ContactList"] = {
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
openapi.SCHEMAS["Contact"] = {
    "type": "object",
    "properties": {
        "phone": {"type": "string", "example": "79243555100"},
        "fields": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
openapi.SCHEMAS["Reject"] = {
    "type": "object",
    "properties": {
        "row": {"type": "integer", "description": "1-based row in the file, the header is row 1"},
        "value": {"type": "string"},
        "reason": {"type": "string"},
        "kind": {"type": "string", "enum": ["invalid", "duplicate", "opted_out"]},
    },
}
openapi.SCHEMAS["OptOut"] = {
    "type": "object",
    "properties": {
        "phone": {"type": "string"},
        "note": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
    },
}
openapi.PATHS.update(
    {
        "/lists": {
            "post": {
                "summary": "Import a spreadsheet as a contact list",
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["file"],
                                "properties": {
                                    "file": {"type": "string", "format": "binary"},
                                    "name": {"type": "string"},
                                    "phone_column": {"type": "string"},
                                    "sheet": {"type": "string"},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "201": openapi.json_response("The list", "#/components/schemas/ContactList"),
                    **openapi.errors(400, 401, 413, 415, 422),
                },
            },
            "get": {
                "summary": "Contact lists, newest last",
                "parameters": openapi.PAGE_PARAMETERS,
                "responses": {
                    "200": openapi.paged_response("#/components/schemas/ContactList"),
                    **openapi.errors(400, 401),
                },
            },
        },
        "/lists/{list_id}": {
            "get": {
                "summary": "One contact list",
                "parameters": LIST_ID,
                "responses": {
                    "200": openapi.json_response("The list", "#/components/schemas/ContactList"),
                    **openapi.errors(401, 404),
                },
            },
            "delete": {
                "summary": "Delete a list and its contacts (refused while campaigns use it)",
                "parameters": LIST_ID,
                "responses": {"204": {"description": "Deleted"}, **openapi.errors(401, 404, 409)},
            },
        },
        "/lists/{list_id}/contacts": {
            "get": {
                "summary": "The list's contacts in file order",
                "parameters": [
                    *LIST_ID,
                    *openapi.PAGE_PARAMETERS,
                    {"name": "q", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": openapi.paged_response("#/components/schemas/Contact"),
                    **openapi.errors(400, 401, 404),
                },
            }
        },
        "/lists/{list_id}/rejects": {
            "get": {
                "summary": "Rows of the file that were not stored, with why",
                "parameters": [*LIST_ID, *openapi.PAGE_PARAMETERS],
                "responses": {
                    "200": openapi.paged_response("#/components/schemas/Reject"),
                    **openapi.errors(400, 401, 404),
                },
            }
        },
        "/opt-outs": {
            "get": {
                "summary": "Numbers that are never messaged",
                "parameters": openapi.PAGE_PARAMETERS,
                "responses": {
                    "200": openapi.paged_response("#/components/schemas/OptOut"),
                    **openapi.errors(400, 401),
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
                    **openapi.errors(400, 401, 415, 422),
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
                "responses": {"204": {"description": "Removed"}, **openapi.errors(401, 404, 422)},
            }
        },
    }
)
