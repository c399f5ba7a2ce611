"""Configuration layers: defaults, then instance/config.py, then FLASK_* environment variables."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import Flask

from .sending.telefon_ip import CONNECT_TIMEOUT_S, DEFAULT_BASE_URL, READ_TIMEOUT_S


def defaults(instance_path: str) -> dict:
    """The settings a fresh checkout runs with."""
    return {
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{Path(instance_path) / 'volna.sqlite3'}",
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "TELEFON_IP_BASE_URL": DEFAULT_BASE_URL,
        "TELEFON_IP_TOKEN": None,
        "MAX_CONTENT_LENGTH": 50 * 1024 * 1024,
        "AUTO_MIGRATE": True,
        "BABEL_DEFAULT_LOCALE": "ru",
        "BABEL_DEFAULT_TIMEZONE": "Europe/Moscow",
        "LANGUAGES": ["ru", "en"],
        "PHONE_DEFAULT_REGION": "RU",
        "LOGIN_MAX_FAILURES": 5,
        "LOGIN_MAX_FAILURES_PER_IP": 30,
        "LOGIN_MAX_FAILURES_PER_ACCOUNT": 50,
        "LOGIN_THROTTLE_MINUTES": 15,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": None,
        "LOG_LEVEL": "INFO",
        # The built-in sandbox answers after a random pause like a real gateway would.
        "SANDBOX_LATENCY_MIN_S": 0.2,
        "SANDBOX_LATENCY_MAX_S": 0.6,
        "TELEFON_IP_CONNECT_TIMEOUT_S": CONNECT_TIMEOUT_S,
        "TELEFON_IP_READ_TIMEOUT_S": READ_TIMEOUT_S,
        "TELEFON_IP_MAX_CONNECTIONS": 16,
        # Each serving process sends too; set False and run `flask worker` processes instead.
        # Any webapp.sending.sender.SenderConfig field can be set as SENDER_<NAME>.
        "SENDER_IN_PROCESS": True,
        "SENDER_ID": None,
    }


def load(app: Flask, test_config: dict | None) -> None:
    """Apply the configuration layers in order; the last one wins."""
    app.config.from_mapping(defaults(app.instance_path))
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env()
    if test_config:
        app.config.from_mapping(test_config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _persistent_secret_key(Path(app.instance_path))


def _persistent_secret_key(instance: Path) -> str:
    """Read the secret key kept in instance/, creating it (mode 0600) on first start."""
    path = instance / "secret_key"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        # Write a complete file under a temporary name, then link it into place: processes
        # starting together never read a half-written key, and the first one to link wins.
        tmp = instance / f".secret_key.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()
