"""The interface language: Russian unless the person asks for English."""

from __future__ import annotations

from flask import Flask, current_app, redirect, request, session, url_for
from flask_babel import format_decimal, get_locale, gettext

from .extensions import babel


def select_locale() -> str:
    """The language chosen with the switch, else (API clients) Accept-Language, else Russian."""
    languages = current_app.config["LANGUAGES"]
    chosen = session.get("lang")
    if chosen in languages:
        return chosen
    if request.path.startswith("/api/"):
        return request.accept_languages.best_match(languages) or languages[0]
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def switch_language(code: str):
    """Remember the chosen language and go back to the page the switch was clicked on."""
    if code in current_app.config["LANGUAGES"]:
        session["lang"] = code
    target = request.referrer or ""
    if not target.startswith(request.host_url):
        target = url_for("main.index")
    return redirect(target)


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale)
    app.add_url_rule("/lang/<code>", "switch_language", switch_language)
    app.jinja_env.globals["current_language"] = lambda: str(get_locale())
    app.jinja_env.filters["number"] = format_decimal
    # For texts stored as msgids (reasons, errors) that may also hold any gateway text: unlike
    # the template's _(), this never %-formats, so a "%" in the text cannot break the page.
    app.jinja_env.filters["translated"] = lambda text: gettext(text) if text else ""
