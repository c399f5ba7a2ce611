"""A production install is a wheel, not a checkout: it must carry everything the app reads."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(ROOT)],
        check=True,
    )
    return next(out.glob("volna-*.whl"))


def test_wheel_carries_templates_static_assets_migrations_and_translations(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "webapp/templates/base.html" in names
    assert "webapp/static/vendor/bootstrap/bootstrap.min.css" in names
    assert "webapp/migrations/env.py" in names
    assert any(n.startswith("webapp/migrations/versions/") for n in names)
    assert "webapp/translations/ru/LC_MESSAGES/messages.mo" in names


def test_installed_wheel_serves_pages_from_any_directory(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", str(wheel)], check=True)
    script = (
        "from webapp import create_app\n"
        "app = create_app()\n"
        "assert 'site-packages' in app.template_folder, app.template_folder\n"
        "client = app.test_client()\n"
        "page = client.get('/setup')\n"
        "assert page.status_code == 200 and 'Volna' in page.get_data(as_text=True)\n"
        "assert client.get('/static/vendor/htmx/htmx.min.js').status_code == 200\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [python, "-c", script],
        cwd=tmp_path,
        env={"VOLNA_INSTANCE_PATH": str(tmp_path / "instance"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert result.stdout.strip() == "ok", result.stderr
