"""Staff passwords: argon2id hashes (argon2-cffi) and the rules a new password must meet."""

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
_hasher = PasswordHasher()
# Verified against when the email is unknown, so a wrong email takes as long as a wrong password.
_UNKNOWN_USER_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _UNKNOWN_USER_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def password_problems(password: str, *, email: str = "") -> list[str]:
    """Why a new password is refused; empty when it is acceptable."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"Use at least {MIN_LENGTH} characters.")
    if email and email.split("@")[0].lower() in password.lower():
        problems.append("Do not use your email address in your password.")
    return problems


def one_time_password() -> str:
    """A random password to hand over once; the user must replace it at first login."""
    return secrets.token_urlsafe(12)
