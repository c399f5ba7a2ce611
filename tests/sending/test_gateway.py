import io
import logging

import pytest

from webapp.sending.gateway import (
    Outcome,
    RedactingFilter,
    SendResult,
    redact,
    redact_gateway_urls,
)

TOKEN = "4ea13fbf-f5a3-4084-8b01-9733cd6fd0b1"
URL = f"https://api.telefon-ip.ru/whatsapp/send_messages/{TOKEN}?phone=79243555100&message=hi"


def test_redact_masks_raw_and_percent_encoded_token():
    token = "a/b c"
    text = "raw a/b c, encoded a%2Fb%20c"
    assert redact(text, token) == "raw ***, encoded ***"


def test_redact_without_token_changes_nothing():
    assert redact("nothing to hide", "") == "nothing to hide"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (URL, "https://api.telefon-ip.ru/whatsapp/send_messages/***?phone=79243555100&message=hi"),
        (
            '"GET /whatsapp/send_messages/abc HTTP/1.1" 200',
            '"GET /whatsapp/send_messages/*** HTTP/1.1" 200',
        ),
        ("http://proxy.local/api/send_messages/abc", "http://proxy.local/api/send_messages/***"),
        ("GET /whatsapp/get_status/abc/more", "GET /whatsapp/get_status/***/more"),
        ("GET /sandbox/messages 200", "GET /sandbox/messages 200"),
    ],
)
def test_redact_gateway_urls_masks_the_token_segment_of_gateway_urls(text, expected):
    assert redact_gateway_urls(text) == expected


def test_redact_gateway_urls_also_masks_known_tokens_outside_urls():
    assert redact_gateway_urls(f"token={TOKEN}", [TOKEN]) == "token=***"


def _logger_with_filter(name: str) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter([TOKEN]))
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    logger.propagate = False
    return logger, stream


def test_filter_masks_token_in_formatted_message_args():
    logger, stream = _logger_with_filter("test_gateway.args")
    logger.warning("HTTP Request: %s %s", "GET", URL)
    assert TOKEN not in stream.getvalue()
    assert "/whatsapp/send_messages/***?phone=79243555100" in stream.getvalue()


def test_filter_masks_token_in_tracebacks():
    logger, stream = _logger_with_filter("test_gateway.traceback")
    try:
        raise RuntimeError(f"failed to fetch {URL}")
    except RuntimeError:
        logger.exception("sending failed")
    output = stream.getvalue()
    assert "RuntimeError: failed to fetch" in output
    assert TOKEN not in output


def test_send_result_says_whether_sent():
    assert SendResult(Outcome.SENT, message_id="X").sent
    assert not SendResult(Outcome.AMBIGUOUS, error="no answer").sent


def test_outcome_values_are_the_stored_names():
    assert [o.value for o in Outcome] == [
        "sent",
        "account_error",
        "recipient_error",
        "transient",
        "ambiguous",
    ]
