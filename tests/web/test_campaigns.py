import csv
import io
import re
from datetime import UTC, datetime

import openpyxl
import pytest

from tests.factories import make_campaign, make_list, mark_recipients, set_campaign_status
from webapp.extensions import db
from webapp.models import Campaign, Recipient, utcnow
from webapp.numbers import update_number

PHONES = ["79243555100", "79243555101", "79243555102"]
HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture
def app_config(app_config):
    return {**app_config, "SANDBOX_LATENCY_MIN_S": 0, "SANDBOX_LATENCY_MAX_S": 0}


@pytest.fixture
def contact_list(app, admin):
    with app.app_context():
        names = [{"Имя": "Анна", "Визит": "12:00"}, {"Имя": HOSTILE, "Визит": "=1+2"}, {"Имя": ""}]
        return make_list(PHONES, names).id


@pytest.fixture
def draft(app, admin, contact_list):
    with app.app_context():
        return make_campaign(
            contact_list,
            "{Здравствуйте|Добрый день}, {{ Имя | клиент }}! Визит в {{ визит }}.",
            name="Напоминание",
            created_by_id=admin,
        )


def test_compose_page_offers_the_lists_columns_as_chips(admin_client, contact_list):
    page = admin_client.get(f"/campaigns/new?list_id={contact_list}").get_data(as_text=True)
    assert "Имя" in page and "data-columns=" in page
    assert HOSTILE not in page


def test_instant_check_names_an_unknown_column_and_the_known_ones(admin_client, contact_list):
    fragment = admin_client.post(
        "/campaigns/check", data={"list_id": contact_list, "template": "Привет, {{ Фамилия }}"}
    ).get_data(as_text=True)
    assert "Фамилия" in fragment and "Имя" in fragment and "alert-warning" in fragment


def test_an_empty_message_is_not_called_fine(admin_client, contact_list):
    fragment = admin_client.post(
        "/campaigns/check", data={"list_id": contact_list, "template": "  \n"}
    ).get_data(as_text=True)
    assert "Сообщение в порядке" not in fragment
    assert "Напишите сообщение" in fragment


def test_a_bad_template_is_refused_and_nothing_is_created(admin_client, contact_list, app):
    response = admin_client.post(
        "/campaigns/new",
        data={"name": "x", "list_id": contact_list, "template": "{{ ''.__class__ }}"},
    )
    assert response.status_code == 422
    with app.app_context():
        assert db.session.query(Campaign).count() == 0


def test_preview_shows_each_persons_message_escaped_with_warnings(admin_client, draft):
    page = admin_client.get(f"/campaigns/{draft}/preview").get_data(as_text=True)
    assert "Анна! Визит в 12:00." in page
    assert "клиент! Визит в ." in page  # the fallback, and an empty visit time...
    assert "Пустое значение" in page  # ...with a warning about it
    assert HOSTILE not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


def test_estimate_speaks_plain_language(admin_client, draft):
    fragment = admin_client.post(
        f"/campaigns/{draft}/estimate",
        data={"rate_per_minute": "1", "window_start": "", "window_end": ""},
    ).get_data(as_text=True)
    # the first message goes at once, the next two a minute apart each
    assert "≈ 2 мин на 3 сообщения" in fragment


def test_estimate_counts_the_random_pauses_to_the_second(admin_client, app):
    """The issue's case: 137 messages at 120 a minute with 0–1 s pauses is not "≈ 1 min"."""
    with app.app_context():
        list_id = make_list([f"79160000{n:03d}" for n in range(137)], [{}] * 137).id
        campaign = make_campaign(list_id, name="Пауза")

    def estimate(low: str, high: str) -> str:
        data = {"rate_per_minute": "120", "delay_min_s": low, "delay_max_s": high}
        data |= {"window_start": "", "window_end": ""}
        return admin_client.post(f"/campaigns/{campaign}/estimate", data=data).get_data(True)

    steady = estimate("", "")
    assert "≈ 1 мин 8 с на 137 сообщений (по одному каждые 0,5 с)" in steady
    paused = estimate("0", "1")
    assert "≈ 1 мин 25 с на 137 сообщений" in paused
    assert "по одному каждые 0,6 с, случайные паузы учтены" in paused


def test_estimate_says_the_pace_its_number_allows(admin_client, draft, app):
    with app.app_context():
        update_number(db.session.connection(), "default", {"rate_per_minute": 30}, utcnow())
        db.session.commit()
    fragment = admin_client.post(
        f"/campaigns/{draft}/estimate",
        data={"rate_per_minute": "120", "window_start": "", "window_end": ""},
    ).get_data(as_text=True)
    assert "на 3 сообщения (по одному каждые 2 с)" in fragment


def test_test_send_goes_to_my_number_through_the_sandbox(admin_client, draft, app):
    response = admin_client.post(f"/campaigns/{draft}/test", data={"phone": "+7 999 123-45-67"})
    assert response.status_code == 302
    page = admin_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "79991234567" in page
    sent = app.extensions["sandbox"].messages()
    assert [m.phone for m in sent] == ["79991234567"]
    assert sent[0].message.endswith("Анна! Визит в 12:00.")


def test_launch_needs_the_confirmation_then_starts(admin_client, draft, app):
    refused = admin_client.post(f"/campaigns/{draft}/start", data={"rate_per_minute": "60"})
    assert refused.status_code == 400
    launched = admin_client.post(
        f"/campaigns/{draft}/start", data={"rate_per_minute": "60", "confirm": "3"}
    )
    assert launched.headers["Location"].endswith(f"/campaigns/{draft}")
    with app.app_context():
        campaign = db.session.get(Campaign, draft)
        assert (campaign.status, campaign.count_total, campaign.count_pending) == ("running", 3, 3)


@pytest.fixture
def finished(admin_client, draft, app):
    admin_client.post(f"/campaigns/{draft}/start", data={"confirm": "3"})
    with app.app_context():
        mark_recipients(
            draft,
            PHONES[:1],
            "sent",
            message="Добрый день, Анна!",
            message_id="3EB0FF",
            gateway_status="1",
        )
        mark_recipients(draft, PHONES[1:2], "sent", message_id="3EB0FF")
        mark_recipients(draft, PHONES[2:], "failed", error="not a WhatsApp number 100%")
        set_campaign_status(draft, "completed")
    return draft


def test_progress_fragment_shows_counts_and_retry_for_failures(admin_client, finished):
    fragment = admin_client.get(f"/campaigns/{finished}/progress").get_data(as_text=True)
    assert 'value="100"' in fragment
    assert "Повторить со статусом «Ошибка»" in fragment
    assert "data-counts='[2, 1, 0, 0, 0]'" in fragment


def test_results_show_each_message_with_gateway_details_in_words(admin_client, finished):
    page = admin_client.get(f"/campaigns/{finished}/results").get_data(as_text=True)
    assert "<summary>Добрый день, Анна!</summary>" in page
    assert "принято к отправке (код 1)" in page
    assert "3EB0FF" in page[page.index("<details") :]  # the gateway's id sits behind the toggle


def test_results_filter_and_hostile_data_is_escaped(admin_client, finished):
    page = admin_client.get(f"/campaigns/{finished}/results?status=failed").get_data(as_text=True)
    assert "not a WhatsApp number 100%" in page
    assert "79243555102" in page and "79243555100" not in page
    everything = admin_client.get(f"/campaigns/{finished}/results").get_data(as_text=True)
    assert HOSTILE not in everything and "&lt;img" in everything


def test_exports_hold_the_filtered_results_without_formulas(admin_client, finished):
    response = admin_client.get(f"/campaigns/{finished}/export.csv?status=sent")
    text = response.data.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    assert rows[0][:3] == ["Телефон", "Статус", "Имя"]
    assert [row[0] for row in rows[1:]] == PHONES[:2]
    assert rows[2][3] == "'=1+2"  # the visit time a prankster typed as a formula
    workbook = openpyxl.load_workbook(
        io.BytesIO(admin_client.get(f"/campaigns/{finished}/export.xlsx").data)
    )
    values = [[c.value for c in row] for row in workbook.active.iter_rows()]
    assert [row[1] for row in values[1:]] == ["Отправлено", "Отправлено", "Ошибка"]


def test_retry_failed_puts_them_back_in_the_queue(admin_client, finished, app):
    admin_client.post(f"/campaigns/{finished}/retry", data={"status": "failed"})
    with app.app_context():
        campaign = db.session.get(Campaign, finished)
        failed = db.session.scalar(db.select(Recipient.status).where(Recipient.phone == PHONES[2]))
    assert (campaign.status, failed) == ("running", "pending")


def test_retry_unknown_says_some_may_get_it_twice_before_it_is_confirmed(admin_client, draft, app):
    finished = draft
    admin_client.post(f"/campaigns/{finished}/start", data={"confirm": "3"})
    with app.app_context():
        mark_recipients(finished, PHONES[:1], "unknown", error="No answer")
        mark_recipients(finished, PHONES[1:], "sent")
        set_campaign_status(finished, "completed")
    fragment = admin_client.get(f"/campaigns/{finished}/progress").get_data(as_text=True)
    assert f'href="/campaigns/{finished}/retry-unknown"' in fragment

    unconfirmed = admin_client.post(f"/campaigns/{finished}/retry", data={"status": "unknown"})
    assert unconfirmed.headers["Location"].endswith(f"/campaigns/{finished}/retry-unknown")
    page = admin_client.get(f"/campaigns/{finished}/retry-unknown").get_data(as_text=True)
    assert "1 получатель, возможно, уже получил сообщение" in page
    with app.app_context():
        assert db.session.get(Campaign, finished).count_unknown == 1  # nothing moved yet

    admin_client.post(f"/campaigns/{finished}/retry", data={"status": "unknown", "confirm": "yes"})
    with app.app_context():
        retried = db.session.scalar(db.select(Recipient.status).where(Recipient.phone == PHONES[0]))
        assert (db.session.get(Campaign, finished).count_unknown, retried) == (0, "pending")


def test_pause_resume_and_cancel(admin_client, draft, app):
    admin_client.post(f"/campaigns/{draft}/start", data={"confirm": "3"})
    admin_client.post(f"/campaigns/{draft}/pause")
    page = admin_client.get(f"/campaigns/{draft}").get_data(as_text=True)
    assert "Поставлена на паузу пользователем" in page
    admin_client.post(f"/campaigns/{draft}/resume")
    admin_client.post(f"/campaigns/{draft}/cancel")
    with app.app_context():
        campaign = db.session.get(Campaign, draft)
        assert (campaign.status, campaign.count_skipped) == ("cancelled", 3)
    refused = admin_client.post(f"/campaigns/{draft}/pause", follow_redirects=True)
    assert "alert-danger" in refused.get_data(as_text=True)


def test_campaign_list_shows_status_and_author(admin_client, draft):
    page = admin_client.get("/campaigns/").get_data(as_text=True)
    assert "Напоминание" in page and "admin@example.com" in page and "Черновик" in page


def test_duplicate_makes_an_editable_draft_and_only_drafts_can_be_deleted(
    admin_client, finished, app
):
    response = admin_client.post(f"/campaigns/{finished}/duplicate")
    copy_id = int(re.search(r"/campaigns/(\d+)/edit", response.headers["Location"]).group(1))
    with app.app_context():
        original, copy = db.session.get(Campaign, finished), db.session.get(Campaign, copy_id)
        assert (copy.status, copy.name) == ("draft", "Напоминание (копия)")
        assert (copy.template, copy.options_json) == (original.template, original.options_json)
    refused = admin_client.post(f"/campaigns/{finished}/delete", follow_redirects=True)
    assert "alert-danger" in refused.get_data(as_text=True)
    admin_client.post(f"/campaigns/{copy_id}/delete")
    with app.app_context():
        assert db.session.get(Campaign, copy_id) is None
        assert db.session.get(Campaign, finished) is not None


def test_hostile_names_are_text_on_every_page(admin_client, app, admin):
    with app.app_context():
        list_id = make_list(PHONES, [{"Имя": HOSTILE}] * 3, name=HOSTILE).id
    response = admin_client.post(
        "/campaigns/new", data={"name": HOSTILE, "list_id": list_id, "template": "{{ Имя }}"}
    )
    campaign_id = int(re.search(r"/campaigns/(\d+)/", response.headers["Location"]).group(1))
    admin_client.post(f"/campaigns/{campaign_id}/start", data={"confirm": "3"})
    pages = [
        "/",
        "/campaigns/",
        f"/campaigns/{campaign_id}",
        f"/campaigns/{campaign_id}/preview",
        f"/campaigns/{campaign_id}/results",
        "/lists/",
        f"/lists/{list_id}",
        f"/campaigns/{campaign_id}/edit",
    ]
    for path in pages:
        page = admin_client.get(path).get_data(as_text=True)
        assert HOSTILE not in page, path
        assert "&lt;img src=x onerror=alert(1)&gt;" in page, path


def test_a_campaign_waiting_for_its_numbers_says_why_and_until_when(admin_client, draft, app):
    with app.app_context():
        db.session.execute(
            db.update(Campaign)
            .where(Campaign.id == draft)
            .values(
                status="running",
                waiting_reason="numbers_daily_limit",
                waiting_until=datetime(2026, 12, 1, 21, 0, tzinfo=UTC),
            )
        )
        db.session.commit()
    fragment = admin_client.get(f"/campaigns/{draft}/progress").get_data(as_text=True)
    assert "Ожидание до" in fragment and "исчерпали дневной лимит" in fragment
