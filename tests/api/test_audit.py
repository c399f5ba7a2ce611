"""The audit trail over the API: what API calls record, and ``GET /api/v1/audit`` for admins."""

from datetime import UTC, datetime

import pytest

from tests.conftest import ADMIN_EMAIL
from tests.factories import audit_trail, make_campaign, make_list, make_opt_outs, mark_recipients
from webapp.audit import ACTIONS
from webapp.extensions import db
from webapp.models import AuditEvent, OptOut

ADDRESS = "198.51.100.23"
PHONES = ["79243555100", "79243555101"]


@pytest.fixture
def app_config(app_config):
    return {**app_config, "SENDER_IN_PROCESS": False}


@pytest.fixture
def api(api):
    api.environ_base["REMOTE_ADDR"] = ADDRESS
    return api


def trail(app, action: str | None = None) -> list[tuple]:
    with app.app_context():
        return audit_trail(action)


def test_campaign_actions_over_the_api_are_recorded(app, api):
    with app.app_context():
        campaign_id = make_campaign(make_list(PHONES).id, "Hi")
    url = f"/api/v1/campaigns/{campaign_id}"
    assert api.post(f"{url}/start").status_code == 200
    with app.app_context():
        mark_recipients(campaign_id, PHONES[:1], "unknown")
    assert api.post(f"{url}/pause").status_code == 200
    retry = {"status": ["unknown"], "confirm": True}  # unknown ones may get it twice: confirmed
    assert api.post(f"{url}/retry", json=retry).status_code == 200
    for action in ("resume", "cancel"):
        assert api.post(f"{url}/{action}").status_code == 200
    assert api.post(f"{url}/start").status_code == 409  # refused: not recorded
    campaign = str(campaign_id)
    assert trail(app) == [
        ("campaign_started", ADMIN_EMAIL, ADDRESS, "campaign", campaign, {}),
        ("campaign_paused", ADMIN_EMAIL, ADDRESS, "campaign", campaign, {}),
        ("campaign_retried", ADMIN_EMAIL, ADDRESS, "campaign", campaign, {"status": ["unknown"]}),
        ("campaign_resumed", ADMIN_EMAIL, ADDRESS, "campaign", campaign, {}),
        ("campaign_cancelled", ADMIN_EMAIL, ADDRESS, "campaign", campaign, {}),
    ]


def test_list_deletion_and_opt_outs_over_the_api_are_recorded(app, api):
    with app.app_context():
        list_id = make_list(PHONES, name="Старый").id
    assert api.delete(f"/api/v1/lists/{list_id}").status_code == 204
    assert api.post("/api/v1/opt-outs", json={"phones": ["+79243555100"]}).status_code == 201
    assert api.delete("/api/v1/opt-outs/79243555100?reason=Попросил сам").status_code == 204
    assert [(event[0], event[4]) for event in trail(app)] == [
        ("list_deleted", str(list_id)),
        ("opt_outs_added", None),
        ("opt_out_removed", "79243555100"),
    ]
    assert trail(app, "opt_out_removed")[0][5] == {"reason": "Попросил сам", "note": ""}


@pytest.mark.parametrize(
    "request_kwargs",
    [{}, {"query_string": {"reason": "  "}}, {"json": {"reason": ""}}, {"json": {"reason": 5}}],
)
def test_removing_an_opt_out_without_a_reason_is_refused(app, api, request_kwargs):
    with app.app_context():
        make_opt_outs("79243555100")
    response = api.delete("/api/v1/opt-outs/79243555100", **request_kwargs)
    assert response.status_code == 422 and "reason" in response.json["error"]
    with app.app_context():
        assert db.session.get(OptOut, "79243555100") is not None
    assert trail(app) == []


def test_the_reason_can_come_in_a_json_body(app, api):
    with app.app_context():
        make_opt_outs("79243555100")
    response = api.delete("/api/v1/opt-outs/79243555100", json={"reason": "Ошибка оператора"})
    assert response.status_code == 204
    assert trail(app)[0][5]["reason"] == "Ошибка оператора"


def test_the_trail_is_for_administrators_only(client, member_api):
    assert client.get("/api/v1/audit").status_code == 401
    response = member_api.get("/api/v1/audit")
    assert response.status_code == 403 and response.json["error"]


def test_the_trail_has_the_contract_shape_newest_first(app, api):
    with app.app_context():
        make_opt_outs("79243555100")
    api.delete("/api/v1/opt-outs/79243555100", json={"reason": "Снова клиент"})
    api.post("/api/v1/opt-outs", json={"phones": ["79243555101"], "note": "жалоба"})
    body = api.get("/api/v1/audit").json
    assert (body["total"], body["page"], body["per_page"]) == (2, 1, 50)
    newest, oldest = body["items"]
    assert datetime.fromisoformat(newest["at"]).tzinfo is not None
    assert {key: newest[key] for key in ("actor", "ip", "action", "object", "detail")} == {
        "actor": ADMIN_EMAIL,
        "ip": ADDRESS,
        "action": "opt_outs_added",
        "object": {"type": "opt_out", "id": None},
        "detail": {"added": 1, "note": "жалоба"},
    }
    assert oldest["object"] == {"type": "opt_out", "id": "79243555100"}


def test_the_trail_is_filtered_by_actor_action_and_time(app, api):
    with app.app_context():
        for email, action, day in [
            ("a@example.com", "sign_in", 1),
            ("b@example.com", "sign_in", 2),
            ("a@example.com", "sign_in_failed", 3),
        ]:
            at = datetime(2026, 11, day, 12, tzinfo=UTC)
            db.session.add(AuditEvent(actor_email=email, action=action, at=at))
        db.session.commit()

    def found(query: str) -> list[tuple[str, str]]:
        response = api.get(f"/api/v1/audit?{query}")
        assert response.status_code == 200, response.json
        return [(item["actor"][0], item["action"]) for item in response.json["items"]]

    assert found("actor=a@example.com") == [("a", "sign_in_failed"), ("a", "sign_in")]
    assert found("action=sign_in") == [("b", "sign_in"), ("a", "sign_in")]
    assert found("since=2026-11-02T12:00:00%2B00:00") == [("a", "sign_in_failed"), ("b", "sign_in")]
    assert found("since=2026-11-02T15:00:00%2B03:00&until=2026-11-03") == [("b", "sign_in")]
    assert found("per_page=1&page=3") == [("a", "sign_in")]


@pytest.mark.parametrize(
    "query", ["action=everything", "since=yesterday", "until=2026-02-30", "page=1e20", "per_page=0"]
)
def test_bad_filters_are_a_bad_request(api, query):
    response = api.get(f"/api/v1/audit?{query}")
    assert response.status_code == 400 and response.json["error"]


def test_the_openapi_document_describes_the_trail_and_the_removal_reason(client):
    document = client.get("/api/v1/openapi.json").json
    audit = document["paths"]["/audit"]["get"]
    assert {p["name"] for p in audit["parameters"]} >= {
        "page",
        "per_page",
        "actor",
        "action",
        "since",
    }
    assert set(audit["responses"]) >= {"200", "400", "401", "403"}
    event = document["components"]["schemas"]["AuditEvent"]
    assert set(event["required"]) == {"at", "actor", "ip", "action", "object", "detail"}
    assert event["properties"]["action"]["enum"] == list(ACTIONS)
    removal = document["paths"]["/opt-outs/{phone}"]["delete"]
    assert "reason" in {p["name"] for p in removal["parameters"]} and "422" in removal["responses"]
