"""How fast and how evenly the sender sends, and how fast a large campaign starts.

    python bench/engine_bench.py [--recipients 20000] [--paced 1000] [--contacts 1000000]
        [--shared 2000] [--steps 1234]

1. Throughput: a bare ``httpx.Client`` keep-alive loop against the loopback sandbox server at
   zero latency, then our sender on ``--recipients`` recipients with no rate ceiling (SQLite,
   answers written in batches); messages per second and the ratio (target ≥ 0.5).
2. Pacing: ``--paced`` messages at 1,200/min through 250–350 ms of gateway latency; the
   achieved rate's error (target ≤ 2 %) and the smallest gap between two calls arriving at the
   sandbox (when the kernel received it), as a fraction of the interval (target ≥ 0.95).
3. Starting a campaign on a ``--contacts`` list: seconds to materialize its recipients
   (target ≤ 15 s on SQLite).
4. One WhatsApp number shared: two campaigns with no rate of their own send ``--shared``
   messages from one number whose ceiling is 1,200/min, through 250–350 ms of latency; the
   achieved rate's error (target ≤ 2 %) and the smallest gap at the sandbox (target ≥ 0.95).

The sandbox server runs in a process of its own, so it does not share our GIL, and keeps every
message of a step. ``--steps 24`` runs only steps 2 and 4.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx
from sqlalchemy import func, insert, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from webapp import create_app
from webapp.campaigns.service import create_campaign, start_campaign
from webapp.extensions import db
from webapp.models import Campaign, Contact, ContactList, utcnow
from webapp.numbers import update_number
from webapp.sending.sender import Sender
from webapp.sending.store import SqlStore
from webapp.sending.telefon_ip import TelefonIpClient

TOKEN = "bench-token"
TEMPLATE = "{Здравствуйте|Добрый день}, {{ Имя }}! Скидка 10% до конца недели."
SERVER = """
import sys
from webapp.sending.sandbox import make_sandbox_server
server = make_sandbox_server("127.0.0.1", 0, token=sys.argv[1], outbox_size=int(sys.argv[2]))
print(server.port, flush=True)
server.serve_forever()
"""


class SandboxProcess:
    """The sandbox gateway server in a child process."""

    def __init__(self, keep: int) -> None:
        """``keep``: how many of the latest messages it keeps, for measuring at the sandbox."""
        root = Path(__file__).resolve().parents[1]
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVER, TOKEN, str(keep)],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        port = int(self.process.stdout.readline())
        self.control = f"http://127.0.0.1:{port}/sandbox"
        self.base_url = f"http://127.0.0.1:{port}/whatsapp"

    def configure(self, **settings) -> None:
        httpx.post(f"{self.control}/config", json=settings).raise_for_status()

    def reset(self) -> None:
        httpx.delete(f"{self.control}/messages").raise_for_status()

    def records(self) -> dict:
        return httpx.get(f"{self.control}/messages", timeout=30).json()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def make_list(app, size: int) -> int:
    """A contact list of ``size`` contacts, inserted in large batches."""
    with app.app_context():
        contact_list = ContactList(
            name=f"bench {size}",
            phone_column="Телефон",
            columns_json=json.dumps(["Телефон", "Имя"], ensure_ascii=False),
            contact_count=size,
        )
        db.session.add(contact_list)
        db.session.commit()
        chunk = 50_000
        for start in range(0, size, chunk):
            rows = [
                {
                    "list_id": contact_list.id,
                    "row": n + 2,
                    "phone": f"79{n:09d}",
                    "fields_json": json.dumps({"Имя": f"Клиент {n}"}, ensure_ascii=False),
                }
                for n in range(start, min(size, start + chunk))
            ]
            db.session.execute(insert(Contact), rows)
        db.session.commit()
        return contact_list.id


def start(app, list_id: int, /, **options) -> tuple[int, float]:
    """Create and start a campaign on the list; its id and the seconds the start took."""
    with app.app_context():
        values = {"name": "bench", "list_id": list_id, "template": TEMPLATE, **options}
        campaign = create_campaign(db.session, values, defaults={})
        db.session.commit()
        began = time.perf_counter()
        start_campaign(db.session, campaign.id)
        db.session.commit()
        return campaign.id, time.perf_counter() - began


def send(app, sandbox: SandboxProcess, campaign_id: int) -> float:
    """Run the campaign to its end with our sender; the seconds it took."""
    store = SqlStore.from_url(app.config["SQLALCHEMY_DATABASE_URI"])
    client = TelefonIpClient(TOKEN, base_url=sandbox.base_url, max_connections=16)
    sender = Sender(store, lambda: client)
    began = time.perf_counter()
    assert sender.run_campaign(campaign_id)
    took = time.perf_counter() - began
    store.close()
    return took


def bare_loop(sandbox: SandboxProcess, count: int) -> float:
    """Messages per second of one keep-alive client calling in a loop."""
    url = f"{sandbox.base_url}/send_messages/{TOKEN}"
    with httpx.Client() as client:
        began = time.perf_counter()
        for n in range(count):
            response = client.get(url, params={"phone": f"78{n:09d}", "message": TEMPLATE})
            response.raise_for_status()
        return count / (time.perf_counter() - began)


def throughput(app, sandbox: SandboxProcess, recipients: int) -> None:
    bare = bare_loop(sandbox, min(recipients, 5000))
    sandbox.reset()
    campaign_id, _ = start(app, make_list(app, recipients), rate_per_minute=None)
    took = send(app, sandbox, campaign_id)
    attempts = sandbox.records()["attempts"]
    assert len(attempts) == recipients and set(attempts.values()) == {1}, "not each once"
    ours = recipients / took
    print("1. Throughput at zero latency, no rate ceiling")
    print(f"   bare httpx keep-alive loop   {bare:8.0f} msg/s")
    print(f"   our sender, {recipients} recip.  {ours:8.0f} msg/s")
    print(f"   ratio                        {ours / bare:8.2f}   (target >= 0.5)")


def pacing(app, sandbox: SandboxProcess, messages: int, rate: float = 1200) -> None:
    sandbox.configure(latency_min_s=0.25, latency_max_s=0.35)
    sandbox.reset()
    campaign_id, _ = start(app, make_list(app, messages), rate_per_minute=rate)
    send(app, sandbox, campaign_id)
    print(f"2. Pacing: {messages} messages at {rate:.0f}/min, 250-350 ms gateway latency")
    report_pace(sandbox, messages, rate)


def report_pace(sandbox: SandboxProcess, messages: int, rate: float) -> None:
    """The achieved rate and the smallest gap between two messages, as the sandbox saw them."""
    records = sandbox.records()
    arrived = sum(records["attempts"].values())
    assert arrived == len(records["messages"]) == messages, f"{arrived} of {messages} arrived"
    times = sorted(datetime.fromisoformat(m["time"]).timestamp() for m in records["messages"])
    interval = 60 / rate
    achieved = (len(times) - 1) / (times[-1] - times[0]) * 60
    smallest = min(b - a for a, b in itertools.pairwise(times))
    print(f"   achieved rate                {achieved:8.1f} /min")
    print(f"   rate error                   {abs(achieved - rate) / rate:8.2%}   (target <= 2%)")
    print(f"   smallest gap / interval      {smallest / interval:8.3f}   (target >= 0.95)")


def shared_number(app, sandbox: SandboxProcess, messages: int, rate: float = 1200) -> None:
    sandbox.configure(latency_min_s=0.25, latency_max_s=0.35)
    sandbox.reset()
    with app.app_context():
        update_number(db.session.connection(), "31", {"rate_per_minute": rate}, utcnow())
        db.session.commit()
    half = messages // 2
    campaigns = [start(app, make_list(app, size), app=31)[0] for size in (half, messages - half)]
    store = SqlStore.from_url(app.config["SQLALCHEMY_DATABASE_URI"])
    # A client per campaign run: each run closes its own when it ends.
    sender = Sender(store, lambda: TelefonIpClient(TOKEN, base_url=sandbox.base_url))
    thread = threading.Thread(target=sender.run)
    thread.start()
    with app.app_context():
        while db.session.scalar(
            select(func.count()).where(Campaign.id.in_(campaigns), Campaign.status != "completed")
        ):
            db.session.rollback()
            time.sleep(0.5)
    sender.stop()
    thread.join()
    store.close()
    print(f"4. One number, two campaigns: {messages} messages at a {rate:.0f}/min ceiling")
    report_pace(sandbox, messages, rate)


def materialize(app, contacts: int) -> None:
    list_id = make_list(app, contacts)
    _, took = start(app, list_id)
    print(f"3. Starting a campaign on {contacts} contacts")
    print(f"   materialized in              {took:8.1f} s   (target <= 15 s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--paced", type=int, default=1000)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--shared", type=int, default=2000)
    parser.add_argument("--steps", default="1234", help="the steps to run, e.g. 24 (default: all)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["VOLNA_INSTANCE_PATH"] = tmp
        app = create_app(
            {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.sqlite3", "LOG_LEVEL": "WARNING"}
        )
        sandbox = SandboxProcess(keep=max(args.recipients, args.paced, args.shared))
        try:
            if "1" in args.steps:
                throughput(app, sandbox, args.recipients)
            if "2" in args.steps:
                pacing(app, sandbox, args.paced)
            if "4" in args.steps:
                shared_number(app, sandbox, args.shared)
        finally:
            sandbox.stop()
        if "3" in args.steps:
            materialize(app, args.contacts)


if __name__ == "__main__":
    main()
