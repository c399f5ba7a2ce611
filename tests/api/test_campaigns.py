import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from tests.factories import (
    make_campaign,
    make_list,
    make_opt_outs,
    mark_recipients,
    set_campaign_status,
)
from webapp.account_settings import TEST_SENT, get_setting
from webapp.campaigns.options import OPTION_NAMES
from webapp.extensions import db
from webapp.models import Recipient
from webapp.numbers import WAIT_DAILY_LIMIT, WAIT_PAUSED

PHONES = ["79243555100", "79243555101", "79243555102"]
TEMPLATE = "{Привет|Здравствуйте}, {{ Имя }}!"
EN = {"Accept-Language": "en"}
CAMPAIGN_KEYS = {
    *("id", "name", "status", "list_id", "template", "counts", "pause_code", "pause_reason"),
    *("started_at", "finished_at", "eta", "next_reminder_at", "created_at"),
    *("waiting_code", "waiting_reason", "waiting_until"),
    *OPTION_NAMES,
}


@pytest.fixture
def app_config(app_config):
    return {**app_config, "SANDBOX_LATENCY_MIN_S": 0, "SANDBOX_LATENCY_MAX_S": 0}


@pytest.fixture
def list_id(app):
    """Three contacts (Анна, a blank name, Олег); Олег has opted out."""
    with app.app_context():
        contact_list = make_list(PHONES, [{"Имя": "Анна"}, {"Имя": ""}, {"Имя": "Олег"}])
        make_opt_outs(PHONES[2])
        return contact_list.id


@pytest.fixture
def campaign(app, list_id):
    """Make a draft with the factory; ``campaign(**values)`` returns its id."""

    def create(list_id=list_id, template=TEMPLATE, **values):
        with app.app_context():
            return make_campaign(list_id, template, **values)

    return create


@pytest.fixture
def started(api, campaign):
    campaign_id = campaign()
    assert api.post(f"/api/v1/campaigns/{campaign_id}/start").status_code == 200
    return campaign_id


def test_create_answers_the_draft_in_the_contracts_shape(api, list_id):
    body = {"name": "Осень", "list_id": list_id, "template": TEMPLATE}
    response = api.post(
        "/api/v1/campaigns", json=body | {"rate_per_minute": 30, "app": [1, 2], "send_window": None}
    )
    assert response.status_code == 201
    created = response.json
    assert set(created) >= CAMPAIGN_KEYS
    assert created["status"] == "draft" and created["list_id"] == list_id
    assert (created["rate_per_minute"], created["app"], created["send_window"]) == (
        30,
        [1, 2],
        None,
    )
    assert created["counts"] == {
        "total": 0,
        "pending": 0,
        "sent": 0,
        "failed": 0,
        "unknown": 0,
        "skipped": 0,
    }
    assert datetime.fromisoformat(created["created_at"]).tzinfo is not None
    assert api.get(f"/api/v1/campaigns/{created['id']}").json == created


def test_campaigns_are_listed_newest_first_and_by_status(api, campaign, started):
    draft = campaign(name="Зима")
    listed = api.get("/api/v1/campaigns").json
    assert [c["id"] for c in listed["items"]] == [draft, started]
    assert (listed["total"], listed["page"], listed["per_page"]) == (2, 1, 50)
    running = api.get("/api/v1/campaigns?status=running").json
    assert [c["id"] for c in running["items"]] == [started]
    assert api.get("/api/v1/campaigns?status=lost").status_code == 400


def test_a_template_error_names_the_problem_and_the_known_columns(api, list_id):
    body = {"name": "Осень", "list_id": list_id, "template": "Привет, {{ Фамилия }}"}
    response = api.post("/api/v1/campaigns", json=body, headers=EN)
    assert response.status_code == 422
    assert response.json["error"] == (
        'template: Unknown column "Фамилия" at line 1, character 9. '
        'Known columns: "Телефон", "Имя".'
    )
    assert response.json["known_columns"] == ["Телефон", "Имя"]
    assert response.json["position"] == 8


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"name": "x" * 100_000}, 422, "name"),
        ({"name": None}, 422, "name"),
        ({"name": {"ru": "Осень"}}, 422, "name"),
        ({"name": "Осень\u0000"}, 422, "name"),
        ({"template": "Привет \ud83d"}, 422, "template"),
        ({"list_id": "1"}, 422, "list_id"),
        ({"list_id": 123456}, 422, "list_id"),
        ({"list_id": 10**40}, 422, "list_id"),
        ({"list_id": -1}, 422, "list_id"),
        ({"template": 5}, 422, "template"),
        ({"template": "{a|"}, 422, "template"),
        ({"rate_per_minute": "20"}, 422, "rate_per_minute"),
        ({"rate_per_minute": 0}, 422, "rate_per_minute"),
        ({"delay_min_s": -1}, 422, "delay_min_s"),
        ({"app": "first"}, 422, "app"),
        ({"app": [1.5]}, 422, "app"),
        ({"send_window": "09-21"}, 422, "send_window"),
        (
            {"send_window": {"start": "09:00", "end": "21:00", "timezone": "Mars/Olympus"}},
            422,
            None,
        ),
        ({"start_at": 1700000000}, 422, "start_at"),
        ({"daily_limit": 1.5}, 422, "daily_limit"),
    ],
)
def test_bad_values_are_refused_with_a_json_error_naming_the_field(
    api, list_id, body, status, field
):
    full = {"name": "Осень", "list_id": list_id, "template": "Hi", **body}
    response = api.post("/api/v1/campaigns", json=full)
    assert response.status_code == status
    assert response.is_json and response.json["error"]
    if field:
        assert response.json["field"] == field
        assert response.json["error"].startswith(f"{field}: ")
    assert api.get("/api/v1/campaigns").json["total"] == 0


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        ("[1, 2]", "application/json", 400),
        ("{oops", "application/json", 400),
        ("name=x", "application/x-www-form-urlencoded", 415),
    ],
)
def test_bodies_that_are_not_json_objects_are_refused(api, data, content_type, status):
    response = api.post("/api/v1/campaigns", data=data, content_type=content_type)
    assert response.status_code == status and response.json["error"]


def test_missing_campaigns_are_404_everywhere(api):
    for method, path in [
        ("get", ""),
        ("patch", ""),
        ("post", "/start"),
        ("post", "/pause"),
        ("post", "/resume"),
        ("post", "/cancel"),
        ("post", "/retry"),
        ("get", "/preview"),
        ("post", "/test"),
        ("get", "/results"),
    ]:
        body = {"status": ["failed"], "phone": "79243555199"} if method != "get" else None
        response = getattr(api, method)(f"/api/v1/campaigns/42{path}", json=body)
        assert response.status_code == 404, (method, path)
        assert response.json["error"]
    assert api.get(f"/api/v1/campaigns/{10**30}").status_code == 404
    assert api.post("/api/v1/campaigns/1/explode").status_code == 404


def test_a_draft_is_edited_and_a_running_campaign_is_not(api, campaign, started):
    draft = campaign()
    response = api.patch(
        f"/api/v1/campaigns/{draft}", json={"name": "Зима", "template": "Hi {{ Имя }}"}
    )
    assert response.status_code == 200
    assert (response.json["name"], response.json["template"]) == ("Зима", "Hi {{ Имя }}")
    assert api.patch(f"/api/v1/campaigns/{draft}", json={"delay_min_s": "x"}).status_code == 422
    refused = api.patch(f"/api/v1/campaigns/{started}", json={"rate_per_minute": 5}, headers=EN)
    assert refused.status_code == 409
    assert "draft" in refused.json["error"]


def test_a_paused_campaigns_options_change_but_not_its_message(api, started):
    api.post(f"/api/v1/campaigns/{started}/pause")
    changed = api.patch(f"/api/v1/campaigns/{started}", json={"daily_limit": 50})
    assert (changed.status_code, changed.json["daily_limit"]) == (200, 50)
    refused = api.patch(f"/api/v1/campaigns/{started}", json={"template": "Другой"})
    assert (refused.status_code, refused.json["field"]) == (409, "template")


def test_the_lifecycle_over_the_api(api, campaign, list_id):
    campaign_id = campaign()
    url = f"/api/v1/campaigns/{campaign_id}"

    started = api.post(f"{url}/start")
    assert (started.status_code, started.json["status"]) == (200, "running")
    assert started.json["counts"] == {
        "total": 3,
        "pending": 2,
        "sent": 0,
        "failed": 0,
        "unknown": 0,
        "skipped": 1,
    }
    assert started.json["started_at"] and started.json["eta"]
    assert api.post(f"{url}/start").status_code == 409
    assert api.post(f"{url}/resume").status_code == 409

    paused = api.post(f"{url}/pause", headers=EN).json
    assert (paused["status"], paused["pause_code"]) == ("paused", "user")
    assert paused["pause_reason"] == "Paused by a user."
    assert paused["eta"] is None

    resumed = api.post(f"{url}/resume").json
    assert (resumed["status"], resumed["pause_code"], resumed["pause_reason"]) == (
        "running",
        None,
        None,
    )

    cancelled = api.post(f"{url}/cancel").json
    assert cancelled["status"] == "cancelled" and cancelled["finished_at"]
    assert (cancelled["counts"]["pending"], cancelled["counts"]["skipped"]) == (0, 3)
    for action in ("start", "pause", "resume", "cancel"):
        refused = api.post(f"{url}/{action}")
        assert refused.status_code == 409 and refused.json["error"]


def test_a_scheduled_start(api, campaign):
    campaign_id = campaign(start_at="2999-01-01T09:00:00+03:00")
    scheduled = api.post(f"/api/v1/campaigns/{campaign_id}/start").json
    assert (scheduled["status"], scheduled["started_at"]) == ("scheduled", None)
    assert scheduled["start_at"] == "2999-01-01T09:00:00+03:00"


def test_an_empty_list_cannot_start(app, api, campaign):
    with app.app_context():
        empty = make_list([]).id
    campaign_id = campaign(list_id=empty, template="Hi")
    response = api.post(f"/api/v1/campaigns/{campaign_id}/start")
    assert (response.status_code, response.json["field"]) == (422, "list_id")


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("balance", "The WhatsApp gateway blocked the account for lack of balance."),
        ("unauthorized", "The gateway rejected the API token."),
        ("gateway_unavailable", "The gateway has not answered successfully for a while."),
    ],
)
def test_a_gateway_pause_says_why_and_what_to_do(app, api, started, code, reason):
    with app.app_context():
        set_campaign_status(started, "paused", pause_code=code, pause_detail="raw words")
    shown = api.get(f"/api/v1/campaigns/{started}", headers=EN).json
    assert shown["pause_code"] == code
    assert shown["pause_reason"].startswith(reason)
    assert shown["pause_reason"].endswith("then press Resume.")
    assert shown["pause_detail"] == "raw words"


def test_a_campaign_waiting_for_its_numbers_says_why_and_until_when(app, api, started):
    assert api.get(f"/api/v1/campaigns/{started}").json["waiting_code"] is None
    midnight = datetime(2030, 1, 1, 21, 0, tzinfo=UTC)
    with app.app_context():
        set_campaign_status(
            started, "running", waiting_reason=WAIT_DAILY_LIMIT, waiting_until=midnight
        )
    shown = api.get(f"/api/v1/campaigns/{started}", headers=EN).json
    assert (shown["waiting_code"], shown["waiting_until"]) == (
        "numbers_daily_limit",
        "2030-01-01T21:00:00+00:00",
    )
    assert shown["waiting_reason"].startswith("Waiting until ")
    assert shown["waiting_reason"].endswith("have reached their daily limit.")

    with app.app_context():
        set_campaign_status(started, "running", waiting_reason=WAIT_PAUSED, waiting_until=None)
    shown = api.get(f"/api/v1/campaigns/{started}", headers=EN).json
    assert (shown["waiting_code"], shown["waiting_until"]) == ("numbers_paused", None)
    assert shown["waiting_reason"] == ("Waiting: every WhatsApp number of this campaign is paused.")


def test_retry_over_the_api(app, api, started):
    with app.app_context():
        mark_recipients(started, [PHONES[0]], "failed", error="Not on WhatsApp")
        mark_recipients(started, [PHONES[1]], "unknown", error="No answer")
    url = f"/api/v1/campaigns/{started}/retry"
    assert api.post(url, json={"status": ["failed"]}).status_code == 409  # still running
    with app.app_context():
        set_campaign_status(started, "completed")
    assert api.post(url, json={"status": ["sent"]}).status_code == 422
    assert api.post(url, json={}).status_code == 422
    assert api.post(url).status_code == 415
    unconfirmed = api.post(url, json={"status": ["failed", "unknown"]}, headers=EN)
    assert unconfirmed.status_code == 409
    assert (unconfirmed.json["confirm_required"], unconfirmed.json["unknown"]) == (True, 1)
    assert "Some may already have the message" in unconfirmed.json["error"]
    assert api.get(f"/api/v1/campaigns/{started}").json["counts"]["unknown"] == 1  # untouched
    retried = api.post(url, json={"status": ["failed", "unknown"], "confirm": True})
    assert retried.status_code == 200
    assert retried.json["status"] == "running"
    assert retried.json["counts"]["pending"] == 2
    assert retried.json["counts"]["failed"] == retried.json["counts"]["unknown"] == 0


def test_preview_over_the_api(api, campaign):
    campaign_id = campaign(template="Привет, {{ Имя }}")
    url = f"/api/v1/campaigns/{campaign_id}/preview"
    preview = api.get(f"{url}?limit=2&offset=1", headers=EN).json
    assert preview == {
        "items": [
            {
                "phone": PHONES[1],
                "message": "Привет, ",
                "warnings": ['Empty value for column "Имя".'],
                "due_at": None,
            },
            {
                "phone": PHONES[2],
                "message": "Привет, Олег",
                "warnings": ["This number has opted out: it will be skipped."],
                "due_at": None,
            },
        ],
        "total": 3,
    }
    assert len(api.get(url).json["items"]) == 3
    for query in ("limit=0", "limit=1001", "limit=x", "offset=-1", f"offset={10**30}"):
        response = api.get(f"{url}?{query}")
        assert response.status_code == 400 and response.json["error"], query


def test_a_test_send_goes_out_now_and_is_not_a_recipient(app, api, campaign):
    campaign_id = campaign(template="Привет, {{ Имя }}")
    response = api.post(f"/api/v1/campaigns/{campaign_id}/test", json={"phone": "8 924 355-51-99"})
    assert response.status_code == 200
    assert (response.json["phone"], response.json["message"]) == ("79243555199", "Привет, Анна")
    assert response.json["result"]["outcome"] == "sent" and response.json["result"]["message_id"]
    sent = app.extensions["sandbox"].messages()
    assert [(m.phone, m.message) for m in sent] == [("79243555199", "Привет, Анна")]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Recipient)) == 0
        assert get_setting(TEST_SENT) is True  # the dashboard's first steps count it


def test_a_failed_test_send_is_a_502_with_the_gateways_words(app, api, campaign):
    campaign_id = campaign()
    app.extensions["sandbox"].configure(account="balance")
    response = api.post(
        f"/api/v1/campaigns/{campaign_id}/test", json={"phone": "79243555199"}, headers=EN
    )
    assert response.status_code == 502
    assert "Blocking a client by balance" in response.json["error"]
    assert response.json["result"]["outcome"] == "account_error"
    with app.app_context():
        assert get_setting(TEST_SENT) is None


@pytest.mark.parametrize(
    "body", [{}, {"phone": "12345"}, {"phone": 7.9}, {"phone": ["7924"]}, {"phone": "\ud83d"}]
)
def test_a_test_send_needs_a_phone(api, campaign, body):
    response = api.post(f"/api/v1/campaigns/{campaign()}/test", json=body)
    assert (response.status_code, response.json["field"]) == (422, "phone")


def test_results_over_the_api(app, api, started):
    with app.app_context():
        mark_recipients(started, [PHONES[0]], "sent", message_id="3EB0", gateway_status="1")
    url = f"/api/v1/campaigns/{started}/results"
    everything = api.get(url, headers=EN).json
    assert (everything["total"], everything["page"], everything["per_page"]) == (3, 1, 50)
    first = everything["items"][0]
    assert set(first) >= {
        "phone",
        "status",
        "message_id",
        "gateway_status",
        "error",
        "attempts",
        "sent_at",
        "fields",
    }
    assert (first["phone"], first["status"], first["message_id"]) == (PHONES[0], "sent", "3EB0")
    assert first["fields"] == {"Имя": "Анна"}
    assert everything["items"][2]["error"] == "Opted out"

    pending = api.get(f"{url}?status=pending").json
    assert ([r["phone"] for r in pending["items"]], pending["total"]) == ([PHONES[1]], 1)
    found = api.get(f"{url}?q=Олег").json
    assert ([r["phone"] for r in found["items"]], found["total"]) == ([PHONES[2]], 1)
    many = api.get(f"{url}?q=7924&per_page=2").json
    assert (len(many["items"]), many["total"]) == (2, 3)
    assert api.get(f"{url}?q=7924&per_page=2&page=3").json["total"] == 3
    second = api.get(f"{url}?per_page=2&page=2").json
    assert [r["phone"] for r in second["items"]] == [PHONES[2]]
    assert api.get(f"{url}?page={10**12}").json["items"] == []
    assert api.get(f"{url}?q=%00").status_code == 200
    assert api.get(f"{url}?status=sending").status_code == 400
    assert api.get(f"{url}?per_page=5000").status_code == 400


def test_the_api_description_lists_the_campaign_endpoints(client):
    document = client.get("/api/v1/openapi.json").json
    paths = document["paths"]
    for path, method in [
        ("/campaigns", "get"),
        ("/campaigns", "post"),
        ("/campaigns/{campaign_id}", "get"),
        ("/campaigns/{campaign_id}", "patch"),
        ("/campaigns/{campaign_id}/start", "post"),
        ("/campaigns/{campaign_id}/pause", "post"),
        ("/campaigns/{campaign_id}/resume", "post"),
        ("/campaigns/{campaign_id}/cancel", "post"),
        ("/campaigns/{campaign_id}/retry", "post"),
        ("/campaigns/{campaign_id}/preview", "get"),
        ("/campaigns/{campaign_id}/test", "post"),
        ("/campaigns/{campaign_id}/results", "get"),
    ]:
        assert method in paths[path], (path, method)
    schemas = document["components"]["schemas"]
    assert {"Campaign", "CampaignInput", "Preview", "TestSend", "Result"} <= set(schemas)
    refs = _refs(document)
    assert refs and all(ref.removeprefix("#/components/schemas/") in schemas for ref in refs)


def _refs(node):
    """Every "$ref" in a JSON document."""
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    if not isinstance(node, dict):
        return []
    own = [node["$ref"]] if "$ref" in node else []
    return own + [ref for value in node.values() for ref in _refs(value)]


def test_texts_are_russian_unless_english_is_asked_for(api, started):
    paused = api.post(f"/api/v1/campaigns/{started}/pause").json
    refused = api.post(f"/api/v1/campaigns/{started}/start", headers={"Accept-Language": "ru"})
    for text in (paused["pause_reason"], refused.json["error"]):
        assert re.search("[а-яё]", text, re.IGNORECASE), text
    english = api.post(f"/api/v1/campaigns/{started}/start", headers=EN).json["error"]
    assert english == "The campaign has already been started."


def test_duplicate_and_delete_a_draft_over_the_api(api, campaign):
    draft_id = campaign()
    copy = api.post(f"/api/v1/campaigns/{draft_id}/duplicate")
    assert copy.status_code == 201 and copy.json["status"] == "draft"
    assert api.delete(f"/api/v1/campaigns/{copy.json['id']}").status_code == 204
    assert api.get(f"/api/v1/campaigns/{copy.json['id']}").status_code == 404
    api.post(f"/api/v1/campaigns/{draft_id}/start")
    refused = api.delete(f"/api/v1/campaigns/{draft_id}")
    assert refused.status_code == 409 and refused.json["error"]
