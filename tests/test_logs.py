import logging

import httpx

TOKEN = "4ea13fbf-f5a3-4084-8b01-9733cd6fd0b1"
URL = f"https://api.telefon-ip.ru/whatsapp/send_messages/{TOKEN}?phone=79243555100&message=hi"


def test_httpx_request_lines_never_show_the_token(app, caplog):
    caplog.set_level(logging.DEBUG)
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"success": True}))
    with httpx.Client(transport=transport) as client:
        client.get(URL)
    assert "HTTP Request" in caplog.text  # the line httpx logs is there...
    assert TOKEN not in caplog.text  # ...without the token
    assert "/whatsapp/send_messages/***" in caplog.text


def test_our_log_lines_and_tracebacks_never_show_the_token(app, caplog):
    log = logging.getLogger("webapp.sending")
    try:
        raise RuntimeError(f"failed to reach {URL}")
    except RuntimeError:
        log.exception("send failed for %s", URL)
    assert "send failed" in caplog.text
    assert TOKEN not in caplog.text
    assert all(TOKEN not in (record.exc_text or "") for record in caplog.records)


def test_a_configured_token_is_redacted_anywhere_in_a_line(app_config, instance_path, caplog):
    from webapp import create_app

    create_app({**app_config, "TELEFON_IP_TOKEN": "s3cr3t-token-value"})
    logging.getLogger("webapp").warning("token is s3cr3t-token-value, oops")
    assert "s3cr3t-token-value" not in caplog.text
