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
from . import bp
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
