"""Page latency with a million recipients in the database while a campaign sends, and export speed.

    python bench/web_bench.py [--recipients 1000000] [--requests 200]

Serves the real app over HTTP on loopback (a threaded server, the in-process sender running in
the same process, as in the embedded setup) against the sandbox gateway server in a process of
its own, with one campaign of ``--recipients`` (70% sent, 5% failed, 1% unknown, the rest
pending) and a second one sending while the pages are measured. Prints p50/p95 over
``--requests`` requests per page beside the health endpoint as the same-run baseline (target:
p95 <= 150 ms each), then the CSV export of the big campaign beside a bare SQL read of the same
rows: rows/s and the server's memory growth (target: >= 100,000 rows/s, <= 100 MB).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import text
from werkzeug.serving import make_server

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.engine_bench import TOKEN, SandboxProcess, make_list, start
from webapp import create_app
from webapp.accounts import create_user
from webapp.extensions import db
from webapp.models import OutcomeTally, utcnow
from webapp.sending import runner

PASSWORD = "bench password"


def memory_mb(field: str) -> float:
    """A field of /proc/self/status (VmRSS, VmHWM) in MB."""
    status = Path("/proc/self/status").read_text()
    return int(re.search(rf"{field}:\s+(\d+)", status).group(1)) / 1024


def reset_peak_memory() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # Linux: VmHWM starts again from VmRSS


def settle(app, campaign_id: int, recipients: int) -> None:
    """Give the big campaign the outcomes of one that has mostly run, as the sender would."""
    shares = (("sent", 0.70), ("failed", 0.05), ("unknown", 0.01))
    with app.app_context():
        first = db.session.scalar(
            text("SELECT min(id) FROM recipients WHERE campaign_id = :c"), {"c": campaign_id}
        )
        bound = first
        counts = {}
        hour = utcnow().replace(minute=0, second=0, microsecond=0)
        for status, share in shares:
            size = int(recipients * share)
            db.session.execute(
                text(
                    "UPDATE recipients SET status = :s, attempts = 1, sent_at = CURRENT_TIMESTAMP,"
                    " message_id = CASE WHEN :s = 'sent' THEN 'ID' || id END,"
                    " error = CASE WHEN :s = 'failed' THEN 'not a WhatsApp number' END"
                    " WHERE campaign_id = :c AND id >= :lo AND id < :hi"
                ),
                {"s": status, "c": campaign_id, "lo": bound, "hi": bound + size},
            )
            counts[f"count_{status}"] = size
            bound += size
            db.session.add(OutcomeTally(hour=hour, status=status, count=size))
        db.session.execute(
            text(
                "UPDATE campaigns SET status = 'paused', pause_code = 'user',"
                " count_sent = :count_sent, count_failed = :count_failed,"
                " count_unknown = :count_unknown,"
                " count_pending = count_total - :count_sent - :count_failed - :count_unknown"
                " WHERE id = :c"
            ),
            {**counts, "c": campaign_id},
        )
        db.session.commit()


def signed_in_client(base_url: str) -> httpx.Client:
    client = httpx.Client(base_url=base_url, timeout=120)
    page = client.get("/login").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post(
        "/login", data={"email": "bench@example.com", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302, "sign-in failed"
    return client


def latencies(client: httpx.Client, path: str, count: int) -> tuple[float, float]:
    took = []
    for _ in range(count):
        began = time.perf_counter()
        response = client.get(path)
        took.append(time.perf_counter() - began)
        assert response.status_code == 200, f"{path}: {response.status_code}"
    cuts = statistics.quantiles(took, n=20)
    return statistics.median(took) * 1000, cuts[18] * 1000


def export_speed(app, client: httpx.Client, campaign_id: int, recipients: int) -> None:
    with app.app_context():
        began = time.perf_counter()
        rows = 0
        result = db.session.execute(
            text(
                "SELECT r.phone, r.status, r.message_id, r.error, r.attempts, r.sent_at,"
                " c.fields_json FROM recipients r LEFT JOIN contacts c ON c.id = r.contact_id"
                " WHERE r.campaign_id = :c ORDER BY r.id"
            ).execution_options(yield_per=5000),
            {"c": campaign_id},
        )
        for _ in result:
            rows += 1
        bare = rows / (time.perf_counter() - began)
    reset_peak_memory()
    before = memory_mb("VmRSS")
    began = time.perf_counter()
    lines = 0
    with client.stream("GET", f"/campaigns/{campaign_id}/export.csv") as response:
        for chunk in response.iter_bytes():
            lines += chunk.count(b"\n")
    ours = (lines - 1) / (time.perf_counter() - began)
    growth = memory_mb("VmHWM") - before
    assert lines - 1 == recipients, f"{lines - 1} rows exported"
    print(f"Export of {recipients} results as CSV")
    print(f"   bare SQL read of the rows    {bare:10.0f} rows/s")
    print(f"   our CSV download             {ours:10.0f} rows/s   (target >= 100,000)")
    print(f"   server memory growth         {growth:10.1f} MB       (target <= 100)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="volna-web-bench-"))
    os.environ["VOLNA_INSTANCE_PATH"] = str(folder / "instance")
    sandbox = SandboxProcess()
    try:
        measure(args, folder, sandbox)
    finally:
        sandbox.stop()


def measure(args: argparse.Namespace, folder: Path, sandbox: SandboxProcess) -> None:
    sandbox.configure(latency_min_s=0.05, latency_max_s=0.15)
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'bench.sqlite3'}",
            "TELEFON_IP_TOKEN": TOKEN,
            "TELEFON_IP_BASE_URL": sandbox.base_url,
        }
    )
    with app.app_context():
        create_user("bench@example.com", PASSWORD, role="admin")
        db.session.commit()
    big, _ = start(app, make_list(app, args.recipients))
    settle(app, big, args.recipients)
    sending, _ = start(app, make_list(app, 20_000), rate_per_minute=1200)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access line per request
    sender = runner.start(app)
    try:
        client = signed_in_client(f"http://127.0.0.1:{server.port}")
        deep_page = int(args.recipients * 0.05) // 50 // 2  # halfway through the failed ones
        results = f"/campaigns/{big}/results?status=failed&page={deep_page}"
        pages = {
            "health (baseline)": "/api/v1/health",
            "dashboard": "/",
            "campaign page": f"/campaigns/{big}",
            "results, failed, deep page": results,
            "progress (htmx poll)": f"/campaigns/{sending}/progress",
        }
        print(f"Latency over {args.requests} requests each, {args.recipients} recipients stored,")
        print("a campaign sending at 1,200/min meanwhile")
        print(f"   {'page':32} {'p50 ms':>8} {'p95 ms':>8}")
        for name, path in pages.items():
            p50, p95 = latencies(client, path, args.requests)
            print(f"   {name:32} {p50:8.1f} {p95:8.1f}")
        print("   (target: p95 <= 150 ms each)")
        export_speed(app, client, big, args.recipients)
    finally:
        sender.stop()
        server.shutdown()


if __name__ == "__main__":
    main()
