import json
import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import parse_qs

import httpx
import pytest

from webapp.sending import telefon_ip
from webapp.sending.gateway import GatewayConfigError, Outcome
from webapp.sending.telefon_ip import TelefonIpClient, parse_retry_after

TOKEN = "4ea13fbf-f5a3-4084-8b01-9733cd6fd0b1"
PHONE = "79243555100"
SUCCESS = {
    "success": True,
    "value": {
        "id": "3EB0FF941278E7AF3F506C",
        "status": 1,
        "message": "test",
        "remoteJid": "79243555100@s.whatsapp.net",
    },
}
BALANCE = {"success": False, "error": "Blocking a client by balance", "data": {}}
UNAUTHORIZED = {"success": False, "error": "Unauthorized token", "data": {}}


def client_answering(answer, requests=None, **options) -> TelefonIpClient:
    """A client whose gateway calls ``answer(request)``; each request is kept in ``requests``."""

    def handler(request: httpx.Request) -> httpx.Response:
        if requests is not None:
            requests.append(request)
        return answer(request)

    return TelefonIpClient(TOKEN, transport=httpx.MockTransport(handler), **options)


def send_with_answer(status: int, body=b"", headers=None):
    content = json.dumps(body).encode() if isinstance(body, dict | list) else body
    client = client_answering(
        lambda request: httpx.Response(status, headers=headers, content=content)
    )
    return client.send_message(PHONE, "test")


def send_raising(exc_type: type[httpx.HTTPError]):
    def fail(request: httpx.Request) -> httpx.Response:
        # httpx puts no URL in these messages, but a proxy library might: quote it to be sure.
        raise exc_type(f"failed talking to {request.url}", request=request)

    return client_answering(fail).send_message(PHONE, "test")


def test_success_keeps_id_status_and_remote_jid():
    result = send_with_answer(200, SUCCESS)
    assert result.outcome is Outcome.SENT
    assert result.message_id == "3EB0FF941278E7AF3F506C"
    assert result.gateway_status == "1"
    assert result.remote_jid == "79243555100@s.whatsapp.net"
    assert result.error is None
    assert result.http_status == 200


def test_undocumented_status_value_is_stored_as_given():
    body = {"success": True, "value": {"id": "ABC", "status": "queued"}}
    result = send_with_answer(200, body)
    assert (result.outcome, result.gateway_status, result.remote_jid) == (
        Outcome.SENT,
        "queued",
        None,
    )


def test_get_request_carries_token_in_path_and_fields_in_query():
    requests = []
    client = client_answering(lambda r: httpx.Response(200, json=SUCCESS), requests)
    client.send_message(PHONE, "Привет & до встречи")
    (request,) = requests
    assert request.method == "GET"
    assert request.url.host == "api.telefon-ip.ru"
    assert request.url.path == f"/whatsapp/send_messages/{TOKEN}"
    assert parse_qs(request.url.query.decode()) == {
        "phone": [PHONE],
        "message": ["Привет & до встречи"],
    }


def test_app_is_sent_only_when_given():
    requests = []
    client = client_answering(lambda r: httpx.Response(200, json=SUCCESS), requests)
    client.send_message(PHONE, "a")
    client.send_message(PHONE, "b", app=7)
    assert "app" not in requests[0].url.params
    assert requests[1].url.params["app"] == "7"


def test_long_text_goes_as_post_form_with_the_same_fields():
    requests = []
    client = client_answering(lambda r: httpx.Response(200, json=SUCCESS), requests)
    long_text = "Длинное сообщение. " * 40  # over 3,000 bytes percent-encoded
    result = client.send_message(PHONE, long_text, app=2)
    (request,) = requests
    assert result.outcome is Outcome.SENT
    assert request.method == "POST"
    assert request.url.path == f"/whatsapp/send_messages/{TOKEN}"
    assert request.url.query == b""
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.content.decode()) == {
        "phone": [PHONE],
        "message": [long_text],
        "app": ["2"],
    }


def test_text_just_under_the_url_limit_still_goes_as_get():
    requests = []
    client = client_answering(lambda r: httpx.Response(200, json=SUCCESS), requests)
    prefix = len(f"https://api.telefon-ip.ru/whatsapp/send_messages/{TOKEN}?phone={PHONE}&message=")
    client.send_message(PHONE, "x" * (telefon_ip.MAX_GET_URL_BYTES - prefix))
    client.send_message(PHONE, "x" * (telefon_ip.MAX_GET_URL_BYTES - prefix + 1))
    assert [r.method for r in requests] == ["GET", "POST"]


@pytest.mark.parametrize(
    ("status", "body", "problem", "error"),
    [
        (400, BALANCE, "balance", "Blocking a client by balance"),
        (200, BALANCE, "balance", "Blocking a client by balance"),
        (
            400,
            {"error": "BLOCKING A CLIENT BY BALANCE."},
            "balance",
            "BLOCKING A CLIENT BY BALANCE.",
        ),
        (402, {"error": "Insufficient balance!"}, "balance", "Insufficient balance!"),
        (401, UNAUTHORIZED, "unauthorized", "Unauthorized token"),
        (400, {"error": "Unauthorized token."}, "unauthorized", "Unauthorized token."),
        (401, b"", "unauthorized", telefon_ip.TOKEN_REJECTED),
        (401, b"<html>Unauthorized</html>", "unauthorized", telefon_ip.TOKEN_REJECTED),
        (404, b"<html><h1>Not Found</h1></html>", "gateway_error", telefon_ip.NOT_FOUND),
        (404, {"success": False, "error": "Unknown action"}, "gateway_error", "Unknown action"),
        (403, b"<html>Access denied by the firewall</html>", "gateway_error", telefon_ip.FORBIDDEN),
        (301, b"", "gateway_error", telefon_ip.REDIRECTED),
    ],
)
def test_account_errors(status, body, problem, error):
    result = send_with_answer(status, body, {"Location": "https://elsewhere"})
    assert result.outcome is Outcome.ACCOUNT_ERROR
    assert result.account_problem == problem
    assert result.error == error
    assert result.http_status == status


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (400, {"success": False, "error": "Invalid phone", "data": {}}, "Invalid phone"),
        (200, {"success": False, "error": "Number not on WhatsApp"}, "Number not on WhatsApp"),
        (200, {"success": False}, telefon_ip.REFUSED),
        (422, {"success": False}, telefon_ip.REFUSED),
        (403, {"error": "Forbidden for this number"}, "Forbidden for this number"),
    ],
)
def test_recipient_errors_keep_the_gateway_text(status, body, error):
    result = send_with_answer(status, body)
    assert result.outcome is Outcome.RECIPIENT_ERROR
    assert result.error == error
    assert result.account_problem is None
    assert result.http_status == status


def test_long_error_texts_are_cut_short():
    result = send_with_answer(400, {"success": False, "error": "x" * 5000})
    assert result.outcome is Outcome.RECIPIENT_ERROR
    assert len(result.error) == telefon_ip.ERROR_EXCERPT_CHARS
    assert result.error.endswith("…")


@pytest.mark.parametrize(
    "body",
    [
        b"garbage \x00\xff",
        b"<!DOCTYPE html><html><body>Maintenance</body></html>",
        b"",
        b"[1, 2, 3]",
        {"success": True},
        {"success": True, "value": {"status": 1}},
        {"success": True, "value": {"id": ""}},
        {"success": "yes", "value": {"id": "ABC"}},
        {"value": {"id": "ABC"}},
    ],
)
def test_a_200_that_is_not_the_documented_json_is_ambiguous(body):
    result = send_with_answer(200, body)
    assert result.outcome is Outcome.AMBIGUOUS
    assert result.error == telefon_ip.UNEXPECTED_ANSWER
    assert result.message_id is None


@pytest.mark.parametrize(
    ("status", "says"),
    [(500, "HTTP 500"), (502, "HTTP 502"), (504, "HTTP 504"), (520, ""), (599, "")],
)
def test_server_errors_other_than_503_may_have_sent_the_message(status, says):
    result = send_with_answer(status, b"<html><h1>Gateway Time-out</h1>nginx</html>")
    assert (result.outcome, result.http_status) == (Outcome.AMBIGUOUS, status)
    assert says in result.error and "may have been sent" in result.error
    assert "nginx" not in result.error


@pytest.mark.parametrize("status", [200, 400, 413, 422, 500])
def test_an_answer_that_is_not_json_is_reported_by_its_status_only(status):
    page = b"<html><title>Proxy</title><body>secret internal host 10.0.0.7</body></html>"
    result = send_with_answer(status, page)
    assert result.outcome is Outcome.AMBIGUOUS
    assert "10.0.0.7" not in result.error and "Proxy" not in result.error
    assert result.http_status == status


@pytest.mark.parametrize(
    ("status", "headers", "retry_after"),
    [
        (429, {"Retry-After": "7"}, 7.0),
        (429, {}, None),
        (503, {"Retry-After": "120"}, 120.0),
        (503, {"Retry-After": "86400"}, telefon_ip.MAX_RETRY_AFTER_S),
        (429, {"Retry-After": "inf"}, telefon_ip.MAX_RETRY_AFTER_S),
        (429, {"Retry-After": "1e12"}, telefon_ip.MAX_RETRY_AFTER_S),
        (429, {"Retry-After": "nan"}, None),
        (429, {"Retry-After": "later, maybe"}, None),
        (408, {}, None),
    ],
)
def test_answers_that_say_nothing_was_done_are_transient(status, headers, retry_after):
    result = send_with_answer(status, b"<html>oops</html>", headers)
    assert result.outcome is Outcome.TRANSIENT
    assert result.retry_after == retry_after
    assert result.http_status == status
    assert result.error


def test_429_with_http_date_retry_after():
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    result = send_with_answer(429, b"", {"Retry-After": later})
    assert 85 <= result.retry_after <= 90


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("3", 3.0),
        ("1.5", 1.5),
        ("-4", 0.0),
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
        ("Wed, 21 Oct 9999 07:28:30 GMT", 600.0),
        ("1e400", 600.0),
        ("-inf", 0.0),
        ("Wed, 99 Foo 2015 99:99:99 GMT", None),
        ("\x00\xff", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value, seconds):
    now = datetime(2015, 10, 21, 7, 28, tzinfo=UTC)
    assert parse_retry_after(value, now) == seconds


@pytest.mark.parametrize(
    ("exc_type", "outcome", "error"),
    [
        (httpx.ConnectError, Outcome.TRANSIENT, telefon_ip.CONNECT_FAILED),
        (httpx.ConnectTimeout, Outcome.TRANSIENT, telefon_ip.CONNECT_FAILED),
        (httpx.PoolTimeout, Outcome.TRANSIENT, telefon_ip.NO_FREE_CONNECTION),
        (httpx.ReadTimeout, Outcome.AMBIGUOUS, telefon_ip.ANSWER_TIMED_OUT),
        (httpx.WriteTimeout, Outcome.AMBIGUOUS, telefon_ip.ANSWER_TIMED_OUT),
        (httpx.RemoteProtocolError, Outcome.AMBIGUOUS, telefon_ip.CONNECTION_BROKE),
        (httpx.ReadError, Outcome.AMBIGUOUS, telefon_ip.CONNECTION_BROKE),
    ],
)
def test_network_failures_become_results(exc_type, outcome, error):
    result = send_raising(exc_type)
    assert (result.outcome, result.error, result.http_status) == (outcome, error, None)


def test_token_never_reaches_results_or_logs(caplog):
    caplog.set_level(logging.DEBUG)
    echo = f"cannot handle https://api.telefon-ip.ru/whatsapp/send_messages/{TOKEN}"
    results = [
        send_with_answer(400, {"success": False, "error": echo}),
        send_with_answer(400, {"error": "x" * 190 + TOKEN}),  # where the excerpt is cut
        send_with_answer(400, echo.encode()),
        send_with_answer(200, {"success": False, "error": f"bad token {TOKEN}"}),
        send_with_answer(401, {"success": False, "error": f"Unauthorized token {TOKEN}"}),
        *(send_raising(e) for e in (httpx.ConnectError, httpx.ReadTimeout, httpx.ReadError)),
    ]
    assert all(r.error and TOKEN not in r.error for r in results)
    assert results[0].error == "cannot handle https://api.telefon-ip.ru/whatsapp/send_messages/***"
    messages = [record.getMessage() for record in caplog.records]
    # httpx did log its request line, and our failure warnings were logged too
    assert any(m.startswith("HTTP Request: GET") and "/send_messages/***?" in m for m in messages)
    assert any("ReadTimeout" in m for m in messages)
    assert all(TOKEN not in m for m in messages)
    assert TOKEN not in caplog.text


def test_client_repr_hides_the_token():
    assert TOKEN not in repr(client_answering(lambda r: httpx.Response(200, json=SUCCESS)))


@pytest.mark.parametrize(
    ("token", "base_url"),
    [
        ("", telefon_ip.DEFAULT_BASE_URL),
        ("  ", telefon_ip.DEFAULT_BASE_URL),
        (TOKEN, "api.telefon-ip.ru"),
    ],
)
def test_configuration_errors_raise_without_the_token(token, base_url):
    with pytest.raises(GatewayConfigError) as info:
        TelefonIpClient(token, base_url=base_url)
    assert TOKEN not in str(info.value)
