"""Reading form fields into the values the domain functions take."""

from __future__ import annotations

from typing import Any

from werkzeug.datastructures import MultiDict


def number(text: str | None) -> float | str | None:
    """A number from a form field (a decimal comma is fine); other text passes on, to be refused."""
    text = (text or "").strip().replace(",", ".")
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return text


def whole(text: str | None) -> int | str | None:
    value = number(text)
    return int(value) if isinstance(value, float) and value.is_integer() else value


def sending_options(form: MultiDict) -> dict[str, Any]:
    """Sending options from the pacing fields shared by the settings and the campaign forms.

    Only the fields present in the form are returned, so a form without, say, the account
    checkboxes leaves that option as it was.
    """
    options: dict[str, Any] = {}
    for name in ("rate_per_minute", "delay_min_s", "delay_max_s"):
        if name in form:
            options[name] = number(form[name])
    if "daily_limit" in form:
        options["daily_limit"] = whole(form["daily_limit"])
    if "window_start" in form:
        options["send_window"] = None
        if form.get("window_start") and form.get("window_end"):
            options["send_window"] = {
                "start": form["window_start"],
                "end": form["window_end"],
                "timezone": form.get("timezone") or None,
            }
    if "start_at" in form:
        options["start_at"] = form["start_at"] or None
    if "apps_shown" in form:
        options["app"] = [int(a) for a in form.getlist("app") if a.isdigit()] or None
    if "schedule_column" in form:
        options["schedule"] = schedule(form)
    return options


def schedule(form: MultiDict) -> dict[str, Any] | None:
    """The reminder schedule from the wizard's fields; None without a date column."""
    if not form.get("schedule_column"):
        return None
    grace = number(form.get("grace_hours"))
    return {
        "column": form["schedule_column"],
        "time_column": form.get("schedule_time_column") or None,
        "rule": form.get("schedule_rule", "before"),
        "days": whole(form.get("schedule_days")),
        "hours": whole(form.get("schedule_hours")),
        "at": form.get("schedule_at") or None,
        "late": {"grace_hours": grace} if form.get("late") == "grace" else "skip",
    }
