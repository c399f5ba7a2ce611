"""How a campaign's message is rendered for one contact: the preview and the sender share this."""

from __future__ import annotations

import json

from ..contacts import list_columns
from ..messages import MessageTemplate, RenderedMessage
from ..models import ContactList


def render_seed(campaign_id: int, phone: str) -> str:
    """The seed that picks a recipient's variants: the same in the preview and when sending."""
    return f"{campaign_id}:{phone}"


def parse_template(text: str, contact_list: ContactList) -> MessageTemplate:
    """Compile ``text`` against the list's columns; raises ``TemplateError``."""
    columns = list_columns(contact_list)
    if contact_list.phone_column not in columns:
        columns.append(contact_list.phone_column)
    return MessageTemplate.parse(text, columns)


def render_for_contact(
    template: MessageTemplate,
    campaign_id: int,
    contact_list: ContactList,
    phone: str,
    fields_json: str | None,
) -> RenderedMessage:
    """The exact message a contact of ``contact_list`` gets from campaign ``campaign_id``."""
    fields = {**json.loads(fields_json or "{}"), contact_list.phone_column: phone}
    return template.render(fields, render_seed(campaign_id, phone))
