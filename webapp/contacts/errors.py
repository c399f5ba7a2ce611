"""The one exception a bad upload raises, carrying a translatable message and an HTTP status."""

from __future__ import annotations

from ..i18n import UserError


class ImportFileError(UserError):
    """The file cannot be imported: `message` is an N_() text with %(name)s placeholders.

    `status` follows HTTP: 415 the file is not a readable spreadsheet or text; 422 it was read
    but cannot make a contact list (empty, no such sheet or phone column, too large); 400 the
    text could not be split into a table (rows wider than the header, a quote left open).
    """

    status = 400


class InvalidPhoneError(ValueError):
    """A single number that cannot be messaged; `reason` is an N_() text."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)
