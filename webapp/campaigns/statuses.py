"""The statuses of campaigns and recipients, and which action each campaign status allows.

The lifecycle itself is drawn in ``webapp.campaigns``. The service's conditional UPDATEs, the
pages (``can(campaign, "cancel")``), the API and its OpenAPI enums all read these, so a new
status or transition is one edit here. Members are ``str``: stored values and literals compare
equal to them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from ..i18n import N_


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class RecipientStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    """Claimed by the sender, the gateway's answer not yet written; people see it as pending."""
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"
    SKIPPED = "skipped"


# The campaign statuses from which each action people take is allowed (else HTTP 409).
ALLOWED_FROM: dict[str, frozenset[CampaignStatus]] = {
    "edit": frozenset({CampaignStatus.DRAFT, CampaignStatus.PAUSED}),
    "delete": frozenset({CampaignStatus.DRAFT}),
    "start": frozenset({CampaignStatus.DRAFT}),
    "pause": frozenset({CampaignStatus.RUNNING, CampaignStatus.SCHEDULED}),
    "resume": frozenset({CampaignStatus.PAUSED}),
    "cancel": frozenset(
        {
            CampaignStatus.DRAFT,
            CampaignStatus.SCHEDULED,
            CampaignStatus.RUNNING,
            CampaignStatus.PAUSED,
        }
    ),
    "retry": frozenset({CampaignStatus.COMPLETED, CampaignStatus.PAUSED}),
    "add": frozenset(
        {
            CampaignStatus.SCHEDULED,
            CampaignStatus.RUNNING,
            CampaignStatus.PAUSED,
            CampaignStatus.COMPLETED,
        }
    ),
}
# The sender works on these (or will, at start_at): their progress moves, they have an ETA.
LIVE = frozenset({CampaignStatus.RUNNING, CampaignStatus.SCHEDULED})
# Recipient statuses with a count_* column on the campaign (``sending`` counts as pending).
COUNTED = (
    RecipientStatus.PENDING,
    RecipientStatus.SENT,
    RecipientStatus.FAILED,
    RecipientStatus.UNKNOWN,
    RecipientStatus.SKIPPED,
)
RETRYABLE = (RecipientStatus.FAILED, RecipientStatus.UNKNOWN)
# What a gateway call ends in, for good.
OUTCOMES = (RecipientStatus.SENT, RecipientStatus.FAILED, RecipientStatus.UNKNOWN)
# What people read for each recipient status, on pages and in exports (``sending`` shows as
# pending).
RECIPIENT_LABELS: dict[str, str] = {
    RecipientStatus.PENDING: N_("Queued"),
    RecipientStatus.SENT: N_("Sent"),
    RecipientStatus.FAILED: N_("Failed"),
    RecipientStatus.UNKNOWN: N_("Unknown"),
    RecipientStatus.SKIPPED: N_("Skipped"),
}


class HasStatus(Protocol):
    status: str


def can(campaign: HasStatus, action: str) -> bool:
    """Whether ``action`` (a key of ``ALLOWED_FROM``) is allowed in the campaign's status now."""
    return campaign.status in ALLOWED_FROM[action]
