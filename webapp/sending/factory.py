"""Which gateway the app sends through: telefon-ip.ru when a token is set, else the sandbox."""

from __future__ import annotations

from flask import Flask

from ..account_settings import gateway_settings
from .gateway import Gateway
from .sandbox import SandboxConfig, SandboxGateway, SandboxState
from .telefon_ip import TelefonIpClient


def init_app(app: Flask) -> None:
    # One sandbox per process: every gateway built for it shares what it "sent" and its state.
    app.extensions["sandbox"] = SandboxState(
        config=SandboxConfig(
            latency_min_s=app.config["SANDBOX_LATENCY_MIN_S"],
            latency_max_s=app.config["SANDBOX_LATENCY_MAX_S"],
        )
    )


def build_gateway(app: Flask) -> Gateway:
    """A new gateway for the current settings (call in an app context; close it after use)."""
    settings = gateway_settings(app.config)
    if settings.use_sandbox:
        return SandboxGateway(app.extensions["sandbox"])
    return TelefonIpClient(
        settings.token,
        base_url=settings.base_url,
        connect_timeout=app.config["TELEFON_IP_CONNECT_TIMEOUT_S"],
        read_timeout=app.config["TELEFON_IP_READ_TIMEOUT_S"],
        max_connections=app.config["TELEFON_IP_MAX_CONNECTIONS"],
    )
