"""Export of campaign results as CSV for Russian Excel and as XLSX, streamed in constant memory.

Rows are read in batches straight into Arrow columns (``queries.result_tables``): fields
parsed from their JSON by Arrow's reader, labels and errors translated once per distinct
value, times formatted by Arrow; ``webapp.downloads`` then writes the file. No Python runs
per row but SQLite's driver.
"""

from __future__ import annotations

import contextlib
import io
import queue
import threading
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

BATCH_ROWS = 5_000  # rows read at a time: memory stays flat (two are read ahead), calls stay few
MOVED = N_("outside the send window: when it opens")  # as the preview says it

Cells = Callable[[pa.Table, tzinfo, Callable[[str], str]], pa.ChunkedArray]
# The columns after the list's fields: each header and its cells from a batch of result_tables.
OUTCOME_COLUMNS: tuple[tuple[str, Cells], ...] = (
    (N_("Message"), lambda rows, _, __: rows["message"]),
    (N_("Message ID"), lambda rows, _, __: rows["message_id"]),
    (N_("Gateway status"), lambda rows, _, __: rows["gateway_status"]),
    (N_("Error"), lambda rows, _, translate: translated(rows["error"], translate)),
    (N_("Attempts"), lambda rows, _, __: rows["attempts"]),
    (N_("Time"), lambda rows, timezone, _: _local_time(rows["sent_at"], timezone)),
)
# The columns a scheduled campaign's export ends with.
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
    outcome = OUTCOME_COLUMNS + (SCHEDULE_COLUMNS if scheduled else ())
    labels = {key: translate(label) for key, label in RECIPIENT_LABELS.items()}
    fields_schema = pa.schema([(column, pa.string()) for column in columns])
    header = [
        campaign.contact_list.phone_column,
        translate(N_("Status")),
        *columns,
        *(translate(name) for name, _ in outcome),
    ]

    def tables() -> Iterator[pa.Table]:
        batches = result_tables(
            session, campaign.id, status=status, search=search, size=BATCH_ROWS, scheduled=scheduled
        )
        for rows in _read_ahead(batches):
            cells = [
                rows["phone"],
                translated(rows["status"], labels.get),
                *_fields(rows["fields_json"], fields_schema).columns,
                *(cells(rows, timezone, translate) for _, cells in outcome),
            ]
            yield pa.table(cells, names=[str(i) for i in range(len(cells))])

    return header, tables()


def _read_ahead(tables: Iterator[pa.Table]) -> Iterator[pa.Table]:
    """``tables`` read one ahead in a thread of their own: the database's reading (in C or
    waiting, mostly) overlaps with the writing of the batch before, on another core.

    Closing it early (a client gone) stops the reading at the next batch and waits for it.
    """
    ahead: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def read() -> None:
        try:
            for table in tables:
                ahead.put(table)
                if stop.is_set():
                    break
            ahead.put(None)
        except Exception as error:  # raised again where the tables are taken
            ahead.put(error)
        finally:
            tables.close()

    reader = threading.Thread(target=read, name="export-reader", daemon=True)
    reader.start()
    try:
        while (table := ahead.get()) is not None:
            if isinstance(table, Exception):
                raise table
            yield table
    finally:
        stop.set()
        while reader.is_alive():  # unblock its last put
            with contextlib.suppress(queue.Empty):
                ahead.get(timeout=0.05)
        reader.join()


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
