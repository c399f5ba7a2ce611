import stat

from webapp import create_app


def test_defaults_apply_on_a_fresh_instance(instance_path, monkeypatch):
    monkeypatch.delenv("FLASK_TELEFON_IP_TOKEN", raising=False)
    app = create_app({"AUTO_MIGRATE": False})
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{instance_path / 'volna.sqlite3'}"
    assert app.config["TELEFON_IP_BASE_URL"] == "https://api.telefon-ip.ru/whatsapp"
    assert app.config["TELEFON_IP_TOKEN"] is None
    assert app.config["MAX_CONTENT_LENGTH"] == 50 * 1024 * 1024


def test_instance_config_overrides_defaults_and_environment_overrides_both(
    instance_path, monkeypatch
):
    instance_path.mkdir()
    (instance_path / "config.py").write_text(
        "TELEFON_IP_BASE_URL = 'http://from-instance'\nMAX_CONTENT_LENGTH = 1024\n"
    )
    monkeypatch.setenv("FLASK_MAX_CONTENT_LENGTH", "2048")
    app = create_app({"AUTO_MIGRATE": False})
    assert app.config["TELEFON_IP_BASE_URL"] == "http://from-instance"
    assert app.config["MAX_CONTENT_LENGTH"] == 2048  # from_prefixed_env parses JSON values


def test_secret_key_is_generated_once_private_and_kept(instance_path):
    first = create_app({"AUTO_MIGRATE": False}).config["SECRET_KEY"]
    key_file = instance_path / "secret_key"
    assert len(first) >= 32
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert create_app({"AUTO_MIGRATE": False}).config["SECRET_KEY"] == first
    assert key_file.read_text().strip() == first


def test_configured_secret_key_wins_and_no_file_is_written(instance_path, monkeypatch):
    monkeypatch.setenv("FLASK_SECRET_KEY", "from-environment")
    app = create_app({"AUTO_MIGRATE": False})
    assert app.config["SECRET_KEY"] == "from-environment"
    assert not (instance_path / "secret_key").exists()
