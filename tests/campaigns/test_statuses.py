"""The transitions table says what the service does: an action is refused (409) exactly in the
statuses ``ALLOWED_FROM`` leaves out, and the pages offer its button exactly where it is allowed."""

import pytest

from tests.campaigns.conftest import PHONES
from tests.factories import make_campaign, make_list, mark_recipients, set_campaign_status
from webapp.campaigns import service
from webapp.campaigns.statuses import ALLOWED_FROM, CampaignStatus, can

ACTIONS = {
    "pause": service.pause_campaign,
    "resume": service.resume_campaign,
    "cancel": service.cancel_campaign,
    "retry": lambda session, campaign_id: service.retry_campaign(session, campaign_id, ["failed"]),
    "delete": service.delete_draft,
}


@pytest.mark.parametrize("status", list(CampaignStatus))
@pytest.mark.parametrize("action", list(ACTIONS))
def test_an_action_is_refused_exactly_where_the_table_says(session, new_campaign, status, action):
    campaign_id = new_campaign(start=True)
    mark_recipients(campaign_id, PHONES[:1], "failed", error="no WhatsApp")
    set_campaign_status(campaign_id, status)
    allowed = can(service.get_campaign(session, campaign_id), action)
    try:
        ACTIONS[action](session, campaign_id)
    except service.CampaignConflict:
        refused = True
    else:
        refused = False
    assert refused == (not allowed) == (status not in ALLOWED_FROM[action])


@pytest.mark.parametrize("status", list(CampaignStatus))
def test_the_campaign_page_offers_only_allowed_actions(app, admin_client, status):
    with app.app_context():
        campaign_id = make_campaign(make_list(PHONES).id, start=True)
        set_campaign_status(campaign_id, status)
    page = admin_client.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    for action in ("pause", "resume", "cancel"):
        offered = f"/campaigns/{campaign_id}/{action}" in page
        assert offered == (status in ALLOWED_FROM[action]), action
