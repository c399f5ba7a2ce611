"""Files made to hurt the server: each is refused quickly with a 4xx, stores nothing, and the
server goes on answering, through the web upload and through the API."""

import io
import os
import random
import stat
import time
import zipfile
from pathlib import Path

import pytest
import xlwt

from tests.api.test_lists import post_list
from tests.web.test_lists import upload
from webapp import create_app
from webapp.contacts import ImportFileError, ImportLimits, import_contacts, preview_file
from webapp.contacts.isolated import READERS, read_isolated
from webapp.extensions import db

from .conftest import row_counts
from .test_bad_files import NOTHING, refused, refused_cheaply, sheet_xml, xlsx_with_sheet_xml

# A refusal is expected in milliseconds; the margin is for a busy CI machine.
QUICKLY_S = 5.0
TABLE_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"'
)
MANIFEST = (
    '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
    '<manifest:file-entry manifest:full-path="/" '
    'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/></manifest:manifest>'
)
HEADER_ROW = (
    '<table:table-row><table:table-cell office:value-type="string"><text:p>Телефон</text:p>'
    "</table:table-cell></table:table-row>"
)
PHONE_ROW = (
    '<table:table-row><table:table-cell office:value-type="string"><text:p>89243555100</text:p>'
    "</table:table-cell></table:table-row>"
)


def ods_bytes(rows: str, *, sheet: str = "Лист1", prolog: str = "") -> bytes:
    """An ODS whose only sheet holds `rows`, written by hand as a crafted file would be."""
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}<office:document-content {TABLE_NS}>'
        f'<office:body><office:spreadsheet><table:table table:name="{sheet}">{rows}'
        "</table:table></office:spreadsheet></office:body></office:document-content>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("content.xml", content)
        archive.writestr("META-INF/manifest.xml", MANIFEST)
    return buffer.getvalue()


def repeated_row(rows: int, columns: int) -> str:
    """One filled row, repeated: the kilobyte that asks calamine for rows × columns cells."""
    return (
        f'<table:table-row table:number-rows-repeated="{rows}">'
        f'<table:table-cell table:number-columns-repeated="{columns}" office:value-type="float" '
        'office:value="1"><text:p>1</text:p></table:table-cell></table:table-row>'
    )


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module", autouse=True)
def reader_started(tmp_path_factory):
    """Start the reading children's forkserver once, so timings measure reading alone."""
    path = tmp_path_factory.mktemp("warm") / "warm.csv"
    path.write_text("Телефон\n89243555100\n")
    preview_file(path, path.name)


def refused_quickly(conn, path, **options) -> ImportFileError:
    start = time.monotonic()
    error = refused(conn, path, **options)
    assert time.monotonic() - start < QUICKLY_S
    return error


# ODS


def test_ods_row_repeated_a_million_times_across_50_columns(conn, tmp_path):
    path = write(tmp_path, "bomb.ods", ods_bytes(HEADER_ROW + repeated_row(1_000_000, 50)))
    assert path.stat().st_size < 2048
    error = refused_quickly(conn, path)
    assert (error.status, error.params) == (422, {"count": 50_000_050, "limit": 10_000_000})
    assert refused_cheaply(path) == 422


def test_ods_filled_cells_repeated_to_the_last_column(conn, tmp_path):
    path = write(tmp_path, "wide.ods", ods_bytes(HEADER_ROW + repeated_row(2_000, 16_384)))
    error = refused_quickly(conn, path)
    assert (error.status, error.params) == (422, {"count": 16_384, "limit": 200})
    assert refused_cheaply(path) == 422


def test_ods_padded_to_the_sheet_edges_as_libreoffice_saves_it(conn, tmp_path):
    # Empty cells and rows repeated to the last column and row cost calamine nothing.
    padding = (
        '<table:table-row table:number-rows-repeated="1048574">'
        '<table:table-cell table:number-columns-repeated="16384"/></table:table-row>'
    )
    path = write(tmp_path, "padded.ods", ods_bytes(HEADER_ROW + PHONE_ROW + padding))
    report = import_contacts(conn, path, path.name, name="padded")
    assert (report.stored, report.columns) == (1, ["Телефон"])


def test_ods_with_entities_in_a_dtd(conn, tmp_path):
    laughs = '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    path = write(tmp_path, "dtd.ods", ods_bytes(HEADER_ROW + PHONE_ROW, prolog=laughs))
    assert refused_quickly(conn, path).status == 415


def test_ods_nested_ten_thousand_deep(conn, tmp_path):
    deep = "<text:span>" * 10_000 + "</text:span>" * 10_000
    cell = f'<table:table-row><table:table-cell office:value-type="string"><text:p>{deep}'
    path = write(
        tmp_path,
        "deep.ods",
        ods_bytes(HEADER_ROW + cell + "</text:p></table:table-cell></table:table-row>"),
    )
    assert refused_quickly(conn, path).status == 415


# XLS and XLSX


def test_xls_value_in_the_far_corner(conn, tmp_path):
    # calamine would build all 65,536 × 256 cells: a gigabyte for a 6 KB file.
    book = xlwt.Workbook()
    sheet = book.add_sheet("Лист1")
    sheet.write(0, 0, "Телефон")
    sheet.write(1, 0, "89243555100")
    sheet.write(65_535, 199, 1)
    path = tmp_path / "far.xls"
    book.save(str(path))
    error = refused_quickly(conn, path)
    assert (error.status, error.params) == (422, {"count": 13_107_200, "limit": 10_000_000})
    assert refused_cheaply(path) == 422


def test_xls_formatting_far_away_is_not_data(conn, tmp_path):
    book = xlwt.Workbook()
    sheet = book.add_sheet("Лист1")
    sheet.write(0, 0, "Телефон")
    sheet.write(1, 0, "89243555100")
    sheet.write(65_535, 255, None, xlwt.easyxf("font: bold on"))
    path = tmp_path / "formatted.xls"
    book.save(str(path))
    assert import_contacts(conn, path, path.name, name="xls").stored == 1


def test_xlsx_cells_without_references_are_counted(tmp_path):
    # r="…" is optional: calamine places such cells one after another, 200 wide here, and
    # builds the whole 150,001 × 200 rectangle before anything could measure it.
    rng = random.Random(7)
    wide_row = "<row>" + '<c t="inlineStr"><is><t>x</t></is></c>' * 200 + "</row>"
    rows = "".join(f"<row><c><v>{rng.randrange(10**10)}</v></c></row>" for _ in range(150_000))
    path = xlsx_with_sheet_xml(tmp_path / "norefs.xlsx", sheet_xml(wide_row + rows))
    assert refused_cheaply(path) == 422


# Text


def test_csv_whose_first_row_is_longer_than_the_sample(conn, tmp_path):
    # The sample sees one long cell; the 5,000 columns after it must not slip past the cap.
    header = "Телефон;" + "x" * 70_000 + ";" + ";".join(f"c{i}" for i in range(5_000))
    rows = ("89243555100;y;" + ";" * 4_999 + "\n") * 100
    path = write(tmp_path, "long.csv", (header + "\n" + rows).encode())
    error = refused_quickly(conn, path)
    assert (error.status, error.params) == (422, {"limit": 64})


# The child process


def test_a_file_that_needs_too_much_memory_is_refused(conn, tmp_path):
    # With the cell limit lifted, calamine sets out to build 50 million cells (3 GB).
    path = write(tmp_path, "bomb.ods", ods_bytes(HEADER_ROW + repeated_row(1_000_000, 50)))
    limits = ImportLimits(max_cells=10**12, max_memory_bytes=1 << 30)
    error = refused(conn, path, limits=limits)
    assert (error.status, error.params) == (422, {"limit": 1024})
    assert "memory" in str(error)


def test_a_file_that_takes_too_long_is_refused(conn, tmp_path):
    path = write(tmp_path, "long.ods", ods_bytes(HEADER_ROW + repeated_row(1_000_000, 1)))
    start = time.monotonic()
    error = refused(conn, path, limits=ImportLimits(max_seconds=0.5))
    assert time.monotonic() - start < QUICKLY_S
    assert (error.status, str(error)) == (
        422,
        "Reading the file took longer than 0.5 seconds: it is too large.",
    )


def cannot_run(path, filename, **options):
    """A reader whose child exits at once, as one that cannot import the server's code does."""
    os._exit(1)
    yield


def test_a_child_that_cannot_run_is_the_servers_fault_not_the_files(tmp_path, caplog):
    path = write(tmp_path, "list.csv", "Телефон\n89243555100\n".encode())
    with (
        pytest.raises(ImportFileError) as error,
        read_isolated(cannot_run, path, "list.csv") as parts,
    ):
        next(parts)
    assert (error.value.status, str(error.value)) == (
        503,
        "The server could not read the file; its log says why. Try again later.",
    )
    assert "could not run (exit code 1)" in caplog.text


def test_uploads_arriving_together_wait_their_turn_to_be_read(conn, tmp_path):
    path = write(tmp_path, "list.ods", ods_bytes(HEADER_ROW + PHONE_ROW))
    held = [READERS.acquire(blocking=False) for _ in range(2)]
    try:
        assert held == [True, True]
        assert not READERS.acquire(blocking=False)  # no more than two children at a time
        error = refused(conn, path, limits=ImportLimits(max_seconds=0.2))
    finally:
        for _ in held:
            READERS.release()
    assert (error.status, str(error)) == (
        503,
        "The server is busy reading other files; try again in a minute.",
    )
    assert import_contacts(conn, path, path.name, name="later").stored == 1


# Names


def test_long_file_sheet_and_column_names_are_cut(api, app):
    long_column, long_sheet = "Телефон " + "т" * 300, "Лист " + "л" * 300
    rows = HEADER_ROW.replace("Телефон", long_column) + PHONE_ROW
    response = post_list(api, ods_bytes(rows, sheet=long_sheet), "ф" * 300 + ".ods")
    assert response.status_code == 201, response.json
    body = response.json
    assert body["phone_column"] == long_column[:255]
    assert body["columns"] == [long_column[:255]]
    assert (body["sheet"], body["source_filename"]) == (long_sheet[:255], "ф" * 255)
    assert body["contacts"] == 1


def test_nul_characters_are_dropped_rather_than_failing_in_postgresql(api, app):
    # Past the sniffing sample, where a NUL no longer marks the file as binary.
    rows = "89243555100;Иван\n" * 5_000 + "89243555101;Ан\0на\n"
    response = post_list(api, f"Телефон;Имя\n{rows}".encode(), "спи\0сок.csv")
    assert response.status_code == 201, response.json
    assert (response.json["name"], response.json["source_filename"]) == ("список", "список.csv")
    contacts = api.get(f"/api/v1/lists/{response.json['id']}/contacts").json["items"]
    assert {item["phone"]: item["fields"]["Имя"] for item in contacts} == {
        "79243555100": "Иван",
        "79243555101": "Анна",
    }


# Files on disk


def test_instance_folder_and_database_files_are_private(tmp_path, monkeypatch):
    instance = tmp_path / "instance"
    monkeypatch.setenv("VOLNA_INSTANCE_PATH", str(instance))
    database = instance / "volna.sqlite3"
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}", "TESTING": True})
    with app.app_context():
        with db.engine.begin() as connection:  # a write, so that -wal and -shm exist
            connection.exec_driver_sql("CREATE TABLE probe (x INTEGER)")
        modes = {
            path.name: stat.S_IMODE(path.stat().st_mode)
            for path in (instance, database, instance / "volna.sqlite3-wal")
        }
        modes["shm"] = stat.S_IMODE((instance / "volna.sqlite3-shm").stat().st_mode)
        db.engine.dispose()
    assert modes == {
        "instance": 0o700,
        "volna.sqlite3": 0o600,
        "volna.sqlite3-wal": 0o600,
        "shm": 0o600,
    }


# Fuzz: every upload format, through both doors


def valid_files(folder: Path) -> dict[str, bytes]:
    """One small good file per format, for the fuzzer to cut and corrupt."""
    cells = '<row><c t="inlineStr"><is><t>89243555100</t></is></c></row>'
    old = xlwt.Workbook()
    sheet = old.add_sheet("Лист1")
    sheet.write(0, 0, "Телефон")
    sheet.write(1, 0, "89243555100")
    buffer = io.BytesIO()
    old.save(buffer)
    return {
        "xlsx": xlsx_with_sheet_xml(folder / "good.xlsx", sheet_xml(cells)).read_bytes(),
        "xls": buffer.getvalue(),
        "ods": ods_bytes(HEADER_ROW + PHONE_ROW),
    }


def hostile_files(seed: int, folder: Path) -> list[tuple[str, bytes]]:
    """(filename, content) of files that must all be refused: seeded, so a failure repeats."""
    rng = random.Random(seed)
    files = [
        (f"random.{kind}", rng.randbytes(rng.randrange(1, 5000)))
        for kind in ("csv", "txt", "xlsx", "xls", "ods")
    ]
    for kind, data in valid_files(folder).items():
        files.append((f"truncated.{kind}", data[: rng.randrange(1, len(data) - 1)]))
        flipped = bytearray(data)
        for position in rng.sample(range(len(flipped)), 40):
            flipped[position] = rng.randrange(256)
        files.append((f"flipped.{kind}", bytes(flipped)))
    depth = rng.randrange(5_000, 50_000)
    deep = sheet_xml("<row><c>" + "<is>" * depth + "</is>" * depth + "</c></row>")
    files.append(("deep.xlsx", xlsx_with_sheet_xml(folder / "deep.xlsx", deep).read_bytes()))
    files.append(("deep.ods", ods_bytes(HEADER_ROW + "<text:p>" * depth + "</text:p>" * depth)))
    rows, columns = rng.randrange(10**6, 10**9), rng.randrange(11, 10**6)
    files.append(("repeats.ods", ods_bytes(HEADER_ROW + repeated_row(rows, columns))))
    far = sheet_xml(
        f'<row r="{rng.randrange(3, 10**6)}">'
        f'<c r="{rng.choice(["XFD", "HZZ", "GS"])}1"><v>1</v></c></row>'
    )
    far_xlsx = xlsx_with_sheet_xml(folder / "far.xlsx", far)
    files.append(("far.xlsx", far_xlsx.read_bytes()))
    lines = ["Имя;Город", "Иван;Москва", "Zoë;Zürich", "名前;東京", "Ольга;Тверь"]
    encodings = ["utf-8", "cp1251", "utf-16", "koi8-r", "latin-1"]
    mixed = b"".join(
        (line + "\n").encode(rng.choice(encodings), errors="replace") for line in lines * 20
    )
    files.append(("mixed.csv", mixed + b"\x00" * rng.randrange(1, 10) + mixed))
    return files


FUZZ_SEEDS = [11, 12]


@pytest.mark.parametrize("seed", FUZZ_SEEDS)
def test_fuzzed_files_through_the_api(api, app, tmp_path, seed):
    for filename, data in hostile_files(seed, tmp_path):
        start = time.monotonic()
        response = post_list(api, data, filename)
        assert 400 <= response.status_code < 500, (filename, response.status_code)
        assert response.json["error"], filename
        assert time.monotonic() - start < QUICKLY_S, filename
        assert api.get("/api/v1/lists").status_code == 200
    assert_nothing_stored(app)


@pytest.mark.parametrize("seed", FUZZ_SEEDS)
def test_fuzzed_files_through_the_web_upload(admin_client, app, tmp_path, seed):
    for filename, data in hostile_files(seed, tmp_path):
        start = time.monotonic()
        uploaded = upload(admin_client, data, filename)
        response = admin_client.get(uploaded.headers["Location"])
        if response.status_code == 200:  # a preview: confirming the import must be refused
            response = admin_client.post(uploaded.headers["Location"], data={"name": "fuzz"})
        assert 400 <= response.status_code < 500, (filename, response.status_code)
        assert "alert-danger" in response.get_data(as_text=True), filename
        assert time.monotonic() - start < QUICKLY_S, filename
        assert admin_client.get("/lists/").status_code == 200
    assert_nothing_stored(app)


def assert_nothing_stored(app):
    """No rows in the import tables, and no table a reading child handed back left on disk."""
    with app.app_context(), db.engine.connect() as connection:
        assert row_counts(connection) == NOTHING
    assert not list(Path(app.instance_path).rglob("*.arrow"))
