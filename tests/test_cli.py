from tests.factories import audit_events
from webapp.audit import details
from webapp.extensions import db
from webapp.models import User


def test_create_user_and_admin(runner, app):
    result = runner.invoke(
        args=["create-user", "Ops@Shop.ru", "--password", "long password", "--admin"]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["create-user", "clerk@shop.ru", "--password", "long password"])
    assert result.exit_code == 0
    with app.app_context():
        roles = dict(db.session.query(User.email, User.role).all())
    assert roles == {"ops@shop.ru": "admin", "clerk@shop.ru": "member"}


def test_create_user_refuses_bad_input_with_a_message(runner, app):
    short = runner.invoke(args=["create-user", "a@b.ru", "--password", "short"])
    assert short.exit_code != 0 and "at least 8 characters" in short.output
    runner.invoke(args=["create-user", "a@b.ru", "--password", "long password"])
    again = runner.invoke(args=["create-user", "A@B.ru", "--password", "long password"])
    assert again.exit_code != 0 and "already exists" in again.output


def test_create_api_key_prints_a_working_key_alone_on_the_last_line(runner, client):
    runner.invoke(args=["create-user", "crm@shop.ru", "--password", "long password"])
    result = runner.invoke(args=["create-api-key", "crm@shop.ru"])
    assert result.exit_code == 0
    key = result.output.strip().splitlines()[-1]
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"})
    assert response.json["email"] == "crm@shop.ru"


def test_api_keys_are_stored_hashed(runner, app):
    runner.invoke(args=["create-user", "crm@shop.ru", "--password", "long password"])
    key = runner.invoke(args=["create-api-key", "crm@shop.ru"]).output.strip().splitlines()[-1]
    with app.app_context():
        stored = db.session.scalar(db.text("SELECT key_hash FROM api_keys"))
    assert key not in stored and len(stored) == 64


def test_create_api_key_for_an_unknown_user_fails_clearly(runner, app):
    result = runner.invoke(args=["create-api-key", "ghost@shop.ru"])
    assert result.exit_code != 0 and "No user" in result.output


def test_users_and_keys_made_on_the_command_line_are_in_the_audit_trail(runner, app):
    runner.invoke(args=["create-user", "crm@shop.ru", "--password", "long password"])
    key = runner.invoke(args=["create-api-key", "crm@shop.ru"]).output.strip().splitlines()[-1]
    with app.app_context():
        user_id = str(db.session.scalar(db.select(User.id)))
        trail = [(e.action, e.actor_email, e.target_id, details(e)) for e in audit_events()]
    assert trail == [
        ("user_created", "", user_id, {"email": "crm@shop.ru", "role": "member"}),
        ("api_key_created", "", user_id, {"prefix": key[:12]}),
    ]
