"""Export of campaign results as CSV for Russian Excel and as XLSX, streamed in constant memory.

Rows are read in batches and turned into Arrow columns: fields parsed from their JSON by
Arrow's reader, labels and errors translated once per distinct value, times formatted by
Arrow; ``webapp.downloads`` then writes the file. No Python runs per row but the driver's.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from datetime import datetime, tzinfo

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json
from flask import Response, stream_with_context
from sqlalchemy.orm import Session

from ..campaigns.service import campaign_options
from ..campaigns.statuses import RECIPIENT_LABELS
from ..columns import joined_rows, literal
from ..contacts.browse import field_columns
from ..downloads import XLSX_TYPE, csv_for_excel, translated, xlsx_for_excel
from ..i18n import N_
from ..models import Campaign
from .queries import result_tables

BATCH_ROWS = 10_000  # rows read at a time: memory stays flat, calls stay few
MOVED = N_("outside the send window: when it opens")  # as the preview says it

Cells = Callable[[pa.Table, tzinfo, Callable[[str], str]], pa.ChunkedArray]
# The columns a scheduled campaign's export ends with: each header and its cells from a batch.
SCHEDULE_COLUMNS: tuple[tuple[str, Cells], ...] = (
    (N_("Due time"), lambda rows, timezone, _: _local_time(rows["due_at"], timezone)),
    (N_("Send window"), lambda rows, _, translate: _moved(rows["due_moved"], translate)),
)


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
    outcome (and a scheduled campaign's due times)."""
    columns = field_columns(campaign.contact_list)
    scheduled = campaign_options(campaign).schedule is not None
    due_columns = SCHEDULE_COLUMNS if scheduled else ()
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
        *(translate(name) for name, _ in due_columns),
    ]
    labels = {key: translate(label) for key, label in RECIPIENT_LABELS.items()}
    fields_schema = pa.schema([(column, pa.string()) for column in columns])

    def tables() -> Iterator[pa.Table]:
        for rows in result_tables(
            session,
            campaign.id,
            status=status,
            search=search,
            size=BATCH_ROWS,
            scheduled=scheduled,
        ):
            cells = [
                rows["phone"],
                translated(rows["status"], labels.get),
                *_fields(rows["fields_json"], fields_schema).columns,
                rows["message"],
                rows["message_id"],
                rows["gateway_status"],
                translated(rows["error"], translate),
                rows["attempts"],
                _local_time(rows["sent_at"], timezone),
                *(due_cells(rows, timezone, translate) for _, due_cells in due_columns),
            ]
            yield pa.table(cells, names=[str(i) for i in range(len(cells))])

    return header, tables()


def _fields(fields_json: pa.ChunkedArray, schema: pa.Schema) -> pa.Table:
    """The fields' JSON objects as columns; the import stores every value as text."""
    if not schema:
        return pa.table({})
    lines = joined_rows([fields_json, literal("\n")])
    options = pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    return pa_json.read_json(io.BytesIO(lines), parse_options=options)


def _local_time(sent_at: pa.ChunkedArray, timezone: tzinfo) -> pa.ChunkedArray:
    """``YYYY-MM-DD HH:MM:SS`` in ``timezone`` of UTC times given as text."""
    utc = pc.assume_timezone(pc.cast(sent_at, pa.timestamp("us")), "UTC")
    seconds = pc.cast(utc, pa.timestamp("s", "UTC"), safe=False)
    # The local wall time, naive, casts to "YYYY-MM-DD HH:MM:SS": ten times strftime's speed.
    local = pc.local_timestamp(seconds.cast(pa.timestamp("s", str(timezone))))
    return pc.cast(local, pa.string())


def _moved(due_moved: pa.ChunkedArray, translate: Callable[[str], str]) -> pa.ChunkedArray:
    """The preview's words where the send window moved the due time, else nothing."""
    return pc.if_else(pc.equal(due_moved, "1"), translate(MOVED), None)


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
