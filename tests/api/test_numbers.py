"""WhatsApp numbers over the API: listing with today's figures, changing limits, bad values."""

import pytest

from tests.factories import audit_trail


@pytest.fixture
def app_config(app_config):
    return {**app_config, "SENDER_IN_PROCESS": False}


def test_the_default_number_is_listed_with_todays_figures(api):
    page = api.get("/api/v1/accounts").get_json()
    assert page["total"] == 1 and page["page"] == 1
    assert page["items"][0] == {
        "app": None,
        "label": "",
        "rate_per_minute": None,
        "daily_limit": None,
        "warmup": None,
        "paused": False,
        "pause_reason": None,
        "sent_today": 0,
        "failed_today": 0,
        "unknown_today": 0,
        "last_error": None,
        "last_sent_at": None,
    }


def test_an_admin_sets_a_numbers_ceiling_limit_and_warmup(app, api):
    given = {
        "label": "Shop",
        "rate_per_minute": 20,
        "daily_limit": 200,
        "warmup": {"start": 20, "growth_percent": 25},
    }
    answer = api.put("/api/v1/accounts/31", json=given)
    assert answer.status_code == 200
    assert {k: answer.get_json()[k] for k in given} == {**given, "rate_per_minute": 20.0}
    listed = api.get("/api/v1/accounts").get_json()["items"]
    assert [n["app"] for n in listed] == [None, 31]
    assert api.put("/api/v1/accounts/default", json={"paused": True}).get_json()["paused"]
    assert [n["paused"] for n in api.get("/api/v1/accounts").get_json()["items"]] == [True, False]
    with app.app_context():
        changes = audit_trail("number_changed")
    assert [(e[3], e[4], e[5]) for e in changes] == [
        ("settings", "31", given),
        ("settings", "default", {"paused": True}),
    ]


@pytest.mark.parametrize(
    ("key", "body"),
    [
        ("31", {"rate_per_minute": -5}),
        ("31", {"daily_limit": "many"}),
        ("31", {"warmup": {"start": 10}}),
        ("31", {"speed": 3}),
        ("-4", {"paused": True}),
        ("x1", {"paused": True}),
    ],
)
def test_bad_values_get_422_and_change_nothing(api, key, body):
    answer = api.put(f"/api/v1/accounts/{key}", json=body)
    assert answer.status_code == 422
    assert answer.get_json()["error"]
    assert [n["app"] for n in api.get("/api/v1/accounts").get_json()["items"]] == [None]


def test_a_body_that_is_no_json_object_is_refused(api):
    assert api.put("/api/v1/accounts/31", data="x").status_code == 415
    assert api.put("/api/v1/accounts/31", json=[1]).status_code == 400


def test_members_see_numbers_but_do_not_change_them(member_api):
    assert member_api.get("/api/v1/accounts").status_code == 200
    answer = member_api.put("/api/v1/accounts/31", json={"paused": True})
    assert answer.status_code == 403 and answer.get_json()["error"]


def test_openapi_describes_the_accounts(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "get" in paths["/accounts"] and "put" in paths["/accounts/{app}"]
