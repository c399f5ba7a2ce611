"""A production install is a wheel, not a checkout: it must carry everything the app reads, and
every command the README names must serve and send campaigns from it, run from any directory.

The wheel goes into a new virtualenv that holds nothing else; its dependencies come from the
environment running these tests, so they need neither the network nor system-wide packages.
"""

import re
import signal
import subprocess
import sys
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "3c9d8e1f-packaging-gateway-token"
ADMIN = "ops@example.com"
PASSWORD = "correct horse battery"
PHONES = [f"7900555{n:04d}" for n in range(6)]
GUNICORN_LISTENING = r"Listening at: (http://\S+)"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(ROOT)],
        check=True,
    )
    return next(out.glob("volna-*.whl"))


@pytest.fixture(scope="module")
def venv_python(wheel, tmp_path_factory) -> Path:
    """The Python of a new virtualenv with the wheel installed and nothing else of its own."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--quiet",
            str(wheel),
        ],
        check=True,
    )
    site_packages = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # The dependencies: plain directory lines, which are appended after the venv's own
    # site-packages (so its webapp wins) and whose own .pth files are not read (so an editable
    # install's pointer to the checkout stays out).
    dependencies = [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
    (Path(site_packages) / "test_dependencies.pth").write_text("\n".join(dependencies) + "\n")
    return python


def test_wheel_carries_templates_static_assets_migrations_and_translations(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "webapp/templates/base.html" in names
    assert "webapp/static/vendor/bootstrap/bootstrap.min.css" in names
    assert "webapp/migrations/env.py" in names
    assert any(n.startswith("webapp/migrations/versions/") for n in names)
    assert "webapp/translations/ru/LC_MESSAGES/messages.mo" in names
    assert "webapp/wsgi.py" in names


def clean_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """No trace of the test run's virtualenv; runtime files in ``tmp_path``."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "XDG_RUNTIME_DIR": str(tmp_path),  # where gunicorn puts its control socket
        "PYTHONUNBUFFERED": "1",
        "VOLNA_INSTANCE_PATH": str(tmp_path / "instance"),
        **settings,
    }


def test_installed_wheel_serves_pages_from_any_directory(venv_python, tmp_path):
    script = (
        "import webapp\n"
        "app = webapp.create_app()\n"
        "print(webapp.__file__, app.template_folder)\n"
        "client = app.test_client()\n"
        "page = client.get('/setup')\n"
        "assert page.status_code == 200 and 'Volna' in page.get_data(as_text=True)\n"
        "assert client.get('/static/vendor/htmx/htmx.min.js').status_code == 200\n"
    )
    result = subprocess.run(
        [venv_python, "-c", script],
        cwd=tmp_path,
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    package, templates = result.stdout.split()
    venv = venv_python.parent.parent
    assert Path(package).is_relative_to(venv) and Path(templates).is_relative_to(venv)


class Process:
    """A command running in the background, its output in a log file."""

    def __init__(self, args: list, cwd: Path, env: dict[str, str], log: Path) -> None:
        self.args = [str(a) for a in args]
        self.log = log
        with log.open("w") as out:
            self.popen = subprocess.Popen(
                self.args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 90) -> re.Match:
        """The first match of ``pattern`` in the output, once it appears."""
        deadline = time.monotonic() + timeout
        while not (found := re.search(pattern, self.output())):
            assert self.popen.poll() is None, f"{self.args} exited:\n{self.output()}"
            assert time.monotonic() < deadline, f"no {pattern!r} from {self.args}:\n{self.output()}"
            time.sleep(0.1)
        return found

    def stop(self, timeout: float = 60, signum: int = signal.SIGTERM) -> int:
        """``signum``, then the exit code; SIGKILL if it does not stop in time."""
        if self.popen.poll() is None:
            self.popen.send_signal(signum)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            raise


@pytest.fixture
def start(tmp_path) -> Iterator[Callable[..., Process]]:
    """``start(args, cwd=..., env=...)``: a background process, stopped after the test."""
    processes: list[Process] = []

    def start(args: list, *, cwd: Path, env: dict[str, str]) -> Process:
        process = Process(args, cwd, env, tmp_path / f"process-{len(processes)}.log")
        processes.append(process)
        return process

    yield start
    for process in reversed(processes):
        process.stop()


@pytest.fixture(scope="module")
def sandbox_gateway(venv_python, tmp_path_factory) -> Iterator[str]:
    """``flask --app webapp sandbox-gateway`` from the wheel: its ``TELEFON_IP_BASE_URL``."""
    folder = tmp_path_factory.mktemp("sandbox")
    process = Process(
        [
            venv_python,
            "-m",
            "flask",
            "--app",
            "webapp",
            "sandbox-gateway",
            "--port",
            "0",
            "--token",
            TOKEN,
            "--latency-ms",
            "20-60",
        ],
        folder,
        clean_env(folder),
        folder / "sandbox.log",
    )
    yield process.wait_for(r"TELEFON_IP_BASE_URL=(\S+)")[1]
    process.stop()


@pytest.fixture
def gateway(sandbox_gateway) -> str:
    """The sandbox gateway's base URL, with nothing sent yet."""
    httpx.delete(sandbox_gateway.replace("/whatsapp", "/sandbox/messages")).raise_for_status()
    return sandbox_gateway


def sent_by_gateway(gateway: str) -> Counter:
    """How many messages the sandbox gateway took as sent, per phone."""
    messages = httpx.get(gateway.replace("/whatsapp", "/sandbox/messages")).json()["messages"]
    return Counter(m["phone"] for m in messages)


@dataclass
class Site:
    """What an operator runs commands with: one database, one instance folder, one gateway."""

    python: Path
    cwd: Path
    env: dict[str, str]

    def flask(self, *args: str) -> str:
        result = subprocess.run(
            [self.python, "-m", "flask", "--app", "webapp", *args],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def api_key(self) -> str:
        """An administrator and an API key, made with the README's commands."""
        self.flask("create-user", ADMIN, "--password", PASSWORD, "--admin")
        return self.flask("create-api-key", ADMIN).strip().splitlines()[-1]


@pytest.fixture
def site(venv_python, tmp_path, fresh_database_url, gateway) -> Site:
    """Settings as the README's Production section gives them, on a database nobody migrated."""
    env = clean_env(
        tmp_path,
        FLASK_SQLALCHEMY_DATABASE_URI=fresh_database_url,
        FLASK_SECRET_KEY="packaging-test-secret",
        FLASK_TELEFON_IP_TOKEN=TOKEN,
        FLASK_TELEFON_IP_BASE_URL=gateway,
    )
    return Site(venv_python, tmp_path, env)


def launch_campaign(url: str, api_key: str) -> httpx.Client:
    """Upload PHONES and start a campaign to them through the API: a client on its URL."""
    api = httpx.Client(
        base_url=f"{url}/api/v1", headers={"Authorization": f"Bearer {api_key}"}, timeout=90
    )
    csv = "Телефон;Имя\n" + "".join(f"{phone};Клиент {n}\n" for n, phone in enumerate(PHONES))
    uploaded = api.post(
        "/lists", files={"file": ("clients.csv", csv.encode())}, data={"name": "Клиенты"}
    )
    assert uploaded.status_code == 201, uploaded.text
    created = api.post(
        "/campaigns",
        json={
            "name": "Акция",
            "list_id": uploaded.json()["id"],
            "template": "Здравствуйте, {{ Имя }}!",
            "rate_per_minute": 600,
            "delay_min_s": 0,
            "delay_max_s": 0,
            "send_window": None,
        },
    )
    assert created.status_code == 201, created.text
    started = api.post(f"/campaigns/{created.json()['id']}/start")
    assert started.status_code == 200, started.text
    return api


def wait_until_sent(api: httpx.Client, timeout: float = 90) -> dict:
    """The campaign once it completes; fails with its state if it does not in time."""
    deadline = time.monotonic() + timeout
    while (campaign := api.get("/campaigns").json()["items"][0])["status"] != "completed":
        assert time.monotonic() < deadline, f"not completed: {campaign}"
        time.sleep(0.3)
    return campaign


def assert_each_sent_once(campaign: dict, gateway: str) -> None:
    assert campaign["counts"]["sent"] == len(PHONES), campaign
    assert sent_by_gateway(gateway) == dict.fromkeys(PHONES, 1)


@dataclass(frozen=True)
class Server:
    """A serving command from the README, and how to have it listen on a free port."""

    args: tuple[str, ...]
    listening: str
    from_checkout: bool = False
    stop_signal: int = signal.SIGTERM

    def command(self, python: Path) -> list:
        if self.args[0] == "gunicorn":
            return [python, "-m", "gunicorn", "-b", "127.0.0.1:0", *self.args[1:]]
        return [python, "-m", *self.args, "--port", "0"]


SERVERS = {
    "gunicorn webapp.wsgi:app": Server(
        ("gunicorn", "-w", "2", "webapp.wsgi:app"), GUNICORN_LISTENING
    ),
    "gunicorn webapp:create_app()": Server(
        ("gunicorn", "-w", "2", "webapp:create_app()"), GUNICORN_LISTENING
    ),
    "flask run": Server(
        ("flask", "--app", "webapp", "run"), r"Running on (http://\S+)", stop_signal=signal.SIGINT
    ),
    "gunicorn wsgi:app in the checkout": Server(
        ("gunicorn", "-w", "2", "wsgi:app"), GUNICORN_LISTENING, from_checkout=True
    ),
}


@pytest.mark.parametrize("server", SERVERS.values(), ids=SERVERS.keys())
def test_each_documented_server_sends_campaigns(server, site, start, gateway):
    if server.from_checkout:
        site.python, site.cwd = Path(sys.executable), ROOT
    web = start(server.command(site.python), cwd=site.cwd, env=site.env)
    api_key = site.api_key()  # while the server starts, as an operator would
    url = web.wait_for(server.listening)[1]

    campaign = wait_until_sent(launch_campaign(url, api_key))

    assert_each_sent_once(campaign, gateway)
    assert web.stop(signum=server.stop_signal) == 0, web.output()


def test_web_processes_only_serve_and_flask_worker_sends(site, start, gateway):
    site.env["FLASK_SENDER_IN_PROCESS"] = "false"
    web = start(
        SERVERS["gunicorn webapp.wsgi:app"].command(site.python), cwd=site.cwd, env=site.env
    )
    api_key = site.api_key()
    api = launch_campaign(web.wait_for(GUNICORN_LISTENING)[1], api_key)
    time.sleep(3)  # three times the sender's poll: a web process that sends would have begun
    assert api.get("/campaigns").json()["items"][0]["counts"]["pending"] == len(PHONES)
    assert sent_by_gateway(gateway) == {}

    worker = start(
        [site.python, "-m", "flask", "--app", "webapp", "worker"], cwd=site.cwd, env=site.env
    )
    campaign = wait_until_sent(api)

    assert_each_sent_once(campaign, gateway)
    assert "running (SIGTERM or Ctrl+C to stop)" in worker.output()
    assert worker.stop() == 0, worker.output()
