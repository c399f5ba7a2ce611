import shutil

from sqlalchemy import inspect

from tests.factories import audit_events
from webapp import create_app
from webapp.audit import details
from webapp.database import MIGRATIONS_DIR
from webapp.extensions import db
from webapp.models import User
from webapp.sending.sandbox import SandboxServer


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


def test_sandbox_gateway_serves_with_the_options_the_readme_names(runner, monkeypatch):
    served = []
    monkeypatch.setattr(SandboxServer, "serve_forever", lambda self, *a: served.append(self))
    options = "--port 0 --token T --latency-ms 200-600 --fault server_error=0.1 --account balance"
    result = runner.invoke(args=["sandbox-gateway", *options.split()])
    assert result.exit_code == 0, result.output
    (server,) = served
    server._server.server_close()
    assert f"TELEFON_IP_BASE_URL=http://127.0.0.1:{server.port}/whatsapp" in result.output
    assert server.state.config.faults == {"server_error": 0.1}


def test_db_upgrade_creates_the_schema(fresh_database_url, instance_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": fresh_database_url, "AUTO_MIGRATE": False})
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert {"users", "campaigns", "recipients"} <= set(inspect(db.engine).get_table_names())
        db.engine.dispose()


def test_db_migrate_finds_the_models_and_the_migrations_in_step(runner, tmp_path):
    """What ``db migrate`` writes after a model change: nothing while they agree."""
    migrations = shutil.copytree(MIGRATIONS_DIR, tmp_path / "migrations")
    before = sorted((migrations / "versions").glob("*.py"))
    result = runner.invoke(args=["db", "migrate", "-d", str(migrations), "-m", "nothing"])
    assert result.exit_code == 0, result.output
    assert sorted((migrations / "versions").glob("*.py")) == before
