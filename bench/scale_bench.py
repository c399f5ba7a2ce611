"""A million clients end to end, on SQLite and PostgreSQL, each step beside its baseline.

    python bench/scale_bench.py                                  # 1,000,000 rows, both databases
    python bench/scale_bench.py --rows 100000 --database sqlite
    python bench/scale_bench.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test

Steps, each in a child process of its own so that its peak memory (ru_maxrss) is its alone,
the timed ones --repeat times (3) by turns with their baselines; medians are printed:
1. import of the CSV (bench/out/clients-N.csv, made by import_bench's generator) through
   ``import_contacts`` beside ``pandas.read_csv(dtype=str)`` of the same file (C engine);
   targets ≤ 2× and peak RSS ≤ 800 MB; as in a server that has read an upload before, the
   children that read files are warmed up by a preview first; then the same for an XLSX of
   --xlsx-rows rows (bench/out/clients-N.xlsx) beside ``pandas.read_excel(engine="calamine")``:
   ≤ 1.3×;
2. starting a campaign on the imported list (recipients materialized): ≤ 5 s;
3. CSV export of the campaign's results once all are sent, through the app's download
   response, beside ``DataFrame.to_csv`` of the same rows (read back from our file): ≥ 300k
   rows/s and ≤ 1× pandas; RSS growth while exporting ≤ 50 MB, measured after a first
   batch has loaded what any export loads, as in a server that has exported before;
4. XLSX export of the same: ≥ 100k rows/s, RSS growth reported (constant memory).
SQLite runs in a fresh file under bench/out/; PostgreSQL in a schema of its own, dropped after.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TEMPLATE = "Здравствуйте, {{ ФИО }}! Ваш заказ в городе {{ Город }} готов."


class Stopwatch:
    """Wall and CPU seconds since it was made (CPU time is steadier on a shared machine)."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def read(self) -> dict:
        return {"seconds": time.perf_counter() - self.wall, "cpu": time.process_time() - self.cpu}


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def app_for(url: str):
    from webapp import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})


def step_pandas_read(url: str, path: str) -> dict:
    import pandas as pd

    watch = Stopwatch()
    if path.endswith(".csv"):
        frame = pd.read_csv(path, dtype=str)
    else:
        frame = pd.read_excel(path, engine="calamine", dtype=str)
    return {**watch.read(), "rows": len(frame), "peak_mb": peak_mb()}


def step_import(url: str, path: str) -> dict:
    from webapp.contacts import import_contacts, preview_file
    from webapp.extensions import db

    app = app_for(url)
    with app.app_context():
        # A server has read an upload before: its forkserver of reading children is running.
        preview_file(path, Path(path).name)
        before = peak_mb()
        watch = Stopwatch()
        report = import_contacts(db.session.connection(), path, Path(path).name, name="bench")
        db.session.commit()
        timing = watch.read()
    rows = report.stored + report.invalid + report.duplicates + report.opted_out
    return {
        **timing,
        "rows": rows,
        "stored": report.stored,
        "list_id": report.list_id,
        "peak_mb": peak_mb(),
        "growth_mb": peak_mb() - before,
    }


def step_start(url: str, list_id: str) -> dict:
    from sqlalchemy import func, select, update

    from webapp.campaigns.service import create_campaign, start_campaign
    from webapp.extensions import db
    from webapp.models import Campaign, Recipient, utcnow

    app = app_for(url)
    with app.app_context():
        values = {"name": "bench", "list_id": int(list_id), "template": TEMPLATE}
        campaign_id = create_campaign(db.session, values, defaults={}).id
        db.session.commit()
        watch = Stopwatch()
        start_campaign(db.session, campaign_id)
        db.session.commit()
        timing = watch.read()
        # What the sender would leave behind (not timed): everyone sent, as the export sees it.
        db.session.execute(
            update(Recipient)
            .where(Recipient.campaign_id == campaign_id, Recipient.status == "pending")
            .values(
                status="sent",
                message="Здравствуйте! Ваш заказ готов.",
                message_id="3EB0C767D26A1A8F",
                gateway_status="delivered",
                attempts=1,
                sent_at=utcnow(),
            )
        )
        total = db.session.scalar(select(func.count()).where(Recipient.campaign_id == campaign_id))
        db.session.execute(
            update(Campaign)
            .where(Campaign.id == campaign_id)
            .values(status="completed", count_sent=Campaign.count_pending, count_pending=0)
        )
        db.session.commit()
    return {**timing, "rows": total, "campaign_id": campaign_id, "peak_mb": peak_mb()}


def step_export(url: str, campaign_id: str, file_format: str, target: str) -> dict:
    import pytz

    from webapp.extensions import db
    from webapp.models import Campaign
    from webapp.results.export import export_response

    app = app_for(url)
    with app.test_request_context(), open(target, "wb") as file:
        campaign = db.session.get(Campaign, int(campaign_id))

        def export() -> Iterator[bytes]:
            return export_response(
                db.session,
                campaign,
                file_format,
                status=None,
                search="",
                translate=str,
                timezone=pytz.timezone("Europe/Moscow"),
            ).response

        # A server has exported before: libraries and caches are loaded by a first batch.
        warm_up = export()
        next(warm_up)  # the header, or the whole file for XLSX
        next(warm_up, None)  # the first batch of rows
        warm_up.close()  # as when a client goes away: its request's transaction ends
        db.session.rollback()
        before = peak_mb()
        watch = Stopwatch()
        for chunk in export():
            file.write(chunk)
        timing = watch.read()
    rows = campaign.count_total
    return {**timing, "rows": rows, "peak_mb": peak_mb(), "growth_mb": peak_mb() - before}


def step_pandas_write(url: str, exported: str) -> dict:
    import pandas as pd

    frame = pd.read_csv(exported, sep=";", dtype=str, encoding="utf-8-sig", keep_default_na=False)
    watch = Stopwatch()
    frame.to_csv(Path(exported).with_suffix(".pandas.csv"), sep=";", index=False)
    return {**watch.read(), "rows": len(frame), "peak_mb": peak_mb()}


STEPS = {
    "pandas_read": step_pandas_read,
    "import": step_import,
    "start": step_start,
    "export": step_export,
    "pandas_write": step_pandas_write,
}


def in_child(step: str, *args: str) -> dict:
    child = subprocess.run(
        [sys.executable, __file__, "--step", step, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if child.returncode:
        raise RuntimeError(f"{step} failed:\n{child.stderr[-3000:]}")
    return json.loads(child.stdout.strip().splitlines()[-1])


class Database:
    """A fresh SQLite file or PostgreSQL schema, migrated, removed afterwards."""

    def __init__(self, kind: str, postgres: str) -> None:
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        self.kind = kind
        if kind == "sqlite":
            self.path = OUT / f"scale-{uuid.uuid4().hex[:8]}.sqlite3"
            self.url = f"sqlite:///{self.path}"
        else:
            self.schema = f"volna_bench_{uuid.uuid4().hex[:12]}"
            self.admin = create_engine(postgres, isolation_level="AUTOCOMMIT")
            with self.admin.connect() as connection:
                connection.execute(text(f'CREATE SCHEMA "{self.schema}"'))
            options = {"options": f"-csearch_path={self.schema}"}
            self.url = make_url(postgres).update_query_dict(options).render_as_string(False)
        app_for(self.url)  # migrates

    def drop(self) -> None:
        from sqlalchemy import text

        if self.kind == "sqlite":
            for leftover in OUT.glob(f"{self.path.name}*"):
                leftover.unlink()
        else:
            with self.admin.connect() as connection:
                connection.execute(text(f'DROP SCHEMA "{self.schema}" CASCADE'))
            self.admin.dispose()


def row(work: str, ours: dict, base: dict | None, target: str, met: bool) -> None:
    """One line: rows, wall and CPU seconds, rate, the baseline and ratio, memory, verdict."""
    rate = ours["rows"] / ours["seconds"]
    baseline = f"{base['seconds']:6.2f}/{base['cpu']:5.2f}" if base else ""
    ratio = (
        f"{ours['seconds'] / base['seconds']:.2f}/{ours['cpu'] / base['cpu']:.2f}×" if base else ""
    )
    growth = f"+{ours['growth_mb']:.0f}" if "growth_mb" in ours else ""
    print(
        f"{work:<14}{ours['rows']:>10,}{ours['seconds']:7.2f}/{ours['cpu']:5.2f}{rate:>10,.0f}/s"
        f"{baseline:>13}{ratio:>12}{ours['peak_mb']:>6.0f}{growth:>5}  {target:<31}"
        f"{'met' if met else 'MISSED'}",
        flush=True,
    )


def paired(repeat: int, base: tuple[str, ...], ours: tuple[str, ...]) -> tuple[dict, dict]:
    """Our step and its baseline run by turns `repeat` times (ours first: an export's baseline
    reads our file): median times, largest memory."""
    ours_runs, base_runs = [], []
    for _ in range(repeat):
        ours_runs.append(in_child(*ours))
        base_runs.append(in_child(*base))
    return median_run(base_runs), median_run(ours_runs)


def median_run(runs: list[dict]) -> dict:
    """The last run, its times the medians of all, its memory the largest."""
    result = dict(runs[-1])
    for key in ("seconds", "cpu"):
        result[key] = statistics.median(run[key] for run in runs)
    for key in ("peak_mb", "growth_mb"):
        if key in result:
            result[key] = max(run[key] for run in runs)
    return result


def bench(kind: str, csv_path: Path, xlsx_path: Path, postgres: str, repeat: int) -> None:
    database = Database(kind, postgres)
    try:
        print(
            f"\n{kind}: {csv_path.name} ({csv_path.stat().st_size / 2**20:.0f} MB); baselines:"
            " import → pandas read_csv/read_excel, CSV export → pandas to_csv of the same rows"
        )
        print(
            f"{'work':<14}{'rows':>10}{'wall/CPU s':>13}{'rate':>12}{'baseline s':>13}"
            f"{'ratio':>12}{'MB':>6}{'+MB':>5}  {'target (on wall time)':<31}verdict"
        )
        url, csv_file, xlsx_file = database.url, str(csv_path), str(xlsx_path)
        read, ours = paired(repeat, ("pandas_read", url, csv_file), ("import", url, csv_file))
        ratio = ours["seconds"] / read["seconds"]
        row(
            "import",
            ours,
            read,
            "≤ 2× pandas, peak ≤ 800 MB",
            ratio <= 2 and ours["peak_mb"] <= 800,
        )
        read, workbook = paired(repeat, ("pandas_read", url, xlsx_file), ("import", url, xlsx_file))
        ratio = workbook["seconds"] / read["seconds"]
        row("XLSX import", workbook, read, "≤ 1.3× pandas", ratio <= 1.3)
        started = in_child("start", url, str(ours["list_id"]))
        row("start", started, None, "≤ 5 s", started["seconds"] <= 5)
        target = OUT / f"scale-{kind}.csv"
        campaign = str(started["campaign_id"])
        written, exported = paired(
            repeat,
            ("pandas_write", url, str(target)),
            ("export", url, campaign, "csv", str(target)),
        )
        assert written["rows"] == exported["rows"], f"{written['rows']} rows in the CSV"
        rate = exported["rows"] / exported["seconds"]
        row(
            "CSV export",
            exported,
            written,
            "≥ 300k/s, ≤ 1× pandas, +≤ 50 MB",
            rate >= 300_000
            and exported["seconds"] <= written["seconds"]
            and exported["growth_mb"] <= 50,
        )
        xlsx = OUT / f"scale-{kind}.xlsx"
        exported = median_run(
            [in_child("export", url, campaign, "xlsx", str(xlsx)) for _ in range(repeat)]
        )
        rate = exported["rows"] / exported["seconds"]
        row("XLSX export", exported, None, "≥ 100k/s, constant memory", rate >= 100_000)
        for leftover in (target, target.with_suffix(".pandas.csv"), xlsx):
            leftover.unlink(missing_ok=True)
    finally:
        database.drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="CSV data rows")
    parser.add_argument("--xlsx-rows", type=int, default=100_000, help="XLSX data rows")
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--postgres", default=POSTGRES, help="server URL (a schema is made)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each timed step and its baseline (medians)"
    )
    parser.add_argument("--step", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        name, *values = args.step
        print(json.dumps(STEPS[name](*values)))
        return
    from import_bench import make_csv, make_xlsx

    OUT.mkdir(parents=True, exist_ok=True)
    csv_path, xlsx_path = make_csv(args.rows), make_xlsx(args.xlsx_rows)
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    for kind in kinds:
        bench(kind, csv_path, xlsx_path, args.postgres, args.repeat)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "bench"))
    main()
