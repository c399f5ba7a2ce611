"""How a campaign's message is rendered for one contact: the preview and the sender share this."""

from __future__ import annotations

import json
from collections.abc import Sequence

from ..messages import MessageTemplate, RenderedMessage


def render_seed(campaign_id: int, phone: str) -> str:
    """The seed that picks a recipient's variants: the same in the preview and when sending."""
    return f"{campaign_id}:{phone}"


def parse_template(text: str, columns: Sequence[str], phone_column: str) -> MessageTemplate:
    """Compile ``text`` against a list's headers and phone column; raises ``TemplateError``."""
    if phone_column not in columns:
        columns = [*columns, phone_column]
    return MessageTemplate.parse(text, columns)


def render_for_contact(
    template: MessageTemplate,
    campaign_id: int,
    phone_column: str,
    phone: str,
    fields_json: str | None,
) -> RenderedMessage:
    """The exact message a contact of a list whose phones are in ``phone_column`` gets from
    campaign ``campaign_id``."""
    fields = {**json.loads(fields_json or "{}"), phone_column: phone}
    return template.render(fields, render_seed(campaign_id, phone))
