"""The audit trail over the API, read-only and for administrators."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import g, request
from flask_babel import gettext as _

from ..audit import ACTIONS, details, events_query
from ..models import AuditEvent
from . import bp
from .helpers import ApiError, paged


def event_json(event: AuditEvent) -> dict:
    target = {"type": event.target_type, "id": event.target_id} if event.target_type else None
    return {
        "at": event.at.isoformat(),
        "actor": event.actor_email or None,
        "actor_id": event.actor_id,
        "ip": event.ip or None,
        "action": event.action,
        "object": target,
        "detail": details(event),
    }


@bp.get("/audit")
def audit_events():
    if not g.api_user.is_admin:
        raise ApiError(403, _("The audit trail is for administrators."))
    action = request.args.get("action") or None
    if action is not None and action not in ACTIONS:
        raise ApiError(
            400,
            _("'%(name)s' must be one of: %(choices)s.", name="action", choices=", ".join(ACTIONS)),
        )
    query = events_query(
        action=action,
        actor=request.args.get("actor"),
        since=_time_arg("since"),
        until=_time_arg("until"),
    )
    return paged(query, event_json)


def _time_arg(name: str) -> datetime | None:
    """An ISO 8601 time from the query string (UTC when it names no zone); 400 when malformed."""
    text = request.args.get(name, "").strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise ApiError(
            400,
            _(
                "'%(name)s' must be an ISO 8601 time, like %(example)s.",
                name=name,
                example="2026-12-01T09:00:00+03:00",
            ),
        ) from None
