"""The gateway protocol: what sending one message can end in, and keeping API tokens secret.

A gateway answers every per-send condition (refusals, network failures, garbage) with a
``SendResult`` and never raises for it; it raises only for programming or configuration errors.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, Protocol
from urllib.parse import quote

REDACTED = "***"

# A gateway URL carries the token as the path segment after the action
# (``/whatsapp/send_messages/<token>``); other deployments may mount the API elsewhere, so the
# ``send_messages`` action alone also marks the next segment as a token.
GATEWAY_URL_RE = re.compile(r"(/whatsapp/[A-Za-z0-9_]+/|/send_messages/)[^/?#\s\"'<>]+")

AccountProblem = Literal["balance", "unauthorized", "gateway_error"]


class Outcome(StrEnum):
    SENT = "sent"
    """The gateway accepted the message."""
    ACCOUNT_ERROR = "account_error"
    """Every further send will fail the same way (bad token, no balance, a wrong address):
    stop sending; nothing was sent."""
    RECIPIENT_ERROR = "recipient_error"
    """The gateway refused this one message (a bad number, say); the next may go through."""
    TRANSIENT = "transient"
    """The message surely did not go out (no connection, 429, 503): it may be sent again."""
    AMBIGUOUS = "ambiguous"
    """The request may have reached the gateway but no usable answer came (a timeout, 500,
    502, 504, a page that is not the gateway's JSON): never resend."""


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    message_id: str | None = None
    gateway_status: str | None = None
    """``value.status`` of a success, as text; its meaning beyond ``1`` is undocumented."""
    remote_jid: str | None = None
    error: str | None = None
    """Why it was not sent: the gateway's own text, or ours; never contains the token."""
    http_status: int | None = None
    retry_after: float | None = None
    """Seconds the gateway asked us to wait before the next call, if it said."""
    account_problem: AccountProblem | None = None

    @property
    def sent(self) -> bool:
        return self.outcome is Outcome.SENT


class Turn(Protocol):
    """A paced WhatsApp number's turn for one call: its calls keep their distance as they
    leave, not as their senders mean them to (a busy CPU may hold a call between the two)."""

    def wait(self) -> None:
        """Called right before the request leaves; returns when the number may send."""
        ...

    def left(self) -> None:
        """Called once the request has left (or cannot): the next call is timed from now."""
        ...


@contextmanager
def leaving(turn: Turn | None) -> Iterator[None]:
    """The ``turn`` around a request that leaves at once (an in-process gateway, a fake)."""
    if turn is None:
        yield
        return
    turn.wait()
    try:
        yield
    finally:
        turn.left()


class Gateway(Protocol):
    def send_message(
        self, phone: str, message: str, app: int | None = None, *, turn: Turn | None = None
    ) -> SendResult:
        """Send ``message`` to ``phone`` (digits only) from linked account ``app``, the
        request leaving in the number's ``turn`` if given."""
        ...

    def close(self) -> None:
        """Release connections; the gateway is not used afterwards."""
        ...


# Words of a refusal about the number itself, not about the account or the way there.
_ABOUT_RECIPIENT_RE = re.compile(r"phone|number|recipient|номер|телефон|получател", re.IGNORECASE)


def names_recipient(error: str, phone: str) -> bool:
    """Whether a refusal's text is about this one recipient (its number), as far as it says."""
    return bool(_ABOUT_RECIPIENT_RE.search(error)) or (bool(phone) and phone in error)


class GatewayError(Exception):
    """Base of the errors a gateway raises; per-send failures are results, not errors."""


class GatewayConfigError(GatewayError, ValueError):
    """The gateway cannot be built as configured (no token, a malformed base URL)."""


def redact(text: str, token: str) -> str:
    """Replace ``token`` in ``text``, raw or percent-encoded, with a mask."""
    if not token:
        return text
    for form in {token, quote(token, safe="")}:
        text = text.replace(form, REDACTED)
    return text


def redact_gateway_urls(text: str, tokens: Iterable[str] = ()) -> str:
    """Mask the token of every gateway URL in ``text``, and every one of ``tokens`` anywhere."""
    text = GATEWAY_URL_RE.sub(rf"\g<1>{REDACTED}", text)
    for token in tokens:
        text = redact(text, token)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that masks gateway tokens in messages and tracebacks; it drops nothing.

    ``tokens`` is a set: add a token configured later to keep it out of the logs as well.
    """

    def __init__(self, tokens: Iterable[str] = ()) -> None:
        super().__init__()
        self.tokens = set(tokens)

    def filter(self, record: logging.LogRecord) -> bool:
        tokens = tuple(self.tokens)  # a copy, so a token added meanwhile cannot break iteration
        message = record.getMessage()
        redacted = redact_gateway_urls(message, tokens)
        if redacted != message:
            record.msg, record.args = redacted, ()
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when it is set, so the raw traceback is never printed.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_gateway_urls(record.exc_text, tokens)
        return True
