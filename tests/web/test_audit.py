"""The audit trail as the pages write it, and the administrators' page that shows it."""

import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import ADMIN_EMAIL, MEMBER_EMAIL, PASSWORD, sign_in
from tests.factories import (
    audit_events,
    audit_trail,
    make_campaign,
    make_list,
    make_opt_outs,
    mark_recipients,
)
from webapp.accounts import setup_code
from webapp.extensions import db
from webapp.models import ApiKey, AuditEvent, Campaign, OptOut, User

ADDRESS = "203.0.113.9"
TOKEN = "4ea13fbf-f5a3-4084-8b01-9733cd6fd0b1"
PHONES = ["79243555100", "79243555101"]


@pytest.fixture
def app_config(app_config):
    # Nothing sends in the background: the campaign states are the test's alone.
    return {**app_config, "SENDER_IN_PROCESS": False}


@pytest.fixture
def browser(client):
    """A browser that comes from a known address."""
    client.environ_base["REMOTE_ADDR"] = ADDRESS
    return client


@pytest.fixture
def admin_browser(browser, admin):
    assert sign_in(browser).status_code == 302
    return browser


@pytest.fixture
def member_browser(app, member):
    client = app.test_client()
    assert sign_in(client, MEMBER_EMAIL).status_code == 302
    return client


def trail(app, action: str | None = None) -> list[tuple]:
    with app.app_context():
        return audit_trail(action)


def test_sign_ins_and_failed_ones_are_recorded_with_the_address(app, browser, admin):
    assert sign_in(browser, " Admin@Example.com", "wrong password").status_code == 401
    assert sign_in(browser).status_code == 302
    assert trail(app) == [
        ("sign_in_failed", ADMIN_EMAIL, ADDRESS, None, None, {}),
        ("sign_in", ADMIN_EMAIL, ADDRESS, None, None, {}),
    ]
    with app.app_context():
        assert audit_events("sign_in")[0].actor_id == admin


def test_first_run_setup_records_the_administrator_created(app, browser):
    code = setup_code(app.secret_key)  # the browser is another computer: setup asks for the code
    data = {"email": "boss@example.com", "password": PASSWORD, "confirm": PASSWORD, "code": code}
    assert browser.post("/setup", data=data).status_code == 302
    [(action, actor, address, kind, user_id, facts)] = trail(app)
    assert (action, actor, address, kind) == ("user_created", "boss@example.com", ADDRESS, "user")
    assert facts == {"email": "boss@example.com", "role": "admin"}
    with app.app_context():
        assert int(user_id) == db.session.scalar(db.select(User.id))


def test_users_and_api_keys_added_and_removed_are_recorded(app, admin_browser, admin):
    admin_browser.post(
        "/settings/users", data={"email": "new@example.com", "password": PASSWORD, "role": "member"}
    )
    with app.app_context():
        new_id = db.session.scalar(db.select(User.id).where(User.email == "new@example.com"))
    admin_browser.post(f"/settings/users/{new_id}/delete")
    page = admin_browser.post("/settings/api-keys", data={"name": "CRM"}).get_data(as_text=True)
    plain = re.search(r"volna_[\w-]+", page).group(0)
    with app.app_context():
        key_id = db.session.scalar(db.select(ApiKey.id))
    admin_browser.post(f"/settings/api-keys/{key_id}/delete")
    facts = {"email": "new@example.com", "role": "member"}
    assert trail(app)[1:] == [
        ("user_created", ADMIN_EMAIL, ADDRESS, "user", str(new_id), facts),
        ("user_deleted", ADMIN_EMAIL, ADDRESS, "user", str(new_id), facts),
        ("api_key_created", ADMIN_EMAIL, ADDRESS, "user", str(admin), {"prefix": plain[:12]}),
        (
            "api_key_revoked",
            ADMIN_EMAIL,
            ADDRESS,
            "user",
            str(admin),
            {"key_id": key_id, "prefix": plain[:12]},
        ),
    ]


def test_gateway_changes_are_recorded_without_the_token(app, admin_browser):
    admin_browser.post("/settings/gateway", data={"token": TOKEN})
    admin_browser.post("/settings/gateway", data={"forget_token": "1"})
    events = trail(app, "gateway_changed")
    assert [facts for *_, facts in events] == [
        {"sandbox": False, "token": "set"},
        {"token": "removed"},
    ]
    assert TOKEN not in repr(events)
    assert TOKEN not in admin_browser.get("/audit/").get_data(as_text=True)


@pytest.fixture
def campaign(app, admin_browser):
    with app.app_context():
        list_id = make_list(PHONES).id
        return make_campaign(list_id)


def test_the_campaign_lifecycle_is_recorded_and_refusals_are_not(app, admin_browser, campaign):
    admin_browser.post(f"/campaigns/{campaign}/start", data={"confirm": "2"})
    with app.app_context():
        mark_recipients(campaign, PHONES[:1], "failed", error="no WhatsApp")
    for action in ("pause", "resume", "pause"):
        admin_browser.post(f"/campaigns/{campaign}/{action}")
    admin_browser.post(f"/campaigns/{campaign}/retry", data={"status": "failed"})
    admin_browser.post(f"/campaigns/{campaign}/cancel")
    admin_browser.post(f"/campaigns/{campaign}/resume")  # refused: cancelled
    events = [(a, kind, int(i), facts) for a, _e, _ip, kind, i, facts in trail(app)[1:]]
    assert events == [
        ("campaign_started", "campaign", campaign, {}),
        ("campaign_paused", "campaign", campaign, {}),
        ("campaign_resumed", "campaign", campaign, {}),
        ("campaign_paused", "campaign", campaign, {}),
        ("campaign_retried", "campaign", campaign, {"status": ["failed"]}),
        ("campaign_cancelled", "campaign", campaign, {}),
    ]


def test_a_deleted_list_is_recorded_and_a_refused_deletion_is_not(app, admin_browser, campaign):
    with app.app_context():
        spare = make_list(PHONES, name="Запасной").id
        used = db.session.get(Campaign, campaign).list_id
    admin_browser.post(f"/lists/{used}/delete")  # refused: the campaign uses it
    admin_browser.post(f"/lists/{spare}/delete")
    assert trail(app, "list_deleted") == [
        (
            "list_deleted",
            ADMIN_EMAIL,
            ADDRESS,
            "contact_list",
            str(spare),
            {"name": "Запасной", "contacts": 2},
        )
    ]


def test_opt_outs_added_are_recorded_and_removing_one_needs_a_reason(app, admin_browser):
    admin_browser.post("/opt-outs/add", data={"phones": "+7 924 355-51-00", "note": "жалоба"})
    refused = admin_browser.post("/opt-outs/79243555100/remove", follow_redirects=True)
    assert "Укажите, почему 79243555100 снова может получать сообщения" in refused.get_data(
        as_text=True
    )
    admin_browser.post("/opt-outs/79243555100/remove", data={"reason": "   "})
    with app.app_context():
        assert db.session.get(OptOut, "79243555100") is not None
    admin_browser.post("/opt-outs/79243555100/remove", data={"reason": "Снова клиент"})
    with app.app_context():
        assert db.session.get(OptOut, "79243555100") is None
    assert [(a, kind, i, facts) for a, _e, _ip, kind, i, facts in trail(app)[1:]] == [
        ("opt_outs_added", "opt_out", None, {"added": 1, "note": "жалоба"}),
        ("opt_out_removed", "opt_out", "79243555100", {"reason": "Снова клиент", "note": "жалоба"}),
    ]


def test_the_opt_out_page_asks_for_the_reason(app, admin_browser):
    with app.app_context():
        make_opt_outs("79243555100")
    page = admin_browser.get("/opt-outs/").get_data(as_text=True)
    assert re.search(r'<input[^>]+name="reason"[^>]+required', page)


def test_the_audit_page_is_for_administrators(member_browser):
    assert member_browser.get("/audit/").status_code == 403
    assert "/audit/" not in member_browser.get("/").get_data(as_text=True)


def test_the_audit_page_names_actions_in_russian_and_filters(app, admin_browser, member):
    assert sign_in(admin_browser, MEMBER_EMAIL, "wrong password").status_code == 401
    with app.app_context():
        old = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "sign_in"))
        old.at = datetime(2026, 1, 15, 12, tzinfo=UTC)
        db.session.commit()
    page = admin_browser.get("/audit/").get_data(as_text=True)
    assert "Журнал действий" in admin_browser.get("/").get_data(as_text=True)
    assert "Вход в систему" in page and "Неудачный вход" in page and ADDRESS in page

    def shown(query: str) -> str:
        response = admin_browser.get(f"/audit/?{query}")
        assert response.status_code == 200
        return response.get_data(as_text=True)

    failed = shown("action=sign_in_failed")
    assert "Неудачный вход" in failed and "Найдено событий: 1" in failed
    assert "Найдено событий: 1" in shown(f"user={MEMBER_EMAIL}")
    assert "Найдено событий: 1" in shown("from=2026-01-15&to=2026-01-15")
    assert "Найдено событий: 0" in shown("to=2026-01-14")
    today = datetime.now(UTC).date()
    assert "Найдено событий: 1" in shown(f"from={today - timedelta(days=1)}&action=sign_in_failed")


@pytest.mark.parametrize(
    "query", ["action=nothing", "from=2026-13-01", "to=yesterday", "from=0001-01-01", "page=0"]
)
def test_bad_filters_are_a_bad_request(admin_browser, query):
    assert admin_browser.get(f"/audit/?{query}").status_code == 400


def test_the_audit_page_is_paged_newest_first(app, admin_browser):
    with app.app_context():
        for n in range(60):
            db.session.add(AuditEvent(action="opt_outs_added", details_json=f'{{"added": {n}}}'))
        db.session.commit()
    first = admin_browser.get("/audit/?action=opt_outs_added").get_data(as_text=True)
    second = admin_browser.get("/audit/?action=opt_outs_added&page=2").get_data(as_text=True)
    assert "added: 59" in first and "added: 10" in first and "added: 9" not in first
    assert "added: 9" in second and "added: 0" in second and "added: 59" not in second
    assert "page=2" in first and "action=opt_outs_added" in first
