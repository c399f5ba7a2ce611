"""The sender's ``Store`` on SQLAlchemy Core: every method one short committed transaction.

The sender has its own engine. On SQLite each of its transactions begins with ``BEGIN
IMMEDIATE``: it takes the write lock up front, so two processes never both read and then fail
to upgrade to writing (``SQLITE_BUSY``); they queue on the busy timeout instead. On PostgreSQL
claims lock the rows they pick with ``FOR UPDATE SKIP LOCKED``, and every guard is a
conditional ``UPDATE`` that PostgreSQL re-checks once it holds the row.

Leases are timed by the database's clock, never a host's. A transaction that touches a
campaign and its recipients locks the campaign row first, as the campaign functions of the web
side do, so the two never wait for each other in a circle. A lost connection or a lock held
too long is ``StoreUnavailable``: the sender tries again.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Row,
    Select,
    and_,
    bindparam,
    create_engine,
    event,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from ..campaigns.options import App, OptionsError, SendingOptions, parse_options
from ..campaigns.rendering import parse_template
from ..campaigns.statuses import OUTCOMES, CampaignStatus, RecipientStatus
from ..messages import TemplateError
from ..models import Campaign, Contact, ContactList, Recipient, UTCDateTime
from ..numbers import (
    WAIT_PAUSED,
    Settled,
    Slot,
    Taken,
    ensure_numbers,
    pause_number,
    settle,
    take_slots,
)
from .sender import INTERRUPTED, CampaignPlan, Claimed, Pause, StoreUnavailable, Update

logger = logging.getLogger(__name__)

campaigns = Campaign.__table__
recipients = Recipient.__table__
contacts = Contact.__table__
lists = ContactList.__table__

# One statement for every answer of a batch, run as an executemany.
_WRITE_ANSWER = (
    update(recipients)
    .where(recipients.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        app=bindparam("b_app"),
        message=bindparam("b_message"),
        message_id=bindparam("b_message_id"),
        gateway_status=bindparam("b_gateway_status"),
        error=bindparam("b_error"),
        next_attempt_at=bindparam("b_next_attempt_at", type_=UTCDateTime()),
        sent_at=bindparam("b_sent_at", type_=UTCDateTime()),
        updated_at=bindparam("b_now", type_=UTCDateTime()),
    )
)


class db_time(FunctionElement):
    """The database's clock (UTC) plus ``seconds``: one clock for the leases of every host."""

    type = UTCDateTime()
    inherit_cache = True

    def __init__(self, seconds: float = 0.0) -> None:
        super().__init__(literal(float(seconds)))


@compiles(db_time, "sqlite")
def _sqlite_time(element: db_time, compiler: Any, **kw: Any) -> str:
    seconds = compiler.process(element.clauses, **kw)
    # Written as SQLAlchemy writes datetimes on SQLite, microseconds included, so they compare.
    return f"(strftime('%Y-%m-%d %H:%M:%f', 'now', printf('%+.3f seconds', {seconds})) || '000')"


@compiles(db_time, "postgresql")
def _postgresql_time(element: db_time, compiler: Any, **kw: Any) -> str:
    seconds = compiler.process(element.clauses, **kw)
    return f"(now() + make_interval(secs => {seconds}))"


def create_sender_engine(url: str, **options: Any) -> Engine:
    """An engine for the sender; on SQLite its transactions begin IMMEDIATE.

    Connections are checked before use, so one the database dropped (a restart, a failover)
    is replaced instead of failing a write.
    """
    engine = create_engine(url, **{"pool_pre_ping": True, **options})
    if make_url(url).get_backend_name() == "sqlite":
        # The documented pysqlite recipe: stop the driver's own deferred BEGIN, emit ours.
        @event.listens_for(engine, "connect")
        def _no_driver_begin(dbapi_connection, connection_record) -> None:
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin_immediate(connection: Connection) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class SqlStore:
    """Implements ``webapp.sending.sender.Store``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def from_url(cls, url: str, **engine_options: Any) -> SqlStore:
        return cls(create_sender_engine(url, **engine_options))

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        """One transaction; the database being out of reach is ``StoreUnavailable``."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except (OperationalError, InterfaceError) as exc:
            raise StoreUnavailable(_reason(exc)) from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise StoreUnavailable(_reason(exc)) from exc
            raise

    def campaigns_to_run(self, now: datetime) -> list[int]:
        with self._begin() as conn:
            # One query per poll, however many campaigns wait: running ones to lease, and
            # scheduled ones, started here when their time has come.
            candidates = conn.execute(
                select(campaigns.c.id, campaigns.c.status, campaigns.c.options_json)
                .where(
                    or_(
                        and_(
                            campaigns.c.status == CampaignStatus.RUNNING,
                            _lease_free(),
                            _awake(now),
                        ),
                        campaigns.c.status == CampaignStatus.SCHEDULED,
                    )
                )
                .order_by(campaigns.c.id)
            ).all()
            return [
                campaign_id
                for campaign_id, status, options_json in candidates
                if status == CampaignStatus.RUNNING
                or _start_if_due(conn, campaign_id, options_json, now)
            ]

    def take_lease(
        self, campaign_id: int, owner: str, now: datetime, lease_s: float
    ) -> CampaignPlan | None:
        with self._begin() as conn:
            taken = conn.execute(
                update(campaigns)
                .where(
                    campaigns.c.id == campaign_id,
                    campaigns.c.status == CampaignStatus.RUNNING,
                    _lease_free(),
                    _awake(now),
                )
                .values(lease_owner=owner, lease_expires_at=db_time(lease_s), next_due_at=None)
            ).rowcount
            if not taken:
                return None
            _settle_interrupted(conn, campaign_id, owner, now)
            row = conn.execute(
                select(
                    campaigns.c.template,
                    campaigns.c.options_json,
                    lists.c.columns_json,
                    lists.c.phone_column,
                )
                .join(lists, lists.c.id == campaigns.c.list_id)
                .where(campaigns.c.id == campaign_id)
            ).one()
            options = _options(row.options_json)
            ensure_numbers(conn, options.apps or (None,))
        try:
            template = parse_template(row.template, json.loads(row.columns_json), row.phone_column)
        except TemplateError:
            # The sends found interrupted stay settled; the sender tries the campaign later.
            self.release_lease(campaign_id, owner)
            raise
        return CampaignPlan(campaign_id, template, row.phone_column, options)

    def renew_lease(self, campaign_id: int, owner: str, lease_s: float) -> bool:
        with self._begin() as conn:
            return _renew(conn, campaign_id, owner, lease_s)

    def release_lease(self, campaign_id: int, owner: str) -> None:
        with self._begin() as conn:
            conn.execute(
                update(campaigns)
                .where(campaigns.c.id == campaign_id, campaigns.c.lease_owner == owner)
                .values(lease_owner=None, lease_expires_at=None)
            )

    def claim(
        self,
        campaign_id: int,
        owner: str,
        limit: int,
        now: datetime,
        lease_s: float,
        *,
        caps: Mapping[App, int | None] | None = None,
        not_before: datetime | None = None,
        gap_s: float = 0.0,
        horizon_s: float = math.inf,
        lead_s: float = 0.0,
        scheduled: bool = False,
    ) -> list[Claimed] | None:
        with self._begin() as conn:
            if not _renew(conn, campaign_id, owner, lease_s):
                return None
            ids = list(conn.scalars(_due(campaign_id, limit, now, scheduled)))
            if not ids:
                _wait(conn, campaign_id, None, None)
                return []
            # The numbers' slots are taken in this transaction: whichever campaign or process
            # claims next finds them gone.
            taken = take_slots(
                conn,
                _options_caps(conn, campaign_id) if caps is None else caps,
                len(ids),
                now,
                not_before=not_before,
                gap_s=gap_s,
                horizon_s=horizon_s,
                lead_s=lead_s,
            )
            _wait(conn, campaign_id, taken.waiting, _claim_again_at(taken, horizon_s, lead_s))
            chosen = dict(zip(ids, taken.slots, strict=False))
            if not chosen:
                return []
            rows = _mark_sending(conn, chosen, owner, now)
        return _in_slot_order(rows, chosen)

    def record(
        self,
        campaign_id: int,
        owner: str,
        updates: Sequence[Update],
        now: datetime,
        pause: Pause | None = None,
        rested: Mapping[App, str] | None = None,
    ) -> None:
        with self._begin() as conn:
            _lock_campaign(conn, campaign_id)
            ours = _still_ours(conn, updates, owner)
            answers = [u for u in updates if u.id in ours and not u.refund]
            if answers:
                conn.execute(_WRITE_ANSWER, [_answer_params(u, now) for u in answers])
            _refund(conn, [u.id for u in updates if u.id in ours and u.refund], now)
            finished = Counter(u.status for u in answers if u.status != RecipientStatus.PENDING)
            _count(conn, campaign_id, finished, now)
            settle(conn, [_settled(u, *ours[u.id]) for u in updates if u.id in ours], now)
            for app, reason in sorted((rested or {}).items()):
                pause_number(conn, app, reason)
            if pause:
                _pause(conn, campaign_id, pause)

    def complete(self, campaign_id: int, owner: str, now: datetime) -> bool:
        left = exists().where(
            recipients.c.campaign_id == campaign_id,
            recipients.c.status.in_((RecipientStatus.PENDING, RecipientStatus.SENDING)),
        )
        with self._begin() as conn:
            if not _lock_campaign(conn, campaign_id, owner):
                return False
            lost = _claims(
                conn,
                recipients.c.campaign_id == campaign_id,
                recipients.c.status == RecipientStatus.SENDING,
                recipients.c.claimed_by == owner,
            )
            _refund(conn, lost, now)
            settle(conn, [Settled(*lost[i], "refused") for i in lost], now)
            return bool(
                conn.execute(
                    update(campaigns)
                    .where(_held(campaign_id, owner), ~left)
                    .values(
                        status=CampaignStatus.COMPLETED,
                        finished_at=now,
                        lease_owner=None,
                        lease_expires_at=None,
                    )
                ).rowcount
            )

    def rest(self, campaign_id: int, owner: str, now: datetime) -> datetime | None:
        with self._begin() as conn:
            if not _lock_campaign(conn, campaign_id, owner):
                return None
            in_flight = exists().where(
                recipients.c.campaign_id == campaign_id,
                recipients.c.status == RecipientStatus.SENDING,
            )
            # The earliest due time is one step down the (campaign, status, due_at) index.
            next_due = conn.scalar(
                select(func.min(recipients.c.due_at)).where(
                    recipients.c.campaign_id == campaign_id,
                    recipients.c.status == RecipientStatus.PENDING,
                    ~in_flight,
                )
            )
            if next_due is None or next_due <= now:
                return None
            conn.execute(
                update(campaigns)
                .where(_held(campaign_id, owner))
                .values(
                    next_due_at=next_due,
                    lease_owner=None,
                    lease_expires_at=None,
                    waiting_reason=None,
                    waiting_until=None,
                )
            )
            return next_due

    def next_retry_at(self, campaign_id: int) -> datetime | None:
        with self._begin() as conn:
            # The last claim noted when its numbers are free again, if they were not.
            reason, until = conn.execute(
                select(campaigns.c.waiting_reason, campaigns.c.waiting_until).where(
                    campaigns.c.id == campaign_id
                )
            ).one()
            if reason == WAIT_PAUSED:
                return None
            return until or conn.scalar(
                select(func.min(recipients.c.next_attempt_at)).where(
                    recipients.c.campaign_id == campaign_id,
                    recipients.c.status == RecipientStatus.PENDING,
                )
            )

    def sent_today(self, apps: Sequence[App], since: datetime) -> dict[App, int]:
        chosen = [app for app in apps if app is not None]
        with self._begin() as conn:
            rows = conn.execute(
                select(recipients.c.app, func.count())
                .where(
                    recipients.c.status == RecipientStatus.SENT,
                    recipients.c.sent_at >= since,
                    or_(
                        recipients.c.app.in_(chosen),
                        recipients.c.app.is_(None) if None in apps else false(),
                    ),
                )
                .group_by(recipients.c.app)
            ).all()
        return {app: count for app, count in rows}


# Claims one recipient for the number chosen for it, as an executemany.
_CLAIM = (
    update(recipients)
    .where(recipients.c.id == bindparam("b_id"))
    .values(
        status=RecipientStatus.SENDING,
        app=bindparam("b_app"),
        claimed_by=bindparam("b_owner"),
        attempts=recipients.c.attempts + 1,
        updated_at=bindparam("b_now", type_=UTCDateTime()),
    )
)


def _settle_interrupted(conn: Connection, campaign_id: int, owner: str, now: datetime) -> None:
    """Make ``unknown`` the campaign's recipients left ``sending`` by anyone but ``owner``.

    Whoever claimed these is gone (its lease expired or was let go): the call may or may not
    have been made, so they are never sent again automatically.
    """
    left = _claims(
        conn,
        recipients.c.campaign_id == campaign_id,
        recipients.c.status == RecipientStatus.SENDING,
        or_(recipients.c.claimed_by.is_(None), recipients.c.claimed_by != owner),
    )
    if not left:
        return
    conn.execute(
        update(recipients)
        .where(recipients.c.id.in_(left))
        .values(status=RecipientStatus.UNKNOWN, error=INTERRUPTED, updated_at=now)
    )
    settle(conn, [Settled(*left[i], RecipientStatus.UNKNOWN) for i in left], now)
    logger.warning("campaign %s: %s interrupted sends now unknown", campaign_id, len(left))
    _count(conn, campaign_id, Counter(unknown=len(left)), now)


def _due(campaign_id: int, limit: int, now: datetime, scheduled: bool) -> Select:
    """Up to ``limit`` of the campaign's pending recipients that may be sent at ``now``, in
    the order they are due, locked; those another transaction holds are skipped."""
    due = select(recipients.c.id).where(
        recipients.c.campaign_id == campaign_id,
        recipients.c.status == RecipientStatus.PENDING,
        or_(recipients.c.next_attempt_at.is_(None), recipients.c.next_attempt_at <= now),
    )
    # A range on the (campaign, status, due_at) index: the scan stops at the first
    # recipient not yet due instead of reading all of them.
    due = (
        due.where(recipients.c.due_at <= now).order_by(recipients.c.due_at, recipients.c.id)
        if scheduled
        else due.order_by(recipients.c.id)
    )
    return due.limit(limit).with_for_update(skip_locked=True)


def _options_caps(conn: Connection, campaign_id: int) -> dict[App, int | None]:
    """The numbers of the campaign's options, none with a limit of its own."""
    options_json = conn.scalar(
        select(campaigns.c.options_json).where(campaigns.c.id == campaign_id)
    )
    return dict.fromkeys(_options(options_json).apps or (None,))


def _claim_again_at(taken: Taken, horizon_s: float, lead_s: float) -> datetime | None:
    """When the campaign's numbers are worth claiming again, if they keep it waiting."""
    if taken.waiting is not None or taken.until is None:
        return taken.until
    # Busy numbers: claim again as soon as their slot comes within reach, as early as the
    # campaigns (or processes) that keep them busy do, or they take it each time and this one
    # never gets a turn.
    reach = horizon_s if math.isfinite(horizon_s) else lead_s
    return taken.until - timedelta(seconds=reach)


def _mark_sending(
    conn: Connection, chosen: Mapping[int, Slot], owner: str, now: datetime
) -> Sequence[Row]:
    """Claim each chosen recipient for its slot's number; their id, phone, fields, attempts."""
    conn.execute(
        _CLAIM,
        [
            {"b_id": i, "b_app": slot.app, "b_owner": owner, "b_now": now}
            for i, slot in chosen.items()
        ],
    )
    fields = (
        select(contacts.c.fields_json)
        .where(contacts.c.id == recipients.c.contact_id)
        .scalar_subquery()
    )
    return conn.execute(
        select(recipients.c.id, recipients.c.phone, fields, recipients.c.attempts).where(
            recipients.c.id.in_(chosen)
        )
    ).all()


def _in_slot_order(rows: Sequence[Row], chosen: Mapping[int, Slot]) -> list[Claimed]:
    """The claimed recipients with their slots, in the order they were chosen (due, slot)."""
    order = {recipient_id: n for n, recipient_id in enumerate(chosen)}
    return [
        Claimed(*row, app=slot.app, send_at=slot.at, interval_s=slot.interval_s)
        for row in sorted(rows, key=lambda row: order[row.id])
        for slot in (chosen[row.id],)
    ]


def _still_ours(
    conn: Connection, updates: Sequence[Update], owner: str
) -> dict[int, tuple[App, datetime]]:
    """The claims of the updated recipients still ``sending`` by ``owner``, locked: a sender
    that took over may have declared them unknown."""
    if not updates:
        return {}
    return _claims(
        conn,
        recipients.c.id.in_([u.id for u in updates]),
        recipients.c.status == RecipientStatus.SENDING,
        recipients.c.claimed_by == owner,
    )


def _refund(conn: Connection, ids: Collection[int], now: datetime) -> None:
    """Put claimed recipients back to ``pending`` with their attempt taken back."""
    if not ids:
        return
    conn.execute(
        update(recipients)
        .where(recipients.c.id.in_(ids))
        .values(
            status=RecipientStatus.PENDING,
            attempts=recipients.c.attempts - 1,
            updated_at=now,
        )
    )


def _settled(u: Update, app: App, claimed_at: datetime) -> Settled:
    """The end of an answered claim for its number: ``refused`` when it goes back to pending."""
    refused = u.refund or u.status == RecipientStatus.PENDING
    return Settled(app, claimed_at, "refused" if refused else u.status, u.error)


def _pause(conn: Connection, campaign_id: int, pause: Pause) -> None:
    """Pause the campaign, if still running, saying why."""
    conn.execute(
        update(campaigns)
        .where(campaigns.c.id == campaign_id, campaigns.c.status == CampaignStatus.RUNNING)
        .values(status=CampaignStatus.PAUSED, pause_code=pause.code, pause_detail=pause.detail)
    )


def _claims(conn: Connection, *where) -> dict[int, tuple[App, datetime]]:
    """Recipients in ``sending`` locked, with the number and time of their claim (a claim sets
    ``updated_at``, and nothing else touches a recipient while it is ``sending``)."""
    rows = conn.execute(
        select(recipients.c.id, recipients.c.app, recipients.c.updated_at)
        .where(*where)
        .with_for_update()
    )
    return {row.id: (row.app, row.updated_at) for row in rows}


def _wait(conn: Connection, campaign_id: int, reason: str | None, until: datetime | None) -> None:
    """Note on the campaign why and until when its numbers keep it waiting, or that they don't."""
    noted = update(campaigns).where(campaigns.c.id == campaign_id)
    if reason is None and until is None:
        noted = noted.where(
            or_(campaigns.c.waiting_reason.is_not(None), campaigns.c.waiting_until.is_not(None))
        )
    conn.execute(noted.values(waiting_reason=reason, waiting_until=until))


def _awake(now: datetime):
    """The campaign is not resting until a reminder due after ``now``."""
    return or_(
        campaigns.c.next_due_at.is_(None),
        campaigns.c.next_due_at <= literal(now, UTCDateTime()),
    )


def _start_if_due(conn: Connection, campaign_id: int, options_json: str, now: datetime) -> bool:
    """Turn a scheduled campaign whose ``start_at`` has come to ``running``; whether it did."""
    try:
        start_at = _options(options_json).start_at
    except OptionsError:
        logger.exception("campaign %s: unreadable sending options", campaign_id)
        return False
    if start_at is not None and start_at > now:
        return False
    return bool(
        conn.execute(
            update(campaigns)
            .where(campaigns.c.id == campaign_id, campaigns.c.status == CampaignStatus.SCHEDULED)
            .values(
                status=CampaignStatus.RUNNING,
                started_at=func.coalesce(campaigns.c.started_at, literal(now, UTCDateTime())),
            )
        ).rowcount
    )


def _lease_free():
    return or_(campaigns.c.lease_owner.is_(None), campaigns.c.lease_expires_at < db_time())


def _lock_campaign(conn: Connection, campaign_id: int, owner: str | None = None) -> bool:
    """Lock the campaign row before any of its recipients; whether ``owner`` holds it."""
    held = _held(campaign_id, owner) if owner else campaigns.c.id == campaign_id
    return conn.scalar(select(campaigns.c.id).where(held).with_for_update()) is not None


def _reason(exc: DBAPIError) -> str:
    """The driver's first line, without the statement and parameters SQLAlchemy adds."""
    return str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__


def _held(campaign_id: int, owner: str):
    """The campaign is running under ``owner``'s lease."""
    return and_(
        campaigns.c.id == campaign_id,
        campaigns.c.lease_owner == owner,
        campaigns.c.status == CampaignStatus.RUNNING,
    )


def _renew(conn: Connection, campaign_id: int, owner: str, lease_s: float) -> bool:
    renewed = (
        update(campaigns).where(_held(campaign_id, owner)).values(lease_expires_at=db_time(lease_s))
    )
    return bool(conn.execute(renewed).rowcount)


# Both SQLite and PostgreSQL speak this upsert.
_TALLY = text(
    "INSERT INTO outcome_tallies (hour, status, count) VALUES (:hour, :status, :count)"
    " ON CONFLICT (hour, status) DO UPDATE SET count = outcome_tallies.count + excluded.count"
).bindparams(bindparam("hour", type_=UTCDateTime()))


def _count(conn: Connection, campaign_id: int, finished: Counter[str], now: datetime) -> None:
    """Move recipients that reached a final status out of ``count_pending``, and tally them."""
    if not finished:
        return
    hour = now.replace(minute=0, second=0, microsecond=0)
    conn.execute(
        _TALLY, [{"hour": hour, "status": s, "count": n} for s, n in sorted(finished.items())]
    )
    values = {
        f"count_{status}": campaigns.c[f"count_{status}"] + finished[status]
        for status in OUTCOMES
        if finished[status]
    }
    conn.execute(
        update(campaigns)
        .where(campaigns.c.id == campaign_id)
        .values(count_pending=campaigns.c.count_pending - finished.total(), **values)
    )


def _answer_params(u: Update, now: datetime) -> dict[str, Any]:
    return {
        "b_id": u.id,
        "b_status": u.status,
        "b_app": u.app,
        "b_message": u.message,
        "b_message_id": u.message_id,
        "b_gateway_status": u.gateway_status,
        "b_error": u.error,
        "b_next_attempt_at": u.next_attempt_at,
        "b_sent_at": u.sent_at,
        "b_now": now,
    }


def _options(options_json: str) -> SendingOptions:
    """Stored options are ``SendingOptions.to_dict()``; they parse back with no defaults."""
    return parse_options(json.loads(options_json), {})
