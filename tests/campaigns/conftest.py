import pytest

from tests.factories import make_campaign, make_list, make_opt_outs
from webapp.extensions import db

PHONES = ["79243555100", "79243555101", "79243555102", "79243555103"]
NAMES = ["Анна", "", "Олег", "Мария"]


@pytest.fixture
def session(app):
    """The app's session inside an app context, as the API views use it."""
    with app.app_context():
        yield db.session


@pytest.fixture
def contact_list(session):
    """Four contacts with a name column (the second one blank); the third has opted out."""
    contact_list = make_list(PHONES, [{"Имя": name} for name in NAMES])
    make_opt_outs(PHONES[2])
    return contact_list


@pytest.fixture
def new_campaign(session, contact_list):
    """Make a draft for ``contact_list``: ``new_campaign(template=..., rate_per_minute=...)``."""

    def make(template: str = "Hi", list_id=contact_list.id, **values):
        return make_campaign(list_id, template, **values)

    return make
