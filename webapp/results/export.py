"""Export of campaign results as CSV for Russian Excel and as XLSX, streamed in constant memory.

Rows are read in batches and turned into Arrow columns: fields parsed from their JSON by
Arrow's reader, labels and errors translated once per distinct value, times formatted by
Arrow; ``webapp.downloads`` then writes the file. No Python runs per row but the driver's.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, tzinfo

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json
from flask import Response, stream_with_context
from sqlalchemy.orm import Session

from ..contacts.browse import field_columns
from ..downloads import XLSX_TYPE, csv_for_excel, translated, xlsx_for_excel
from ..i18n import N_
from ..models import Campaign
from .queries import result_batches

BATCH_ROWS = 10_000  # rows read at a time: memory stays flat, calls stay few

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
) -> tuple[list[str], Iterator[pa.Table]]:
    """The export's header and its rows in batches: phone, status, the list's fields, then the
    outcome."""
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
    fields_schema = pa.schema([(column, pa.string()) for column in columns])

    def tables() -> Iterator[pa.Table]:
        batches = result_batches(
            session, campaign.id, status=status, search=search, size=BATCH_ROWS
        )
        for rows in batches:
            (
                _,
                phone,
                state,
                message,
                message_id,
                gateway_status,
                error,
                attempts,
                sent_at,
                fields,
            ) = zip(*rows, strict=True)
            cells = [
                pa.array(phone),
                translated(pa.array(state, pa.string()), labels.get),
                *_fields(fields, fields_schema).columns,
                pa.array(message, pa.string()),
                pa.array(message_id, pa.string()),
                pa.array(gateway_status, pa.string()),
                translated(pa.array(error, pa.string()), translate),
                pa.array(attempts, pa.int64()),
                _local_time(pa.array(sent_at), timezone),
            ]
            yield pa.table(cells, names=[str(i) for i in range(len(cells))])

    return header, tables()


def _fields(fields_json: Sequence[str | None], schema: pa.Schema) -> pa.Table:
    """The fields' JSON objects as columns; the import stores every value as text."""
    if not schema:
        return pa.table({})
    lines = "\n".join(text or "{}" for text in fields_json).encode()
    options = pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    return pa_json.read_json(io.BytesIO(lines), parse_options=options)


def _local_time(sent_at: pa.Array, timezone: tzinfo) -> pa.Array:
    """``YYYY-MM-DD HH:MM:SS`` in ``timezone`` of UTC times, given as datetimes or as text."""
    if not pa.types.is_timestamp(sent_at.type):  # SQLite keeps them as naive UTC text
        sent_at = pc.assume_timezone(pc.cast(sent_at, pa.timestamp("us")), "UTC")
    seconds = pc.cast(sent_at, pa.timestamp("s", "UTC"), safe=False)
    # The local wall time, naive, casts to "YYYY-MM-DD HH:MM:SS": ten times strftime's speed.
    local = pc.local_timestamp(seconds.cast(pa.timestamp("s", str(timezone))))
    return pc.cast(local, pa.string())


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
    header, tables = result_table(
        session, campaign, status=status, search=search, translate=translate, timezone=timezone
    )
    if file_format == "csv":
        chunks = csv_for_excel(header, tables)
    else:
        chunks = xlsx_for_excel(header, tables, sheet_name=translate(N_("Results")))
    filename = f"campaign-{campaign.id}-{datetime.now(timezone):%Y%m%d-%H%M}.{file_format}"
    return Response(
        stream_with_context(chunks),
        mimetype="text/csv" if file_format == "csv" else XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
