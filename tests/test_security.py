"""Headers: HTTPS kept once used, secrets and downloads kept out of every cache."""

import re

import pytest

from webapp import create_app
from webapp.extensions import db
from webapp.models import Campaign

from .factories import make_campaign, make_list

HSTS = "Strict-Transport-Security"


@pytest.fixture
def campaign(app) -> int:
    with app.app_context():
        contact_list = make_list(["79001234567"], [{"Имя": "Анна"}])
        return make_campaign(contact_list.id, "Привет, {{ Имя }}", name="Акция")


def test_pages_served_over_https_tell_browsers_to_stay_on_https(client):
    secure = client.get("/login", base_url="https://localhost")
    assert secure.headers[HSTS] == "max-age=31536000"
    assert HSTS not in client.get("/login").headers  # plain HTTP: the header would mean nothing


def test_https_behind_a_proxy_counts_when_proxy_fix_is_on(app_config, instance_path):
    client = create_app({**app_config, "PROXY_FIX": True}).test_client()
    behind_tls = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert behind_tls.headers[HSTS] == "max-age=31536000"


def test_the_page_showing_a_new_api_key_is_never_cached(admin_client):
    response = admin_client.post("/settings/api-keys", data={"name": "CRM"})
    key = re.search(r'<code[^>]*id="new-key">([^<]+)</code>', response.get_data(as_text=True))[1]
    assert admin_client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"}).json
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "url",
    [
        "/campaigns/{campaign}/export.csv",
        "/campaigns/{campaign}/export.xlsx",
        "/api/v1/campaigns/{campaign}/export?format=csv",
        "/api/v1/campaigns/{campaign}/export?format=xlsx",
        "/lists/{contact_list}/rejects.csv",
    ],
)
def test_downloads_are_never_cached(admin_client, api_key, app, campaign, url):
    with app.app_context():
        contact_list = db.session.get(Campaign, campaign).list_id
    headers = {"Authorization": f"Bearer {api_key}"} if url.startswith("/api/") else {}
    response = admin_client.get(
        url.format(campaign=campaign, contact_list=contact_list), headers=headers
    )
    assert response.status_code == 200 and response.data  # the whole file, streamed
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.headers["Cache-Control"] == "no-store"


def test_ordinary_pages_keep_the_default_caching(admin_client, campaign):
    assert "no-store" not in admin_client.get(f"/campaigns/{campaign}").headers.get(
        "Cache-Control", ""
    )
