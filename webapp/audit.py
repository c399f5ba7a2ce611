"""The audit trail: who did what, when and from where (no request handling here).

``record`` only adds the event to the session, so it is stored by the commit of the action it
describes, or not at all when that action is rolled back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select

from .extensions import db
from .i18n import N_
from .models import AuditEvent, ContactList, User

# Every action the trail knows, with its name for people (translated where shown).
ACTIONS = {
    "sign_in": N_("Signed in"),
    "sign_in_failed": N_("Sign-in failed"),
    "user_created": N_("User created"),
    "user_deleted": N_("User deleted"),
    "password_changed": N_("Password changed"),
    "sessions_ended": N_("Signed out on other devices"),
    "api_key_created": N_("API key created"),
    "api_key_revoked": N_("API key revoked"),
    "gateway_changed": N_("Gateway settings changed"),
    "number_changed": N_("WhatsApp number changed"),
    "campaign_started": N_("Campaign launched"),
    "campaign_paused": N_("Campaign paused"),
    "campaign_resumed": N_("Campaign resumed"),
    "campaign_cancelled": N_("Campaign cancelled"),
    "campaign_retried": N_("Campaign retried"),
    "campaign_rows_added": N_("Rows added to a campaign"),
    "list_deleted": N_("Contact list deleted"),
    "opt_outs_added": N_("Opt-outs added"),
    "opt_out_removed": N_("Opt-out removed"),
}
# What an event can be about, with its name for people.
TARGETS = {
    "user": N_("User"),
    "settings": N_("Settings"),
    "campaign": N_("Campaign"),
    "contact_list": N_("Contact list"),
    "opt_out": N_("Opt-out"),
}
# The campaign lifecycle verbs of the pages and the API, as audit actions.
CAMPAIGN_ACTIONS = {
    "start": "campaign_started",
    "pause": "campaign_paused",
    "resume": "campaign_resumed",
    "cancel": "campaign_cancelled",
}


@dataclass(frozen=True)
class Actor:
    """Who acts, and from which address; no user for the command line or an unknown e-mail."""

    user_id: int | None = None
    email: str = ""
    ip: str = ""

    @classmethod
    def of(cls, user: User | None, ip: str = "") -> Actor:
        return cls(user.id, user.email, ip) if user is not None else cls(ip=ip)


def record(
    actor: Actor,
    action: str,
    target: tuple[str, object] | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an event to the session (the caller's commit stores it with the action itself).

    ``target`` is (kind, id), or (kind, row) for a row whose id the database has yet to give.
    """
    if action not in ACTIONS or (target and target[0] not in TARGETS):
        raise ValueError(f"unknown audit action {action!r} or target {target!r}")
    target_type, target_id = target or (None, None)
    if isinstance(target_id, db.Model):  # just added: its id comes with the flush
        db.session.flush()
        target_id = target_id.id
    event = AuditEvent(
        actor_id=actor.user_id,
        actor_email=actor.email[:254],
        ip=actor.ip[:64],
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id)[:64],
        details_json=json.dumps(details or {}, ensure_ascii=False, default=str),
    )
    db.session.add(event)
    return event


def user_facts(user: User) -> dict[str, str]:
    """What the trail keeps of a user created or deleted, since the row itself may go."""
    return {"email": user.email, "role": user.role}


def list_facts(contact_list: ContactList) -> dict[str, object]:
    return {"name": contact_list.name, "contacts": contact_list.contact_count}


def events_query(
    *,
    action: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Select:
    """Events newest first; ``actor`` is an e-mail address, ``until`` exclusive."""
    query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    if action:
        query = query.where(AuditEvent.action == action)
    if actor:
        query = query.where(AuditEvent.actor_email == actor.strip().lower())
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if until is not None:
        query = query.where(AuditEvent.at < until)
    return query


def details(event: AuditEvent) -> dict[str, Any]:
    return json.loads(event.details_json)
