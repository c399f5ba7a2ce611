"""The dashboard and the navigation."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_babel import gettext as _

bp = Blueprint("main", __name__)


def nav_items() -> list[tuple[str, str]]:
    """The main menu as (endpoint, label) pairs."""
    return [("main.index", _("Dashboard"))]


@bp.get("/")
def index():
    return render_template("index.html")
