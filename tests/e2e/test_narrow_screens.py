"""A manager checks a campaign's results, the lists and the logs on a phone, in a real browser.

Below the phone breakpoint each row of a wide table is a card of labelled lines, so the page
never scrolls sideways; on a desktop the same tables are tables as before.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.factories import make_campaign, make_list
from webapp.accounts import create_first_admin
from webapp.campaigns.options import BUILT_IN_DEFAULTS
from webapp.campaigns.statuses import CampaignStatus
from webapp.extensions import db
from webapp.models import Campaign
from webapp.sending.sandbox import Fault

from .conftest import CHROMIUM, DESKTOP, PHONE

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is missing (CI installs Debian's chromium)"
)

EMAIL, PASSWORD = "manager@shop.example", "Телефон-2026-пароль"
CONTACTS = 6
SEND_TIMEOUT_S = 30


def contact(n: int) -> dict[str, str]:
    return {
        "Имя": f"Александра Константинопольская-{n}",
        "Город": "Санкт-Петербург",
        "Заказ": f"ЗК-2026-{n:06d}",
        "Адрес доставки": f"Набережная реки Фонтанки, дом {n}, корпус 2, кв. 117, домофон 117К",
    }


@pytest.fixture(scope="module")
def campaign(live_app, gateway) -> int:
    """A sent campaign with four columns and long messages; the gateway refuses some numbers."""
    with live_app.app_context():
        create_first_admin(EMAIL, PASSWORD)
        db.session.commit()
        contact_list = make_list(
            [f"7916777{n:04d}" for n in range(CONTACTS)], [contact(n) for n in range(CONTACTS)]
        )
        gateway.state.configure(faults={Fault.RECIPIENT_ERROR: 0.5})
        try:
            campaign_id = make_campaign(
                contact_list.id,
                "{{ Имя }}, ваш заказ {{ Заказ }} передан курьеру и будет доставлен сегодня "
                "с 12:00 до 18:00 по адресу: {{ Адрес доставки }}, {{ Город }}.",
                name="Доставка",
                start=True,
                defaults={**BUILT_IN_DEFAULTS, "rate_per_minute": 600, "send_window": None},
            )
            wait_until_sent(campaign_id)
        finally:
            gateway.state.configure(faults={Fault.RECIPIENT_ERROR: 0})
        return campaign_id


def wait_until_sent(campaign_id: int) -> None:
    deadline = time.monotonic() + SEND_TIMEOUT_S
    while db.session.get(Campaign, campaign_id).status != CampaignStatus.COMPLETED:
        assert time.monotonic() < deadline, "the sender did not finish the campaign"
        time.sleep(0.1)
        db.session.expire_all()


def scrolls_sideways(page: Page) -> bool:
    """The page, or a table in its own scrolling box, is wider than the screen."""
    return page.evaluate(
        """() => document.documentElement.scrollWidth > window.innerWidth
            || [...document.querySelectorAll(".table-responsive")]
                .some((box) => box.scrollWidth > box.clientWidth)"""
    )


def tops(row: Locator) -> list[int]:
    """The top offset of each cell shown in ``row``, in order."""
    return [round(cell.bounding_box()["y"]) for cell in row.locator("td:visible").all()]


def stacked(row: Locator) -> bool:
    """Each cell of ``row`` on a line of its own, below the one before."""
    offsets = tops(row)
    return len(offsets) > 1 and offsets == sorted(set(offsets))


def side_by_side(row: Locator) -> bool:
    return len(set(tops(row))) == 1


def label_of(cell: Locator) -> str:
    """The label the stylesheet puts before ``cell``: its CSS ``content``, "none" for none."""
    return cell.evaluate("td => getComputedStyle(td, '::before').content")


def test_results_are_cards_of_labelled_lines_on_a_phone(page: Page, t, screenshots, campaign):
    page.goto(f"/campaigns/{campaign}/results")
    page.fill("#email", EMAIL)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name=t("Sign in")).click()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(CONTACTS)

    page.set_viewport_size(PHONE)
    try:
        assert not scrolls_sideways(page)
        row = rows.first
        assert stacked(row)
        for label in (t("Phone"), "Адрес доставки", t("Message and details")):
            cell = row.locator(f'td[data-label="{label}"]')
            assert label_of(cell) == f'"{label}"'
        # The headers stay for screen readers: it is still a table with its column headers.
        expect(page.get_by_role("columnheader", name="Адрес доставки")).to_have_count(1)
        row.locator("summary").click()
        assert not scrolls_sideways(page), "the whole message wraps within the card"
        page.screenshot(path=screenshots / "results-cards-390.png")
    finally:
        page.set_viewport_size(DESKTOP)

    assert side_by_side(rows.first), "on a desktop a row's cells stand side by side"
    assert label_of(rows.first.locator("td").first) == "none"


@pytest.mark.parametrize(
    "page_url", ["/campaigns", "/lists", "/lists/{list_id}", "/audit", "/settings"]
)
def test_the_other_wide_tables_fit_a_phone(page: Page, live_app, campaign, page_url):
    with live_app.app_context():
        list_id = db.session.get(Campaign, campaign).list_id
    page.goto(page_url.format(list_id=list_id))
    row = page.locator("tbody tr").first
    page.set_viewport_size(PHONE)
    try:
        assert not scrolls_sideways(page)
    finally:
        page.set_viewport_size(DESKTOP)
    assert side_by_side(row)
