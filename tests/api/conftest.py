"""Clients of the API as the different users call it."""

import pytest

from webapp.accounts import create_api_key
from webapp.extensions import db
from webapp.models import User


@pytest.fixture
def member_api(app, member):
    """An API client with a member's key: reads, but changes nothing only admins may."""
    with app.app_context():
        key = create_api_key(db.session.get(User, member))
        db.session.commit()
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return client
