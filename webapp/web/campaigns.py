"""Campaign pages: the wizard (message → preview → options, test send, launch), live progress,
results with retry and export."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_datetime, format_decimal, get_timezone, ngettext
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.exceptions import NotFound

from ..account_settings import sending_defaults
from ..audit import CAMPAIGN_ACTIONS
from ..campaigns import service
from ..campaigns.eta import effective_gap_s, estimate_finish
from ..campaigns.options import OptionsError, parse_options
from ..campaigns.reminders import Spread
from ..campaigns.rendering import parse_template
from ..campaigns.statuses import CampaignStatus, RecipientStatus, can
from ..contacts import ImportFileError
from ..contacts.browse import field_columns, list_columns
from ..edge import send_test_message, upload_rows
from ..errors import handle_http_error
from ..extensions import db
from ..messages import MAX_MESSAGE_LENGTH, TemplateError
from ..models import Campaign, ContactList, SavedMessage, User, utcnow
from ..numbers import WAIT_REASONS, capacities, linked_apps, waiting_code
from ..results import export
from ..results.queries import RESULT_STATUSES, results_page, results_total
from ..uploads import temporary_upload
from ..url_numbers import page_arg, parse_id
from . import forms
from .audit import audit

bp = Blueprint("campaigns", __name__, url_prefix="/campaigns")
PREVIEW_PER_PAGE = 20
RESULTS_PER_PAGE = 50
INDEX_LIMIT = 500


@bp.errorhandler(service.CampaignError)
def refused(error: service.CampaignError):
    """A refused action: its reason flashed on the campaign's page; a missing campaign is a 404."""
    if isinstance(error, service.CampaignNotFound):
        return handle_http_error(NotFound())
    db.session.rollback()  # a refused action writes nothing, whatever it began
    flash(error.text(), "error")
    return redirect(url_for("campaigns.detail", campaign_id=request.view_args["campaign_id"]))


def load(campaign_id: int) -> Campaign:
    return service.get_campaign(db.session, campaign_id)


@bp.get("/")
def index():
    campaigns = db.session.execute(
        service.campaigns_query()
        .add_columns(User.email)
        .outerjoin(User, User.id == Campaign.created_by_id)
        .limit(INDEX_LIMIT)
    ).all()
    return render_template("campaigns/index.html", campaigns=campaigns)


def compose_page(campaign: Campaign | None, values: dict, status: int = 200):
    lists = db.session.scalars(select(ContactList).order_by(ContactList.id.desc())).all()
    columns = {item.id: list_columns(item) for item in lists}
    saved = db.session.scalars(select(SavedMessage).order_by(SavedMessage.name)).all()
    page = render_template(
        "campaigns/compose.html",
        campaign=campaign,
        values=values,
        lists=lists,
        columns=columns,
        saved_templates=saved,
        max_length=MAX_MESSAGE_LENGTH,
    )
    return page, status


@bp.route("/new", methods=["GET", "POST"])
def new():
    if request.method == "GET":
        values = {"list_id": request.args.get("list_id", type=parse_id), "name": "", "template": ""}
        saved = db.session.get(SavedMessage, request.args.get("template_id", 0, type=parse_id))
        if saved is not None:
            values.update(name=saved.name, template=saved.body)
        return compose_page(None, values)
    values = compose_values()
    try:
        campaign = service.create_campaign(
            db.session, values, defaults=sending_defaults(), created_by_id=current_user.id
        )
    except service.CampaignError as error:
        flash(error.text(), "error")
        return compose_page(None, values, 422)
    db.session.commit()
    return redirect(url_for("campaigns.preview", campaign_id=campaign.id))


def compose_values() -> dict:
    return {
        "name": request.form.get("name", "").strip(),
        "list_id": request.form.get("list_id", type=parse_id),
        "template": request.form.get("template", "").replace("\r\n", "\n"),
    }


@bp.route("/<int:campaign_id>/edit", methods=["GET", "POST"])
def edit(campaign_id: int):
    campaign = load(campaign_id)
    if request.method == "GET":
        values = {"name": campaign.name, "list_id": campaign.list_id, "template": campaign.template}
        return compose_page(campaign, values)
    values = compose_values()
    try:
        service.update_campaign(db.session, campaign_id, values)
    except service.CampaignError as error:
        flash(error.text(), "error")
        return compose_page(campaign, values, error.status)
    db.session.commit()
    return redirect(url_for("campaigns.preview", campaign_id=campaign_id))


@bp.post("/check")
def check():
    """The message editor's instant check: problems, or that all is well, as a page fragment."""
    contact_list = db.session.get(ContactList, request.form.get("list_id", 0, type=parse_id))
    template = request.form.get("template", "")
    problem = None
    if not template.strip():
        return render_template("campaigns/_check.html", empty=True)
    if contact_list is None:
        problem = _("Choose a contact list first.")
    else:
        try:
            parse_template(template, list_columns(contact_list), contact_list.phone_column)
        except TemplateError as error:
            problem = error.text()
    return render_template("campaigns/_check.html", problem=problem)


@bp.get("/<int:campaign_id>/preview")
def preview(campaign_id: int):
    campaign = load(campaign_id)
    page = page_arg()
    if request.args.get("row"):  # jump to a row: the page that holds it
        page = (page_arg("row") - 1) // PREVIEW_PER_PAGE + 1
    try:
        found = service.preview(
            db.session, campaign_id, limit=PREVIEW_PER_PAGE, offset=(page - 1) * PREVIEW_PER_PAGE
        )
    except service.CampaignError as error:
        flash(error.text(), "error")
        return redirect(url_for("campaigns.edit", campaign_id=campaign_id))
    return render_template(
        "campaigns/preview.html",
        campaign=campaign,
        found=found,
        page=page,
        per_page=PREVIEW_PER_PAGE,
        first_row=(page - 1) * PREVIEW_PER_PAGE + 1,
        max_length=MAX_MESSAGE_LENGTH,
    )


def options_page(campaign: Campaign, status: int = 200):
    return render_template(
        "campaigns/launch.html",
        campaign=campaign,
        options=json.loads(campaign.options_json),
        apps=linked_apps(db.session.connection()),
        columns=field_columns(campaign.contact_list),
        estimate=estimate_text(
            service.campaign_options(campaign), campaign.contact_list.contact_count, campaign
        ),
    ), status


@bp.get("/<int:campaign_id>/launch")
def launch(campaign_id: int):
    return options_page(load(campaign_id))


@bp.post("/<int:campaign_id>/estimate")
def estimate(campaign_id: int):
    """The plain-language estimate for the options being typed in (an htmx fragment)."""
    campaign = load(campaign_id)
    try:
        options = parse_options(
            forms.sending_options(request.form), json.loads(campaign.options_json)
        )
    except OptionsError as error:
        return render_template("campaigns/_estimate.html", text=None, problem=error.text())
    pending = (
        campaign.count_pending
        if not can(campaign, "start")
        else campaign.contact_list.contact_count
    )
    return render_template(
        "campaigns/_estimate.html",
        text=estimate_text(options, pending, campaign),
        problem=None,
    )


def estimate_text(options, recipients: int, campaign: Campaign) -> str:
    """ "≈ 2 h 10 min for 137 messages (one every 0.6 s on average, random pauses included),
    finishes today at 17:40", in the reader's language and time zone; for reminders, when
    the first and the last go and the most in a day."""
    now = utcnow()
    if options.schedule is not None:
        return reminders_text(service.due_spread(db.session, campaign, now, options))
    numbers = capacities(db.session.connection(), options.apps, now, campaign.id)
    finish = estimate_finish(options, recipients, now, numbers)
    if finish is None:
        return _("Longer than a year at this pace: raise the rate or the daily limit.")
    local_finish, local_now = finish.astimezone(get_timezone()), now.astimezone(get_timezone())
    at = format_datetime(finish, "HH:mm")
    if local_finish.date() == local_now.date():
        when = _("finishes today at %(time)s", time=at)
    elif (local_finish.date() - local_now.date()).days == 1:
        when = _("finishes tomorrow at %(time)s", time=at)
    else:
        when = _("finishes %(date)s at %(time)s", date=format_datetime(finish, "d MMMM"), time=at)
    gap = format_decimal(round(effective_gap_s(options, numbers), 1))
    if options.delay_max_s or options.delay_min_s:
        pace = _("one every %(gap)s s on average, random pauses included", gap=gap)
    else:
        pace = _("one every %(gap)s s", gap=gap)
    return ngettext(
        "≈ %(duration)s for %(count)s message (%(pace)s), %(when)s",
        "≈ %(duration)s for %(count)s messages (%(pace)s), %(when)s",
        recipients,
        count=format_decimal(recipients),
        duration=duration_text(finish - now),
        pace=pace,
        when=when,
    )


def reminders_text(spread: Spread | None) -> str:
    """ "First at 4 December 10:00, last at 11 December 10:00, at most 3 a day"."""
    if spread is None:
        return _("No reminder is due from now on: check the date column and the rule.")
    return ngettext(
        "First at %(first)s, last at %(last)s, at most %(num)s a day",
        "First at %(first)s, last at %(last)s, at most %(num)s a day",
        spread.most_per_day,
        first=format_datetime(spread.first, "d MMMM HH:mm"),
        last=format_datetime(spread.last, "d MMMM HH:mm"),
    )


def duration_text(duration: timedelta) -> str:
    """ "45 s", "1 min 25 s", "2 h 10 min", "3 d 4 h": seconds count while they matter."""
    seconds = max(1, round(duration.total_seconds()))
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return _("%(d)s d %(h)s h", d=days, h=hours)
    if hours:
        return _("%(h)s h %(m)s min", h=hours, m=minutes)
    if minutes >= 10 or (minutes and not seconds):
        return _("%(m)s min", m=minutes)
    if minutes:
        return _("%(m)s min %(s)s s", m=minutes, s=seconds)
    return _("%(s)s s", s=seconds)


@bp.post("/<int:campaign_id>/test")
def test_send(campaign_id: int):
    """Send the first contact's message to the user's own phone, now."""
    try:
        test = service.prepare_test(
            db.session,
            campaign_id,
            request.form.get("phone", ""),
            current_app.config["PHONE_DEFAULT_REGION"],
        )
    except service.CampaignError as error:
        flash(error.text(), "error")
        return redirect(url_for("campaigns.launch", campaign_id=campaign_id))
    result = send_test_message(test)
    if result.sent:
        flash(_("Test message sent to %(phone)s.", phone=test.phone), "success")
    else:
        reason = _(result.error) if result.error else result.outcome.value
        flash(_("The test message was not sent: %(error)s", error=reason), "error")
    return redirect(url_for("campaigns.launch", campaign_id=campaign_id))


@bp.post("/<int:campaign_id>/start")
def start(campaign_id: int):
    campaign = load(campaign_id)
    if request.form.get("confirm") != str(campaign.contact_list.contact_count):
        flash(_("Tick the confirmation to launch the campaign."), "error")
        return options_page(campaign, 400)
    try:
        service.update_campaign(db.session, campaign_id, forms.sending_options(request.form))
        service.start_campaign(db.session, campaign_id)
    except service.CampaignError as error:
        db.session.rollback()
        flash(error.text(), "error")
        return options_page(load(campaign_id), error.status)
    audit("campaign_started", ("campaign", campaign_id))
    db.session.commit()
    flash(_("The campaign is launched."), "success")
    return redirect(url_for("campaigns.detail", campaign_id=campaign_id))


@bp.get("/<int:campaign_id>")
def detail(campaign_id: int):
    campaign = load(campaign_id)
    scheduled = service.campaign_options(campaign).schedule is not None
    return render_template(
        "campaigns/detail.html",
        campaign=campaign,
        timeline=service.timeline(db.session, campaign) if scheduled else None,
        scheduled=scheduled,
        **progress_context(campaign),
    )


@bp.post("/<int:campaign_id>/recipients")
def add_recipients(campaign_id: int):
    """More rows for a started campaign, from a file with the list's columns."""
    file = request.files.get("file")
    if file is None or not file.filename:
        flash(_("Choose a file to upload."), "error")
        return redirect(url_for("campaigns.detail", campaign_id=campaign_id))
    try:
        with temporary_upload(file, Path(current_app.instance_path) / "uploads") as path:
            rows = upload_rows(path, file.filename, sheet=None)
    except ImportFileError as error:
        flash(error.text(), "error")
        return redirect(url_for("campaigns.detail", campaign_id=campaign_id))
    added = service.add_recipients(
        db.session, campaign_id, rows, region=current_app.config["PHONE_DEFAULT_REGION"]
    )
    audit("campaign_rows_added", ("campaign", campaign_id), {"added": added.added})
    db.session.commit()
    flash(
        _(
            "Added: %(added)s; skipped: %(skipped)s; already there: %(duplicates)s; "
            "without a valid phone: %(rejected)s.",
            added=added.added,
            skipped=added.skipped,
            duplicates=added.duplicates,
            rejected=len(added.rejected),
        ),
        "success",
    )
    return redirect(url_for("campaigns.detail", campaign_id=campaign_id))


@bp.get("/<int:campaign_id>/progress")
def progress(campaign_id: int):
    """The live part of the campaign page, polled by htmx while the campaign runs."""
    campaign = load(campaign_id)
    return render_template(
        "campaigns/_progress.html", campaign=campaign, **progress_context(campaign)
    )


def progress_context(campaign: Campaign) -> dict:
    counts = service.counts(campaign)
    done = counts["total"] - counts[RecipientStatus.PENDING]
    return {
        "counts": counts,
        "percent": int(100 * done / counts["total"]) if counts["total"] else 0,
        "eta": service.campaign_eta(campaign),
        "pause_reason": _(
            service.PAUSE_REASONS[campaign.pause_code], detail=campaign.pause_detail or ""
        )
        if campaign.pause_code
        else None,
        "waiting": _(
            WAIT_REASONS[waiting],
            until=campaign.waiting_until and format_datetime(campaign.waiting_until, "short"),
        )
        if (waiting := waiting_code(campaign))
        else _(
            "Waiting for the next reminder at %(at)s.",
            at=format_datetime(campaign.next_due_at, "short"),
        )
        if campaign.status == CampaignStatus.RUNNING and campaign.next_due_at
        else None,
    }


ACTIONS = {
    "pause": service.pause_campaign,
    "resume": service.resume_campaign,
    "cancel": service.cancel_campaign,
}


@bp.post("/<int:campaign_id>/<any(pause, resume, cancel):action>")
def act(campaign_id: int, action: str):
    ACTIONS[action](db.session, campaign_id)
    audit(CAMPAIGN_ACTIONS[action], ("campaign", campaign_id))
    db.session.commit()
    return redirect(url_for("campaigns.detail", campaign_id=campaign_id))


@bp.post("/<int:campaign_id>/duplicate")
def duplicate(campaign_id: int):
    """A new draft from this campaign, to send the same message again or to another list."""
    copy = service.duplicate_campaign(
        db.session, campaign_id, name_suffix=_(service.COPY_SUFFIX), created_by_id=current_user.id
    )
    db.session.commit()
    flash(_("A copy is ready to edit."), "success")
    return redirect(url_for("campaigns.edit", campaign_id=copy.id))


@bp.post("/<int:campaign_id>/delete")
def delete(campaign_id: int):
    service.delete_draft(db.session, campaign_id)
    db.session.commit()
    flash(_("The draft is deleted."), "success")
    return redirect(url_for("campaigns.index"))


@bp.post("/<int:campaign_id>/retry")
def retry(campaign_id: int):
    statuses = request.form.getlist("status")
    try:
        service.retry_campaign(
            db.session, campaign_id, statuses, confirmed=request.form.get("confirm") == "yes"
        )
    except service.RetryNeedsConfirmation:
        return redirect(url_for("campaigns.retry_unknown", campaign_id=campaign_id))
    audit("campaign_retried", ("campaign", campaign_id), {"status": statuses})
    db.session.commit()
    flash(_("The chosen recipients are queued again."), "success")
    return redirect(url_for("campaigns.detail", campaign_id=campaign_id))


@bp.get("/<int:campaign_id>/retry-unknown")
def retry_unknown(campaign_id: int):
    """Say what retrying unknown recipients risks, before anyone confirms it."""
    campaign = load(campaign_id)
    if not campaign.count_unknown:
        return redirect(url_for("campaigns.detail", campaign_id=campaign_id))
    return render_template("campaigns/retry_unknown.html", campaign=campaign)


def result_filters() -> tuple[str | None, str]:
    status = request.args.get("status") or None
    if status not in (None, *RESULT_STATUSES):
        abort(400)
    return status, request.args.get("q", "").strip()


@bp.get("/<int:campaign_id>/results")
def results(campaign_id: int):
    campaign = load(campaign_id)
    status, search = result_filters()
    page = page_arg()
    rows = results_page(
        db.session,
        campaign_id,
        status=status,
        search=search,
        limit=RESULTS_PER_PAGE,
        offset=(page - 1) * RESULTS_PER_PAGE,
    )
    return render_template(
        "campaigns/results.html",
        campaign=campaign,
        rows=rows,
        total=results_total(db.session, campaign, status=status, search=search),
        status=status,
        query=search,
        page=page,
        per_page=RESULTS_PER_PAGE,
        statuses=RESULT_STATUSES,
        columns=[
            c
            for c in list_columns(campaign.contact_list)
            if c != campaign.contact_list.phone_column
        ],
    )


@bp.get("/<int:campaign_id>/export.<any(csv, xlsx):file_format>")
def export_results(campaign_id: int, file_format: str):
    campaign = load(campaign_id)
    status, search = result_filters()
    return export.export_response(
        db.session,
        campaign,
        file_format,
        status=status,
        search=search,
        translate=_,
        timezone=get_timezone(),
    )
