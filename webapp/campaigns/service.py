"""What people do with campaigns: create, edit, start, pause, resume, cancel, retry, preview.

The functions take the session and plain values, never commit (the caller commits once) and
refuse with ``CampaignError``. Every status change is one conditional UPDATE whose row count
is checked, so a sender or another request working on the same campaign cannot slip between a
check and a write. The lifecycle they follow is in ``webapp.campaigns``.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, delete, exists, func, literal, select, text, update
from sqlalchemy.orm import Session, object_session

from ..contacts import InvalidPhoneError, normalize_phone
from ..i18n import N_, UserError
from ..messages import MessageTemplate, RenderedMessage, TemplateError
from ..models import Campaign, Contact, ContactList, OptOut, Recipient, UTCDateTime, utcnow
from ..numbers import capacities
from .eta import estimate_finish
from .options import OPTION_NAMES, OptionsError, SendingOptions, parse_options
from .rendering import parse_template, render_for_contact
from .statuses import (
    ALLOWED_FROM,
    COUNTED,
    LIVE,
    RETRYABLE,
    CampaignStatus,
    RecipientStatus,
    can,
)

STATUSES = tuple(CampaignStatus)
COUNTED_STATUSES = COUNTED
NAME_MAX_LENGTH = 200
MAX_ID = 2**31 - 1  # ids are 32-bit integers; a larger one cannot even be looked up

# What a recipient's ``error`` says when it was skipped by us rather than refused by the gateway.
OPTED_OUT = N_("Opted out")
CANCELLED = N_("Cancelled before it was sent")
SKIP_REASONS = (OPTED_OUT, CANCELLED)

PAUSE_REASONS = {
    "user": N_("Paused by a user."),
    "balance": N_(
        "The WhatsApp gateway blocked the account for lack of balance. Top up the balance in "
        "the telefon-ip.ru cabinet, then press Resume."
    ),
    "unauthorized": N_(
        "The gateway rejected the API token. Check the token in Settings, then press Resume."
    ),
    "gateway_unavailable": N_(
        "The gateway has not answered successfully for a while. Check its status, "
        "then press Resume."
    ),
    "gateway_error": N_(
        "The gateway refused call after call the same way: “%(detail)s”. Check the gateway "
        "address and the WhatsApp accounts in Settings, then press Resume."
    ),
}

NOT_FOUND = N_("There is no campaign %(id)s.")
LIST_NOT_FOUND = N_("There is no contact list %(id)s.")
LIST_ID_INVALID = N_("Choose the contact list by its id, a whole number.")
NAME_INVALID = N_("Give the campaign a name of 1 to %(limit)s characters.")
TEMPLATE_MISSING = N_("Write the message text.")
UNSTORABLE_TEXT = N_("The text holds a character that cannot be stored (a NUL or a broken one).")
EMPTY_LIST = N_("The contact list has no contacts.")
PHONE_INVALID = N_("Enter a mobile number with the country code, like 79243555100.")
RETRY_STATUSES_INVALID = N_('Choose what to retry: "failed", "unknown" or both.')
EDIT_REFUSED = N_("Only a draft can be edited, and the sending options of a paused campaign.")
PAUSED_EDIT_REFUSED = N_(
    "A paused campaign keeps its name, list and message; only its sending options can change."
)
START_REFUSED = N_("The campaign has already been started.")
PAUSE_REFUSED = N_("Only a running or scheduled campaign can be paused.")
RESUME_REFUSED = N_("Only a paused campaign can be resumed.")
CANCEL_REFUSED = N_("The campaign has already ended.")
DELETE_REFUSED = N_("Only a draft can be deleted; a started campaign keeps its results.")
COPY_SUFFIX = N_("(copy)")
RETRY_REFUSED = N_("Recipients can be retried when the campaign has completed or is paused.")
NOTHING_TO_RETRY = N_("No recipient has the status to retry.")
RETRY_UNKNOWN_UNCONFIRMED = N_(
    "Recipients whose message may have arrived: %(count)s. Some may already have the message "
    "and would get it twice. Confirm to send to them again anyway."
)


class CampaignError(UserError):
    """A refused request about a campaign: ``message % params`` says why."""


class CampaignNotFound(CampaignError):
    status = 404


class CampaignConflict(CampaignError):
    """The campaign's status does not allow this (now)."""

    status = 409


class RetryNeedsConfirmation(CampaignConflict):
    """Retrying ``unknown`` may send some people a second message: ask before doing it."""

    def __init__(self, count: int) -> None:
        super().__init__(
            RETRY_UNKNOWN_UNCONFIRMED, {"count": count}, confirm_required=True, unknown=count
        )
        self.count = count


@dataclass(frozen=True)
class PreviewItem:
    phone: str
    message: RenderedMessage
    opted_out: bool


@dataclass(frozen=True)
class Preview:
    items: list[PreviewItem]
    total: int


@dataclass(frozen=True)
class PreparedTest:
    """A message for a test send: the first contact's text, to ``phone``."""

    phone: str
    text: str
    app: int | None


def get_campaign(session: Session, campaign_id: int) -> Campaign:
    """The campaign as stored now (reloaded even if the session holds it); 404 if missing."""
    campaign = session.get(Campaign, campaign_id, populate_existing=True)
    if campaign is None:
        raise CampaignNotFound(NOT_FOUND, {"id": campaign_id})
    return campaign


def campaigns_query(status: str | None = None) -> Select:
    """Campaigns, newest first, optionally of one status."""
    query = select(Campaign).order_by(Campaign.id.desc())
    return query if status is None else query.where(Campaign.status == status)


def create_campaign(
    session: Session,
    values: Mapping[str, Any],
    *,
    defaults: Mapping[str, Any],
    created_by_id: int | None = None,
) -> Campaign:
    """A draft from ``name``, ``list_id``, ``template`` and sending options (else ``defaults``)."""
    name = _checked_name(values.get("name"))
    contact_list = _contact_list(session, values.get("list_id"))
    template = _parsed_template(values.get("template"), contact_list)
    campaign = Campaign(
        name=name,
        list_id=contact_list.id,
        template=template.text,
        options_json=_options_json(values, defaults),
        status=CampaignStatus.DRAFT,
        created_by_id=created_by_id,
    )
    session.add(campaign)
    session.flush()
    return campaign


def update_campaign(session: Session, campaign_id: int, changes: Mapping[str, Any]) -> Campaign:
    """Edit a draft, or a paused campaign's sending options; keys absent stay as they are."""
    campaign = get_campaign(session, campaign_id)
    if not can(campaign, "edit"):
        raise CampaignConflict(EDIT_REFUSED)
    values: dict[str, Any] = {}
    if campaign.status == CampaignStatus.PAUSED:
        for key in ("name", "list_id", "template"):
            # Sending back the campaign as read, with only the options changed, is fine.
            if key in changes and changes[key] != getattr(campaign, key):
                raise CampaignConflict(PAUSED_EDIT_REFUSED, field=key)
    else:
        if "name" in changes:
            values["name"] = _checked_name(changes["name"])
        if "list_id" in changes or "template" in changes:
            contact_list = (
                _contact_list(session, changes["list_id"])
                if "list_id" in changes
                else campaign.contact_list
            )
            template = _parsed_template(changes.get("template", campaign.template), contact_list)
            values.update(list_id=contact_list.id, template=template.text)
    if any(name in changes for name in OPTION_NAMES):
        values["options_json"] = _options_json(changes, json.loads(campaign.options_json))
    if values:
        # Conditional on the status seen: a start in between wins, and this edit is refused.
        _transition(session, campaign_id, (campaign.status,), EDIT_REFUSED, **values)
    return get_campaign(session, campaign_id)


def duplicate_campaign(
    session: Session, campaign_id: int, *, name_suffix: str, created_by_id: int | None = None
) -> Campaign:
    """A new draft with the campaign's list, message and sending options."""
    original = get_campaign(session, campaign_id)
    copy = Campaign(
        name=f"{original.name} {name_suffix}"[:NAME_MAX_LENGTH],
        list_id=original.list_id,
        template=original.template,
        options_json=original.options_json,
        status=CampaignStatus.DRAFT,
        created_by_id=created_by_id,
    )
    session.add(copy)
    session.flush()
    return copy


def delete_draft(session: Session, campaign_id: int) -> None:
    """Delete a campaign that was never started; others keep their results (409)."""
    result = session.execute(
        delete(Campaign).where(
            Campaign.id == campaign_id, Campaign.status.in_(ALLOWED_FROM["delete"])
        )
    )
    if result.rowcount == 0:
        get_campaign(session, campaign_id)  # a 404 when it does not exist at all
        raise CampaignConflict(DELETE_REFUSED)


def start_campaign(session: Session, campaign_id: int, now: datetime | None = None) -> Campaign:
    """Draft → running (scheduled when ``start_at`` is ahead), with one recipient per contact."""
    now = now or utcnow()
    campaign = get_campaign(session, campaign_id)
    if not can(campaign, "start"):
        raise CampaignConflict(START_REFUSED)
    _parsed_template(campaign.template, campaign.contact_list)
    if not session.scalar(select(exists().where(Contact.list_id == campaign.list_id))):
        raise CampaignError(EMPTY_LIST, field="list_id")
    _transition(
        session, campaign_id, ALLOWED_FROM["start"], START_REFUSED, **_starting(campaign, now)
    )
    _materialize_recipients(session, campaign_id, campaign.list_id)
    return get_campaign(session, campaign_id)


def pause_campaign(session: Session, campaign_id: int) -> Campaign:
    """Running or scheduled → paused by a person."""
    _transition(
        session,
        campaign_id,
        ALLOWED_FROM["pause"],
        PAUSE_REFUSED,
        status=CampaignStatus.PAUSED,
        pause_code="user",
        pause_detail=None,
    )
    return get_campaign(session, campaign_id)


def resume_campaign(session: Session, campaign_id: int, now: datetime | None = None) -> Campaign:
    """Paused → running, or back to scheduled when its ``start_at`` is still ahead."""
    now = now or utcnow()
    _transition(
        session,
        campaign_id,
        ALLOWED_FROM["resume"],
        RESUME_REFUSED,
        **_starting(get_campaign(session, campaign_id), now),
        pause_code=None,
        pause_detail=None,
    )
    return get_campaign(session, campaign_id)


def cancel_campaign(session: Session, campaign_id: int, now: datetime | None = None) -> Campaign:
    """Stop for good: pending recipients become skipped; one being sent is left to the sender."""
    now = now or utcnow()
    _transition(
        session,
        campaign_id,
        ALLOWED_FROM["cancel"],
        CANCEL_REFUSED,
        status=CampaignStatus.CANCELLED,
        finished_at=now,
        pause_code=None,
        pause_detail=None,
    )
    _move_recipients(
        session, campaign_id, RecipientStatus.PENDING, RecipientStatus.SKIPPED, now, error=CANCELLED
    )
    return get_campaign(session, campaign_id)


def retry_campaign(
    session: Session,
    campaign_id: int,
    statuses: Any,
    now: datetime | None = None,
    *,
    confirmed: bool = False,
) -> Campaign:
    """Put the recipients of ``statuses`` (failed, unknown) back to pending; completed → running.

    Retrying ``unknown`` is the one way a person may get a message twice: it is refused with
    ``RetryNeedsConfirmation`` unless ``confirmed``.
    """
    now = now or utcnow()
    statuses = _retry_statuses(statuses)
    campaign = get_campaign(session, campaign_id)
    if not can(campaign, "retry"):
        raise CampaignConflict(RETRY_REFUSED)
    if not any(getattr(campaign, f"count_{status}") for status in statuses):
        raise CampaignConflict(NOTHING_TO_RETRY)
    if "unknown" in statuses and campaign.count_unknown and not confirmed:
        raise RetryNeedsConfirmation(campaign.count_unknown)
    _transition(
        session,
        campaign_id,
        ALLOWED_FROM["retry"],
        RETRY_REFUSED,
        status=case(
            (Campaign.status == CampaignStatus.COMPLETED, CampaignStatus.RUNNING),
            else_=Campaign.status,
        ),
        finished_at=None,
    )
    for status in statuses:
        _move_recipients(
            session,
            campaign_id,
            status,
            RecipientStatus.PENDING,
            now,
            error=None,
            next_attempt_at=None,
        )
    return get_campaign(session, campaign_id)


def preview(session: Session, campaign_id: int, *, limit: int, offset: int) -> Preview:
    """The messages the list's contacts get, in list order, exactly as the sender renders them."""
    campaign = get_campaign(session, campaign_id)
    contact_list = campaign.contact_list
    template = _parsed_template(campaign.template, contact_list)
    rows = session.execute(
        select(Contact.phone, Contact.fields_json, OptOut.phone.is_not(None))
        .outerjoin(OptOut, OptOut.phone == Contact.phone)
        .where(Contact.list_id == contact_list.id)
        .order_by(Contact.id)
        .limit(limit)
        .offset(offset)
    )
    items = [
        PreviewItem(
            phone, render_for_contact(template, campaign.id, contact_list, phone, fields), opted_out
        )
        for phone, fields, opted_out in rows
    ]
    return Preview(items, contact_list.contact_count)


def prepare_test(
    session: Session, campaign_id: int, phone: Any, region: str = "RU"
) -> PreparedTest:
    """The first contact's message, addressed to ``phone`` (normalized) for a test send."""
    campaign = get_campaign(session, campaign_id)
    phone = _checked_phone(phone, region)
    contact_list = campaign.contact_list
    template = _parsed_template(campaign.template, contact_list)
    first = session.execute(
        select(Contact.phone, Contact.fields_json)
        .where(Contact.list_id == contact_list.id)
        .order_by(Contact.id)
        .limit(1)
    ).first()
    if first is None:
        raise CampaignError(EMPTY_LIST, field="list_id")
    message = render_for_contact(template, campaign.id, contact_list, *first)
    apps = campaign_options(campaign).apps
    return PreparedTest(phone, message.text, apps[0] if apps else None)


def campaign_options(campaign: Campaign) -> SendingOptions:
    """The campaign's stored sending options."""
    return parse_options(json.loads(campaign.options_json), {})


def counts(campaign: Campaign) -> dict[str, int]:
    """Recipients by status; ``pending`` includes those being sent right now."""
    return {"total": campaign.count_total} | {
        status: getattr(campaign, f"count_{status}") for status in COUNTED_STATUSES
    }


def campaign_eta(campaign: Campaign, now: datetime | None = None) -> datetime | None:
    """When a running or scheduled campaign likely sends its last message; else None."""
    if campaign.status not in LIVE:
        return None
    now = now or utcnow()
    options = campaign_options(campaign)
    numbers = capacities(object_session(campaign).connection(), options.apps, now, campaign.id)
    return estimate_finish(options, campaign.count_pending, now, numbers)


def _starting(campaign: Campaign, now: datetime) -> dict[str, Any]:
    """Running, or scheduled while ``start_at`` is ahead; the sender sets started_at then."""
    start_at = campaign_options(campaign).start_at
    if start_at is not None and start_at > now:
        return {"status": CampaignStatus.SCHEDULED}
    return {
        "status": CampaignStatus.RUNNING,
        "started_at": func.coalesce(Campaign.started_at, literal(now, UTCDateTime())),
    }


def _transition(
    session: Session,
    campaign_id: int,
    allowed: Collection[str],
    refusal: str,
    **values: Any,
) -> None:
    """Set ``values`` if the campaign's status is one of ``allowed``, in one UPDATE; else 409."""
    result = session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.status.in_(allowed))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 0:
        get_campaign(session, campaign_id)  # a 404 when it does not exist at all
        raise CampaignConflict(refusal)


def _move_recipients(
    session: Session,
    campaign_id: int,
    from_status: str,
    to_status: str,
    now: datetime,
    **values: Any,
) -> None:
    """Move every recipient in ``from_status`` to ``to_status`` and the counts with them."""
    moved = session.execute(
        update(Recipient)
        .where(Recipient.campaign_id == campaign_id, Recipient.status == from_status)
        .values(status=to_status, updated_at=now, **values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved:
        # Relative to the stored counts: the sender may be moving others at the same time.
        source, target = f"count_{from_status}", f"count_{to_status}"
        session.execute(
            update(Campaign)
            .where(Campaign.id == campaign_id)
            .values(
                {
                    source: getattr(Campaign, source) - moved,
                    target: getattr(Campaign, target) + moved,
                }
            )
            .execution_options(synchronize_session=False)
        )


# One statement however long the list, in list order. No conflict clause: a list's phones are
# unique (see Recipient), and checking for conflicts is what made a start slow.
_MATERIALIZE = text(
    """
    INSERT INTO recipients (campaign_id, contact_id, phone, status, error, attempts)
    SELECT :campaign_id, contacts.id, contacts.phone,
           CASE WHEN opt_outs.phone IS NULL THEN 'pending' ELSE 'skipped' END,
           CASE WHEN opt_outs.phone IS NULL THEN NULL ELSE :opted_out END,
           0
    FROM contacts LEFT JOIN opt_outs ON opt_outs.phone = contacts.phone
    WHERE contacts.list_id = :list_id
    ORDER BY contacts.id
    """
)


def _materialize_recipients(session: Session, campaign_id: int, list_id: int) -> None:
    """One pending recipient per contact of the list (skipped if opted out), and the counts."""
    if session.get_bind().dialect.name == "postgresql":
        # Sorted in memory rather than in temporary files: a million contacts need ~100 MB.
        session.execute(text("SET LOCAL work_mem = '128MB'"))
    total = session.execute(
        _MATERIALIZE, {"campaign_id": campaign_id, "list_id": list_id, "opted_out": OPTED_OUT}
    ).rowcount
    # Opted-out recipients are few: counted through the index, not by reading them all.
    skipped = session.scalar(
        select(func.count()).where(
            Recipient.campaign_id == campaign_id, Recipient.status == RecipientStatus.SKIPPED
        )
    )
    session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id)
        .values(count_total=total, count_pending=total - skipped, count_skipped=skipped)
        .execution_options(synchronize_session=False)
    )


def _checked_name(name: Any) -> str:
    name = name.strip() if isinstance(name, str) else ""
    if not 0 < len(name) <= NAME_MAX_LENGTH:
        raise CampaignError(NAME_INVALID, {"limit": NAME_MAX_LENGTH}, field="name")
    return _storable(name, "name")


def _storable(text: str, field: str) -> str:
    """``text`` if every database can keep it: no NUL, no half of a UTF-16 surrogate pair."""
    if "\x00" in text or any("\ud800" <= char <= "\udfff" for char in text):
        raise CampaignError(UNSTORABLE_TEXT, field=field)
    return text


def _contact_list(session: Session, list_id: Any) -> ContactList:
    if isinstance(list_id, bool) or not isinstance(list_id, int):
        raise CampaignError(LIST_ID_INVALID, field="list_id")
    contact_list = session.get(ContactList, list_id) if 0 < list_id <= MAX_ID else None
    if contact_list is None:
        raise CampaignError(LIST_NOT_FOUND, {"id": list_id}, field="list_id")
    return contact_list


def _parsed_template(text: Any, contact_list: ContactList) -> MessageTemplate:
    """The template checked against the list's columns, line ends made "\\n"."""
    if not isinstance(text, str) or not text.strip():
        raise CampaignError(TEMPLATE_MISSING, field="template")
    try:
        return parse_template(_storable(text, "template").replace("\r\n", "\n"), contact_list)
    except TemplateError as error:
        raise CampaignError(
            error.message,
            error.params,
            field="template",
            known_columns=error.known_columns,
            position=error.position,
            line=error.line,
            column=error.column,
        ) from None


def _checked_phone(phone: Any, region: str) -> str:
    if isinstance(phone, int) and not isinstance(phone, bool):
        phone = str(phone)
    if isinstance(phone, str):
        try:
            return normalize_phone(phone, region)
        except (InvalidPhoneError, UnicodeError):  # the latter: half of a surrogate pair
            pass
    raise CampaignError(PHONE_INVALID, field="phone")


def _options_json(given: Mapping[str, Any], defaults: Mapping[str, Any]) -> str:
    try:
        options = parse_options(given, defaults)
    except OptionsError as error:
        raise CampaignError(error.message, error.params, field=error.field) from None
    return json.dumps(options.to_dict(), ensure_ascii=False)


def _retry_statuses(value: Any) -> tuple[str, ...]:
    statuses = [value] if isinstance(value, str) else value
    if (
        not isinstance(statuses, list)
        or not statuses
        or not all(isinstance(s, str) and s in RETRYABLE for s in statuses)
    ):
        raise CampaignError(RETRY_STATUSES_INVALID, field="status")
    return tuple(dict.fromkeys(statuses))
