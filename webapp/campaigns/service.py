"""What people do with campaigns: create, edit, start, pause, resume, cancel, retry, preview.

The functions take the session and plain values, never commit (the caller commits once) and
refuse with ``CampaignError``. Every status change is one conditional UPDATE whose row count
is checked, so a sender or another request working on the same campaign cannot slip between a
check and a write. The lifecycle they follow is in ``webapp.campaigns``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import Select, case, delete, exists, func, insert, literal, select, text, update
from sqlalchemy.orm import Session, object_session

from ..contacts import InvalidPhoneError, list_columns, normalize_phone, normalize_phones
from ..i18n import N_, UserError
from ..messages import MessageTemplate, RenderedMessage, TemplateError
from ..models import Campaign, Contact, ContactList, OptOut, Recipient, UTCDateTime, utcnow
from ..numbers import capacities
from .eta import estimate_finish
from .options import OPTION_NAMES, OptionsError, SendingOptions, parse_options
from .reminders import REASONS as SCHEDULE_REASONS
from .reminders import Due, Spread, spread
from .rendering import parse_template, render_for_contact
from .scheduled import DueTimes, Person, insert_recipients, new_people, schedule_list
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
TIMELINE_DAYS = 14  # a campaign page lists the reminders of this many days ahead one by one
MAX_ID = 2**31 - 1  # ids are 32-bit integers; a larger one cannot even be looked up

# What a recipient's ``error`` says when it was skipped by us rather than refused by the gateway.
OPTED_OUT = N_("Opted out")
CANCELLED = N_("Cancelled before it was sent")
SKIP_REASONS = (OPTED_OUT, CANCELLED, *SCHEDULE_REASONS)

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
SCHEDULE_COLUMN_MISSING = N_("The list has no column “%(column)s” for the schedule.")
PHONE_INVALID = N_("Enter a mobile number with the country code, like 79243555100.")
RETRY_STATUSES_INVALID = N_('Choose what to retry: "failed", "unknown" or both.')
EDIT_REFUSED = N_("Only a draft can be edited, and the sending options of a paused campaign.")
PAUSED_EDIT_REFUSED = N_(
    "A paused campaign keeps its name, list and message; only its sending options can change."
)
SCHEDULE_FIXED = N_("A started campaign keeps its schedule: its recipients' times are set.")
START_REFUSED = N_("The campaign has already been started.")
PAUSE_REFUSED = N_("Only a running or scheduled campaign can be paused.")
RESUME_REFUSED = N_("Only a paused campaign can be resumed.")
CANCEL_REFUSED = N_("The campaign has already ended.")
DELETE_REFUSED = N_("Only a draft can be deleted; a started campaign keeps its results.")
COPY_SUFFIX = N_("(copy)")
RETRY_REFUSED = N_("Recipients can be retried when the campaign has completed or is paused.")
NOTHING_TO_RETRY = N_("No recipient has the status to retry.")
ADD_REFUSED = N_("Rows can be added to a started campaign that has not been cancelled.")
ROWS_INVALID = N_("Send the rows as a list of objects, column name: text.")
ROWS_TOO_MANY = N_("Add at most %(limit)s rows at once.")
ROW_INVALID = N_("Row %(row)s is not an object of column name: text.")
MAX_ADDED_ROWS = 100_000
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
    due: Due | None = None
    """When a scheduled campaign's reminder would go if started now; None: no schedule."""


@dataclass(frozen=True)
class Preview:
    items: list[PreviewItem]
    total: int


@dataclass(frozen=True)
class Added:
    """What adding rows to a campaign did."""

    added: int
    """New recipients waiting for their time (``pending``)."""
    skipped: int
    """New recipients skipped: opted out, or a visit unreadable or passed."""
    duplicates: int
    """Rows whose phone and due time the campaign already had."""
    rejected: list[tuple[int, str]]
    """(row number from 1, why) of rows not taken: no valid phone."""


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
        options_json=_options_json(values, defaults, contact_list),
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
    contact_list = campaign.contact_list
    if campaign.status == CampaignStatus.PAUSED:
        for key in ("name", "list_id", "template"):
            # Sending back the campaign as read, with only the options changed, is fine.
            if key in changes and changes[key] != getattr(campaign, key):
                raise CampaignConflict(PAUSED_EDIT_REFUSED, field=key)
    else:
        if "name" in changes:
            values["name"] = _checked_name(changes["name"])
        if "list_id" in changes:
            contact_list = _contact_list(session, changes["list_id"])
        if "list_id" in changes or "template" in changes:
            template = _parsed_template(changes.get("template", campaign.template), contact_list)
            values.update(list_id=contact_list.id, template=template.text)
    if any(name in changes for name in OPTION_NAMES):
        stored = json.loads(campaign.options_json)
        values["options_json"] = _options_json(changes, stored, contact_list)
        if campaign.status == CampaignStatus.PAUSED and json.loads(values["options_json"]).get(
            "schedule"
        ) != stored.get("schedule"):
            raise CampaignConflict(SCHEDULE_FIXED, field="schedule")
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
    options = campaign_options(campaign)
    _check_schedule(options, campaign.contact_list)
    if not session.scalar(select(exists().where(Contact.list_id == campaign.list_id))):
        raise CampaignError(EMPTY_LIST, field="list_id")
    _transition(
        session, campaign_id, ALLOWED_FROM["start"], START_REFUSED, **_starting(campaign, now)
    )
    if options.schedule is None:
        _materialize_recipients(session, campaign_id, campaign.list_id)
    else:
        _schedule_recipients(session, campaign_id, campaign.list_id, options, now)
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
    if RecipientStatus.UNKNOWN in statuses and campaign.count_unknown and not confirmed:
        raise RetryNeedsConfirmation(campaign.count_unknown)
    _reopen(session, campaign_id, "retry", RETRY_REFUSED)
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


def add_recipients(
    session: Session,
    campaign_id: int,
    rows: Any,
    now: datetime | None = None,
    region: str = "RU",
) -> Added:
    """Add ``rows`` ({column: text}, the list's columns) to a started campaign's list and as
    its recipients, each scheduled; those it already has by phone and due time are left out.

    A completed campaign runs again for the new ones; a resting one wakes up to look at them.
    """
    now = now or utcnow()
    _check_added_rows(rows)
    campaign = get_campaign(session, campaign_id)
    # The campaign row first, as the sender locks it: adds and rests go one at a time.
    _reopen(session, campaign_id, "add", ADD_REFUSED)
    contact_list = campaign.contact_list
    columns = [c for c in json.loads(contact_list.columns_json) if c != contact_list.phone_column]
    valid, rejected = _phones_of(rows, contact_list.phone_column, region)
    opted_out = set(
        session.scalars(select(OptOut.phone).where(OptOut.phone.in_({p for _, p in valid})))
    )
    existing = session.execute(
        select(Recipient.phone, Recipient.due_at).where(
            Recipient.campaign_id == campaign_id, Recipient.phone.in_({p for _, p in valid})
        )
    ).all()
    people = (
        Person(phone, {c: _cell(row.get(c)) for c in columns}, phone in opted_out)
        for row, phone in valid
    )
    planned, duplicates = new_people(
        people, DueTimes(campaign_options(campaign), now), map(tuple, existing)
    )
    planned = _add_contacts(session, contact_list, planned)
    made = insert_recipients(session.connection(), campaign_id, planned, opted_out_reason=OPTED_OUT)
    _add_counts(session, campaign_id, made)
    return Added(
        added=made[RecipientStatus.PENDING],
        skipped=made[RecipientStatus.SKIPPED],
        duplicates=duplicates,
        rejected=rejected,
    )


def _check_added_rows(rows: Any) -> None:
    """Refuse ``rows`` unless they are a list of at most ``MAX_ADDED_ROWS`` flat objects."""
    if not isinstance(rows, list) or not rows:
        raise CampaignError(ROWS_INVALID, field="rows")
    if len(rows) > MAX_ADDED_ROWS:
        raise CampaignError(ROWS_TOO_MANY, {"limit": MAX_ADDED_ROWS}, field="rows")
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, Mapping) or not all(
            isinstance(v, str | int | float | None) for v in row.values()
        ):
            raise CampaignError(ROW_INVALID, {"row": number}, field="rows")


def _phones_of(
    rows: list[Mapping], phone_column: str, region: str
) -> tuple[list[tuple[Mapping, str]], list[tuple[int, str]]]:
    """The rows with a valid phone, paired with it; the others' numbers (from 1) and reasons."""
    raw = pd.Series([_cell(row.get(phone_column)) for row in rows], dtype="str")
    phones, reasons = normalize_phones(raw, region)
    rejected = [
        (number, reason)
        for number, (phone, reason) in enumerate(zip(phones, reasons, strict=True), start=1)
        if pd.isna(phone)
    ]
    valid = [(row, phone) for row, phone in zip(rows, phones, strict=True) if not pd.isna(phone)]
    return valid, rejected


def preview(session: Session, campaign_id: int, *, limit: int, offset: int) -> Preview:
    """The messages the list's contacts get, in list order, exactly as the sender renders them."""
    campaign = get_campaign(session, campaign_id)
    contact_list = campaign.contact_list
    template = _parsed_template(campaign.template, contact_list)
    dues = DueTimes(campaign_options(campaign), utcnow())
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
            phone,
            render_for_contact(template, campaign.id, contact_list.phone_column, phone, fields),
            opted_out,
            dues.of(json.loads(fields)),
        )
        for phone, fields, opted_out in rows
    ]
    return Preview(items, contact_list.contact_count)


@dataclass(frozen=True)
class Timeline:
    """A reminder campaign's days: sent so far, due today (late ones too), the next days one
    by one, and how many come later."""

    sent: int
    due_today: int
    upcoming: list[tuple[date, int]]
    later: int


def timeline(session: Session, campaign: Campaign, now: datetime | None = None) -> Timeline:
    """The campaign's recipients still to send, by day of its time zone, ``TIMELINE_DAYS``
    ahead: the page reads only their part of the due-time index, however long the campaign."""
    now = now or utcnow()
    zone = ZoneInfo(campaign_options(campaign).timezone)
    today = now.astimezone(zone).date()
    horizon = datetime.combine(today + timedelta(days=TIMELINE_DAYS + 1), time(), tzinfo=zone)
    per_day: Counter[date] = Counter()
    for due_at, count in _pending_due_times(session, campaign.id, before=horizon):
        per_day[max(today, due_at.astimezone(zone).date())] += count
    upcoming = sorted((day, count) for day, count in per_day.items() if day > today)
    later = max(0, campaign.count_pending - per_day.total())
    return Timeline(campaign.count_sent, per_day[today], upcoming, later)


def due_spread(
    session: Session,
    campaign: Campaign,
    now: datetime | None = None,
    options: SendingOptions | None = None,
) -> Spread | None:
    """When a reminder campaign's first and last reminders go and the most in a day: of its
    pending recipients once started, else of its list as if started ``now`` with ``options``
    (else its own)."""
    options = options or campaign_options(campaign)
    if options.schedule is None:
        return None
    if not can(campaign, "start"):
        return spread(_pending_due_times(session, campaign.id), options.timezone)
    dues = DueTimes(options, now or utcnow())
    rows = session.execute(
        select(Contact.fields_json, OptOut.phone.is_not(None))
        .outerjoin(OptOut, OptOut.phone == Contact.phone)
        .where(Contact.list_id == campaign.list_id)
    )
    counted: Counter[datetime] = Counter()
    for fields, opted_out in rows:
        due = dues.of(json.loads(fields))
        if due is not None and due.at is not None and not opted_out:
            counted[due.at] += 1
    return spread(counted.items(), options.timezone)


def _pending_due_times(
    session: Session, campaign_id: int, before: datetime | None = None
) -> list[tuple[datetime, int]]:
    """(due time, how many) of the recipients waiting to be sent (due ``before``): one walk
    of the due-time index, in its order (those being sent right now are not counted)."""
    due = Recipient.due_at.is_not(None) if before is None else Recipient.due_at < before
    return list(
        session.connection().execute(
            select(Recipient.due_at, func.count())
            .where(
                Recipient.campaign_id == campaign_id,
                Recipient.status == RecipientStatus.PENDING,
                due,
            )
            .group_by(Recipient.due_at)
        )
    )


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
    message = render_for_contact(template, campaign.id, contact_list.phone_column, *first)
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
    if options.schedule is not None:  # the last reminder's time: one step down an index
        last = object_session(campaign).scalar(
            select(func.max(Recipient.due_at)).where(
                Recipient.campaign_id == campaign.id,
                Recipient.status == RecipientStatus.PENDING,
            )
        )
        return last and max(last, now)
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


def _reopen(session: Session, campaign_id: int, action: str, refusal: str) -> None:
    """More recipients to send: completed → running, and a resting reminder campaign woken."""
    _transition(
        session,
        campaign_id,
        ALLOWED_FROM[action],
        refusal,
        status=case(
            (Campaign.status == CampaignStatus.COMPLETED, CampaignStatus.RUNNING),
            else_=Campaign.status,
        ),
        finished_at=None,
        next_due_at=None,
    )


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
           CASE WHEN opt_outs.phone IS NULL THEN :pending_status ELSE :skipped_status END,
           CASE WHEN opt_outs.phone IS NULL THEN NULL ELSE :opted_out END,
           0
    FROM contacts LEFT JOIN opt_outs ON opt_outs.phone = contacts.phone
    WHERE contacts.list_id = :list_id
    ORDER BY contacts.id
    """
)


def _materialize_recipients(session: Session, campaign_id: int, list_id: int) -> None:
    """One pending recipient per contact of the list (skipped if opted out), and the counts."""
    _sort_in_memory(session)
    total = session.execute(
        _MATERIALIZE,
        {
            "campaign_id": campaign_id,
            "list_id": list_id,
            "pending_status": RecipientStatus.PENDING,
            "skipped_status": RecipientStatus.SKIPPED,
            "opted_out": OPTED_OUT,
        },
    ).rowcount
    # Opted-out recipients are few: counted through the index, not by reading them all.
    skipped = session.scalar(
        select(func.count()).where(
            Recipient.campaign_id == campaign_id, Recipient.status == RecipientStatus.SKIPPED
        )
    )
    _set_counts(session, campaign_id, total, skipped)


def _sort_in_memory(session: Session) -> None:
    """Let this transaction's sorts of a list's contacts run in memory on PostgreSQL rather than
    in temporary files: a million contacts need ~100 MB."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL work_mem = '128MB'"))


def _count_recipients(session: Session, campaign_id: int) -> None:
    """Set the counts of a campaign whose recipients were just made."""
    by_status = dict(
        session.execute(
            select(Recipient.status, func.count())
            .where(Recipient.campaign_id == campaign_id)
            .group_by(Recipient.status)
        ).all()
    )
    _set_counts(
        session, campaign_id, sum(by_status.values()), by_status.get(RecipientStatus.SKIPPED, 0)
    )


def _set_counts(session: Session, campaign_id: int, total: int, skipped: int) -> None:
    session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id)
        .values(count_total=total, count_pending=total - skipped, count_skipped=skipped)
        .execution_options(synchronize_session=False)
    )


def _schedule_recipients(
    session: Session, campaign_id: int, list_id: int, options: SendingOptions, now: datetime
) -> None:
    """Recipients each with the due time the schedule gives their row, in one statement."""
    _sort_in_memory(session)
    schedule_list(
        session.connection(),
        campaign_id,
        list_id,
        DueTimes(options, now),
        opted_out_reason=OPTED_OUT,
    )
    _count_recipients(session, campaign_id)


def _add_contacts(
    session: Session, contact_list: ContactList, planned: list[tuple[Person, Due | None]]
) -> list[tuple[Person, Due | None]]:
    """Store the people as new rows of the list, after its last; them with their contact ids."""
    if not planned:
        return planned
    last = session.scalar(select(func.max(Contact.row)).where(Contact.list_id == contact_list.id))
    ids = session.scalars(
        insert(Contact).returning(Contact.id, sort_by_parameter_order=True),
        [
            {
                "list_id": contact_list.id,
                "row": (last or 1) + n,
                "phone": person.phone,
                "fields_json": json.dumps(person.fields, ensure_ascii=False),
            }
            for n, (person, _) in enumerate(planned, start=1)
        ],
    ).all()
    session.execute(
        update(ContactList)
        .where(ContactList.id == contact_list.id)
        .values(contact_count=ContactList.contact_count + len(ids))
        .execution_options(synchronize_session=False)
    )
    return [
        (replace(person, contact_id=contact_id), due)
        for (person, due), contact_id in zip(planned, ids, strict=True)
    ]


def _cell(value: str | float | None) -> str:
    """A row's value as the list keeps cells: text, empty for none."""
    return "" if value is None else str(value)


def _add_counts(session: Session, campaign_id: int, made: Mapping[str, int]) -> None:
    """Count new recipients in, relative to the stored counts (the sender may be moving others)."""
    pending, skipped = made.get(RecipientStatus.PENDING, 0), made.get(RecipientStatus.SKIPPED, 0)
    session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id)
        .values(
            count_total=Campaign.count_total + pending + skipped,
            count_pending=Campaign.count_pending + pending,
            count_skipped=Campaign.count_skipped + skipped,
        )
        .execution_options(synchronize_session=False)
    )


def _check_schedule(options: SendingOptions, contact_list: ContactList) -> None:
    """The schedule's columns are the list's."""
    if options.schedule is None:
        return
    columns = json.loads(contact_list.columns_json)
    for column in options.schedule.columns:
        if column not in columns:
            raise CampaignError(SCHEDULE_COLUMN_MISSING, {"column": column}, field="schedule")


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
        return parse_template(
            _storable(text, "template").replace("\r\n", "\n"),
            list_columns(contact_list),
            contact_list.phone_column,
        )
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


def _options_json(
    given: Mapping[str, Any], defaults: Mapping[str, Any], contact_list: ContactList
) -> str:
    try:
        options = parse_options(given, defaults)
    except OptionsError as error:
        raise CampaignError(error.message, error.params, field=error.field) from None
    _check_schedule(options, contact_list)
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
