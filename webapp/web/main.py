"""The dashboard and the navigation."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from ..account_settings import TEST_SENT, gateway_settings, get_setting
from ..campaigns.service import PAUSE_REASONS
from ..extensions import db
from ..models import Campaign, utcnow
from ..results import dashboard

bp = Blueprint("main", __name__)


def nav_items() -> list[tuple[str, str]]:
    """The main menu as (endpoint, label) pairs; settings only for administrators."""
    items = [
        ("main.index", _("Dashboard")),
        ("campaigns.index", _("Campaigns")),
        ("saved.index", _("Saved messages")),
        ("lists.index", _("Contact lists")),
        ("optouts.index", _("Opt-out list")),
    ]
    if current_user.is_admin:
        items.append(("settings.index", _("Settings")))
        items.append(("audit.index", _("Audit log")))
    return items


@bp.get("/")
def index():
    timezone, now = current_app.config["BABEL_DEFAULT_TIMEZONE"], utcnow()
    gateway = gateway_settings(current_app.config)
    return render_template(
        "index.html",
        steps=dashboard.first_steps(
            db.session,
            gateway_connected=not gateway.use_sandbox,
            test_sent=bool(get_setting(TEST_SENT)),
        ),
        has_messages=dashboard.has_messages(db.session),
        campaigns=dashboard.active_campaigns(db.session),
        totals=dashboard.today_totals(db.session, timezone, now),
        charts={
            "days": dashboard.daily_activity(db.session, timezone, now),
            "hours": dashboard.hourly_activity(db.session, timezone, now),
        },
        gateway=gateway,
        account_problem=db.session.scalar(
            select(Campaign)
            .where(Campaign.pause_code.in_(("balance", "unauthorized")))
            .order_by(Campaign.id.desc())
            .limit(1)
        ),
        pause_reasons=PAUSE_REASONS,
    )
