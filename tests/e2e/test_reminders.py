"""A clinic schedules visit reminders in the wizard, in a real browser against a real server.

The administrator, the list of visits and the message are made straight in the database; the
person then chooses the schedule among the launch options, sees the estimate turn into the
first and last reminder, launches, and finds each due time in the preview and the days ahead
on the campaign page.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.factories import make_campaign, make_list
from webapp.accounts import create_first_admin
from webapp.extensions import db
from webapp.models import Recipient

from .conftest import CHROMIUM

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is missing (CI installs Debian's chromium)"
)

EMAIL, PASSWORD = "registry@clinic.example", "Визиты-2026-пароль"
FIRST_VISIT = datetime.now(UTC) + timedelta(days=3)
VISITS = [FIRST_VISIT + timedelta(days=n // 2) for n in range(6)]  # two visits a day


@pytest.fixture(scope="module")
def draft(live_app) -> int:
    with live_app.app_context():
        create_first_admin(EMAIL, PASSWORD)
        db.session.commit()
        contact_list = make_list(
            [f"7916555{n:04d}" for n in range(len(VISITS))],
            [
                {"Имя": f"Клиент {n}", "Визит": v.strftime("%d.%m.%Y 15:30")}
                for n, v in enumerate(VISITS)
            ],
        )
        return make_campaign(contact_list.id, "{{ Имя }}, ждём вас {{ Визит }}", name="Визиты")


def test_schedule_reminders_in_the_wizard(page: Page, t, tn, shot, draft, live_app):
    page.goto(f"/campaigns/{draft}/launch")
    page.fill("#email", EMAIL)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name=t("Sign in")).click()
    expect(page.get_by_role("group", name=t("Reminders"))).to_be_visible()

    page.select_option("#schedule_column", "Визит")
    page.fill("#schedule_days", "1")
    with page.expect_response(lambda r: r.url.endswith("/estimate")):
        page.fill("#schedule_at", "10:00")
    first = FIRST_VISIT - timedelta(days=1)
    expect(page.locator("#estimate")).to_contain_text(f"Первое — {first.day} ")
    expect(page.locator("#estimate")).to_contain_text("10:00")
    expect(page.locator("#estimate")).to_contain_text("не больше 2 в день")
    shot("08-reminders-launch")

    page.get_by_label(
        tn(
            "I want to send this message to %(num)s recipient.",
            "I want to send this message to %(num)s recipients.",
            len(VISITS),
        )
    ).check()
    page.get_by_role("button", name=t("Launch the campaign")).click()
    expect(page.locator("main > .alert")).to_have_text(t("The campaign is launched."))
    timeline = page.locator("#timeline")
    expect(timeline.get_by_role("heading", name=t("Reminders by day"))).to_be_visible()
    expect(timeline.locator("tbody tr")).to_have_count(3)
    shot("09-reminders-campaign")

    with live_app.app_context():
        due = db.session.scalars(
            select(Recipient.due_at).where(Recipient.campaign_id == draft).order_by(Recipient.id)
        ).all()
    # 10:00 in Moscow the day before each visit
    assert [d.astimezone(UTC).strftime("%H:%M") for d in due] == ["07:00"] * len(VISITS)
    assert [d.date() for d in due] == [(v - timedelta(days=1)).date() for v in VISITS]

    page.get_by_role("link", name=t("Messages")).click()
    expect(page.locator("[data-due]")).to_have_count(len(VISITS))
    expect(page.locator("[data-due]").first).to_contain_text(re.compile(r"10:00"))
