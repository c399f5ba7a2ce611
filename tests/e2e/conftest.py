"""A real Volna for the browser: the app served over HTTP on loopback with its sender running,
sending through the real gateway client to the sandbox gateway server, and one Chromium page
that walks through it as a person would.

The steps of a module share that page and build on one another (a list is uploaded before a
campaign uses it), so a failed step marks the steps after it as expected failures instead of
piling up confusing errors.
"""

from __future__ import annotations

import random
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from flask_babel import gettext, ngettext
from werkzeug.serving import make_server

from webapp import create_app
from webapp.extensions import db
from webapp.sending import runner
from webapp.sending.sandbox import SandboxConfig, SandboxServer, make_sandbox_server

from ..conftest import POSTGRES_URL, PostgresSchema

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SANDBOX_TOKEN = "e2e-sandbox-token-5d1f0c"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
STEP_TIMEOUT_MS = 15_000
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
AXE_URL = "/static/vendor/axe-core/axe.min.js"


# -- steps that depend on the ones before ----------------------------------------------------


def pytest_runtest_makereport(item, call):
    failed = call.excinfo is not None and not call.excinfo.errisinstance(pytest.skip.Exception)
    if call.when == "call" and failed and item.get_closest_marker("xfail") is None:
        item.parent._failed_step = item.name


def pytest_runtest_setup(item):
    failed = getattr(item.parent, "_failed_step", None)
    if failed is not None:
        pytest.xfail(f"an earlier step failed: {failed}")


# -- the servers -------------------------------------------------------------------------------


def serve_in_thread(server) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


@pytest.fixture(scope="module")
def gateway() -> Iterator[SandboxServer]:
    """The sandbox of telefon-ip.ru over loopback HTTP, answering in 20–50 ms.

    Its random draws (latency, faults, ids) are seeded, so a run with faults switched on fails
    the same number of calls every time.
    """
    server = make_sandbox_server(
        token=SANDBOX_TOKEN,
        config=SandboxConfig(latency_min_s=0.02, latency_max_s=0.05),
        rng=random.Random(20261201),
    )
    serve_in_thread(server)
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def database_uri(tmp_path_factory) -> Iterator[str]:
    """A database nobody has touched: a new SQLite file, or a new PostgreSQL schema in CI."""
    if not POSTGRES_URL:
        yield f"sqlite:///{tmp_path_factory.mktemp('e2e-db') / 'volna.sqlite3'}"
        return
    schema = PostgresSchema(POSTGRES_URL)
    yield schema.url
    schema.drop()


@pytest.fixture(scope="module")
def live_app(database_uri, gateway, tmp_path_factory):
    """The app as ``wsgi.py`` builds it (CSRF on), with a sender paced for a quick test."""
    instance = tmp_path_factory.mktemp("e2e-instance")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VOLNA_INSTANCE_PATH", str(instance))
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": database_uri,
                "TELEFON_IP_TOKEN": SANDBOX_TOKEN,
                "TELEFON_IP_BASE_URL": gateway.base_url,
                "TELEFON_IP_READ_TIMEOUT_S": 5.0,
                "SENDER_POLL_S": 0.1,
                "SENDER_FLUSH_S": 0.05,
                "SENDER_HEARTBEAT_S": 1.0,
                "SENDER_EXPECTED_LATENCY_S": 0.05,
            }
        )
    assert app.config["WTF_CSRF_ENABLED"] is not False
    sender = runner.start(app)
    assert sender is not None, "the app should send from its own process"
    yield app
    sender.stop(timeout=10)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@dataclass
class LiveServer:
    url: str
    app: object


@pytest.fixture(scope="module")
def live_server(live_app) -> Iterator[LiveServer]:
    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    serve_in_thread(server)
    yield LiveServer(f"http://127.0.0.1:{server.port}", live_app)
    server.shutdown()


# -- the browser -------------------------------------------------------------------------------


@dataclass
class ConsoleLog:
    """What the page reported as errors: console errors (CSP violations among them) and
    uncaught exceptions, each with the page it happened on."""

    errors: list[str] = field(default_factory=list)

    def take(self) -> list[str]:
        errors, self.errors = self.errors, []
        return errors


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (CI installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def console() -> ConsoleLog:
    return ConsoleLog()


@pytest.fixture(scope="module")
def page(browser, live_server, console):
    context = browser.new_context(
        base_url=live_server.url,
        locale="ru-RU",
        timezone_id="Europe/Moscow",
        viewport=DESKTOP,
        accept_downloads=True,
    )
    context.set_default_timeout(STEP_TIMEOUT_MS)
    page = context.new_page()

    def on_console(message) -> None:
        if message.type == "error":
            console.errors.append(f"{page.url}: console error: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: console.errors.append(f"{page.url}: {error}"))
    yield page
    context.close()


@pytest.fixture(scope="module")
def t(live_app):
    """The Russian text of an interface message, as the pages show it."""

    def translate(message: str, **params) -> str:
        with live_app.test_request_context():
            return gettext(message, **params)

    return translate


@pytest.fixture(scope="module")
def tn(live_app):
    """The Russian text of a message with a count, in the plural form the count takes."""

    def translate(singular: str, plural: str, num: int, **params) -> str:
        with live_app.test_request_context():
            return ngettext(singular, plural, num, **params)

    return translate


@pytest.fixture
def shot(page: Page, screenshots: Path):
    """Check a main page with axe-core, then photograph it on a desktop and on a phone."""

    def take(name: str) -> None:
        violations = accessibility_violations(page)
        assert not violations, f"{page.url}:\n" + "\n".join(map(str, violations))
        page.screenshot(path=screenshots / f"{name}.png", full_page=True)
        page.set_viewport_size(PHONE)
        try:
            page.screenshot(path=screenshots / f"{name}-390.png", full_page=True)
        finally:
            page.set_viewport_size(DESKTOP)

    return take


@pytest.fixture(autouse=True)
def no_console_errors(request, console):
    """Every step ends with a clean console: no script error, no CSP violation."""
    yield
    if "page" in request.fixturenames:
        errors = console.take()
        assert not errors, "the browser reported errors:\n" + "\n".join(errors)


@dataclass
class Violation:
    rule: str
    impact: str
    help: str
    targets: list[str]

    def __str__(self) -> str:
        return f"{self.impact}: {self.rule} ({self.help}) at {', '.join(self.targets)}"


def accessibility_violations(page) -> list[Violation]:
    """What axe-core finds wrong on the page as it is now, serious and critical only.

    The vendored axe is loaded from the app's own static folder, which the pages' CSP allows
    (an injected inline script would be refused).
    """
    if not page.evaluate("typeof window.axe === 'object'"):
        page.add_script_tag(url=AXE_URL)
    found = page.evaluate(
        """async () => {
            const result = await axe.run(document, { resultTypes: ["violations"] });
            return result.violations.map((v) => ({
                rule: v.id, impact: v.impact, help: v.help,
                targets: v.nodes.map((n) => n.target.join(" ")),
            }));
        }"""
    )
    return [Violation(**v) for v in found if v["impact"] in ("serious", "critical")]


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """The git-ignored folder where each main page's picture is kept for a person to look at."""
    if SCREENSHOTS.exists():
        shutil.rmtree(SCREENSHOTS)
    SCREENSHOTS.mkdir(parents=True)
    return SCREENSHOTS


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: drives a real browser against a real server")


def pytest_collection_modifyitems(config, items):
    """Mark the browser tests, so ``-m "not e2e"`` leaves them out of a quick run."""
    here = Path(__file__).parent
    for item in items:
        if item.path.parent == here:
            item.add_marker(pytest.mark.e2e)
