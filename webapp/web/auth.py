"""Sign in, sign out and the first-run administrator page."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, EqualTo, Length

from ..accounts import (
    MIN_PASSWORD_LENGTH,
    AccountError,
    SignInThrottled,
    ThrottlePolicy,
    create_user,
    has_users,
    sign_in,
)
from ..audit import user_facts
from ..extensions import db
from .audit import audit

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired()])


class SetupForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(
        _l("Password"), validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=200)]
    )
    confirm = PasswordField(
        _l("Repeat the password"),
        validators=[DataRequired(), EqualTo("password", message=_l("The passwords differ."))],
    )


def _throttle_policy() -> ThrottlePolicy:
    config = current_app.config
    return ThrottlePolicy(
        max_failures=config["LOGIN_MAX_FAILURES"],
        max_failures_per_ip=config["LOGIN_MAX_FAILURES_PER_IP"],
        window=timedelta(minutes=config["LOGIN_THROTTLE_MINUTES"]),
    )


@bp.route("/login", methods=["GET", "POST"])
def login():
    if not has_users():
        return redirect(url_for("auth.setup"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = sign_in(
                form.email.data, form.password.data, request.remote_addr or "", _throttle_policy()
            )
        except SignInThrottled as error:
            flash(_(error.message, **error.params), "error")
            status = 429
        except AccountError as error:
            audit("sign_in_failed", email=form.email.data)
            db.session.commit()  # keep the failure: it counts towards throttling
            flash(_(error.message, **error.params), "error")
            status = 401
        else:
            audit("sign_in", user=user)
            db.session.commit()
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form), status


@bp.route("/setup", methods=["GET", "POST"])
def setup():
    if has_users():
        return redirect(url_for("auth.login"))
    form = SetupForm()
    if form.validate_on_submit():
        try:
            user = create_user(form.email.data, form.password.data, role="admin")
        except AccountError as error:
            flash(_(error.message, **error.params), "error")
        else:
            audit("user_created", ("user", user), user_facts(user), user=user)
            db.session.commit()
            login_user(user)
            flash(_("Administrator created. Welcome!"), "success")
            return redirect(url_for("main.index"))
    status = 400 if request.method == "POST" else 200
    return render_template("auth/setup.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))


def _safe_next(target: str | None) -> str:
    """Only follow ``next`` to a path on this site, never to another host."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("main.index")
