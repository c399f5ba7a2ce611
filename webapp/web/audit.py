"""The audit log page for administrators, and ``audit()``: record what this request does."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from flask import Blueprint, abort, g, render_template, request
from flask_babel import get_timezone
from flask_login import current_user
from sqlalchemy import func, select

from ..accounts import normalize_email
from ..audit import ACTIONS, TARGETS, Actor, details, events_query, record
from ..extensions import db
from ..models import User
from ..url_numbers import page_arg

bp = Blueprint("audit", __name__, url_prefix="/audit")
PER_PAGE = 50
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(9998, 12, 31)


def audit(
    action: str,
    target: tuple[str, object] | None = None,
    details: dict[str, Any] | None = None,
    *,
    user: User | None = None,
    email: str = "",
) -> None:
    """Record ``action`` by the signed-in user or API key owner (or ``user``, or the account an
    e-mail typed at sign-in names) from the client's address; the view's commit stores it."""
    ip = request.remote_addr or ""
    if email:
        actor = Actor(email=normalize_email(email), ip=ip)
    else:
        signed_in = current_user if current_user.is_authenticated else None
        actor = Actor.of(user or g.get("api_user") or signed_in, ip)
    record(actor, action, target, details)


@bp.before_request
def only_admins():
    if not current_user.is_admin:
        abort(403)


@bp.get("/")
def index():
    action = request.args.get("action") or None
    if action is not None and action not in ACTIONS:
        abort(400)
    query = events_query(
        action=action,
        actor=request.args.get("user", "").strip(),
        since=_day_arg("from"),
        until=_day_arg("to", next_day=True),  # the "to" day is included
    )
    page = page_arg()
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    events = db.session.scalars(query.limit(PER_PAGE).offset((page - 1) * PER_PAGE)).all()
    return render_template(
        "audit/index.html",
        events=[(event, details(event)) for event in events],
        total=total,
        page=page,
        per_page=PER_PAGE,
        actions=ACTIONS,
        targets=TARGETS,
        users=db.session.scalars(select(User.email).order_by(User.email)).all(),
        filters={key: request.args.get(key, "") for key in ("action", "user", "from", "to")},
    )


def _day_arg(name: str, *, next_day: bool = False) -> datetime | None:
    """The start of a day given as YYYY-MM-DD (or of the day after), in the reader's time zone;
    400 when malformed or out of the years a timestamp can hold."""
    text = request.args.get(name, "").strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        abort(400)
    if not FIRST_DAY <= day <= LAST_DAY:
        abort(400)
    return get_timezone().localize(datetime.combine(day + timedelta(days=next_day), time()))
