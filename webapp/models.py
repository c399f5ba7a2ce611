"""Database tables. Domain logic lives elsewhere; these are the shapes only."""

from __future__ import annotations

from datetime import UTC, date, datetime

from flask_login import UserMixin
from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import Date, DateTime, TypeDecorator

from .campaigns.statuses import CampaignStatus, RecipientStatus
from .extensions import db


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware datetimes on every backend (SQLite forgets the zone, so store UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime")
            value = value.astimezone(UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="member")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Part of every session cookie's user id: raising it signs the user out everywhere.
    session_generation: Mapped[int] = mapped_column(default=0, server_default="0")

    api_keys: Mapped[list[ApiKey]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def get_id(self) -> str:
        """The id Flask-Login keeps in the session: a cookie from an older generation is void."""
        return f"{self.id}:{self.session_generation}"


class ApiKey(db.Model):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(back_populates="api_keys")


class LoginFailure(db.Model):
    """One failed sign-in, kept for a while to throttle password guessing."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_email_at", "email", "created_at"),
        Index("ix_login_failures_ip_at", "ip", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    ip: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class SetupDone(db.Model):
    """Written with the first administrator: its one fixed key lets only one first-run setup win."""

    __tablename__ = "setup_done"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    done_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Setting(db.Model):
    """Account-wide settings edited on the settings page, one JSON value per key."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ContactList(db.Model):
    __tablename__ = "contact_lists"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    source_filename: Mapped[str] = mapped_column(String(255), default="")
    # The file's header names in file order, as a JSON array; the phone column is one of them.
    columns_json: Mapped[str] = mapped_column(Text, default="[]")
    phone_column: Mapped[str] = mapped_column(String(255))
    encoding: Mapped[str | None] = mapped_column(String(32))
    delimiter: Mapped[str | None] = mapped_column(String(4))
    sheet: Mapped[str | None] = mapped_column(String(255))
    contact_count: Mapped[int] = mapped_column(default=0)
    invalid_count: Mapped[int] = mapped_column(default=0)
    duplicate_count: Mapped[int] = mapped_column(default=0)
    opted_out_count: Mapped[int] = mapped_column(default=0)


# Contacts, rejects and recipients refer to their list, campaign and contact without foreign
# keys: checking one costs more than writing the row itself (a 1M-row COPY takes three times as
# long), and the references hold by construction. Contacts and rejects are written only by the
# import in the transaction that creates their list, and delete_list removes them before the
# list; recipients are written only when a campaign starts, from its list's contacts, a list
# cannot be deleted while a campaign uses it, and only drafts (without recipients) are deleted.


class Contact(db.Model):
    __tablename__ = "contacts"
    # Phones are unique within a list: the import pipeline drops duplicates before storing.
    __table_args__ = (Index("ix_contacts_list_id", "list_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int]
    row: Mapped[int]  # 1-based row number in the source file, header being row 1
    phone: Mapped[str] = mapped_column(String(20))
    # The other columns of the row, {header: text}, as a JSON object.
    fields_json: Mapped[str] = mapped_column(Text, default="{}")


class ImportReject(db.Model):
    """A row of an imported file that was not stored, with why."""

    __tablename__ = "import_rejects"
    __table_args__ = (Index("ix_import_rejects_list_row", "list_id", "row"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int]
    row: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16))  # invalid | duplicate | opted_out
    value: Mapped[str] = mapped_column(Text, default="")
    reason: Mapped[str] = mapped_column(Text)


class OptOut(db.Model):
    """A phone number that must never be messaged."""

    __tablename__ = "opt_outs"

    phone: Mapped[str] = mapped_column(String(20), primary_key=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SavedMessage(db.Model):
    """A message saved under a name, to start campaigns from."""

    __tablename__ = "message_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Campaign(db.Model):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    list_id: Mapped[int] = mapped_column(ForeignKey("contact_lists.id", ondelete="RESTRICT"))
    template: Mapped[str] = mapped_column(Text)
    # Sending options as given (rate_per_minute, delays, apps, send_window, start_at, daily_limit).
    options_json: Mapped[str] = mapped_column(Text, default="{}")
    status: Mapped[str] = mapped_column(String(16), default=CampaignStatus.DRAFT, index=True)
    pause_code: Mapped[str | None] = mapped_column(String(32))
    pause_detail: Mapped[str | None] = mapped_column(Text)  # the gateway's own words, token-free
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The one sender allowed to work on this campaign, until the lease expires unrenewed.
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set while none of its WhatsApp numbers may send (paused or at their daily limit): why, and
    # until when; cleared by the next claim that sends.
    waiting_reason: Mapped[str | None] = mapped_column(String(32))
    waiting_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A running scheduled campaign with nothing due rests until its next reminder: no sender
    # leases it before then. None: whenever a sender can.
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Recipient counts by status, kept in step with the recipients in the same transactions,
    # so progress is one row read however large the campaign.
    count_total: Mapped[int] = mapped_column(default=0)
    count_pending: Mapped[int] = mapped_column(default=0)
    count_sent: Mapped[int] = mapped_column(default=0)
    count_failed: Mapped[int] = mapped_column(default=0)
    count_unknown: Mapped[int] = mapped_column(default=0)
    count_skipped: Mapped[int] = mapped_column(default=0)

    contact_list: Mapped[ContactList] = relationship()


class Recipient(db.Model):
    """One person a campaign messages, and what happened."""

    __tablename__ = "recipients"
    # One row per phone and campaign by construction: a list's phones are unique, a campaign
    # takes its list's contacts once, in the transaction that moves it out of draft, and rows
    # added later are checked against the campaign's phones under its row lock. A unique index
    # on (campaign, phone) would say so again at the cost of a random-order insert per
    # recipient, the largest cost of starting a campaign. Scheduled campaigns, whose rows keep
    # arriving (a client may have two visits), keep the database's word for it: one message per
    # phone and due time.
    __table_args__ = (
        Index(
            "uq_recipients_campaign_phone_due",
            "campaign_id",
            "phone",
            "due_at",
            unique=True,
            sqlite_where=text("due_at IS NOT NULL"),
            postgresql_where=text("due_at IS NOT NULL"),
        ),
        Index("ix_recipients_campaign_status", "campaign_id", "status", "id"),
        # Scheduled claims, in due order. PostgreSQL leaves out the rows without a due time
        # (unscheduled campaigns'), a third of the cost of starting one; its min(due_at) still
        # reads this index. SQLite's would not, so its index keeps every row.
        Index(
            "ix_recipients_campaign_due",
            "campaign_id",
            "status",
            "due_at",
            "id",
            postgresql_where=text("due_at IS NOT NULL"),
        ),
        Index("ix_recipients_campaign_id", "campaign_id", "id"),  # results in list order
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int]
    contact_id: Mapped[int | None]
    phone: Mapped[str] = mapped_column(String(20))
    # pending | sending | sent | failed | unknown | skipped
    status: Mapped[str] = mapped_column(String(16), default=RecipientStatus.PENDING)
    app: Mapped[int | None]
    message: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(128))
    gateway_status: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When a scheduled campaign's reminder goes (not before); None: as soon as pacing allows.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The schedule's time fell outside the send window: due_at is the window's next opening.
    due_moved: Mapped[bool | None]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutcomeTally(db.Model):
    """How many recipients reached each final status in each hour (UTC), for the dashboard.

    Kept by the sender in the same transactions as the recipients, so the dashboard reads a few
    hundred rows however many millions of messages went out.
    """

    __tablename__ = "outcome_tallies"

    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(default=0)


class AuditEvent(db.Model):
    """Who did what, when and from where; written in the transaction of the action itself."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_action_at", "action", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Kept as typed so the trail still names deleted users and failed sign-ins.
    actor_email: Mapped[str] = mapped_column(String(254), default="", index=True)
    ip: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(32))
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    details_json: Mapped[str] = mapped_column(Text, default="{}")


class WhatsAppNumber(db.Model):
    """One linked WhatsApp connection of the gateway (its ``app`` id), or the implicit default.

    Its ceiling and daily limit hold across every campaign and process that sends from it.
    """

    __tablename__ = "whatsapp_numbers"

    # "default" for the gateway's only connection (no ``app`` sent), else the app id as text.
    key: Mapped[str] = mapped_column(String(20), primary_key=True)
    app: Mapped[int | None]
    label: Mapped[str] = mapped_column(String(200), default="")
    rate_per_minute: Mapped[float | None]
    daily_limit: Mapped[int | None]
    warmup_start: Mapped[int | None]
    warmup_growth_percent: Mapped[float | None]
    # The first day of the warm-up plan, in the number's time zone.
    warmup_since: Mapped[date | None] = mapped_column(Date)
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Moscow")
    paused: Mapped[bool] = mapped_column(default=False)
    pause_reason: Mapped[str | None] = mapped_column(Text)
    # The number's next free slot (GCRA theoretical arrival time), taken in claim transactions.
    next_free_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class NumberDay(db.Model):
    """What one number did on one day of its time zone.

    ``taken`` counts against the daily limit: calls claimed and not given back (sent, unknown
    and those in flight).
    """

    __tablename__ = "number_days"

    key: Mapped[str] = mapped_column(
        ForeignKey("whatsapp_numbers.key", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    taken: Mapped[int] = mapped_column(default=0)
    sent: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    unknown: Mapped[int] = mapped_column(default=0)
