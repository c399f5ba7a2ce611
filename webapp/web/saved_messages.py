"""Saved messages: message templates kept under a name to start campaigns from."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from ..extensions import db
from ..models import MessageTemplate

bp = Blueprint("saved", __name__, url_prefix="/saved-messages")
NAME_MAX_LENGTH = 200


def get_saved(saved_id: int) -> MessageTemplate:
    saved = db.session.get(MessageTemplate, saved_id)
    if saved is None:
        abort(404)
    return saved


@bp.get("/")
def index():
    saved = db.session.scalars(select(MessageTemplate).order_by(MessageTemplate.name)).all()
    return render_template("saved/index.html", saved=saved)


def form_values() -> tuple[str, str] | None:
    """Name and text from the form, or None (with a message) when one is missing."""
    name = request.form.get("name", "").strip()[:NAME_MAX_LENGTH]
    body = request.form.get("body", "").replace("\r\n", "\n").strip()
    if not name or not body:
        flash(_("Give the message a name and a text."), "error")
        return None
    return name, body


@bp.route("/new", methods=["GET", "POST"])
def new():
    if request.method == "GET":
        return render_template("saved/edit.html", saved=None, body="")
    values = form_values()
    if values is None:
        return render_template(
            "saved/edit.html", saved=None, body=request.form.get("body", "")
        ), 400
    db.session.add(MessageTemplate(name=values[0], body=values[1], created_by_id=current_user.id))
    db.session.commit()
    flash(_("Message saved."), "success")
    return redirect(url_for("saved.index"))


@bp.post("/new/from-campaign")
def new_from_campaign():
    """The campaign editor's message to save under a name; posted, its text stays out of URLs."""
    return render_template("saved/edit.html", saved=None, body=request.form.get("template", ""))


@bp.route("/<int:saved_id>", methods=["GET", "POST"])
def edit(saved_id: int):
    saved = get_saved(saved_id)
    if request.method == "GET":
        return render_template("saved/edit.html", saved=saved, body=saved.body)
    values = form_values()
    if values is None:
        return render_template(
            "saved/edit.html", saved=saved, body=request.form.get("body", "")
        ), 400
    saved.name, saved.body = values
    db.session.commit()
    flash(_("Message saved."), "success")
    return redirect(url_for("saved.index"))


@bp.post("/<int:saved_id>/delete")
def delete(saved_id: int):
    db.session.delete(get_saved(saved_id))
    db.session.commit()
    flash(_("Message deleted."), "success")
    return redirect(url_for("saved.index"))
