"""Contact list pages: upload, map the columns, the import report, browse, delete; opt-outs."""

from __future__ import annotations

from pathlib import Path

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from .. import contacts
from ..audit import list_facts
from ..contacts import ImportFileError
from ..edge import get_or_404, import_upload
from ..extensions import db
from ..models import ContactList
from ..uploads import UploadFolders
from ..url_numbers import page_arg
from .audit import audit

bp = Blueprint("lists", __name__, url_prefix="/lists")
PER_PAGE = 50
# Rejected rows shown at once under the import's counts; the rest are a click away.
FIRST_REJECTS = 10


def uploads() -> UploadFolders:
    return UploadFolders(Path(current_app.instance_path) / "uploads")


@bp.get("/")
def index():
    lists = db.session.scalars(db.select(ContactList).order_by(ContactList.created_at.desc())).all()
    return render_template("lists/index.html", lists=lists)


@bp.route("/new", methods=["GET", "POST"])
def upload():
    if request.method == "GET":
        return render_template("lists/upload.html")
    file = request.files.get("file")
    if file is None or not file.filename:
        return upload_failed(None, _("Choose a file to upload."), 400)
    saved = uploads().save(file, current_user.id)
    return redirect(url_for("lists.mapping", upload_id=saved.id))


def upload_failed(filename: str | None, reason: str, status: int):
    """The upload page again, saying which file failed, why, and what to do next."""
    return render_template("lists/upload.html", failed_name=filename, reason=reason), status


@bp.route("/new/<upload_id>", methods=["GET", "POST"])
def mapping(upload_id: str):
    """Show the first rows and the detected phone column; on confirm, import the file."""
    folders = uploads()
    upload = folders.get(upload_id, current_user.id)
    if upload is None:
        flash(_("The uploaded file has expired. Upload it again."), "error")
        return redirect(url_for("lists.upload"))
    sheet = request.values.get("sheet") or None
    try:
        preview = contacts.preview_file(upload.path, upload.filename, sheet=sheet)
    except ImportFileError as error:
        folders.discard(upload)
        return upload_failed(upload.filename, error.text(), error.status)
    if request.method == "GET" or "change_sheet" in request.form:
        default_name = Path(upload.filename).stem
        return render_template(
            "lists/map.html", upload=upload, preview=preview, default_name=default_name
        )
    name = request.form.get("name", "")
    try:
        report = import_upload(
            upload.path,
            upload.filename,
            name=name,
            phone_column=request.form.get("phone_column"),
            sheet=preview.sheet,
            created_by_id=current_user.id,
        )
    except ImportFileError as error:
        db.session.rollback()
        flash(error.text(), "error")
        default_name = name.strip() or Path(upload.filename).stem
        return render_template(
            "lists/map.html", upload=upload, preview=preview, default_name=default_name
        ), error.status
    db.session.commit()
    folders.discard(upload)
    flash(
        ngettext(
            "The list is imported: %(num)s contact.",
            "The list is imported: %(num)s contacts.",
            report.stored,
        ),
        "success",
    )
    return redirect(url_for("lists.detail", list_id=report.list_id))


@bp.get("/<int:list_id>")
def detail(list_id: int):
    contact_list = get_or_404(ContactList, list_id)
    query = request.args.get("q", "").strip()
    page = page_arg()
    found = contacts.search_contacts(
        db.session, list_id, query, limit=PER_PAGE, offset=(page - 1) * PER_PAGE
    )
    rejects = contacts.list_rejects(db.session, list_id, limit=100, offset=0)
    return render_template(
        "lists/detail.html",
        contact_list=contact_list,
        columns=contacts.field_columns(contact_list),
        found=found,
        query=query,
        page=page,
        per_page=PER_PAGE,
        rejects=rejects,
        first_rejects=FIRST_REJECTS,
    )


@bp.get("/<int:list_id>/rejects.csv")
def rejects_csv(list_id: int):
    contact_list = get_or_404(ContactList, list_id)
    filename = f"rejects-{contact_list.id}.csv"

    def chunks():  # the connection is taken while streaming: the view's is closed by then
        yield from contacts.rejects_csv(db.session.connection(), list_id, _)

    return Response(
        stream_with_context(chunks()),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.post("/<int:list_id>/delete")
def delete(list_id: int):
    contact_list = get_or_404(ContactList, list_id)
    try:
        contacts.delete_list(db.session, contact_list)
    except contacts.ListInUseError:
        flash(_("This list is used by campaigns: delete or keep them first."), "error")
        return redirect(url_for("lists.detail", list_id=list_id))
    audit("list_deleted", ("contact_list", list_id), list_facts(contact_list))
    db.session.commit()
    flash(_("The list is deleted."), "success")
    return redirect(url_for("lists.index"))
