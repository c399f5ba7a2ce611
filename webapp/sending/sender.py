"""The sender: every pending recipient of a running campaign gets its message once, paced.

It depends only on what it declares here (a ``Store`` for the database, a ``Clock``) and on the
``Gateway`` protocol, so tests drive it with fakes. A ``Sender`` (one per process) looks for
campaigns to run and takes each one's lease; a ``CampaignRun`` then sends that campaign in its
own thread:

* its dispatcher waits for the next slot of the pacer, claims a small batch of recipients
  (``pending`` → ``sending``, committed before any call), and hands each one to a small pool;
* the pool renders each message and calls the gateway, and the answers are written in
  batches with the counts; whatever goes wrong in a worker, its recipient is settled;
* the dispatcher also renews the lease while it waits, and stops claiming at once when the
  campaign is paused, cancelled or its lease is lost;
* while the database is out of reach (``StoreUnavailable``) the run waits and tries again,
  keeping every answer it has until it is written.

See ``webapp.campaigns`` for the lifecycle both sides follow.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import random
import secrets
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from queue import SimpleQueue
from typing import Protocol, TypeVar

from ..campaigns.options import App, SendingOptions
from ..campaigns.rendering import render_for_contact
from ..campaigns.statuses import RecipientStatus
from ..i18n import N_
from ..messages import MessageTemplate
from ..windows import DEFAULT_TIMEZONE, day_start, next_day_start
from .gateway import Gateway, Outcome, SendResult, names_recipient
from .pacing import Pacer, apps_under_limit

logger = logging.getLogger(__name__)

T = TypeVar("T")

# The last stretch before a call is kept free of database work (writes, heartbeats), so the
# call leaves on time.
QUIET_S = 0.03
# A paced call that comes after its slot (the one before it left late) may follow that one
# this much of an interval sooner, to make up for it: delays do not add up, calls keep their
# slots' pace, and none comes closer than 0.97 of the interval.
CATCH_UP = 0.03

GATEWAY_FAILED = N_("Sending failed unexpectedly; the message may have been sent")
NOT_RENDERED = N_("The message could not be made from the template; nothing was sent")
INTERRUPTED = N_(
    "Sending was interrupted before the gateway answered; the message may have been sent"
)


@dataclass(frozen=True)
class SenderConfig:
    """How the sender behaves; the app sets any of these as ``SENDER_<NAME>``."""

    lease_s: float = 20.0
    """A lease not renewed for this long is taken over by another sender."""
    heartbeat_s: float = 5.0
    poll_s: float = 1.0
    """How often to look for campaigns to start."""
    max_in_flight: int = 16
    expected_latency_s: float = 1.0
    """Sizes the pool: rate × latency calls must be in flight to keep up the rate."""
    claim_ahead_s: float = 0.25
    """Claim only what is due this soon: after a crash, at most that much becomes ``unknown``."""
    max_batch: int = 100
    claim_lead_s: float = 0.5
    flush_s: float = 0.25
    """The longest an answer waits before it is written."""
    max_attempts: int = 5
    backoff_s: float = 10.0
    """The first retry's delay; it doubles with each attempt, and the sum outlasts
    ``down_after_s``, so recipients are not failed for an outage that pauses the campaign."""
    max_backoff_s: float = 600.0
    down_after_s: float = 120.0
    down_after_calls: int = 20
    """The gateway is down after this many failed calls in a row over ``down_after_s``."""
    same_error_calls: int = 5
    """This many calls in a row refused with the same error that names no recipient (a
    missing app, a proxy's page) pause the campaign rather than fail the whole list."""
    max_retry_after_s: float = 600.0
    """The longest wait a gateway's ``Retry-After`` may ask for."""
    crash_cooldown_s: float = 30.0
    stop_timeout_s: float = 40.0
    """How long a stopping process waits for calls in flight (the client's read timeout and
    some) and for the database to take their answers."""
    db_retry_s: float = 0.2
    """The first wait before trying the database again; it doubles up to ``db_retry_max_s``."""
    db_retry_max_s: float = 2.0


@dataclass(frozen=True)
class CampaignPlan:
    """What a run needs to know of its campaign."""

    id: int
    template: MessageTemplate
    """Parsed against its list's columns."""
    phone_column: str
    """Its list's phone column, to render as the preview does."""
    options: SendingOptions


@dataclass(frozen=True, slots=True)
class Claimed:
    """A recipient now ``sending``; ``attempts`` counts the call about to be made."""

    id: int
    phone: str
    fields_json: str | None
    """The contact's other columns; None when the contact is gone."""
    attempts: int
    app: App = None
    """The WhatsApp number to send from."""
    send_at: datetime | None = None
    """The number's slot taken for this call: not to be called earlier."""
    interval_s: float = 0.0
    """The number's least gap between two calls (0: no pace)."""


@dataclass(frozen=True, slots=True)
class Update:
    """What to write of a recipient that was ``sending``.

    ``refund``: back to ``pending`` with the attempt taken back, nothing else changed (it was
    never sent, or the account refused it).
    """

    id: int
    status: str
    app: App = None
    message: str | None = None
    message_id: str | None = None
    gateway_status: str | None = None
    error: str | None = None
    next_attempt_at: datetime | None = None
    sent_at: datetime | None = None
    refund: bool = False


@dataclass(frozen=True)
class Pause:
    code: str
    detail: str | None = None


class StoreUnavailable(Exception):
    """The database cannot be reached or is locked now; the same call may work later.

    The transaction was rolled back, or its commit went through unacknowledged: calling the
    method again is safe (a claim whose answer was lost is given back by ``complete``).
    """


class Store(Protocol):
    """The database as the sender needs it; every method is one committed transaction.

    Leases are timed by the database's clock (``lease_s`` from now), so hosts whose clocks
    differ agree on when one expires. Any method may raise ``StoreUnavailable``.
    """

    def campaigns_to_run(self, now: datetime) -> list[int]:
        """Running campaigns whose lease is free or expired, not resting until after ``now``,
        and scheduled ones whose ``start_at`` has come, turned ``running``."""
        ...

    def take_lease(
        self, campaign_id: int, owner: str, now: datetime, lease_s: float
    ) -> CampaignPlan | None:
        """Lease a running campaign if free or expired and not resting until after ``now``;
        recipients others left ``sending`` become ``unknown``. None when not taken; raises
        ``TemplateError``, the lease let go, when its template does not fit its list."""
        ...

    def renew_lease(self, campaign_id: int, owner: str, lease_s: float) -> bool:
        """Extend the lease; False when it is no longer ours or the campaign stopped running."""
        ...

    def release_lease(self, campaign_id: int, owner: str) -> None: ...

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
        """Renew the lease and mark up to ``limit`` due pending recipients ``sending`` by us,
        each with a slot of one of its WhatsApp numbers (see ``webapp.numbers``).

        ``caps``: the numbers the campaign may use, with how many more each may send today by
        the campaign's own limit (None: its options' numbers, no limit). The campaign's own
        slots start at ``not_before`` and keep ``gap_s`` apart; slots more than ``horizon_s``
        ahead are not taken, nor a paced number's slots less than ``lead_s`` ahead. None when
        the lease is no longer ours or the campaign is not running. ``scheduled``: the
        campaign's recipients each have a due time (reminders), taken in due order.
        """
        ...

    def record(
        self,
        campaign_id: int,
        owner: str,
        updates: Sequence[Update],
        now: datetime,
        pause: Pause | None = None,
        rested: Mapping[App, str] | None = None,
    ) -> None:
        """Write answers of recipients still ``sending`` by ``owner``, with the counts, and
        pause the campaign if asked, and the WhatsApp numbers in ``rested`` with their reason."""
        ...

    def complete(self, campaign_id: int, owner: str, now: datetime) -> bool:
        """Mark the campaign completed if nothing is pending or sending; whether it was.

        The caller has no call in flight: what is still ``sending`` by ``owner`` was claimed
        by a commit whose answer was lost, never called, so it goes back to ``pending``.
        """
        ...

    def rest(self, campaign_id: int, owner: str, now: datetime) -> datetime | None:
        """When no pending recipient of ours is due before a later due time: note that time on
        the campaign and let the lease go, so no sender works on it until then; that time.
        None when something is due now or still being sent."""
        ...

    def next_retry_at(self, campaign_id: int) -> datetime | None:
        """When the earliest pending recipient may be sent: its retry time, or when the
        campaign's numbers are free again if they were not at the last claim."""
        ...

    def sent_today(self, apps: Sequence[App], since: datetime) -> dict[App, int]:
        """Messages sent from each app since ``since``, by every campaign."""
        ...


class Clock(Protocol):
    def now(self) -> datetime:
        """The aware wall-clock time (calendars, timestamps, leases)."""
        ...

    def monotonic(self) -> float:
        """Seconds for measuring intervals (pacing)."""
        ...

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """Wait up to ``seconds`` or until ``event`` is set; whether it is set."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def wait(self, event: threading.Event, seconds: float) -> bool:
        return event.wait(max(0.0, seconds))


def default_sender_id(name: str | None = None) -> str:
    """Unique per process, short enough to leave room for a run number.

    ``name`` (``SENDER_ID``) replaces the host name: processes given the same one still differ.
    """
    return f"{(name or socket.gethostname())[:32]}:{os.getpid()}:{secrets.token_hex(3)}"


class Sender:
    """Runs every campaign it can lease, each in a thread, until ``stop()``; one per process."""

    def __init__(
        self,
        store: Store,
        gateway_factory: Callable[[], Gateway],
        *,
        clock: Clock | None = None,
        config: SenderConfig | None = None,
        sender_id: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.gateway_factory = gateway_factory
        self.clock = clock or SystemClock()
        self.config = config or SenderConfig()
        self.id = default_sender_id(sender_id)
        self.rng = rng or random.Random()
        self._stopping = threading.Event()
        self.abandoned = threading.Event()
        """Set when the process exits without waiting: runs give up unwritten answers."""
        self._lock = threading.Lock()
        self._runs: dict[int, tuple[CampaignRun, threading.Thread | None]] = {}
        self._cooldown: dict[int, float] = {}
        self._run_numbers = itertools.count(1)
        self._number_gates: dict[App, _Gate] = {}

    def number_gate(self, app: App) -> _Gate:
        """The gate this process's calls from number ``app`` pass, whichever campaign's."""
        with self._lock:
            if app not in self._number_gates:
                self._number_gates[app] = _Gate(self.clock)
            return self._number_gates[app]

    def run(self) -> None:
        """Look for campaigns every ``poll_s`` and send them, until ``stop()``."""
        logger.info("sender %s started", self.id)
        try:
            while not self._stopping.is_set():
                try:
                    self.tick()
                except StoreUnavailable as exc:
                    logger.warning("sender %s: the database is unavailable: %s", self.id, exc)
                except Exception:
                    logger.exception("sender %s: looking for campaigns failed", self.id)
                self.clock.wait(self._stopping, self.config.poll_s)
        finally:
            self._join_runs()
            logger.info("sender %s stopped", self.id)

    def stop(self) -> None:
        """Stop claiming everywhere; runs finish their calls in flight and let go of leases."""
        self._stopping.set()
        with self._lock:
            for run, _ in self._runs.values():
                run.stop.set()

    def abandon(self) -> None:
        """Stop at once, giving up on answers the database has not taken yet (they stay
        ``sending`` and so become ``unknown``); for a process that cannot wait any longer."""
        self.abandoned.set()
        self.stop()

    def tick(self) -> None:
        """Start due scheduled campaigns and a run for each campaign whose lease we get."""
        self._reap()
        for campaign_id in self.store.campaigns_to_run(self.clock.now()):
            if self._stopping.is_set():
                return
            with self._lock:
                busy = campaign_id in self._runs
            if busy or self._cooldown.get(campaign_id, -math.inf) > self.clock.monotonic():
                continue
            try:
                run = self._lease(campaign_id)
            except StoreUnavailable:
                raise  # the database, not this campaign: every campaign waits for the next poll
            except Exception:
                logger.exception("campaign %s: cannot start sending; trying later", campaign_id)
                self._cool_down(campaign_id)
                continue
            if run is not None:
                thread = threading.Thread(
                    target=self._run_logged, args=(run,), name=f"campaign-{campaign_id}"
                )
                with self._lock:
                    self._runs[campaign_id] = (run, thread)
                thread.start()

    def run_campaign(self, campaign_id: int) -> bool:
        """Send one campaign in the calling thread if its lease can be had; whether it could."""
        run = self._lease(campaign_id)
        if run is None:
            return False
        with self._lock:
            self._runs[campaign_id] = (run, None)
        try:
            run.run()
        finally:
            with self._lock:
                del self._runs[campaign_id]
        return True

    def _lease(self, campaign_id: int) -> CampaignRun | None:
        if self._stopping.is_set():
            return None
        owner = f"{self.id}/{next(self._run_numbers)}"
        plan = self.store.take_lease(campaign_id, owner, self.clock.now(), self.config.lease_s)
        if plan is None:
            return None
        try:
            run = CampaignRun(plan, owner, self)
        except Exception:
            self.store.release_lease(campaign_id, owner)
            raise
        logger.info("campaign %s: sending as %s", campaign_id, owner)
        return run

    def _run_logged(self, run: CampaignRun) -> None:
        try:
            run.run()
        except Exception:
            logger.exception("campaign %s: the run failed; trying again later", run.plan.id)
            self._cool_down(run.plan.id)

    def _cool_down(self, campaign_id: int) -> None:
        self._cooldown[campaign_id] = self.clock.monotonic() + self.config.crash_cooldown_s

    def _reap(self) -> None:
        with self._lock:
            for campaign_id, (_, thread) in list(self._runs.items()):
                if thread is not None and not thread.is_alive():
                    del self._runs[campaign_id]

    def _join_runs(self) -> None:
        self.stop()
        with self._lock:
            threads = [thread for _, thread in self._runs.values() if thread is not None]
        for thread in threads:
            thread.join()
        self._reap()


@dataclass
class _Health:
    """Whether the gateway still answers: calls failed in a row since the last answer."""

    last_answer: float
    failures: int = 0
    opened: bool = False
    """Whether any call got an answer yet: until then one call at a time."""
    same_error: str | None = None
    same_errors: int = 0
    """Calls in a row refused with ``same_error``, a text that names no recipient."""

    def fresh(self, mono: float) -> None:
        """Forget failures before a long wait: they say nothing of the gateway now."""
        self.last_answer, self.failures = mono, 0
        self.same_error, self.same_errors = None, 0


class _Gate:
    """Keeps calls that pass it at least an interval apart as they leave, as the gateway
    reports (see ``gateway.Turn``): a campaign's own pace, or a paced number's in this process,
    whichever campaign calls from it.

    The slots come evenly spaced, but a worker that wakes late (a busy CPU) would bring its
    call close to the next one, maybe another campaign's; so the gate is held from the wait
    right before a request leaves until it has, and the next call is timed from then. Waiting
    for the slots' distance instead would add up, as calls of two campaigns may come out of
    their slots' order.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._never = threading.Event()
        self._left = -math.inf

    def enter(self, interval_s: float) -> None:
        """Take the gate and wait until a call may leave."""
        self._lock.acquire()
        delay = self._left + (1 - CATCH_UP) * interval_s - self._clock.monotonic()
        if delay > 0:
            self._clock.wait(self._never, delay)

    def leave(self, left: float) -> None:
        """A call left at ``left`` (monotonic): the next one is timed from it."""
        self._left = left
        self._lock.release()


class _Turn:
    """One call's turn at the gates it passes, each with its interval, taken in order."""

    def __init__(self, clock: Clock, gates: Sequence[tuple[_Gate, float]]) -> None:
        self._clock = clock
        self._gates = gates
        self._holding = False

    def wait(self) -> None:
        if not self._holding:
            self._holding = True
            for gate, interval_s in self._gates:
                gate.enter(interval_s)

    def left(self) -> None:
        if self._holding:
            self._holding = False
            now = self._clock.monotonic()
            for gate, _ in reversed(self._gates):
                gate.leave(now)


@dataclass
class _Buffer:
    updates: list[Update] = field(default_factory=list)
    since: float = 0.0
    pause: Pause | None = None
    rested: dict[App, str] = field(default_factory=dict)
    """WhatsApp numbers to pause, with why."""


class CampaignRun:
    """Sends one campaign under one lease until it is done, paused, cancelled or stopped."""

    def __init__(self, plan: CampaignPlan, owner: str, sender: Sender) -> None:
        self.plan = plan
        self.owner = owner
        self.store = sender.store
        self.clock = sender.clock
        self.config = sender.config
        self.stop = threading.Event()
        self._gateway_factory = sender.gateway_factory
        self._rng = sender.rng
        self._abandoned = sender.abandoned
        self._number_gate = sender.number_gate
        self._quiet_s = QUIET_S
        self._number_errors: dict[App, tuple[str, int]] = {}
        self._rested: set[App] = set()
        """Numbers this run found failing: nothing more goes out from them."""
        options = plan.options
        self.options = options
        self.pacer = Pacer(options.rate_per_minute, options.delay_min_s, options.delay_max_s)
        self.apps: tuple[App, ...] = options.apps or (None,)
        self.workers = pool_size(options, self.config)
        # Workers release a permit after each answer; until the gateway first answers only one
        # call is let out, so a refused account costs one call, not a poolful.
        self._permits = threading.Semaphore(1)
        self._cond = threading.Condition()
        self._calls: SimpleQueue[tuple[Claimed, App] | None] = SimpleQueue()
        self._in_flight = 0
        self._gate = _Gate(self.clock)
        self._buffer = _Buffer()
        self._health = _Health(last_answer=self.clock.monotonic())
        self._hold_until = -math.inf
        self._renewed = self.clock.monotonic()
        self._sent_today: Counter[App] = Counter()
        self._day_ends = self.clock.now()
        self._timezone = options.send_window.timezone if options.send_window else DEFAULT_TIMEZONE

    def run(self) -> None:
        """Send until done or stopped; then answer for everything claimed and let the lease go."""
        try:
            self.gateway = self._gateway_factory()
            try:
                self._run_with_workers()
            finally:
                self.gateway.close()
        finally:
            try:
                self.store.release_lease(self.plan.id, self.owner)
            except StoreUnavailable as exc:
                logger.warning("campaign %s: lease left to expire: %s", self.plan.id, exc)

    def _run_with_workers(self) -> None:
        # Daemon threads of our own, not an executor: an executor is shut down when the
        # interpreter begins to exit, before atexit lets this run finish its calls gracefully.
        workers = [
            threading.Thread(target=self._work, name=f"send-{self.plan.id}", daemon=True)
            for _ in range(self.workers)
        ]
        for worker in workers:
            worker.start()
        queue: deque[Claimed] = deque()
        try:
            try:
                self._send_all(queue)
            finally:
                self._give_back(queue)
                self._drain()
        finally:
            for _ in workers:
                self._calls.put(None)
            for worker in workers:
                worker.join()

    def _work(self) -> None:
        while (call := self._calls.get()) is not None:
            try:
                self._call(*call)
            except Exception:  # a worker must live on, or the calls queued for it would hang
                logger.exception("campaign %s: a send worker failed", self.plan.id)

    def _send_all(self, queue: deque[Claimed]) -> None:
        while self._acquire_permit():
            submitted = False
            try:
                slot = self.pacer.next_send_at(self.clock.monotonic())
                # Claim a little ahead: its commit (maybe an SQLite checkpoint) must not
                # delay the call, nor may a crash find many claimed and not yet sent.
                if not self._wait_until(slot - self.config.claim_lead_s):
                    return
                if self._blocked_for() > 0:
                    if not self._sit_out(queue):
                        return
                    continue
                if self._claim_due(queue) and not self._claim_into(queue, slot) and not queue:
                    if self.stop.is_set() or not self._wait_for_more():
                        return
                    continue
                if queue[0].app in self._rested:
                    self._give_back(deque([queue.popleft()]))
                    continue
                slot = self._number_slot(queue[0], slot)
                if not self._wait_until(slot):
                    return
                self._submit(queue[0])
                queue.popleft()
                submitted = True
            finally:
                if not submitted:
                    self._permits.release()

    def _sit_out(self, queue: deque[Claimed]) -> bool:
        """Wait while sending is not allowed (hold, window, daily limits); False when stopped."""
        # Nothing stays claimed meanwhile: a crash would leave it unknown though never sent.
        self._give_back(queue)
        began = self.clock.monotonic()
        while (delay := self._blocked_for()) > 0:
            logger.info("campaign %s: waiting %.0f s to send", self.plan.id, delay)
            if not self._wait_until(self.clock.monotonic() + delay):
                return False
        mono = self.clock.monotonic()
        self.pacer.reset(mono)
        if mono - began >= self.config.down_after_s:
            with self._cond:
                self._health.fresh(mono)
        return True

    def _blocked_for(self) -> float:
        now, mono = self.clock.now(), self.clock.monotonic()
        waits = [self._hold_until - mono]
        window = self.options.send_window
        if window and not window.is_open(now):
            waits.append((window.next_open(now) - now).total_seconds())
        if self.options.daily_limit is not None:
            if now >= self._day_ends:
                self._load_day(now)
            if self._room_today() == 0:
                waits.append((self._day_ends - now).total_seconds())
        return max(waits)

    def _load_day(self, now: datetime) -> None:
        since = day_start(now, self._timezone)
        counts = self._retrying(lambda: self.store.sent_today(self.apps, since))
        with self._cond:
            self._sent_today = Counter(counts)
        self._day_ends = next_day_start(now, self._timezone)

    def _room_today(self) -> int:
        limit = self.options.daily_limit
        if limit is None:
            return self.config.max_batch
        with self._cond:
            allowed = apps_under_limit(self.apps, self._sent_today, limit)
            return sum(limit - self._sent_today[app] for app in allowed)

    def _acquire_permit(self) -> bool:
        while not self._permits.acquire(timeout=self.config.flush_s):
            if self.stop.is_set():
                return False
            self._tend()
        return True

    def _claim_due(self, queue: deque[Claimed]) -> bool:
        """Whether to claim now: the queue is empty, or its number slots run out sooner than a
        claim's slots can begin (``claim_lead_s`` ahead), so the number would sit idle, and the
        next call is far enough off not to be kept waiting by the claim."""
        if not queue:
            return True
        first, last = queue[0].send_at, queue[-1].send_at
        if first is None or last is None:
            return False
        mono = self.clock.monotonic()
        return (
            self._monotonic(first) > mono + self._quiet_s
            and self._monotonic(last) <= mono + self.config.claim_lead_s
        )

    def _claim_into(self, queue: deque[Claimed], slot: float) -> bool:
        """Claim more recipients onto ``queue``; whether any came."""
        if queue and queue[-1].send_at is not None:
            # Topping up: the campaign's own slots go on after those already queued.
            slot = max(slot, self._monotonic(queue[-1].send_at) + self.pacer.interval_s)
        size = self._claim_size()
        caps = self._caps()
        config = self.config

        def claim() -> list[Claimed] | None:
            now = self.clock.now()
            return self.store.claim(
                self.plan.id,
                self.owner,
                size,
                now,
                config.lease_s,
                caps=caps,
                not_before=now + timedelta(seconds=slot - self.clock.monotonic()),
                gap_s=self.pacer.interval_s,
                horizon_s=config.claim_lead_s + config.claim_ahead_s,
                lead_s=config.claim_lead_s,
                scheduled=self.options.schedule is not None,
            )

        began = self.clock.monotonic()
        claimed = self._retrying(claim)
        self._renewed = self.clock.monotonic()
        self._widen_quiet(self._renewed - began)
        if claimed is None:
            logger.info("campaign %s: no longer running here; stopping", self.plan.id)
            self.stop.set()
            return False
        queue.extend(claimed)
        return bool(claimed)

    def _caps(self) -> dict[App, int | None]:
        """How many more each app may send today by the campaign's own daily limit."""
        limit = self.options.daily_limit
        with self._cond:
            return {
                app: None if limit is None else max(0, limit - self._sent_today[app])
                for app in self.apps
                if app not in self._rested
            }

    def _number_slot(self, recipient: Claimed, slot: float) -> float:
        """The campaign's slot, later if the number's slot taken for this call is later."""
        if recipient.send_at is None:
            return slot
        at = self._monotonic(recipient.send_at)
        if at > slot:
            self.pacer.postpone(slot, at)
            return at
        return slot

    def _monotonic(self, moment: datetime) -> float:
        """The clock's monotonic reading at the wall-clock ``moment``."""
        return self.clock.monotonic() + (moment - self.clock.now()).total_seconds()

    def _claim_size(self) -> int:
        pacer = self.pacer
        if pacer.delay_max_s:
            return 1  # each random pause is drawn when its slot is reserved, one at a time
        gap = pacer.interval_s
        size = math.ceil(self.config.claim_ahead_s / gap) if gap else self.config.max_batch
        return max(1, min(size, self.config.max_batch, self._room_today()))

    def _wait_for_more(self) -> bool:
        """Nothing to claim now: wait for answers, retries or the end; False when done."""
        with self._cond:
            if self._in_flight:
                # Answers still to come may bring retries; the campaign is not done yet.
                self._cond.wait(self.config.flush_s)
                return True
        self._flush()
        if self._retrying(lambda: self.store.complete(self.plan.id, self.owner, self.clock.now())):
            logger.info("campaign %s: completed", self.plan.id)
            return False
        if self.options.schedule is not None:
            # Between reminders the campaign holds no lease and costs its senders nothing.
            until = self._retrying(
                lambda: self.store.rest(self.plan.id, self.owner, self.clock.now())
            )
            if until is not None:
                logger.info("campaign %s: waiting for the next reminder at %s", self.plan.id, until)
                return False
        retry_at = self._retrying(lambda: self.store.next_retry_at(self.plan.id))
        now = self.clock.now()
        delay = (retry_at - now).total_seconds() if retry_at else self.config.poll_s
        return self._wait_until(self.clock.monotonic() + max(delay, 0.0))

    def _submit(self, recipient: Claimed) -> None:
        with self._cond:
            app = recipient.app
            self._sent_today[app] += 1  # counted from the call on, taken back if not sent
            self._in_flight += 1
        self._calls.put((recipient, app))

    def _call(self, recipient: Claimed, app: App) -> None:
        """In a worker thread: render, call the gateway, keep the answer for the next write.

        Whatever fails here, the recipient is settled and its slot given back.
        """
        text = None
        try:
            text = self._render(recipient)
            turn = self._turn(recipient, app)
            try:
                result = self.gateway.send_message(recipient.phone, text, app, turn=turn)
            finally:
                if turn:
                    turn.left()  # if the gateway did not (it failed before the call left)
        except Exception:
            logger.exception(
                "campaign %s: sending to recipient %s failed", self.plan.id, recipient.id
            )
            result = (
                SendResult(Outcome.RECIPIENT_ERROR, error=NOT_RENDERED)
                if text is None
                else SendResult(Outcome.AMBIGUOUS, error=GATEWAY_FAILED)
            )
        try:
            self._settle(recipient, app, text, result)
        finally:
            self._permits.release()

    def _render(self, recipient: Claimed) -> str:
        plan = self.plan
        return render_for_contact(
            plan.template, plan.id, plan.phone_column, recipient.phone, recipient.fields_json
        ).text

    def _turn(self, recipient: Claimed, app: App) -> _Turn | None:
        """The call's turn at its campaign's pace and its number's; None when neither is paced."""
        gates = [(self._gate, self.pacer.interval_s)] if self.pacer.interval_s else []
        if recipient.interval_s:
            gates.append((self._number_gate(app), recipient.interval_s))
        return _Turn(self.clock, gates) if gates else None

    def _settle(self, recipient: Claimed, app: App, text: str | None, result: SendResult) -> None:
        try:
            update = self._update_for(recipient, app, text, result)
        except Exception:
            logger.exception("campaign %s: cannot read the answer", self.plan.id)
            update = Update(recipient.id, RecipientStatus.UNKNOWN, app, text, error=GATEWAY_FAILED)
        mono = self.clock.monotonic()
        with self._cond:
            try:
                if not self._buffer.updates:
                    self._buffer.since = mono
                self._buffer.updates.append(update)
                pause = self._observe(result, app, mono, recipient.phone)
                if pause and not self._buffer.pause:
                    logger.warning(
                        "campaign %s: pausing (%s): %s", self.plan.id, pause.code, pause.detail
                    )
                    self._buffer.pause = pause
                    self.stop.set()
            finally:
                self._in_flight -= 1
                self._cond.notify_all()

    def _update_for(
        self, recipient: Claimed, app: App, text: str | None, result: SendResult
    ) -> Update:
        now = self.clock.now()
        outcome = result.outcome
        if outcome is Outcome.SENT:
            return Update(
                recipient.id,
                RecipientStatus.SENT,
                app,
                text,
                message_id=result.message_id,
                gateway_status=result.gateway_status,
                sent_at=now,
            )
        if outcome is Outcome.ACCOUNT_ERROR:
            return Update(recipient.id, RecipientStatus.PENDING, refund=True)
        if outcome is Outcome.AMBIGUOUS:
            return Update(recipient.id, RecipientStatus.UNKNOWN, app, text, error=result.error)
        if outcome is Outcome.TRANSIENT and recipient.attempts < self.config.max_attempts:
            delay = max(self._backoff(recipient.attempts), self._retry_after(result))
            retry_at = now + timedelta(seconds=delay)
            return Update(
                recipient.id,
                RecipientStatus.PENDING,
                app,
                text,
                error=result.error,
                next_attempt_at=retry_at,
            )
        return Update(recipient.id, RecipientStatus.FAILED, app, text, error=result.error)

    def _retry_after(self, result: SendResult) -> float:
        """The wait the gateway asked for, within reason; none if it made no sense."""
        seconds = result.retry_after
        if seconds is None or math.isnan(seconds):
            return 0.0
        return min(max(seconds, 0.0), self.config.max_retry_after_s)

    def _observe(self, result: SendResult, app: App, mono: float, phone: str) -> Pause | None:
        """Learn from one answer (call under the lock); a pause when no call can succeed."""
        outcome = result.outcome
        if outcome not in (Outcome.SENT, Outcome.AMBIGUOUS):
            self._sent_today[app] -= 1
        if retry_after := self._retry_after(result):
            self._hold_until = max(self._hold_until, mono + retry_after)
        if outcome is Outcome.ACCOUNT_ERROR:
            return Pause(result.account_problem or "unauthorized", result.error)
        if outcome in (Outcome.SENT, Outcome.RECIPIENT_ERROR):
            self._answered(mono)
        else:
            pause = self._failed_call(mono, result.error)
            if pause:
                return pause
        if outcome is Outcome.TRANSIENT or (
            outcome is Outcome.AMBIGUOUS and result.http_status is None
        ):
            return None  # no answer at all (a timeout): the outage detector's business
        self._number_health(result, app, phone)
        return self._same_error(result, phone)

    def _number_health(self, result: SendResult, app: App, phone: str) -> None:
        """Rest a number whose calls keep being refused the same way for no recipient's sake:
        the campaign's other numbers go on, and other campaigns do not try it (call under the
        lock)."""
        error = result.error if result.outcome is not Outcome.SENT else None
        if error is None or names_recipient(error, phone):
            self._number_errors.pop(app, None)
            return
        last, count = self._number_errors.get(app, (None, 0))
        count = count + 1 if error == last else 1
        self._number_errors[app] = (error, count)
        if count >= self.config.same_error_calls and app not in self._rested:
            logger.warning("campaign %s: resting number %s: %s", self.plan.id, app, error)
            self._rested.add(app)
            self._buffer.rested[app] = error

    def _same_error(self, result: SendResult, phone: str) -> Pause | None:
        """Pause when calls keep being refused the same way for no recipient's sake."""
        health = self._health
        error = result.error if result.outcome is not Outcome.SENT else None
        if error is None or names_recipient(error, phone):
            health.same_error, health.same_errors = None, 0
            return None
        if error != health.same_error:
            health.same_error, health.same_errors = error, 0
        health.same_errors += 1
        if health.same_errors >= self.config.same_error_calls:
            return Pause("gateway_error", error)
        return None

    def _answered(self, mono: float) -> None:
        health = self._health
        health.last_answer, health.failures = mono, 0
        if not health.opened:
            health.opened = True
            for _ in range(self.workers - 1):
                self._permits.release()

    def _failed_call(self, mono: float, error: str | None) -> Pause | None:
        health = self._health
        health.failures += 1
        if (
            health.failures >= self.config.down_after_calls
            and mono - health.last_answer >= self.config.down_after_s
        ):
            return Pause("gateway_unavailable", error)
        return None

    def _backoff(self, attempts: int) -> float:
        # Doubling stops long before a float would overflow, whatever max_attempts is.
        doublings = min(attempts - 1, 64)
        delay = min(self.config.max_backoff_s, self.config.backoff_s * 2**doublings)
        return delay * (1 + self._rng.random() / 2)

    def _give_back(self, queue: deque[Claimed]) -> None:
        if not queue:
            return
        with self._cond:
            if not self._buffer.updates:
                self._buffer.since = self.clock.monotonic()
            self._buffer.updates.extend(
                Update(r.id, RecipientStatus.PENDING, refund=True) for r in queue
            )
        queue.clear()

    def _drain(self) -> None:
        """Wait for the calls in flight, keeping the lease, and write every answer."""
        while True:
            with self._cond:
                if not self._in_flight:
                    break
                self._cond.wait(self.config.flush_s)
            self._tend()
        self._flush()

    def _wait_until(self, deadline: float) -> bool:
        """Wait until ``deadline`` (monotonic), writing answers and renewing the lease meanwhile.

        False when the run is to stop.
        """
        while True:
            # Stopping comes first: a pause is then written with the claims given back.
            if self.stop.is_set():
                return False
            quiet = 0 < deadline - self.clock.monotonic() <= self._quiet_s
            if not quiet or self._overdue():
                self._tend()
            if self.stop.is_set():
                return False
            mono = self.clock.monotonic()
            if mono >= deadline:
                return True
            duty = self._renewed + self.config.heartbeat_s
            if self._buffer.updates:
                duty = min(duty, self._buffer.since + self.config.flush_s)
            if quiet:
                duty = deadline
            self.clock.wait(self.stop, min(deadline, duty) - mono)

    def _overdue(self) -> bool:
        """Whether writing and renewing waited so long they go before a call's punctuality."""
        mono, buffer, config = self.clock.monotonic(), self._buffer, self.config
        return (
            len(buffer.updates) >= config.max_batch
            or (bool(buffer.updates) and mono >= buffer.since + 4 * config.flush_s)
            or mono >= self._renewed + 2 * config.heartbeat_s
        )

    def _tend(self) -> None:
        """Write answers that have waited long enough, and renew the lease when it is time.

        How long that took widens the quiet stretch before calls: a call is not to wait for a
        write (another process's calls from the same number keep their own slots).
        """
        mono = self.clock.monotonic()
        try:
            self._write_due(mono)
        finally:
            self._widen_quiet(self.clock.monotonic() - mono)

    def _widen_quiet(self, took: float) -> None:
        """Keep the quiet stretch before calls longer than database work has lately taken."""
        self._quiet_s = min(max(QUIET_S, 0.9 * self._quiet_s, 1.5 * took), self.config.claim_lead_s)

    def _write_due(self, mono: float) -> None:
        buffer = self._buffer
        if (
            buffer.pause
            or buffer.rested
            or len(buffer.updates) >= self.config.max_batch
            or (buffer.updates and mono >= buffer.since + self.config.flush_s)
        ):
            self._flush()
        if mono >= self._renewed + self.config.heartbeat_s:
            self._renewed = mono
            try:
                renewed = self.store.renew_lease(self.plan.id, self.owner, self.config.lease_s)
            except StoreUnavailable as exc:
                logger.warning("campaign %s: cannot renew the lease now: %s", self.plan.id, exc)
                # Soon again, not a heartbeat later: the lease must not run out meanwhile.
                self._renewed = mono - self.config.heartbeat_s + self.config.db_retry_max_s
                return
            if not renewed:
                logger.info("campaign %s: paused, cancelled or lease lost; stopping", self.plan.id)
                self.stop.set()

    def _flush(self) -> None:
        """Write the buffered answers; an answer once received is tried until it is written."""
        with self._cond:
            buffer, self._buffer = self._buffer, _Buffer()
        if buffer.updates or buffer.pause or buffer.rested:
            self._retrying(
                lambda: self.store.record(
                    self.plan.id,
                    self.owner,
                    buffer.updates,
                    self.clock.now(),
                    buffer.pause,
                    rested=buffer.rested,
                ),
                answers=True,
            )

    def _retrying(self, operation: Callable[[], T], *, answers: bool = False) -> T:
        """``operation()``, tried again with growing waits while the database is unavailable.

        Writing ``answers`` goes on until done, even while the run stops; anything else gives
        up once the run is to stop. Both give up when the sender is abandoned.
        """
        delay = self.config.db_retry_s
        while True:
            try:
                return operation()
            except StoreUnavailable as exc:
                if self._abandoned.is_set() or (self.stop.is_set() and not answers):
                    raise
                logger.warning(
                    "campaign %s: the database is unavailable (%s); trying again in %.1f s",
                    self.plan.id,
                    exc,
                    delay,
                )
            self.clock.wait(self._abandoned if answers else self.stop, delay)
            delay = min(2 * delay, self.config.db_retry_max_s)


def pool_size(options: SendingOptions, config: SenderConfig) -> int:
    """Calls in flight needed to keep up the rate at the expected gateway latency."""
    if not options.rate_per_minute:
        return config.max_in_flight
    needed = math.ceil(options.rate_per_minute / 60 * config.expected_latency_s) + 1
    return max(1, min(config.max_in_flight, needed))
