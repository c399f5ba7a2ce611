"""Campaigns started by the service, a clock the tests move, gateways that answer on cue."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests import factories
from tests.factories import make_list, set_campaign_status
from webapp.extensions import db
from webapp.models import Campaign, Recipient
from webapp.sending.gateway import Outcome, SendResult, Turn, leaving
from webapp.sending.sandbox import (
    SandboxGateway,
    SandboxServer,
    SandboxState,
    make_sandbox_server,
)
from webapp.sending.sender import Sender, SenderConfig
from webapp.sending.store import SqlStore

TOKEN = "0b6f7c1e-integration-secret-token"
PHONE_COLUMN = "Телефон"
TEMPLATE = "{Здравствуйте|Добрый день}, {{ Имя }}!"


def phones(count: int, start: int = 0) -> list[str]:
    return [f"7900{n:07d}" for n in range(start, start + count)]


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll ``condition`` in real time until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


class FakeClock:
    """Time that passes only when the sender waits, and then at once."""

    def __init__(self, start: datetime = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)) -> None:
        self.start = start
        self.elapsed = 0.0
        self._lock = threading.Lock()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.elapsed)

    def monotonic(self) -> float:
        return self.elapsed

    def wait(self, event: threading.Event, seconds: float) -> bool:
        if not event.is_set():
            with self._lock:
                # A hair more, so a deadline computed as a sum is surely reached.
                self.elapsed += max(0.0, seconds) + 1e-9
        return event.is_set()


@dataclass
class Call:
    phone: str
    message: str
    app: int | None
    at: float


@dataclass
class ScriptedGateway:
    """Answers ``answer(phone, call number)`` and notes each call with the clock's time."""

    clock: FakeClock | None = None
    answer: Callable[[str, int], SendResult] = lambda phone, n: SendResult(
        Outcome.SENT, message_id=f"id-{phone}-{n}", gateway_status="1"
    )
    calls: list[Call] = field(default_factory=list)
    closed: bool = False

    def send_message(
        self, phone: str, message: str, app: int | None = None, *, turn: Turn | None = None
    ) -> SendResult:
        with leaving(turn):
            at = self.clock.monotonic() if self.clock else 0.0
            self.calls.append(Call(phone, message, app, at))
        return self.answer(phone, sum(c.phone == phone for c in self.calls))

    def close(self) -> None:
        self.closed = True

    def count(self, phone: str) -> int:
        return sum(c.phone == phone for c in self.calls)


@pytest.fixture
def make_campaign(app) -> Callable[..., int]:
    """A campaign over a new list of ``numbers``, started by the service (recipients
    materialized) with ``options`` and no account defaults, then put in ``status``."""

    def make(
        numbers: list[str],
        *,
        template: str = TEMPLATE,
        status: str = "running",
        **options: Any,
    ) -> int:
        with app.app_context():
            names = [{"Имя": f"Клиент {row}"} for row in range(2, len(numbers) + 2)]
            list_id = make_list(numbers, names, phone_column=PHONE_COLUMN).id
            campaign_id = factories.make_campaign(
                list_id, template, name="Акция", start=True, defaults={}, **options
            )
            set_campaign_status(campaign_id, status)
            return campaign_id

    return make


@pytest.fixture
def read(app):
    """``read(campaign_id)``: the campaign row and its recipients by phone, as they are now."""

    def read(campaign_id: int) -> tuple[Campaign, dict[str, Recipient]]:
        with app.app_context():
            campaign = db.session.get(Campaign, campaign_id)
            rows = db.session.scalars(
                select(Recipient).where(Recipient.campaign_id == campaign_id)
            ).all()
            db.session.expunge_all()
            return campaign, {r.phone: r for r in rows}

    return read


@pytest.fixture
def update_campaign(app):
    def update(campaign_id: int, **values: Any) -> None:
        with app.app_context():
            campaign = db.session.get(Campaign, campaign_id)
            for name, value in values.items():
                setattr(campaign, name, value)
            db.session.commit()

    return update


@pytest.fixture
def store(app) -> Iterator[SqlStore]:
    store = SqlStore.from_url(app.config["SQLALCHEMY_DATABASE_URI"])
    yield store
    store.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sandbox() -> SandboxState:
    return SandboxState(rng=random.Random(7))


FAST = SenderConfig(lease_s=20, heartbeat_s=5, flush_s=0.05, poll_s=0.05)


@pytest.fixture
def make_sender(store, clock, sandbox):
    """A sender on the real store and the fake clock, through ``gateway`` (else the sandbox)."""

    def make(gateway=None, *, config: SenderConfig = FAST, **kwargs: Any) -> Sender:
        gateway = gateway or SandboxGateway(sandbox, sleep=lambda s: None)
        return Sender(
            store,
            lambda: gateway,
            clock=kwargs.pop("clock", clock),
            config=config,
            rng=random.Random(3),
            **kwargs,
        )

    return make


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    """The sandbox gateway over loopback HTTP, accepting ``TOKEN``."""
    server = make_sandbox_server("127.0.0.1", 0, token=TOKEN, rng=random.Random(11))
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    thread.join(5)


def delivered(server: SandboxServer) -> Counter:
    """How many messages the sandbox took as sent, per phone."""
    return Counter(m.phone for m in server.state.messages())
