"""Campaigns over the JSON API: create and edit, the lifecycle, preview, test send, results.

Each view calls one function of ``webapp.campaigns.service`` and commits once; the functions'
refusals (``CampaignError``) become ``{"error": ..., ...details}`` in the reader's language.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from flask import current_app, g, request
from flask_babel import format_datetime, get_timezone
from flask_babel import gettext as _

from ..account_settings import sending_defaults
from ..audit import CAMPAIGN_ACTIONS
from ..campaigns import service
from ..campaigns.options import OPTION_NAMES
from ..campaigns.reminders import Due
from ..edge import send_test_message, upload_rows
from ..extensions import db
from ..models import Campaign
from ..numbers import WAIT_REASONS, waiting_code
from ..results import export
from ..results.queries import RESULT_STATUSES, ResultRow, results_page, results_total
from ..uploads import temporary_upload
from ..web.audit import audit
from . import bp
from .helpers import ApiError, json_body, page_args, paged

CAMPAIGN = f"/campaigns/<int(max={service.MAX_ID}):campaign_id>"
PREVIEW_MAX = 1000
EXPORT_FORMATS = ("csv", "xlsx")
_TRANSITIONS = {
    "start": service.start_campaign,
    "pause": service.pause_campaign,
    "resume": service.resume_campaign,
    "cancel": service.cancel_campaign,
}


def campaign_json(campaign: Campaign) -> dict:
    """The API's shape of a campaign; the sending options sit at the top level."""
    options = json.loads(campaign.options_json)
    reason = service.PAUSE_REASONS.get(campaign.pause_code or "")
    waiting = waiting_code(campaign)
    return {
        "id": campaign.id,
        "name": campaign.name,
        "status": campaign.status,
        "list_id": campaign.list_id,
        "template": campaign.template,
        **{name: options.get(name) for name in OPTION_NAMES},
        "counts": service.counts(campaign),
        "pause_code": campaign.pause_code,
        "pause_reason": _(reason, detail=campaign.pause_detail or "")
        if reason
        else campaign.pause_detail,
        "pause_detail": campaign.pause_detail,
        "waiting_code": waiting,
        "waiting_reason": _(
            WAIT_REASONS[waiting],
            until=campaign.waiting_until and format_datetime(campaign.waiting_until, "short"),
        )
        if waiting
        else None,
        "waiting_until": _iso(campaign.waiting_until) if waiting else None,
        "started_at": _iso(campaign.started_at),
        "finished_at": _iso(campaign.finished_at),
        "eta": _iso(service.campaign_eta(campaign)),
        "next_reminder_at": _iso(campaign.next_due_at),
        "created_at": _iso(campaign.created_at),
    }


@bp.get("/campaigns")
def list_campaigns():
    status = _choice_arg("status", service.STATUSES)
    return paged(service.campaigns_query(status), campaign_json)


@bp.post("/campaigns")
def create_campaign():
    campaign = service.create_campaign(
        db.session, json_body(), defaults=sending_defaults(), created_by_id=g.api_user.id
    )
    db.session.commit()
    return campaign_json(campaign), 201


@bp.get(CAMPAIGN)
def get_campaign(campaign_id: int):
    return campaign_json(service.get_campaign(db.session, campaign_id))


@bp.patch(CAMPAIGN)
def update_campaign(campaign_id: int):
    campaign = service.update_campaign(db.session, campaign_id, json_body())
    db.session.commit()
    return campaign_json(campaign)


@bp.post(f"{CAMPAIGN}/<any({', '.join(_TRANSITIONS)}):action>")
def change_status(campaign_id: int, action: str):
    campaign = _TRANSITIONS[action](db.session, campaign_id)
    audit(CAMPAIGN_ACTIONS[action], ("campaign", campaign_id))
    db.session.commit()
    return campaign_json(campaign)


@bp.post(f"{CAMPAIGN}/duplicate")
def duplicate(campaign_id: int):
    copy = service.duplicate_campaign(
        db.session, campaign_id, name_suffix=_(service.COPY_SUFFIX), created_by_id=g.api_user.id
    )
    db.session.commit()
    return campaign_json(copy), 201


@bp.delete(CAMPAIGN)
def delete(campaign_id: int):
    service.delete_draft(db.session, campaign_id)
    db.session.commit()
    return "", 204


@bp.post(f"{CAMPAIGN}/retry")
def retry(campaign_id: int):
    body = json_body()
    statuses = body.get("status")
    campaign = service.retry_campaign(
        db.session, campaign_id, statuses, confirmed=body.get("confirm") is True
    )
    audit("campaign_retried", ("campaign", campaign_id), {"status": statuses})
    db.session.commit()
    return campaign_json(campaign)


@bp.post(f"{CAMPAIGN}/recipients")
def add_recipients(campaign_id: int):
    """More rows for a started campaign: a file as list uploads take, or ``{"rows": [...]}``."""
    file = request.files.get("file")
    if file is not None and file.filename:
        with temporary_upload(file, Path(current_app.instance_path) / "uploads") as path:
            rows = upload_rows(path, file.filename, sheet=request.form.get("sheet"))
    else:
        rows = json_body().get("rows")
    added = service.add_recipients(
        db.session, campaign_id, rows, region=current_app.config["PHONE_DEFAULT_REGION"]
    )
    audit("campaign_rows_added", ("campaign", campaign_id), {"added": added.added})
    db.session.commit()
    return {
        "added": added.added,
        "skipped": added.skipped,
        "duplicates": added.duplicates,
        "rejected": [{"row": row, "error": _(reason)} for row, reason in added.rejected],
        "campaign": campaign_json(service.get_campaign(db.session, campaign_id)),
    }


@bp.get(f"{CAMPAIGN}/preview")
def preview(campaign_id: int):
    limit = _int_arg("limit", default=20, minimum=1, maximum=PREVIEW_MAX)
    offset = _int_arg("offset", default=0, minimum=0, maximum=service.MAX_ID)
    page = service.preview(db.session, campaign_id, limit=limit, offset=offset)
    opted_out = _("This number has opted out: it will be skipped.")
    return {
        "items": [
            {
                "phone": item.phone,
                "message": item.message.text,
                "warnings": [_(w.message, **w.params) for w in item.message.warnings]
                + ([opted_out] if item.opted_out else [])
                + _due_warnings(item.due),
                "due_at": _iso(item.due and item.due.at),
            }
            for item in page.items
        ],
        "total": page.total,
    }


@bp.post(f"{CAMPAIGN}/test")
def send_test(campaign_id: int):
    test = service.prepare_test(
        db.session,
        campaign_id,
        json_body().get("phone"),
        current_app.config["PHONE_DEFAULT_REGION"],
    )
    result = send_test_message(test)
    body = {
        "phone": test.phone,
        "message": test.text,
        "result": {
            "outcome": result.outcome.value,
            "message_id": result.message_id,
            "error": result.error,
        },
    }
    if result.sent:
        return body
    error = _(
        "The gateway did not send the message: %(error)s",
        error=result.error or result.outcome.value,
    )
    return {"error": error, **body}, 502


@bp.get(f"{CAMPAIGN}/results")
def results(campaign_id: int):
    campaign = service.get_campaign(db.session, campaign_id)
    status = _choice_arg("status", RESULT_STATUSES)
    search = request.args.get("q", "").strip()
    page, per_page = page_args()
    offset = min((page - 1) * per_page, service.MAX_ID)  # a huge page: empty, not an error
    rows = results_page(
        db.session, campaign_id, status=status, search=search, limit=per_page, offset=offset
    )
    if 0 < len(rows) < per_page or (offset == 0 and not rows):
        total = offset + len(rows)  # the last page tells the total: a search needs no COUNT
    else:
        total = results_total(db.session, campaign, status=status, search=search)
    return {
        "items": [_result_json(row) for row in rows],
        "total": total,
        "page": page,
        "per_page": per_page,
    }


@bp.get(f"{CAMPAIGN}/export")
def export_results(campaign_id: int):
    """The results as a CSV (for Excel: UTF-8 with BOM, ";") or XLSX download."""
    campaign = service.get_campaign(db.session, campaign_id)
    return export.export_response(
        db.session,
        campaign,
        _choice_arg("format", EXPORT_FORMATS) or "csv",
        status=_choice_arg("status", RESULT_STATUSES),
        search=request.args.get("q", "").strip(),
        translate=_,
        timezone=get_timezone(),
    )


def _result_json(row: ResultRow) -> dict:
    return {
        "phone": row.phone,
        "status": row.status,
        "message_id": row.message_id,
        "gateway_status": row.gateway_status,
        # Our own reasons are stored untranslated; the gateway's words are shown as they came.
        "error": _(row.error) if row.error in service.SKIP_REASONS else row.error,
        "attempts": row.attempts,
        "sent_at": _iso(row.sent_at),
        "due_at": _iso(row.due_at),
        "due_moved": bool(row.due_moved),
        "message": row.message,
        "fields": row.fields,
    }


def _due_warnings(due: Due | None) -> list[str]:
    """What the preview says of a reminder's due time: why it will be skipped, or moved."""
    if due is None:
        return []
    if due.error:
        return [_("Will be skipped: %(reason)s.", reason=_(due.error))]
    return [_("Outside the send window: it goes when the window opens.")] if due.moved else []


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _choice_arg(name: str, choices: tuple[str, ...]) -> str | None:
    value = request.args.get(name) or None
    if value is not None and value not in choices:
        raise ApiError(
            400, _("'%(name)s' must be one of: %(choices)s.", name=name, choices=", ".join(choices))
        )
    return value


def _int_arg(name: str, *, default: int, minimum: int, maximum: int) -> int:
    try:
        value = int(request.args.get(name, default))
    except ValueError:
        value = minimum - 1
    if not minimum <= value <= maximum:
        raise ApiError(
            400,
            _(
                "'%(name)s' must be a whole number from %(minimum)s to %(maximum)s.",
                name=name,
                minimum=minimum,
                maximum=maximum,
            ),
        )
    return value
