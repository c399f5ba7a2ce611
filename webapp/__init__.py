"""Volna: bulk WhatsApp campaigns through the telefon-ip.ru gateway."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

PACKAGE_DIR = Path(__file__).parent


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: ``webapp.app_factory.create_app``."""
    # Imported here, not above, so importing a domain module (webapp.campaigns.options, say)
    # does not load Flask, the blueprints, the database layer and the gateway client.
    from .app_factory import create_app as build

    return build(test_config)
