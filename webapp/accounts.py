"""Users, passwords, sign-in throttling and API keys (no request handling here)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import and_, delete, func, or_, select
from werkzeug.security import check_password_hash, generate_password_hash

from .extensions import db
from .i18n import N_, UserError
from .models import ApiKey, LoginFailure, SetupDone, User, utcnow

ROLES = ("admin", "member")
MIN_PASSWORD_LENGTH = 8
API_KEY_PREFIX = "volna_"
KEY_USE_RESOLUTION = timedelta(minutes=5)


class AccountError(UserError, ValueError):
    """A request about accounts that cannot be carried out; the message is for people."""

    def __init__(self, message: str, **params: object) -> None:
        super().__init__(message, params)


class SignInThrottled(AccountError):
    def __init__(self, minutes: int) -> None:
        super().__init__(
            N_("Too many failed sign-in attempts. Try again in %(minutes)s minutes."),
            minutes=minutes,
        )


def normalize_email(email: str) -> str:
    return email.strip().lower()


def create_user(email: str, password: str, *, role: str = "member") -> User:
    """Add a user to the session (the caller commits)."""
    email = normalize_email(email)
    if "@" not in email or len(email) > 254:
        raise AccountError(N_("Enter a valid e-mail address."))
    _check_password(password)
    if role not in ROLES:
        raise AccountError(N_("Unknown role: %(role)s."), role=role)
    if find_user(email) is not None:
        raise AccountError(N_("A user with this e-mail already exists."))
    user = User(email=email, password_hash=generate_password_hash(password), role=role)
    db.session.add(user)
    return user


def create_first_admin(email: str, password: str) -> User:
    """The administrator of a fresh install (the caller commits).

    Only one first-run setup can commit: a second one, even racing in another process, fails
    with IntegrityError on the setup marker's fixed key.
    """
    user = create_user(email, password, role="admin")
    db.session.add(SetupDone(id=1))
    return user


def setup_code(secret_key: str | bytes) -> str:
    """The code first-run setup asks for when opened from another computer.

    Derived from the secret key, so every process of the server knows the same code and can
    print it to its log; it opens nothing once the administrator exists.
    """
    key = secret_key if isinstance(secret_key, bytes) else secret_key.encode()
    digest = hmac.new(key, b"volna first-run setup", hashlib.sha256).digest()
    code = base64.b32encode(digest[:10]).decode()
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def is_setup_code(given: str, secret_key: str | bytes) -> bool:
    """Whether ``given`` is the setup code, however it was spaced or cased."""
    typed = re.sub(r"[\s-]", "", given).upper().encode()
    return hmac.compare_digest(typed, setup_code(secret_key).replace("-", "").encode())


def set_password(user: User, password: str) -> None:
    """Give ``user`` a new password and void all their sessions (the caller commits)."""
    _check_password(password)
    user.password_hash = generate_password_hash(password)
    end_sessions(user)


def end_sessions(user: User) -> None:
    """Void every session cookie ``user`` has, wherever it was copied (the caller commits)."""
    # Counted up in SQL, so sign-outs at the same moment cannot undo each other; the flush
    # makes the object read the new value back.
    user.session_generation = User.session_generation + 1
    db.session.flush()


def user_for_session(session_id: str) -> User | None:
    """The user a session cookie names, unless their sessions were ended since (User.get_id)."""
    user_id, _, generation = session_id.partition(":")
    if not (user_id.isdecimal() and generation.isdecimal()):
        return None
    user = db.session.get(User, int(user_id))
    if user is None or user.session_generation != int(generation):
        return None
    return user


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(
            N_("The password must be at least %(n)s characters long."), n=MIN_PASSWORD_LENGTH
        )


def find_user(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalize_email(email)))


def has_users() -> bool:
    return db.session.scalar(select(func.count(User.id))) > 0


@dataclass(frozen=True)
class ThrottlePolicy:
    max_failures: int
    """Per account from one address: what a guesser meets first."""
    max_failures_per_ip: int
    """Per address over all accounts."""
    max_failures_per_account: int
    """Per account over all addresses: higher, so one address cannot lock others out."""
    window: timedelta


def sign_in(email: str, password: str, ip: str, policy: ThrottlePolicy) -> User:
    """Check credentials, refusing early while too many recent attempts failed.

    Every failure is recorded, so guessing is slowed per account and address, per address, and
    (more loosely) per account. The caller commits in both outcomes (a failure must be kept).
    """
    email = normalize_email(email)
    source = _throttle_source(ip)
    now = utcnow()
    since = now - policy.window
    pair, per_source, per_account = db.session.execute(
        select(
            func.count().filter(and_(LoginFailure.email == email, LoginFailure.ip == source)),
            func.count().filter(LoginFailure.ip == source),
            func.count().filter(LoginFailure.email == email),
        ).where(
            LoginFailure.created_at >= since,
            or_(LoginFailure.email == email, LoginFailure.ip == source),
        )
    ).one()
    if (
        pair >= policy.max_failures
        or per_source >= policy.max_failures_per_ip
        or per_account >= policy.max_failures_per_account
    ):
        raise SignInThrottled(int(policy.window.total_seconds() // 60))
    user = find_user(email)
    # An unknown address costs a hash too, so the time taken does not tell who has an account.
    matches = check_password_hash(user.password_hash if user else _dummy_hash(), password)
    if user is None or not matches:
        forget_old_failures(since)
        db.session.add(LoginFailure(email=email, ip=source, created_at=now))
        raise AccountError(N_("Wrong e-mail or password."))
    db.session.execute(
        delete(LoginFailure).where(LoginFailure.email == email, LoginFailure.ip == source)
    )
    return user


def forget_old_failures(older_than: datetime) -> None:
    db.session.execute(delete(LoginFailure).where(LoginFailure.created_at < older_than))


def _throttle_source(ip: str) -> str:
    """Where failures are counted from: the address, or its /64, as one IPv6 host has them all."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network((address, 64), strict=False))
    return str(address)


@cache
def _dummy_hash() -> str:
    return generate_password_hash(secrets.token_hex(16))


def create_api_key(user: User, name: str = "") -> str:
    """Store a new key's hash for ``user`` and return the plain key, which is never kept."""
    plain = API_KEY_PREFIX + secrets.token_urlsafe(32)
    db.session.add(ApiKey(user=user, name=name, prefix=plain[:12], key_hash=_hash_key(plain)))
    return plain


def user_for_api_key(plain: str) -> User | None:
    """The owner of a key, or None; notes when the key was last used (the caller commits)."""
    key = db.session.scalar(select(ApiKey).where(ApiKey.key_hash == _hash_key(plain)))
    if key is None:
        return None
    now = utcnow()
    # Coarse on purpose: a write per API call would compete with the sender for the database.
    if key.last_used_at is None or now - key.last_used_at > KEY_USE_RESOLUTION:
        key.last_used_at = now
    return key.user


def _hash_key(plain: str) -> str:
    # API keys carry 256 bits of randomness, so a fast hash is enough and allows indexed lookup.
    return hashlib.sha256(plain.encode()).hexdigest()
