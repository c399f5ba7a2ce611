"""Export of campaign results as CSV for Russian Excel and as XLSX, streamed in constant memory."""

from __future__ import annotations

import csv
import functools
import io
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, tzinfo

import xlsxwriter
from flask import Response, stream_with_context
from sqlalchemy.orm import Session

from ..contacts.browse import field_columns
from ..i18n import N_
from ..models import Campaign
from .queries import iter_results

# A spreadsheet treats a cell starting with one of these as a formula (OWASP: CSV injection).
FORMULA_TRIGGERS = frozenset("=+-@\t\r")
CSV_FLUSH_ROWS = 2000
CHUNK_BYTES = 1 << 16


def neutralize(value: object) -> str:
    """The cell's text, made inert for spreadsheets: a leading quote stops formula evaluation."""
    if value is None:
        return ""
    text = value if type(value) is str else str(value)
    return "'" + text if text and text[0] in FORMULA_TRIGGERS else text


def csv_chunks(header: Sequence[str], rows: Iterable[Sequence[object]]) -> Iterator[bytes]:
    """UTF-8 with BOM and ``;``, as Russian Excel opens by double-click; yields byte chunks."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow([neutralize(cell) for cell in header])
    for count, row in enumerate(rows, 1):
        writer.writerow([neutralize(cell) for cell in row])
        if count % CSV_FLUSH_ROWS == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def xlsx_chunks(header: Sequence[str], rows: Iterable[Sequence[object]]) -> Iterator[bytes]:
    """An XLSX workbook built row by row on disk (constant memory), then read out in chunks."""
    with tempfile.TemporaryFile() as file:
        workbook = xlsxwriter.Workbook(
            file, {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False}
        )
        sheet = workbook.add_worksheet("Results")
        bold = workbook.add_format({"bold": True})
        sheet.write_row(0, 0, [neutralize(cell) for cell in header], bold)
        for number, row in enumerate(rows, 1):
            for column, cell in enumerate(row):
                sheet.write_string(number, column, neutralize(cell))
        sheet.freeze_panes(1, 0)
        workbook.close()
        file.seek(0)
        while chunk := file.read(CHUNK_BYTES):
            yield chunk


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

STATUS_LABELS = {
    "pending": N_("Queued"),
    "sent": N_("Sent"),
    "failed": N_("Failed"),
    "unknown": N_("Unknown"),
    "skipped": N_("Skipped"),
}


def result_table(
    session: Session,
    campaign: Campaign,
    *,
    status: str | None,
    search: str,
    translate: Callable[[str], str],
    timezone: tzinfo,
) -> tuple[list[str], Iterator[list[object]]]:
    """The export's header and rows: phone, status, the list's fields, then the outcome."""
    columns = field_columns(campaign.contact_list)
    header = [
        campaign.contact_list.phone_column,
        translate(N_("Status")),
        *columns,
        translate(N_("Message")),
        translate(N_("Message ID")),
        translate(N_("Gateway status")),
        translate(N_("Error")),
        translate(N_("Attempts")),
        translate(N_("Time")),
    ]
    labels = {key: translate(label) for key, label in STATUS_LABELS.items()}
    # Errors repeat across a campaign, so each is translated once, not once a row.
    error_text = functools.lru_cache(maxsize=1024)(translate)

    def rows() -> Iterator[list[object]]:
        for row in iter_results(session, campaign.id, status=status, search=search):
            fields = row.fields
            yield [
                row.phone,
                labels.get(row.status, row.status),
                *[fields.get(column, "") for column in columns],
                row.message,
                row.message_id,
                row.gateway_status,
                error_text(row.error) if row.error else "",
                row.attempts,
                row.sent_at and row.sent_at.astimezone(timezone).isoformat(" ", "seconds")[:19],
            ]

    return header, rows()


def export_response(
    session: Session,
    campaign: Campaign,
    file_format: str,
    *,
    status: str | None,
    search: str,
    translate: Callable[[str], str],
    timezone: tzinfo,
) -> Response:
    """The results as a file download (``csv`` or ``xlsx``), streamed while it is written."""
    header, rows = result_table(
        session, campaign, status=status, search=search, translate=translate, timezone=timezone
    )
    chunks = csv_chunks if file_format == "csv" else xlsx_chunks
    filename = f"campaign-{campaign.id}-{datetime.now(timezone):%Y%m%d-%H%M}.{file_format}"
    return Response(
        stream_with_context(chunks(header, rows)),
        mimetype="text/csv" if file_format == "csv" else XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
