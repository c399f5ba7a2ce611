"""Reminder campaigns at scale: starting one, the sender between reminders, the timeline page.

    python bench/reminders_bench.py [--recipients 100000] [--seconds 10] [--requests 50]
        [--database postgresql+psycopg://...]

On ``--recipients`` contacts whose visits spread over the next 30 days (a new SQLite file, or
``--database``), each beside a baseline from the same run:

1. Start: seconds to start a campaign reminding 2 hours before each visit, beside starting
   the same list without a schedule (target ≤ 3 s).
2. Idle sender: a sender polling as deployed (every ``SENDER_POLL_S``) for ``--seconds``
   while the reminder campaign waits for its next reminder: CPU as a share of one core and
   SQL statements per poll, beside the same sender with no campaign to run (target ≤ 1 %,
   one query per poll).
3. Timeline: p50/p95 of the reminder campaign's page (timeline included) over
   ``--requests`` requests, beside the page of the campaign without a schedule (target p95
   ≤ 100 ms). On PostgreSQL the recipients are vacuumed first, as autovacuum does soon after
   a bulk insert.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import event, insert, text, update

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from webapp import create_app
from webapp.accounts import create_user
from webapp.campaigns.service import create_campaign, start_campaign
from webapp.extensions import db
from webapp.models import Campaign, Contact, ContactList, utcnow
from webapp.sending.sender import Sender, SenderConfig
from webapp.sending.store import SqlStore

SCHEDULE = {"column": "Визит", "rule": "before", "hours": 2}
TEMPLATE = "{{ Имя }}, ждём вас {{ Визит }}"
POLL_S = SenderConfig().poll_s  # as deployed


def make_visits(app, size: int) -> int:
    """A list of ``size`` contacts with visits from tomorrow to 30 days ahead, 10:00–19:45."""
    rng = random.Random(13)
    first = (utcnow() + timedelta(days=1)).date()
    with app.app_context():
        contact_list = ContactList(
            name="visits",
            phone_column="Телефон",
            columns_json=json.dumps(["Телефон", "Имя", "Визит"], ensure_ascii=False),
            contact_count=size,
        )
        db.session.add(contact_list)
        db.session.commit()
        rows = []
        for n in range(size):
            day = first + timedelta(days=rng.randrange(30))
            visit = f"{day:%d.%m.%Y} {rng.randrange(10, 20)}:{rng.choice(('00', '15', '30', '45'))}"
            fields = {"Имя": f"Клиент {n}", "Визит": visit}
            rows.append(
                {
                    "list_id": contact_list.id,
                    "row": n + 2,
                    "phone": f"79{n:09d}",
                    "fields_json": json.dumps(fields, ensure_ascii=False),
                }
            )
        db.session.execute(insert(Contact), rows)
        db.session.commit()
        return contact_list.id


def start(app, list_id: int, **options) -> tuple[int, float]:
    with app.app_context():
        values = {"name": "bench", "list_id": list_id, "template": TEMPLATE, **options}
        campaign = create_campaign(db.session, values, defaults={"send_window": None})
        db.session.commit()
        began = time.perf_counter()
        start_campaign(db.session, campaign.id)
        db.session.commit()
        return campaign.id, time.perf_counter() - began


class NoGateway:
    def send_message(self, phone, message, app=None):
        raise AssertionError("nothing is due: no call should be made")

    def close(self) -> None:
        pass


def idle_sender(url: str, seconds: float) -> tuple[float, float]:
    """A sender polling for ``seconds``: its CPU share of a core, SQL statements per poll."""
    store = SqlStore.from_url(url)
    statements = 0

    @event.listens_for(store.engine, "before_cursor_execute")
    def count(*args) -> None:
        nonlocal statements
        if not args[2].lstrip().upper().startswith(("BEGIN", "COMMIT")):
            statements += 1

    sender = Sender(store, NoGateway, config=SenderConfig(poll_s=POLL_S))
    busy = 0.0

    def run() -> None:
        nonlocal busy
        began = time.thread_time()
        sender.run()
        busy = time.thread_time() - began

    thread = threading.Thread(target=run)
    began = time.perf_counter()
    thread.start()
    time.sleep(seconds)
    sender.stop()
    thread.join()
    elapsed = time.perf_counter() - began
    store.close()
    return busy / elapsed, statements / (elapsed / POLL_S)


def rest(url: str, campaign_id: int) -> float:
    """Run the campaign until it finds nothing due and rests; the seconds that took."""
    store = SqlStore.from_url(url)
    began = time.perf_counter()
    Sender(store, NoGateway).run_campaign(campaign_id)
    took = time.perf_counter() - began
    store.close()
    return took


def pause(app, campaign_id: int) -> None:
    with app.app_context():
        db.session.execute(
            update(Campaign).where(Campaign.id == campaign_id).values(status="paused")
        )
        db.session.commit()


def page_latency(client, path: str, count: int) -> tuple[float, float]:
    times = []
    for _ in range(count):
        began = time.perf_counter()
        response = client.get(path)
        times.append(time.perf_counter() - began)
        assert response.status_code == 200, response.status_code
    times.sort()
    return statistics.median(times) * 1000, times[int(0.95 * (len(times) - 1))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--database")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database or f"sqlite:///{folder}/bench.sqlite3"
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": url,
                "SENDER_IN_PROCESS": False,
                "WTF_CSRF_ENABLED": False,
                "SECRET_KEY": "bench",
            }
        )
        list_id = make_visits(app, args.recipients)

        plain, plain_s = start(app, list_id)
        reminders, reminders_s = start(app, list_id, schedule=SCHEDULE)
        print(f"1. Start on {args.recipients} contacts (target ≤ 3 s)")
        print(f"   without a schedule (baseline): {plain_s:.2f} s")
        print(f"   with a schedule:               {reminders_s:.2f} s")

        pause(app, plain)
        resting_s = rest(url, reminders)
        with app.app_context():
            next_due = db.session.get(Campaign, reminders).next_due_at
        waiting = idle_sender(url, args.seconds)
        pause(app, reminders)
        baseline = idle_sender(url, args.seconds)
        print(f"2. Idle sender, polling every {POLL_S} s (target ≤ 1 % of a core, 1 query/poll)")
        print(
            f"   no campaign to run (baseline): {baseline[0]:.2%} CPU, {baseline[1]:.1f} SQL/poll"
        )
        print(f"   reminders waiting:             {waiting[0]:.2%} CPU, {waiting[1]:.1f} SQL/poll")
        print(
            f"   (finding nothing due took {resting_s * 1000:.0f} ms once; the campaign rests"
            f" until {next_due:%Y-%m-%d %H:%M} UTC)"
        )

        with app.app_context():
            create_user("bench@example.com", "bench password", role="admin")
            db.session.commit()
            if db.engine.dialect.name == "postgresql":
                # As autovacuum does soon after a bulk insert: index-only scans need it.
                with db.engine.connect() as conn:
                    conn.execution_options(isolation_level="AUTOCOMMIT").execute(
                        text("VACUUM ANALYZE recipients")
                    )
        client = app.test_client()
        client.post("/login", data={"email": "bench@example.com", "password": "bench password"})
        print(f"3. Campaign page, {args.requests} requests (target p95 ≤ 100 ms)")
        for label, campaign_id in (
            ("without a schedule (baseline)", plain),
            ("timeline", reminders),
        ):
            p50, p95 = page_latency(client, f"/campaigns/{campaign_id}", args.requests)
            print(f"   {label + ':':31}p50 {p50:.0f} ms, p95 {p95:.0f} ms")


if __name__ == "__main__":
    main()
