"""What the pages and the API share at their edge: importing an upload, typed opt-out numbers,
a test send, looking a row up or answering 404.

These use the app's configuration and session, never the request: each edge reads its own input.
"""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
from typing import TypeVar

from flask import abort, current_app
from flask_babel import gettext as _

from . import contacts
from .account_settings import TEST_SENT, set_setting
from .campaigns.service import PreparedTest
from .contacts import InvalidPhoneError
from .contacts.pipeline import ImportReport
from .extensions import db
from .i18n import N_
from .models import ContactList, OptOut, SavedMessage
from .sending.factory import build_gateway
from .sending.gateway import SendResult

NAME_MAX_LENGTH = 200
Model = TypeVar("Model")
NOT_FOUND = {
    ContactList: N_("There is no contact list %(id)s."),
    OptOut: N_("%(id)s is not on the opt-out list."),
    SavedMessage: N_("There is no saved message %(id)s."),
}


def get_or_404(model: type[Model], key: int | str) -> Model:
    """The ``model`` row with primary key ``key``, or a 404 (the API's says which is missing)."""
    row = db.session.get(model, key)
    if row is None:
        abort(404, description=_(NOT_FOUND[model], id=key))
    return row


def import_upload(
    path: Path,
    filename: str,
    *,
    name: str,
    phone_column: str | None,
    sheet: str | None,
    created_by_id: int,
) -> ImportReport:
    """Import a saved upload as a new contact list; raises ``ImportFileError`` (nothing stored).

    An empty ``name`` takes the file's name without its extension.
    """
    return contacts.import_contacts(
        db.session.connection(),
        path,
        filename,
        name=(name.strip() or Path(filename).stem)[:NAME_MAX_LENGTH],
        phone_column=phone_column or None,
        sheet=sheet or None,
        region=current_app.config["PHONE_DEFAULT_REGION"],
        created_by_id=created_by_id,
    )


def upload_rows(path: Path, filename: str, *, sheet: str | None) -> list[dict[str, str]]:
    """A saved upload's rows as {column: text}; raises ``ImportFileError``."""
    return contacts.read_rows(
        path, filename, sheet=sheet or None, region=current_app.config["PHONE_DEFAULT_REGION"]
    )


def normalize_opt_outs(raw_phones: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """The numbers in the stored form, and ``(raw, reason)`` for each one that is not valid.

    ``reason`` is an ``N_`` text for the edge to translate.
    """
    region = current_app.config["PHONE_DEFAULT_REGION"]
    phones, invalid = [], []
    for raw in raw_phones:
        try:
            phones.append(contacts.normalize_phone(raw, region))
        except InvalidPhoneError as error:
            invalid.append((raw, error.reason))
    return phones, invalid


def send_test_message(test: PreparedTest) -> SendResult:
    """Send ``test`` now, holding no transaction during the call; once one is sent, the
    dashboard's first steps count the test as done."""
    gateway = build_gateway(current_app)
    db.session.rollback()
    with closing(gateway):
        result = gateway.send_message(test.phone, test.text, test.app)
    if result.sent:
        set_setting(TEST_SENT, True)
        db.session.commit()
    return result
