import re
from pathlib import Path

from webapp import PACKAGE_DIR

TEMPLATES = PACKAGE_DIR.parent / "templates"


def test_pages_speak_russian_by_default_and_english_on_request(admin_client):
    assert "Панель" in admin_client.get("/").get_data(as_text=True)
    response = admin_client.get("/lang/en", headers={"Referer": "http://localhost/"})
    assert response.headers["Location"] == "http://localhost/"
    page = admin_client.get("/").get_data(as_text=True)
    assert "Dashboard" in page and 'lang="en"' in page


def test_unknown_language_keeps_russian(admin_client):
    admin_client.get("/lang/xx")
    assert 'lang="ru"' in admin_client.get("/").get_data(as_text=True)


def test_security_headers_allow_only_self_hosted_assets(client):
    response = client.get("/setup")
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_session_cookie_is_httponly_lax_and_secure_over_https(client, admin):
    plain = client.post("/login", data={"email": "admin@example.com", "password": "x"})
    cookie = plain.headers.get("Set-Cookie", "")
    secure = client.post(
        "/login",
        data={"email": "admin@example.com", "password": "correct horse battery"},
        base_url="https://localhost",
    ).headers["Set-Cookie"]
    assert "HttpOnly" in secure and "SameSite=Lax" in secure and "Secure" in secure
    assert "Secure" not in cookie


def test_vendored_assets_are_served_and_templates_link_nothing_external(client):
    for asset in ("vendor/bootstrap/bootstrap.min.css", "vendor/htmx/htmx.min.js"):
        assert client.get(f"/static/{asset}").status_code == 200
    for template in Path(TEMPLATES).rglob("*.html"):
        urls = re.findall(r"(?:src|href)=\"(https?:)?//", template.read_text())
        assert urls == [], template


def test_error_pages_are_styled_and_russian(admin_client):
    response = admin_client.get("/no-such-page")
    assert response.status_code == 404
    assert "Страница не найдена" in response.get_data(as_text=True)


def test_oversized_upload_gets_a_clear_413_page(app, admin_client):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    response = admin_client.post("/login", data={"email": "x" * 4096})
    assert response.status_code == 413
    assert "Файл слишком большой" in response.get_data(as_text=True)


def concrete(rule: str) -> str:
    """A path matching ``rule``: whole numbers for ids, the first choice of an ``any``."""
    rule = re.sub(r"<any\(([^,)]+)[^>]*>", r"\1", rule)
    rule = re.sub(r"<int:[^>]+>", "1", rule)
    return re.sub(r"<[^>]+>", "x", rule)


def test_every_form_refuses_a_post_without_its_csrf_token(app_config, instance_path, admin):
    from webapp import create_app

    app = create_app({**app_config, "WTF_CSRF_ENABLED": True})
    client = app.test_client()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', client.get("/login").text)
    client.post(
        "/login",
        data={
            "email": "admin@example.com",
            "password": "correct horse battery",
            "csrf_token": token[1],
        },
    )
    assert client.get("/").status_code == 200  # signed in, so only the token is missing below
    forms = [
        rule.rule
        for rule in app.url_map.iter_rules()
        if "POST" in rule.methods and not rule.rule.startswith("/api/")
    ]
    assert len(forms) > 20
    for path in forms:
        response = client.post(concrete(path), data={"name": "x"})
        assert response.status_code == 400, path
        assert "Форма устарела" in response.text, path
