"""A person's first day with Volna, in a real browser against a real server.

The steps run in order on one page, the first hour of a newcomer: create the administrator and
find a first-steps checklist, sign out and in, have a wrong file refused without losing it,
upload a cp1251 CSV from Excel and import it, write a message with column chips, preview it,
send a test, see the estimate follow the pace and pauses, launch and watch the campaign finish
live, read and filter the results, export them, pause and resume a second campaign, and open
the settings. Pages are in Russian, as a new user sees them; texts are looked up in the app's
own catalogue, so a changed wording does not break the tests but a page left in English does
not pass either (``lang="ru"`` is checked too).

Every main page is checked by axe-core (no serious or critical accessibility violation) and
photographed at desktop width and 390 px wide into ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import openpyxl
import pytest
from playwright.sync_api import Page, expect

from webapp.sending.sandbox import Fault

from .conftest import CHROMIUM, DESKTOP

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is missing (CI installs Debian's chromium)"
)

ADMIN_EMAIL = "olga@clinic.example"
PASSWORD = "Весна-2026-пароль"
LIST_NAME = "Клиенты на март"
TEST_PHONE_TYPED, TEST_PHONE = "+7 999 123-45-67", "79991234567"
TEMPLATE = "Здравствуйте, {{ ФИО }}! Ждём вас {{ Дата визита }}."
# Longer than the results table shows in a line: it is cut there and shown whole on a click.
LONG_TEMPLATE = (
    "Добрый день, {{ ФИО }}! С понедельника клиника работает по новому графику: "
    "с 8 до 21 без выходных. Ждём вас!"
)
FAST_RATE, PAUSABLE_RATE = "400", "200"  # messages per minute: ~4 s and ~8 s for the list
FINISH_TIMEOUT_MS = 30_000

SURNAMES = [
    "Иванов", "Смирнов", "Кузнецов", "Попов", "Васильев", "Петров", "Соколов", "Михайлов",
    "Новиков", "Фёдоров", "Морозов", "Волков", "Алексеев", "Лебедев", "Семёнов", "Егоров",
    "Павлов", "Козлов", "Степанов", "Николаев", "Орлов", "Андреев", "Макаров", "Никитин",
    "Захаров", "Зайцев", "Соловьёв", "Борисов",
]  # fmt: skip
PHONE_FORMATS = ["+7 (916) 555-{a}-{b}", "8 916 555 {a} {b}", "7916555{a}{b}", "8(916)555{a}{b}"]


@dataclass
class Contact:
    name: str
    phone: str
    """As Volna stores it: digits with the country code."""
    visit: str

    @property
    def message(self) -> str:
        return f"Здравствуйте, {self.name}! Ждём вас {self.visit}."


@dataclass
class Journey:
    """What the steps learn and hand on to the ones after them."""

    contacts: list[Contact] = field(default_factory=list)
    list_url: str = ""
    results_url: str = ""
    outcome: Counter = field(default_factory=Counter)


@pytest.fixture(scope="module")
def journey() -> Journey:
    return Journey()


def make_csv(folder: Path) -> tuple[Path, list[Contact]]:
    """An Excel-style export: cp1251, ``;``, 30 rows with one bad phone and one repeated one."""
    contacts = []
    for i, surname in enumerate(SURNAMES):
        a, b = f"{10 + i:02d}", f"{40 + i:02d}"
        written = PHONE_FORMATS[i % len(PHONE_FORMATS)].format(a=a, b=b)
        name = f"{surname}а Анна Сергеевна" if i % 2 else f"{surname} Иван Сергеевич"
        contacts.append((name, written, f"7916555{a}{b}", f"{1 + i:02d}.03.2026"))
    rows = [(name, written, visit) for name, written, _phone, visit in contacts]
    rows.insert(10, ("Ошибкин Ошибка", "12-34", "05.03.2026"))  # not a phone number
    rows.insert(20, ("Иванов Иван Сергеевич (ещё раз)", "+7 916 555 10 40", "06.03.2026"))
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(["ФИО", "Телефон", "Дата визита"])
    writer.writerows(rows)
    path = folder / "клиенты март.csv"
    path.write_bytes(buffer.getvalue().encode("cp1251"))
    assert len(rows) == 30
    return path, [Contact(name, phone, visit) for name, _w, phone, visit in contacts]


def flash(page: Page):
    return page.locator("main > .alert")


def badge(page: Page):
    return page.locator("#progress .badge").first


def count(page: Page, key: str) -> int:
    return int(page.locator(f'#progress [data-count="{key}"]').inner_text().replace("\xa0", ""))


def launch(page: Page, t, tn, rate: str) -> None:
    """On the options page: pace, no send window, tick the confirmation, launch."""
    page.fill("#window_start", "")
    page.fill("#window_end", "")
    page.fill("#delay_min_s", "")
    page.fill("#delay_max_s", "")
    with page.expect_response(lambda r: r.url.endswith("/estimate")):
        page.fill("#rate_per_minute", rate)
    page.get_by_label(
        tn(
            "I want to send this message to %(num)s recipient.",
            "I want to send this message to %(num)s recipients.",
            28,
        )
    ).check()
    page.get_by_role("button", name=t("Launch the campaign")).click()
    expect(flash(page)).to_have_text(t("The campaign is launched."))


def watch_to_the_end(page: Page, t) -> None:
    """Wait for 100% and "completed" on the page as it is, proving it was not reloaded."""
    page.evaluate("window.__notReloaded = true")
    expect(page.locator("#progress [data-percent]")).to_have_text("100%", timeout=FINISH_TIMEOUT_MS)
    expect(badge(page)).to_have_text(t("Completed"))
    assert page.evaluate("window.__notReloaded === true"), "the page reloaded itself"
    expect(page.get_by_role("button", name=t("Pause"))).to_have_count(0)


def test_first_run_asks_for_the_administrator(page: Page, t, shot):
    page.goto("/")

    expect(page).to_have_url(re.compile(r"/setup$"))
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(page.get_by_role("heading", name=t("Welcome to Volna"))).to_be_visible()
    shot("00-setup")
    page.fill("#email", ADMIN_EMAIL)
    page.fill("#password", PASSWORD)
    page.fill("#confirm", PASSWORD)
    page.get_by_role("button", name=t("Create administrator")).click()

    expect(page).to_have_url(re.compile(r"/$"))
    expect(flash(page)).to_have_text(t("Administrator created. Welcome!"))
    expect(page.get_by_role("heading", name=t("Dashboard"))).to_be_visible()
    expect(page.locator("nav")).to_contain_text(ADMIN_EMAIL)
    expect(page.get_by_text(t("Nothing is being sent right now."))).to_be_visible()
    # A checklist of the way to a first campaign instead of an empty chart.
    expect(page.get_by_role("heading", name=t("First steps"))).to_be_visible()
    steps = page.locator("[data-step]")
    expect(steps).to_have_text(
        [
            re.compile(re.escape(t("Connect the gateway"))),
            re.compile(re.escape(t("Upload a contact list"))),
            re.compile(re.escape(t("Send a test message to yourself"))),
            re.compile(re.escape(t("Launch the first campaign"))),
        ]
    )
    # The tests' server has a gateway token: that step is done, the others are links to do.
    expect(steps.first).to_have_attribute("data-done", "true")
    expect(steps.first).to_contain_text(t("Done:"))
    for step in steps.all()[1:]:
        expect(step).to_have_attribute("data-done", "false")
        expect(step.get_by_role("link")).to_be_visible()
    expect(page.locator("[data-no-messages]")).to_have_text(
        t("No messages yet. Once a campaign sends, messages per day and per hour show here.")
    )
    expect(page.locator("canvas")).to_have_count(0)
    shot("01-dashboard-first-run")


def test_pages_refuse_inline_code_and_the_console_watch_sees_it(page: Page, console):
    """The pages' CSP blocks inline scripts and styles, and a violation reaches the console
    watch, so the clean consoles asserted after every step mean something."""
    blocked = page.evaluate(
        """() => {
            const script = document.createElement("script");
            script.textContent = "window.__inlineRan = true";
            document.body.append(script);
            const styled = '<p id="styled" style="color: red">x</p>';
            document.body.insertAdjacentHTML("beforeend", styled);
            return [window.__inlineRan === undefined,
                    getComputedStyle(document.getElementById("styled")).color];
        }"""
    )
    assert blocked == [True, page.evaluate("getComputedStyle(document.body).color")]
    page.wait_for_timeout(200)  # console messages arrive asynchronously
    errors = console.take()
    assert any("Content Security Policy" in e and "script" in e for e in errors), errors
    assert any("Content Security Policy" in e and "style" in e for e in errors), errors
    page.reload()


def test_sign_out_and_back_in(page: Page, t, shot):
    page.get_by_role("button", name=t("Sign out")).click()
    expect(flash(page)).to_have_text(t("You have signed out."))

    page.goto("/campaigns/")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    shot("00-login")
    page.fill("#email", ADMIN_EMAIL)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name=t("Sign in")).click()

    expect(page).to_have_url(re.compile(r"/campaigns/$"))
    expect(page.get_by_role("heading", name=t("Campaigns"))).to_be_visible()
    expect(page.locator("nav")).to_contain_text(ADMIN_EMAIL)


def refused(page: Page, name: str, reason: str) -> None:
    """The upload page explains the refusal above the form, which keeps the file and the focus."""
    error = page.locator("#upload-error")
    expect(error).to_contain_text(f"{name}: {reason}")
    expect(error).to_be_focused()
    expect(page).to_have_url(re.compile(r"/lists/new$"))
    assert page.locator("#file").evaluate("input => input.files[0].name") == name
    expect(page.locator("#file")).to_have_attribute("aria-invalid", "true")


def test_a_refused_upload_keeps_the_file_and_says_what_to_do(
    page: Page, t, shot, live_app, console, tmp_path
):
    page.get_by_role("link", name=t("Dashboard")).click()
    page.locator('[data-step="list"]').get_by_role("link").click()
    expect(page.get_by_role("heading", name=t("Upload a list"))).to_be_visible()
    shot("02-upload")

    wrong = tmp_path / "прайс.pdf"
    wrong.write_bytes(b"%PDF-1.4 not a list of clients")
    page.set_input_files("#file", wrong)
    page.get_by_role("button", name=t("Upload and check")).click()
    reason = t(
        "Files of type “%(type)s” cannot be imported: use CSV, TXT, XLSX, XLS or ODS.",
        type=".pdf",
    )
    refused(page, "прайс.pdf", reason)
    expect(page.locator("#upload-error")).to_contain_text(
        t("Choose another file, or fix this one and upload it again.")
    )
    shot("02-upload-refused")

    big = tmp_path / "все клиенты.csv"
    big.write_bytes(b"phone\r\n" + b"79160000000\r\n" * 120_000)  # 1.5 MB
    live_app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    try:
        page.set_input_files("#file", big)
        page.get_by_role("button", name=t("Upload and check")).click()
        too_large = t(
            "The file is larger than %(mb)s MB. Split it or remove unneeded columns.", mb=1
        )
        refused(page, "все клиенты.csv", too_large)
    finally:
        live_app.config["MAX_CONTENT_LENGTH"] = 50 * 1024 * 1024
    # The browser logs both refusals; they are the answers this step expects, nothing else.
    statuses = [re.search(r"status of (\d+)", e) for e in console.take()]
    assert [m and m.group(1) for m in statuses] == ["415", "413"]


def test_upload_a_cp1251_csv_and_map_its_columns(page: Page, t, tn, shot, journey, tmp_path):
    path, journey.contacts = make_csv(tmp_path)
    page.get_by_role("link", name=t("Dashboard")).click()
    page.get_by_role("link", name=t("Upload a list")).first.click()
    page.set_input_files("#file", path)
    page.get_by_role("button", name=t("Upload and check")).click()

    expect(page).to_have_url(re.compile(r"/lists/new/[\w-]+$"))
    expect(page.get_by_role("heading", name=t("Check the columns"))).to_be_visible()
    summary = page.locator("main p").first
    expect(summary).to_contain_text("клиенты март.csv")
    expect(summary).to_contain_text(re.compile(r"cp1251|windows-1251", re.I))
    expect(summary.locator("code")).to_have_text(";")
    expect(page.locator("#phone_column")).to_have_value("Телефон")
    expect(page.locator("th.table-primary")).to_have_text("Телефон")
    first_rows = page.locator("table tbody")
    expect(first_rows).to_contain_text("Иванов Иван Сергеевич")  # decoded, not mojibake
    expect(first_rows).to_contain_text("Фёдоров")
    shot("03-mapping")

    page.fill("#name", LIST_NAME)
    page.get_by_role("button", name=t("Import the list")).click()

    expect(flash(page)).to_have_text(
        tn("The list is imported: %(num)s contact.", "The list is imported: %(num)s contacts.", 28)
    )
    expect(flash(page)).to_contain_text("28 контактов")  # the Russian plural for 28
    expect(page.get_by_role("heading", name=LIST_NAME)).to_be_visible()
    cards = page.locator(".card-body")
    for label, value in [
        (t("Stored"), 28),
        (t("Invalid numbers"), 1),
        (t("Duplicates"), 1),
        (t("Opted out"), 0),
    ]:
        expect(cards.filter(has_text=label)).to_contain_text(str(value))
    # The rows left out are right there under the counts, with their reasons, not folded away.
    rejects = page.locator("[data-rejects] table").first
    expect(rejects).to_be_visible()
    expect(rejects.locator("tbody tr")).to_have_count(2)
    expect(rejects.locator("tr").filter(has_text="12-34")).to_contain_text(
        re.compile("|".join(map(re.escape, [t("not a phone number"), t("too short")])))
    )
    expect(rejects.locator("tr").filter(has_text="+7 916 555 10 40")).to_contain_text(
        t("duplicate of an earlier row")
    )
    shot("03-list")
    journey.list_url = page.url

    page.get_by_role("link", name=t("Contact lists")).click()
    row = page.locator("tbody tr").filter(has_text=LIST_NAME)
    expect(row).to_contain_text("клиенты март.csv")
    expect(row.locator("td").nth(1)).to_have_text("28")
    expect(row.locator("td").nth(2)).to_have_text("2")
    shot("02-lists")


def test_write_the_message_with_column_chips(page: Page, t, shot):
    page.get_by_role("link", name=t("Dashboard")).click()
    expect(page.locator('[data-step="list"]')).to_have_attribute("data-done", "true")
    page.get_by_role("link", name=t("New campaign")).click()

    steps = page.get_by_role("navigation", name=t("Steps"))
    expect(steps.locator('[aria-current="step"]')).to_have_text(t("1. Message"))
    # Nothing written yet, so nothing is called fine.
    expect(page.locator("#template-check")).to_have_text(
        t("Write the message: it is checked as you type.")
    )
    page.fill("#name", "Напоминание о визите")
    expect(page.locator("#list_id option:checked")).to_contain_text(LIST_NAME)
    chips = page.locator("[data-chips] button")
    expect(chips).to_have_text(["ФИО", "Телефон", "Дата визита"])
    editor = page.locator("#template")
    editor.click()
    page.keyboard.type("Здравствуйте, ")
    chips.filter(has_text="ФИО").click()
    page.keyboard.type("! Ждём вас ")
    chips.filter(has_text="Дата визита").click()
    page.keyboard.type(".")

    expect(editor).to_have_value(TEMPLATE)
    expect(page.locator("[data-char-count]")).to_have_text(f"{len(TEMPLATE)} / 4096")
    expect(page.locator("#template-check")).to_have_text(t("The message is fine."))
    shot("04-compose")

    page.get_by_role("button", name=t("Next: preview")).click()
    expect(page).to_have_url(re.compile(r"/campaigns/\d+/preview$"))


def test_preview_shows_each_persons_message(page: Page, t, tn, shot, journey):
    expect(page.get_by_role("navigation", name=t("Steps")).locator("[aria-current]")).to_have_text(
        t("2. Preview")
    )
    expect(
        page.get_by_text(
            tn(
                "Exactly what each person will get (%(num)s contact).",
                "Exactly what each person will get (%(num)s contacts).",
                28,
            )
        )
    ).to_be_visible()
    messages = page.locator(".preview-message")
    expect(messages).to_have_count(20)
    expect(messages.first).to_have_text(journey.contacts[0].message)
    expect(page.locator("li.card").first).to_contain_text(journey.contacts[0].phone)
    expect(page.locator("li.card").nth(19)).to_contain_text(journey.contacts[19].message)
    expect(page.locator(".pagination")).to_contain_text(
        t("Page %(page)s of %(last)s", page=1, last=2)
    )
    shot("05-preview")

    page.get_by_role("link", name=t("Next"), exact=True).click()
    expect(page.locator(".preview-message").first).to_have_text(journey.contacts[20].message)
    page.get_by_role("link", name=t("Previous"), exact=True).click()
    page.get_by_role("link", name=t("Next: sending options")).click()
    expect(page).to_have_url(re.compile(r"/campaigns/\d+/launch$"))


def test_test_send_reaches_the_gateway(page: Page, t, gateway, journey):
    page.fill("#test-phone", "12")
    page.get_by_role("button", name=t("Send me the first message")).click()
    expect(flash(page)).to_have_class(re.compile("alert-danger"))
    expect(flash(page)).to_be_focused()  # the first error has the focus
    assert gateway.state.messages() == []

    page.fill("#test-phone", TEST_PHONE_TYPED)
    page.get_by_role("button", name=t("Send me the first message")).click()

    expect(flash(page)).to_have_text(t("Test message sent to %(phone)s.", phone=TEST_PHONE))
    received = [(m.phone, m.message) for m in gateway.state.messages()]
    assert received == [(TEST_PHONE, journey.contacts[0].message)]


def estimate_after(page: Page, field: str, value: str) -> str:
    with page.expect_response(lambda r: r.url.endswith("/estimate")):
        page.fill(field, value)
    return page.locator("#estimate").inner_text()


def test_the_estimate_counts_the_random_pauses(page: Page, t):
    expect(page.get_by_role("navigation", name=t("Steps")).locator("[aria-current]")).to_have_text(
        t("3. Options and launch")
    )
    for option in ("#window_start", "#window_end", "#delay_min_s", "#delay_max_s"):
        page.fill(option, "")
    # 28 messages at 120 a minute: 27 gaps of 0.5 s; a pause of 0–1 s makes them 0.625 s.
    steady = estimate_after(page, "#rate_per_minute", "120")
    assert steady.startswith(f"≈ {t('%(s)s s', s=14)} ")
    paused = estimate_after(page, "#delay_max_s", "1")
    assert paused.startswith(f"≈ {t('%(s)s s', s=17)} "), paused
    assert "0,6" in paused


def test_launch_and_watch_progress_to_100_percent(page: Page, t, tn, shot, gateway, journey):
    expect(page.locator("#estimate")).not_to_be_empty()
    shot("06-launch")
    # The gateway says some numbers are not on WhatsApp, so the results hold failures too.
    gateway.state.configure(faults={Fault.RECIPIENT_ERROR: 0.2})
    try:
        launch(page, t, tn, FAST_RATE)
        assert re.search(r"/campaigns/\d+$", page.url)
        expect(badge(page)).to_have_text(t("Sending"))
        expect(page.locator("#progress [data-percent]")).not_to_have_text("100%")
        watch_to_the_end(page, t)
    finally:
        gateway.state.configure(faults={Fault.RECIPIENT_ERROR: 0})

    phones = [c.phone for c in journey.contacts]
    assert gateway.state.attempts() == {**dict.fromkeys(phones, 1), TEST_PHONE: 1}
    sent = {m.phone: m.message for m in gateway.state.messages() if m.phone != TEST_PHONE}
    assert sent == {c.phone: c.message for c in journey.contacts if c.phone in sent}
    journey.outcome = Counter(sent=len(sent), failed=len(phones) - len(sent))
    assert journey.outcome["failed"] > 0, "the seeded gateway should refuse some numbers"
    assert count(page, "total") == 28
    assert count(page, "pending") == 0
    assert count(page, "sent") == journey.outcome["sent"]
    assert count(page, "failed") == journey.outcome["failed"]
    counts = page.locator("#progress").get_attribute("data-counts")
    assert counts == f"[{journey.outcome['sent']}, {journey.outcome['failed']}, 0, 0, 0]"
    expect(page.get_by_role("button", name=t("Retry failed"))).to_be_visible()
    shot("07-campaign")


def test_results_show_each_message_and_filter_by_status(page: Page, t, shot, journey):
    page.get_by_role("link", name=t("Results")).click()
    journey.results_url = page.url
    expect(page.get_by_text(t("Found: %(n)s", n=28), exact=True)).to_be_visible()
    expect(page.locator("tbody tr")).to_have_count(28)
    # The table takes the page's width, and the dates stay on one line.
    assert page.locator("table").bounding_box()["width"] > 0.9 * DESKTOP["width"]
    time_cell = page.locator("tbody tr td:last-child").first
    assert time_cell.evaluate("cell => getComputedStyle(cell).whiteSpace") == "nowrap"
    # The message each person got; the gateway's internals behind the toggle, in words.
    sent = page.locator("tbody tr").filter(has=page.locator(".badge", has_text=t("Sent"))).first
    contact = next(c for c in journey.contacts if c.phone in sent.locator("td").first.inner_text())
    expect(sent.locator("summary")).to_have_text(contact.message)
    expect(sent.get_by_text(t("The gateway's answer"))).to_be_hidden()
    sent.locator("summary").click()
    expect(sent.get_by_text(t("The gateway's answer"))).to_be_visible()
    expect(sent).to_contain_text(t("accepted for delivery (code 1)"))
    expect(page.locator("thead")).not_to_contain_text(t("Gateway status"))
    shot("08-results")

    for status, label in [("failed", t("Failed")), ("sent", t("Sent"))]:
        page.select_option("#status", status)
        page.get_by_role("button", name=t("Show")).click()
        expect(page).to_have_url(re.compile(rf"status={status}"))
        found = journey.outcome[status]
        expect(page.get_by_text(t("Found: %(n)s", n=found), exact=True)).to_be_visible()
        rows = page.locator("tbody tr")
        expect(rows).to_have_count(found)
        expect(rows.locator("td:nth-child(2) .badge")).to_have_text([label] * found)
    expect(page.locator("tbody")).not_to_contain_text(t("Failed"))

    page.select_option("#status", "unknown")
    page.get_by_role("button", name=t("Show")).click()
    expect(page.get_by_text(t("Nothing found."))).to_be_visible()


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "no UTF-8 BOM: Russian Excel shows mojibake"
    return list(csv.reader(io.StringIO(data[3:].decode("utf-8")), delimiter=";"))


def download(page: Page, link_name: str) -> tuple[str, bytes]:
    with page.expect_download() as info:
        page.get_by_role("link", name=link_name).click()
    got = info.value
    return got.suggested_filename, Path(got.path()).read_bytes()


def test_download_results_as_csv_and_xlsx(page: Page, t, journey, tmp_path):
    page.goto(journey.results_url)
    by_phone = {c.phone: c for c in journey.contacts}

    name, data = download(page, t("Download CSV"))
    assert name.endswith(".csv")
    header, *rows = read_csv(data)
    assert header[:4] == ["Телефон", t("Status"), "ФИО", "Дата визита"]
    assert sorted(row[0] for row in rows) == sorted(by_phone)
    for row in rows:
        assert row[2] == by_phone[row[0]].name
        assert row[1] in (t("Sent"), t("Failed"))
    assert Counter(row[1] for row in rows) == {
        t("Sent"): journey.outcome["sent"],
        t("Failed"): journey.outcome["failed"],
    }

    name, data = download(page, t("Download Excel (XLSX)"))
    assert name.endswith(".xlsx")
    path = tmp_path / name
    path.write_bytes(data)
    sheet = openpyxl.load_workbook(path, read_only=True).active
    table = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert table[0][:4] == header[:4]
    assert sorted(row[0] for row in table[1:]) == sorted(by_phone)
    assert {row[0]: row[2] for row in table[1:]} == {p: c.name for p, c in by_phone.items()}

    # The export follows the filter on the page.
    page.select_option("#status", "failed")
    page.get_by_role("button", name=t("Show")).click()
    _name, data = download(page, t("Download CSV"))
    _header, *rows = read_csv(data)
    assert len(rows) == journey.outcome["failed"]
    assert {row[1] for row in rows} == {t("Failed")}


def test_pause_and_resume_a_campaign(page: Page, t, tn, shot, gateway, journey):
    gateway.state.reset()
    page.goto(journey.list_url)
    page.get_by_role("link", name=t("Dashboard")).click()
    page.get_by_role("link", name=t("New campaign")).click()
    page.fill("#name", "Вторая волна")
    page.locator("#template").fill(LONG_TEMPLATE)
    page.get_by_role("button", name=t("Next: preview")).click()
    page.get_by_role("link", name=t("Next: sending options")).click()
    launch(page, t, tn, PAUSABLE_RATE)
    expect(badge(page)).to_have_text(t("Sending"))
    expect(page.locator('#progress [data-count="sent"]')).not_to_have_text("0")  # live

    page.get_by_role("button", name=t("Pause")).click()
    expect(badge(page)).to_have_text(t("Paused"))
    expect(page.get_by_role("button", name=t("Resume"))).to_be_visible()
    expect(page.get_by_role("button", name=t("Pause"))).to_have_count(0)
    expect(page.locator("#progress")).to_contain_text(t("Paused by a user."))
    page.wait_for_timeout(1000)  # answers already on their way are written
    page.reload()
    paused_at = len(gateway.state.messages())
    assert 0 < count(page, "sent") == paused_at < 28
    assert count(page, "pending") == 28 - paused_at
    page.wait_for_timeout(1000)
    assert len(gateway.state.messages()) == paused_at, "a paused campaign went on sending"

    page.get_by_role("link", name=t("Dashboard")).click()
    row = page.locator("tbody tr").filter(has_text="Вторая волна")
    expect(row.locator(".badge")).to_have_text(t("Paused"))
    expect(row).to_contain_text(f"{paused_at} / 28")
    sent_today = journey.outcome["sent"] + paused_at
    expect(page.locator('[data-today="sent"]')).to_have_text(str(sent_today))
    shot("09-dashboard")
    row.get_by_role("link", name="Вторая волна").click()

    page.get_by_role("button", name=t("Resume")).click()
    expect(badge(page)).to_have_text(t("Sending"))
    watch_to_the_end(page, t)
    assert count(page, "sent") == 28
    phones = [c.phone for c in journey.contacts]
    assert gateway.state.attempts() == dict.fromkeys(phones, 1)
    assert sorted(m.phone for m in gateway.state.messages()) == sorted(phones)

    # A long message is cut in the results table and shown whole on a click.
    page.get_by_role("link", name=t("Results")).click()
    first = page.locator("tbody tr").first
    whole = LONG_TEMPLATE.replace("{{ ФИО }}", journey.contacts[0].name)
    cut = first.locator("summary").inner_text()
    assert cut.endswith("…") and whole.startswith(cut[:-1]) and len(cut) < len(whole)
    expect(first.locator("[data-full-message]")).to_be_hidden()
    first.locator("summary").click()
    expect(first.locator("[data-full-message]")).to_have_text(whole)

    page.get_by_role("link", name=t("Campaigns")).click()
    badges = page.locator("tbody tr .badge")
    expect(badges).to_have_text([t("Completed"), t("Completed")])
    shot("10-campaigns")


def test_saved_messages_and_opt_outs_pages(page: Page, t, shot):
    page.get_by_role("link", name=t("Saved messages")).click()
    expect(page.get_by_role("heading", name=t("Saved messages"))).to_be_visible()
    shot("12-saved-messages")
    page.get_by_role("link", name=t("Opt-out list")).click()
    expect(page.get_by_role("heading", name=t("Opt-out list"))).to_be_visible()
    shot("13-opt-outs")


def test_settings_show_the_connected_gateway(page: Page, t, shot):
    page.get_by_role("link", name=t("Settings")).click()

    expect(page.get_by_role("heading", name=t("Settings"))).to_be_visible()
    expect(page.get_by_text(t("Connected: messages are delivered"))).to_be_visible()
    locked = (
        "The token and the gateway address are set in the server configuration"
        " and cannot be changed here."
    )
    expect(page.get_by_text(t(locked))).to_be_visible()
    expect(page.locator("#base_url")).to_be_disabled()
    expect(page.locator("tbody").first).to_contain_text(ADMIN_EMAIL)
    shot("11-settings")

    section = page.locator("section").filter(has=page.locator("#defaults-heading"))
    section.locator("#rate_per_minute").fill("30")
    section.get_by_role("button", name=t("Save defaults")).click()
    expect(flash(page)).to_have_text(t("Default sending options saved."))
    assert float(page.locator("#rate_per_minute").input_value()) == 30


def test_dashboard_counts_todays_failures(page: Page, t, journey):
    page.get_by_role("link", name=t("Dashboard")).click()
    # All first steps are done (the test message and two launches), so the checklist is gone.
    expect(page.get_by_role("heading", name=t("First steps"))).to_have_count(0)
    expect(page.locator("canvas#activity-days")).to_be_visible()

    expect(page.locator('[data-today="sent"]')).to_have_text(str(journey.outcome["sent"] + 28))
    expect(page.locator('[data-today="failed"]')).to_have_text(
        str(journey.outcome["failed"]), timeout=1000
    )
