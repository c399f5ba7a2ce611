import pytest
from flask import Blueprint
from sqlalchemy import select

from webapp.accounts import create_user
from webapp.api.helpers import json_body, paged
from webapp.extensions import db
from webapp.models import User


def test_health_needs_no_key(client):
    response = client.get("/api/v1/health")
    assert (response.status_code, response.json) == (200, {"status": "ok"})


@pytest.mark.parametrize(
    "header", [None, "Bearer volna_not-a-real-key", "Basic dXNlcjpwYXNz", "Bearer "]
)
def test_missing_or_wrong_key_is_401_json(client, api_key, header):
    headers = {"Authorization": header} if header else {}
    response = client.get("/api/v1/me", headers={**headers, "Accept-Language": "en"})
    assert response.status_code == 401
    assert response.is_json and "API key" in response.json["error"]


def test_api_errors_are_in_the_readers_language(echo_app, client, api_key):
    """Refusals of the API's own, and werkzeug's 413, speak Russian to a Russian reader."""
    russian = {"Accept-Language": "ru"}
    assert "API-ключ" in client.get("/api/v1/me", headers=russian).json["error"]
    not_json = client.post("/api/v1/echo", data="x=1", headers=russian)
    assert not_json.json["error"].startswith("Отправьте тело в JSON")
    echo_app.config["MAX_CONTENT_LENGTH"] = 2 * 1024 * 1024
    too_large = client.post(
        "/api/v1/echo",
        data="x" * (3 * 1024 * 1024),
        content_type="application/json",
        headers=russian,
    )
    assert too_large.status_code == 413
    assert "больше 2 МБ" in too_large.json["error"], too_large.json["error"]


def test_a_valid_key_identifies_its_user(api):
    response = api.get("/api/v1/me")
    assert response.status_code == 200
    assert response.json == {"email": "admin@example.com", "role": "admin"}


def test_unknown_api_paths_and_methods_answer_json_not_html(api):
    missing = api.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.is_json and missing.json["error"]
    wrong_method = api.delete("/api/v1/health")
    assert wrong_method.status_code == 405 and wrong_method.json["error"]


@pytest.fixture
def echo_app(app):
    """A throwaway endpoint to drive the JSON-body helper the real endpoints use."""
    bp = Blueprint("echo", __name__)

    @bp.post("/api/v1/echo")
    def echo():
        return json_body()

    app.register_blueprint(bp)
    return app


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ("{not json", "application/json", 400),
        ("[1, 2]", "application/json", 400),
        ("name=x", "application/x-www-form-urlencoded", 415),
    ],
)
def test_malformed_json_gets_a_clear_error(echo_app, client, body, content_type, status):
    response = client.post("/api/v1/echo", data=body, content_type=content_type)
    assert response.status_code == status
    assert response.is_json and response.json["error"]


def test_oversized_api_body_is_413_json(echo_app, client):
    echo_app.config["MAX_CONTENT_LENGTH"] = 100
    response = client.post(
        "/api/v1/echo", data='{"a": "' + "x" * 1000 + '"}', content_type="application/json"
    )
    assert response.status_code == 413
    assert response.is_json and response.json["error"]


@pytest.fixture
def users_app(app):
    """A throwaway paged endpoint over users, to drive the paging helper."""
    bp = Blueprint("users_list", __name__)

    @bp.get("/api/v1/test-users")
    def users():
        return paged(select(User).order_by(User.id), lambda user: {"email": user.email})

    app.register_blueprint(bp)
    with app.app_context():
        for n in range(5):
            create_user(f"user{n}@example.com", "long enough password")
        db.session.commit()
    return app


def test_pages_hold_items_total_page_and_per_page(users_app, client):
    response = client.get("/api/v1/test-users?page=2&per_page=2")
    assert response.json == {
        "items": [{"email": "user2@example.com"}, {"email": "user3@example.com"}],
        "total": 5,
        "page": 2,
        "per_page": 2,
    }


@pytest.mark.parametrize(
    "query", ["page=0", "per_page=1001", "page=abc", "per_page=0", "page=1e20", "page=" + "9" * 20]
)
def test_bad_paging_arguments_are_400(users_app, client, query):
    response = client.get(f"/api/v1/test-users?{query}")
    name = query.partition("=")[0]
    assert response.status_code == 400 and f"{name}" in response.json["error"]


def test_openapi_document_describes_the_api(client):
    document = client.get("/api/v1/openapi.json").json
    assert document["openapi"].startswith("3.")
    assert "/health" in document["paths"] and "/me" in document["paths"]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
