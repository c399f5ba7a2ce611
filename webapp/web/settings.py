"""Settings for administrators: the gateway, sending defaults, users and API keys."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from .. import logs
from ..accounts import ROLES, AccountError, create_api_key, create_user
from ..campaigns.options import OptionsError, parse_options
from ..extensions import db
from ..models import ApiKey, User
from ..security import no_store
from ..settings import gateway_settings, get_setting, sending_defaults, set_setting
from . import forms

bp = Blueprint("settings", __name__, url_prefix="/settings")


@bp.before_request
def only_admins():
    if not current_user.is_admin:
        abort(403)


def masked(token: str | None) -> str:
    """Enough of a token to recognise it, never enough to use it."""
    return f"••••{token[-4:]}" if token and len(token) > 8 else ("••••" if token else "")


@bp.get("/")
def index():
    gateway = get_setting("gateway", {})
    return render_template(
        "settings/index.html",
        gateway=gateway,
        effective=gateway_settings(current_app.config),
        token_from_config=bool(current_app.config.get("TELEFON_IP_TOKEN")),
        token_mask=masked(gateway.get("token")),
        apps=get_setting("apps", []),
        defaults=sending_defaults(),
        users=db.session.scalars(select(User).order_by(User.email)).all(),
        api_keys=db.session.scalars(
            select(ApiKey).where(ApiKey.user_id == current_user.id).order_by(ApiKey.id)
        ).all(),
        roles=ROLES,
    )


@bp.post("/gateway")
def save_gateway():
    form = request.form
    base_url = form.get("base_url", "").strip().rstrip("/")
    if base_url and not base_url.startswith(("https://", "http://")):
        flash(_("The gateway address must start with https://"), "error")
        return redirect(url_for("settings.index"))
    apps = []
    for line in form.get("apps", "").splitlines():
        app_id, _sep, label = line.strip().partition(" ")
        if app_id and not app_id.isdigit():
            flash(_("Each account line starts with its number id: %(line)s", line=line), "error")
            return redirect(url_for("settings.index"))
        if app_id:
            apps.append({"id": int(app_id), "label": label.strip()})
    gateway = get_setting("gateway", {})
    if token := form.get("token", "").strip():
        gateway["token"] = token
        logs.add_secret(token)
    if form.get("forget_token"):
        gateway.pop("token", None)
    gateway.update(base_url=base_url or None, sandbox=bool(form.get("sandbox")))
    set_setting("gateway", gateway)
    set_setting("apps", apps)
    db.session.commit()
    flash(_("Gateway settings saved."), "success")
    return redirect(url_for("settings.index"))


@bp.post("/defaults")
def save_defaults():
    given = forms.sending_options(request.form)
    try:
        options = parse_options(given, {}).to_dict()
    except OptionsError as error:
        flash(_(error.message, **error.params), "error")
        return redirect(url_for("settings.index"))
    set_setting("sending_defaults", {name: options[name] for name in given})
    db.session.commit()
    flash(_("Default sending options saved."), "success")
    return redirect(url_for("settings.index"))


@bp.post("/users")
def add_user():
    try:
        user = create_user(
            request.form.get("email", ""),
            request.form.get("password", ""),
            role=request.form.get("role", "member"),
        )
    except AccountError as error:
        flash(_(error.message, **error.params), "error")
        return redirect(url_for("settings.index"))
    db.session.commit()
    flash(_("User %(email)s added.", email=user.email), "success")
    return redirect(url_for("settings.index"))


@bp.post("/users/<int:user_id>/delete")
def delete_user(user_id: int):
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    if user.id == current_user.id:
        flash(_("You cannot delete yourself."), "error")
        return redirect(url_for("settings.index"))
    db.session.delete(user)
    db.session.commit()
    flash(_("User %(email)s deleted.", email=user.email), "success")
    return redirect(url_for("settings.index"))


@bp.post("/api-keys")
@no_store
def add_api_key():
    key = create_api_key(current_user, request.form.get("name", "").strip()[:100])
    db.session.commit()
    # Shown once on the page that follows; only its hash is kept.
    return render_template("settings/new_key.html", key=key)


@bp.post("/api-keys/<int:key_id>/delete")
def delete_api_key(key_id: int):
    key = db.session.get(ApiKey, key_id)
    if key is None or key.user_id != current_user.id:
        abort(404)
    db.session.delete(key)
    db.session.commit()
    flash(_("API key revoked."), "success")
    return redirect(url_for("settings.index"))
