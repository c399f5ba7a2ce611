"""Ids and page numbers too large for the database: a 404 or a 400 on every route, never a 500."""

import re

import pytest
from werkzeug.routing import AnyConverter, IntegerConverter

from tests.factories import make_campaign, make_list
from webapp.extensions import db
from webapp.models import ApiKey, SavedMessage
from webapp.url_numbers import MAX_ID, MAX_PAGE

# The largest id, past 32 bits (PostgreSQL's integer), the largest 64-bit one, past 64 bits
# (SQLite refuses), far past.
HUGE_IDS = [MAX_ID, MAX_ID + 1, 2**63 - 1, 2**63, 10**20]
MISSING = 987654  # an id no test record has
# Sure to exist in the fixtures below, for the arguments that are not ids.
OTHER_ARGUMENTS = {"phone": "79243555100", "upload_id": "0" * 32}


@pytest.fixture
def records(app, admin):
    """One of everything a URL can name, so each route has a real id to stand beside."""
    with app.app_context():
        contact_list = make_list(["79243555100", "79243555101"])
        campaign_id = make_campaign(contact_list.id, "Hi")
        saved = SavedMessage(name="Привет", body="Hi")
        db.session.add(saved)
        db.session.commit()
        return {
            "list_id": contact_list.id,
            "campaign_id": campaign_id,
            "saved_id": saved.id,
            "user_id": admin,
            "key_id": db.session.scalar(db.select(ApiKey.id)),
        }


@pytest.fixture
def browser(app, admin_client, api_key):
    """A client signed in to the pages that also sends the API key, so every route opens."""
    admin_client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {api_key}"
    return admin_client


def id_routes(app):
    """(rule, the names of its whole-number arguments) for every route that takes one."""
    for rule in app.url_map.iter_rules():
        numbers = [
            name for name, conv in rule._converters.items() if isinstance(conv, IntegerConverter)
        ]
        if numbers:
            yield rule, numbers


def url(rule, values: dict) -> str:
    """The rule's path with ``values`` (ids), the first choice of each ``any`` and test values.

    Built by hand, since url_for itself refuses the ids the router must refuse."""

    def argument(match: re.Match) -> str:
        converter = rule._converters[match[1]]
        if isinstance(converter, AnyConverter):
            return sorted(converter.items)[0]
        return str(values.get(match[1], OTHER_ARGUMENTS.get(match[1])))

    return re.sub(r"<(?:[^>:]*:)?([^>]+)>", argument, rule.rule)


def methods(rule) -> list[str]:
    return sorted(rule.methods - {"HEAD", "OPTIONS"})


def test_every_id_route_is_covered(app):
    """The test below walks the url map: this keeps it from passing on an empty one."""
    names = {name for _rule, numbers in id_routes(app) for name in numbers}
    assert {"list_id", "campaign_id", "saved_id", "user_id", "key_id"} <= names
    endpoints = {rule.endpoint for rule, _numbers in id_routes(app)}
    assert {"api.list_detail", "api.get_campaign", "lists.detail", "campaigns.detail"} <= endpoints


@pytest.mark.parametrize("huge", HUGE_IDS)
def test_ids_past_what_the_database_holds_are_not_found(app, browser, records, huge):
    """An id past what the route allows is a 404 whatever the method; one within it is
    answered as an id nobody has. Never a 500."""
    for rule, numbers in id_routes(app):
        for name in numbers:
            for method in methods(rule):
                response = browser.open(url(rule, {**records, name: huge}), method=method)
                where = (method, rule.rule, name)
                if huge > rule._converters[name].max:
                    assert response.status_code == 404, where
                else:
                    missing = browser.open(url(rule, {**records, name: MISSING}), method=method)
                    assert response.status_code == missing.status_code != 500, where
                if rule.rule.startswith("/api/"):
                    assert "error" in response.json, where


def test_the_api_answers_a_huge_list_id_with_json_404(api):
    response = api.get("/api/v1/lists/100000000000000000000")
    assert response.status_code == 404 and response.is_json and response.json["error"]


def paged_routes(app):
    """Every route that can be opened with GET once its ids are filled in."""
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods and rule.endpoint != "static":
            yield rule


@pytest.mark.parametrize("page", ["1e20", "100000000000000000000", "-1", "0", "abc", MAX_PAGE + 1])
def test_page_numbers_out_of_range_are_a_bad_request(app, browser, records, page):
    paged = set()
    for rule in paged_routes(app):
        path = url(rule, records)
        response = browser.get(f"{path}?page={page}")
        assert response.status_code != 500, path
        if response.status_code == 400:
            paged.add(rule.endpoint)
    # Every list that pages, on the pages and over the API, says so.
    assert {
        "lists.detail",
        "optouts.index",
        "campaigns.preview",
        "campaigns.results",
        "audit.index",
        "api.lists",
        "api.list_contacts",
        "api.list_rejects",
        "api.opt_outs",
        "api.list_campaigns",
        "api.results",
        "api.audit_events",
    } <= paged


def test_the_last_page_that_fits_is_empty_not_an_error(app, browser, records):
    for rule in paged_routes(app):
        path = url(rule, records)
        response = browser.get(f"{path}?page={MAX_PAGE}&per_page=1000")
        assert response.status_code < 500, path
    items = browser.get(f"/api/v1/lists?page={MAX_PAGE}&per_page=1000").json
    assert (items["items"], items["total"]) == ([], 1)


def test_a_huge_row_to_jump_to_is_a_bad_request(browser, records):
    preview = f"/campaigns/{records['campaign_id']}/preview"
    assert browser.get(f"{preview}?row=100000000000000000000").status_code == 400
    assert browser.get(f"{preview}?row=2").status_code == 200


def test_huge_ids_in_forms_and_query_strings_are_unknown_not_errors(browser, records):
    huge = 10**20
    assert browser.get(f"/campaigns/new?list_id={huge}&template_id={huge}").status_code == 200
    check = browser.post("/campaigns/check", data={"list_id": huge, "template": "Hi"})
    assert check.status_code == 200 and "Сначала выберите список" in check.get_data(as_text=True)
    created = browser.post("/campaigns/new", data={"name": "x", "list_id": huge, "template": "Hi"})
    assert created.status_code == 422
