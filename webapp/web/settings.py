"""Settings for administrators: the gateway, sending defaults, users and API keys."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from .. import logs
from ..account_settings import (
    gateway_settings,
    get_setting,
    is_gateway_url,
    sending_defaults,
    set_setting,
)
from ..accounts import ROLES, AccountError, create_api_key, create_user, set_password
from ..audit import user_facts
from ..campaigns.options import OptionsError, parse_options
from ..extensions import db
from ..models import ApiKey, User, utcnow
from ..numbers import NumberError, history, list_numbers, number_key, update_number
from ..security import no_store
from ..sending.telefon_ip import DEFAULT_BASE_URL
from . import forms
from .audit import audit

bp = Blueprint("settings", __name__, url_prefix="/settings")


@bp.before_request
def only_admins():
    if not current_user.is_admin:
        abort(403)


def masked(token: str | None) -> str:
    """Enough of a token to recognise it, never enough to use it."""
    return f"••••{token[-4:]}" if token and len(token) > 8 else ("••••" if token else "")


def changes(before: dict, after: dict) -> dict:
    """What a save changed, for the audit trail; of the token only that it was set or removed."""
    changed = {
        key: after.get(key)
        for key in sorted(before.keys() | after.keys())
        if key != "token" and before.get(key) != after.get(key)
    }
    if before.get("token") != after.get("token"):
        changed["token"] = "set" if after.get("token") else "removed"
    return changed


@bp.get("/")
def index():
    gateway = get_setting("gateway", {})
    connection, now = db.session.connection(), utcnow()
    numbers = list_numbers(connection, now)
    return render_template(
        "settings/index.html",
        gateway=gateway,
        effective=gateway_settings(current_app.config),
        token_from_config=bool(current_app.config.get("TELEFON_IP_TOKEN")),
        token_mask=masked(gateway.get("token")),
        numbers=numbers,
        history={n["app"]: history(connection, number_key(n["app"]), now) for n in numbers},
        defaults=sending_defaults(),
        users=db.session.scalars(select(User).order_by(User.email)).all(),
        api_keys=db.session.scalars(
            select(ApiKey).where(ApiKey.user_id == current_user.id).order_by(ApiKey.id)
        ).all(),
        roles=ROLES,
        default_base_url=DEFAULT_BASE_URL,
    )


@bp.post("/gateway")
def save_gateway():
    form = request.form
    base_url = form.get("base_url", "").strip().rstrip("/")
    token = form.get("token", "").strip()
    locked = bool(current_app.config.get("TELEFON_IP_TOKEN"))
    if locked and (base_url or token):
        flash(_("The gateway token and address are set in the server configuration."), "error")
        return redirect(url_for("settings.index"))
    if base_url and not is_gateway_url(base_url):
        flash(
            _(
                "The gateway address must be a full https:// address, such as %(example)s.",
                example=DEFAULT_BASE_URL,
            ),
            "error",
        )
        return redirect(url_for("settings.index"))
    gateway = get_setting("gateway", {})
    before = dict(gateway)
    if token:
        gateway["token"] = token
        logs.add_secret(token)
    if form.get("forget_token"):
        gateway.pop("token", None)
    if not locked:
        gateway["base_url"] = base_url or None
    gateway["sandbox"] = bool(form.get("sandbox"))
    set_setting("gateway", gateway)
    audit("gateway_changed", ("settings", "gateway"), changes(before, gateway))
    db.session.commit()
    flash(_("Gateway settings saved."), "success")
    return redirect(url_for("settings.index"))


@bp.post("/numbers")
def save_number():
    """Add a number, or change one: its label, ceiling, daily limit, warm-up and pause."""
    form = request.form
    key = form.get("app", "").strip() or "default"
    given: dict = {"label": form.get("label", "")}
    if "rate_per_minute" in form:  # the full form of a listed number, not the one adding it
        given["paused"] = bool(form.get("paused"))
        given["rate_per_minute"] = forms.number(form["rate_per_minute"])
        given["daily_limit"] = forms.whole(form.get("daily_limit"))
        start = forms.whole(form.get("warmup_start"))
        given["warmup"] = (
            None
            if start is None
            else {
                "start": start,
                "growth_percent": forms.number(form.get("warmup_growth_percent")) or 0,
            }
        )
    try:
        update_number(db.session.connection(), key, given, utcnow())
    except NumberError as error:
        db.session.rollback()
        flash(_(error.message, **error.params), "error")
        return redirect(url_for("settings.index", _anchor="numbers-heading"))
    audit("number_changed", ("settings", key), given)
    db.session.commit()
    flash(_("WhatsApp number saved."), "success")
    return redirect(url_for("settings.index", _anchor="numbers-heading"))


@bp.post("/defaults")
def save_defaults():
    given = forms.sending_options(request.form)
    try:
        options = parse_options(given, {}).to_dict()
    except OptionsError as error:
        flash(error.text(), "error")
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
        flash(error.text(), "error")
        return redirect(url_for("settings.index"))
    audit("user_created", ("user", user), user_facts(user))
    db.session.commit()
    flash(_("User %(email)s added.", email=user.email), "success")
    return redirect(url_for("settings.index"))


def _other_user(user_id: int, if_self: str) -> User | None:
    """The user an administrator acts on; None (flashed) when it is themselves; 404 if gone."""
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    if user.id == current_user.id:
        flash(if_self, "error")
        return None
    return user


@bp.post("/users/<int:user_id>/delete")
def delete_user(user_id: int):
    user = _other_user(user_id, _("You cannot delete yourself."))
    if user is None:
        return redirect(url_for("settings.index"))
    db.session.delete(user)
    audit("user_deleted", ("user", user_id), user_facts(user))
    db.session.commit()
    flash(_("User %(email)s deleted.", email=user.email), "success")
    return redirect(url_for("settings.index"))


@bp.post("/users/<int:user_id>/password")
def reset_password(user_id: int):
    """Set another user's password; their sessions end everywhere."""
    user = _other_user(user_id, _("Change your own password on your account page."))
    if user is None:
        return redirect(url_for("settings.index"))
    try:
        set_password(user, request.form.get("password", ""))
    except AccountError as error:
        flash(error.text(), "error")
        return redirect(url_for("settings.index"))
    audit("password_changed", ("user", user.id))
    db.session.commit()
    flash(_("New password set for %(email)s; they were signed out.", email=user.email), "success")
    return redirect(url_for("settings.index"))


@bp.post("/api-keys")
@no_store
def add_api_key():
    key = create_api_key(current_user, request.form.get("name", "").strip()[:100])
    audit("api_key_created", ("user", current_user.id), {"prefix": key[:12]})
    db.session.commit()
    # Shown once on the page that follows; only its hash is kept.
    return render_template("settings/new_key.html", key=key)


@bp.post("/api-keys/<int:key_id>/delete")
def delete_api_key(key_id: int):
    key = db.session.get(ApiKey, key_id)
    if key is None or key.user_id != current_user.id:
        abort(404)
    db.session.delete(key)
    audit("api_key_revoked", ("user", key.user_id), {"key_id": key_id, "prefix": key.prefix})
    db.session.commit()
    flash(_("API key revoked."), "success")
    return redirect(url_for("settings.index"))
