"""Account-wide settings kept in the database and edited on the settings page."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .campaigns.options import BUILT_IN_DEFAULTS
from .extensions import db
from .models import Setting
from .sending.telefon_ip import DEFAULT_BASE_URL

# Set once a test message has reached the gateway: the dashboard's first steps tick it.
TEST_SENT = "test_sent"


def get_setting(key: str, default: Any = None) -> Any:
    row = db.session.get(Setting, key)
    return default if row is None else json.loads(row.value)


def set_setting(key: str, value: Any) -> None:
    """Store ``value`` under ``key`` (the caller commits)."""
    db.session.merge(Setting(key=key, value=json.dumps(value, ensure_ascii=False)))


def sending_defaults() -> dict[str, Any]:
    """Sending options a campaign takes for what its request leaves out."""
    return {**BUILT_IN_DEFAULTS, **get_setting("sending_defaults", {})}


@dataclass(frozen=True)
class GatewaySettings:
    token: str | None
    base_url: str
    use_sandbox: bool
    """True when messages go to the built-in sandbox and are not delivered."""


def gateway_settings(config: dict) -> GatewaySettings:
    """A configured token brings the configured address; else what the settings page saved.

    Without any token, messages go to the sandbox.
    """
    saved = get_setting("gateway", {})
    if config.get("TELEFON_IP_TOKEN"):
        # The operator's token goes only where the operator says, never to an address typed
        # on the settings page.
        token, base_url = config["TELEFON_IP_TOKEN"], config["TELEFON_IP_BASE_URL"]
    else:
        token = saved.get("token") or None
        base_url = config["TELEFON_IP_BASE_URL"]
        if base_url == DEFAULT_BASE_URL and is_gateway_url(saved.get("base_url") or ""):
            base_url = saved["base_url"]
    use_sandbox = token is None or bool(saved.get("sandbox"))
    return GatewaySettings(token, base_url, use_sandbox)


def is_gateway_url(url: str) -> bool:
    """Whether the settings page may send the token to ``url``: https, a host, nothing hidden."""
    try:
        parts = urlsplit(url)
        port_ok = parts.port != 0
    except ValueError:  # a malformed IPv6 host, or a port that is not a number
        return False
    return (
        port_ok
        and parts.scheme == "https"
        and bool(parts.hostname)
        and not (parts.username or parts.password or parts.query or parts.fragment)
        and url.isprintable()
        and " " not in url
    )
