"""The opt-out list: numbers that must never be messaged."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select

from .. import contacts
from ..contacts import ImportFileError
from ..edge import normalize_opt_outs
from ..extensions import db
from ..models import OptOut
from ..uploads import temporary_upload
from ..url_numbers import page_arg
from .audit import audit

bp = Blueprint("optouts", __name__, url_prefix="/opt-outs")
PER_PAGE = 100
REASON_MAX_LENGTH = 500


@bp.get("/")
def index():
    query = request.args.get("q", "").strip()
    page = page_arg()
    condition = OptOut.phone.contains(query, autoescape=True) if query else True
    total = db.session.scalar(select(func.count()).select_from(OptOut).where(condition))
    opt_outs = db.session.scalars(
        select(OptOut)
        .where(condition)
        .order_by(OptOut.created_at.desc(), OptOut.phone)
        .limit(PER_PAGE)
        .offset((page - 1) * PER_PAGE)
    ).all()
    return render_template(
        "optouts.html", opt_outs=opt_outs, total=total, query=query, page=page, per_page=PER_PAGE
    )


@bp.post("/add")
def add():
    """Add the numbers typed in, one per line (or separated by commas)."""
    raw_numbers = [
        n.strip() for n in request.form.get("phones", "").replace(",", "\n").splitlines()
    ]
    phones, invalid = normalize_opt_outs(list(filter(None, raw_numbers)))
    if invalid:
        described = "; ".join(f"{raw} ({_(reason)})" for raw, reason in invalid)
        flash(_("Not added, these numbers are not valid: %(list)s", list=described), "error")
        return redirect(url_for("optouts.index"))
    if not phones:
        flash(_("Type at least one number."), "error")
        return redirect(url_for("optouts.index"))
    note = request.form.get("note", "")
    added = contacts.add_opt_outs(db.session.connection(), phones, note)
    audit("opt_outs_added", ("opt_out", None), {"added": added, "note": note})
    db.session.commit()
    flash(_("Added to the opt-out list: %(n)s.", n=added), "success")
    return redirect(url_for("optouts.index"))


@bp.post("/import")
def import_file():
    file = request.files.get("file")
    if file is None or not file.filename:
        flash(_("Choose a file to upload."), "error")
        return redirect(url_for("optouts.index"))
    with temporary_upload(file, Path(current_app.instance_path) / "uploads") as path:
        try:
            report = contacts.import_opt_outs(
                db.session.connection(),
                path,
                file.filename,
                note=file.filename,
                region=current_app.config["PHONE_DEFAULT_REGION"],
            )
        except ImportFileError as error:
            db.session.rollback()
            flash(error.text(), "error")
            return redirect(url_for("optouts.index"))
    audit("opt_outs_added", ("opt_out", None), {"added": report.added, "file": file.filename})
    db.session.commit()
    flash(
        _(
            "Added to the opt-out list: %(n)s; already there: %(known)s; not valid: %(invalid)s.",
            n=report.added,
            known=report.already_opted_out,
            invalid=report.invalid,
        ),
        "success",
    )
    return redirect(url_for("optouts.index"))


@bp.post("/<phone>/remove")
def remove(phone: str):
    reason = request.form.get("reason", "").strip()[:REASON_MAX_LENGTH]
    if not reason:
        flash(_("Say why %(phone)s may receive messages again.", phone=phone), "error")
        return redirect(url_for("optouts.index"))
    opt_out = db.session.get(OptOut, phone)
    if opt_out is not None:
        db.session.delete(opt_out)
        audit("opt_out_removed", ("opt_out", phone), {"reason": reason, "note": opt_out.note})
        db.session.commit()
        flash(_("%(phone)s can receive messages again.", phone=phone), "success")
    return redirect(url_for("optouts.index"))
