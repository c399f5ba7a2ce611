"""Users, passwords, sign-in throttling and API keys (no request handling here)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select
from werkzeug.security import check_password_hash, generate_password_hash

from .extensions import db
from .i18n import N_
from .models import ApiKey, LoginFailure, User, utcnow

ROLES = ("admin", "member")
MIN_PASSWORD_LENGTH = 8
API_KEY_PREFIX = "volna_"
KEY_USE_RESOLUTION = timedelta(minutes=5)


class AccountError(ValueError):
    """A request about accounts that cannot be carried out; the message is for people."""

    def __init__(self, message: str, **params: object) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params


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
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(
            N_("The password must be at least %(n)s characters long."), n=MIN_PASSWORD_LENGTH
        )
    if role not in ROLES:
        raise AccountError(N_("Unknown role: %(role)s."), role=role)
    if find_user(email) is not None:
        raise AccountError(N_("A user with this e-mail already exists."))
    user = User(email=email, password_hash=generate_password_hash(password), role=role)
    db.session.add(user)
    return user


def find_user(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalize_email(email)))


def has_users() -> bool:
    return db.session.scalar(select(func.count(User.id))) > 0


@dataclass(frozen=True)
class ThrottlePolicy:
    max_failures: int
    max_failures_per_ip: int
    window: timedelta


def sign_in(email: str, password: str, ip: str, policy: ThrottlePolicy) -> User:
    """Check credentials, refusing early while too many recent attempts failed.

    Every failure is recorded, so guessing is slowed per account and per address alike.
    The caller commits in both outcomes (a failure must be kept).
    """
    email = normalize_email(email)
    now = utcnow()
    since = now - policy.window
    recent = db.session.execute(
        select(
            func.count().filter(LoginFailure.email == email),
            func.count().filter(LoginFailure.ip == ip),
        ).where(
            LoginFailure.created_at >= since,
            or_(LoginFailure.email == email, LoginFailure.ip == ip),
        )
    ).one()
    if recent[0] >= policy.max_failures or recent[1] >= policy.max_failures_per_ip:
        raise SignInThrottled(int(policy.window.total_seconds() // 60))
    user = find_user(email)
    if user is None or not check_password_hash(user.password_hash, password):
        db.session.add(LoginFailure(email=email, ip=ip, created_at=now))
        raise AccountError(N_("Wrong e-mail or password."))
    db.session.execute(delete(LoginFailure).where(LoginFailure.email == email))
    return user


def forget_old_failures(older_than: datetime) -> None:
    db.session.execute(delete(LoginFailure).where(LoginFailure.created_at < older_than))


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
