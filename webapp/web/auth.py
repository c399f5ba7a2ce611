"""Sign in, sign out, the first-run administrator page and each user's own account page."""

from __future__ import annotations

import ipaddress
import logging
from datetime import timedelta
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy.exc import IntegrityError
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from ..accounts import (
    MIN_PASSWORD_LENGTH,
    AccountError,
    SignInThrottled,
    ThrottlePolicy,
    create_first_admin,
    end_sessions,
    has_users,
    is_setup_code,
    set_password,
    setup_code,
    sign_in,
)
from ..audit import user_facts
from ..extensions import db
from ..models import User
from .audit import audit

bp = Blueprint("auth", __name__)
logger = logging.getLogger(__name__)


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired()])


class NewPasswordForm(FlaskForm):
    password = PasswordField(
        _l("Password"), validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=200)]
    )
    confirm = PasswordField(
        _l("Repeat the password"),
        validators=[DataRequired(), EqualTo("password", message=_l("The passwords differ."))],
    )


class SetupForm(NewPasswordForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    code = StringField(_l("Setup code"), validators=[Length(max=100)])


class ChangePasswordForm(NewPasswordForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired()])


def _throttle_policy() -> ThrottlePolicy:
    config = current_app.config
    return ThrottlePolicy(
        max_failures=config["LOGIN_MAX_FAILURES"],
        max_failures_per_ip=config["LOGIN_MAX_FAILURES_PER_IP"],
        max_failures_per_account=config["LOGIN_MAX_FAILURES_PER_ACCOUNT"],
        window=timedelta(minutes=config["LOGIN_THROTTLE_MINUTES"]),
    )


def _check_sign_in(email: str, password: str) -> tuple[User | None, int]:
    """The user these credentials sign in, or None and the status to answer with (flashed)."""
    try:
        user = sign_in(email, password, request.remote_addr or "", _throttle_policy())
    except SignInThrottled as error:
        flash(error.text(), "error")
        return None, 429
    except AccountError as error:
        audit("sign_in_failed", email=email)
        db.session.commit()  # keep the failure: it counts towards throttling
        flash(error.text(), "error")
        return None, 401
    return user, 200


@bp.route("/login", methods=["GET", "POST"])
def login():
    if not has_users():
        return redirect(url_for("auth.setup"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        user, status = _check_sign_in(form.email.data, form.password.data)
        if user is not None:
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
    code_needed = _setup_code_needed()
    if code_needed:
        _log_setup_code()
    status = 200
    if form.validate_on_submit():
        if code_needed and not is_setup_code(form.code.data or "", current_app.secret_key):
            flash(_("Enter the setup code from the server's log."), "error")
            status = 403
        else:
            response = _create_first_admin(form)
            if response is not None:
                return response
            status = 400
    elif request.method == "POST":
        status = 400
    return render_template("auth/setup.html", form=form, code_needed=code_needed), status


def _create_first_admin(form: SetupForm) -> Response | None:
    """Create the administrator from a checked form: the page to go to, or None (flashed)."""
    try:
        user = create_first_admin(form.email.data, form.password.data)
        audit("user_created", ("user", user), user_facts(user), user=user)
        db.session.commit()
    except AccountError as error:
        flash(error.text(), "error")
        return None
    except IntegrityError:  # another setup, maybe in another process, got there first
        db.session.rollback()
        flash(_("Volna is already set up. Sign in."), "info")
        return redirect(url_for("auth.login"))
    login_user(user)
    flash(_("Administrator created. Welcome!"), "success")
    return redirect(url_for("main.index"))


@bp.post("/logout")
@login_required
def logout():
    # Ends this user's sessions everywhere: a copy of this cookie must stop working too.
    end_sessions(current_user._get_current_object())
    db.session.commit()
    logout_user()
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.get("/account")
@login_required
def account():
    return render_template("auth/account.html", form=ChangePasswordForm())


@bp.post("/account/password")
@login_required
def change_password():
    form = ChangePasswordForm()
    if not form.validate_on_submit():
        return render_template("auth/account.html", form=form), 400
    user = current_user._get_current_object()
    # The current password is checked like a sign-in, throttling included.
    checked, status = _check_sign_in(user.email, form.current.data)
    if checked is None:
        return render_template("auth/account.html", form=form), status
    set_password(user, form.password.data)
    audit("password_changed", ("user", user.id))
    db.session.commit()
    login_user(user)  # this browser stays signed in with the new session generation
    flash(_("Password changed. You were signed out on every other device."), "success")
    return redirect(url_for("auth.account"))


@bp.post("/account/sign-out-others")
@login_required
def sign_out_others():
    user = current_user._get_current_object()
    end_sessions(user)
    audit("sessions_ended", ("user", user.id))
    db.session.commit()
    login_user(user)
    flash(_("You were signed out on every other device."), "success")
    return redirect(url_for("auth.account"))


def _safe_next(target: str | None) -> str:
    """Only follow ``next`` to a path on this site, never to another host."""
    return target if target and _is_local_path(target) else url_for("main.index")


def _is_local_path(target: str) -> bool:
    # Browsers drop tabs and newlines from a Location and read "\" as "/", so "/\t/evil.test"
    # would become "//evil.test": such characters are refused outright.
    if not target.isprintable() or "\\" in target:
        return False
    try:
        parts = urlsplit(target)
    except ValueError:
        return False
    return (
        not parts.scheme
        and not parts.netloc
        and target.startswith("/")
        and not target.startswith("//")
    )


def _setup_code_needed() -> bool:
    """Setup asks for the logged code unless opened in a browser on the server itself."""
    proxied = "X-Forwarded-For" in request.headers or "Forwarded" in request.headers
    try:
        host = urlsplit(f"//{request.host}").hostname or ""
    except ValueError:
        return True
    return proxied or not (_is_loopback(request.remote_addr or "") and _is_loopback(host))


def _is_loopback(name: str) -> bool:
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _log_setup_code() -> None:
    """Print the setup code once per process, for the operator who reads the server's log."""
    if not current_app.extensions.get("setup_code_logged"):
        current_app.extensions["setup_code_logged"] = True
        logger.warning(
            "First-run setup opened from another computer: enter setup code %s on the page.",
            setup_code(current_app.secret_key),
        )
