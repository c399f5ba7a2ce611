"""Sending through the telefon-ip.ru WhatsApp gateway: protocol, client, sandbox, pacing."""

from .gateway import (
    Gateway,
    GatewayConfigError,
    GatewayError,
    Outcome,
    RedactingFilter,
    SendResult,
    redact,
    redact_gateway_urls,
)
from .pacing import Pacer, SendWindow, next_day_start
from .sandbox import SandboxGateway, SandboxState, make_sandbox_server, sandbox_gateway_command
from .telefon_ip import TelefonIpClient

__all__ = [
    "Gateway",
    "GatewayConfigError",
    "GatewayError",
    "Outcome",
    "Pacer",
    "RedactingFilter",
    "SandboxGateway",
    "SandboxState",
    "SendResult",
    "SendWindow",
    "TelefonIpClient",
    "make_sandbox_server",
    "next_day_start",
    "redact",
    "redact_gateway_urls",
    "sandbox_gateway_command",
]
