"""Contact import speed against pandas reading the same file alone.

    python bench/import_bench.py                       # 1,000,000-row CSV, 100,000-row XLSX
    python bench/import_bench.py --rows 20000 --xlsx-rows 5000

Generates the files into bench/out/ (kept for reruns), then measures each step in a child
process of its own so that peak memory (ru_maxrss) is the step's alone: pandas reading the
file (``read_csv(dtype=str)``, ``read_excel(engine="calamine", dtype=str)``) and the whole
import (read, normalize, de-duplicate, store) into a fresh SQLite file with the real schema
and the app's pragmas. Targets (issue #12): CSV ≤ 2× pandas, XLSX ≤ 1.3× pandas, CSV peak ≤ 800 MB.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
TARGETS = {".csv": 2, ".xlsx": 1.3}
NAMES = ["Иван", "Мария", "Пётр", "Анна", "Сергей", "Ольга", "Дмитрий", "Елена", "Алексей"]
SURNAMES = ["Иванов", "Смирнова", "Кузнецов", "Попова", "Соколов", "Лебедева", "Новиков"]
CITIES = ["Москва", "Санкт-Петербург", "Казань", "Новосибирск", "Владивосток", "Тверь"]
HEADER = ["Телефон", "ФИО", "Город", "Комментарий"]


def everyday_phone(rng: random.Random) -> str | int:
    """A phone as people keep them: mostly mobiles in assorted formats, some junk, repeats."""
    digits = "9" + "".join(rng.choices("0123456789", k=9))
    shape = rng.random()
    if shape < 0.30:
        return f"+7 ({digits[:3]}) {digits[3:6]}-{digits[6:8]}-{digits[8:]}"
    if shape < 0.50:
        return f"8 {digits[:3]} {digits[3:6]} {digits[6:8]} {digits[8:]}"
    if shape < 0.70:
        return int("7" + digits)  # a numeric cell; the CSV writes it as digits
    if shape < 0.80:
        return digits
    if shape < 0.90:
        return f"8({digits[:3]}){digits[3:]}"
    if shape < 0.95:
        return "+7" + digits
    return rng.choice(["", "нет", "+7 495 123-45-67", "123", "+44 7911 123456", "89243555100"])


def client_rows(count: int, seed: int):
    rng = random.Random(seed)
    for i in range(count):
        name = f"{rng.choice(SURNAMES)} {rng.choice(NAMES)}"
        yield [everyday_phone(rng), name, rng.choice(CITIES), f"заказ №{i}, доставка"]


def make_csv(rows: int) -> Path:
    path = OUT / f"clients-{rows}.csv"
    if not path.exists():
        with path.open("w", encoding="utf-8", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(HEADER)
            writer.writerows(client_rows(rows, seed=1))
    return path


def make_xlsx(rows: int) -> Path:
    import xlsxwriter

    path = OUT / f"clients-{rows}.xlsx"
    if not path.exists():
        book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
        sheet = book.add_worksheet("Клиенты")
        sheet.write_row(0, 0, HEADER)
        for row, values in enumerate(client_rows(rows, seed=2), start=1):
            sheet.write_row(row, 0, values)
        book.close()
    return path


def measure(step: str, path: Path) -> dict:
    """Run one step in this process (the child): wall and CPU seconds, rows, peak memory."""
    import pandas as pd

    if step == "pandas":
        start, cpu = time.perf_counter(), time.process_time()
        if path.suffix == ".csv":
            frame = pd.read_csv(path, dtype=str)
        else:
            frame = pd.read_excel(path, engine="calamine", dtype=str)
        seconds, cpu, rows = time.perf_counter() - start, time.process_time() - cpu, len(frame)
    else:
        seconds, cpu, rows = import_into_fresh_sqlite(path)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "cpu": cpu, "rows": rows, "peak_mb": peak_mb}


def import_into_fresh_sqlite(path: Path) -> tuple[float, float, int]:
    from sqlalchemy import create_engine, event

    import webapp.models  # noqa: F401  (registers the tables)
    from webapp.contacts import import_contacts, preview_file
    from webapp.extensions import db

    database = OUT / f"{path.stem}.sqlite3"
    for leftover in OUT.glob(f"{database.name}*"):
        leftover.unlink()
    engine = create_engine(f"sqlite:///{database}")

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record):
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
            dbapi_connection.execute(f"PRAGMA {pragma}")

    db.metadata.create_all(engine)
    # A server has read an upload before: its forkserver of reading children is running.
    preview_file(path, path.name)
    start, cpu = time.perf_counter(), time.process_time()
    with engine.begin() as conn:
        report = import_contacts(conn, path, path.name, name=path.stem)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    engine.dispose()
    return seconds, cpu, report.stored + report.invalid + report.duplicates + report.opted_out


def in_child(step: str, path: Path) -> dict:
    child = subprocess.run(
        [sys.executable, __file__, "--measure", step, str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(child.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="CSV data rows")
    parser.add_argument("--xlsx-rows", type=int, default=100_000, help="XLSX data rows")
    parser.add_argument("--measure", nargs=2, metavar=("STEP", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        step, path = args.measure
        print(json.dumps(measure(step, Path(path))))
        return

    OUT.mkdir(parents=True, exist_ok=True)
    print(
        f"{'file':<28}{'step':<14}{'rows':>11}{'seconds':>9}{'CPU s':>7}{'rows/s':>11}"
        f"{'peak RSS':>10}"
    )
    for path in (make_csv(args.rows), make_xlsx(args.xlsx_rows)):
        pandas, ours = in_child("pandas", path), in_child("import", path)
        label = f"{path.name} ({path.stat().st_size / 2**20:.0f} MB)"
        for step, result in (("pandas alone", pandas), ("Volna import", ours)):
            print(
                f"{label:<28}{step:<14}{result['rows']:>11,}{result['seconds']:>9.2f}"
                f"{result['cpu']:>7.2f}"
                f"{result['rows'] / result['seconds']:>11,.0f}{result['peak_mb']:>7.0f} MB"
            )
            label = ""
        ratio = ours["seconds"] / pandas["seconds"]
        cpu_ratio = ours["cpu"] / pandas["cpu"]
        print(
            f"{'':<28}ratio ours/pandas {ratio:.2f}× wall, {cpu_ratio:.2f}× CPU"
            f" (target ≤ {TARGETS[path.suffix]}×)\n"
        )


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
