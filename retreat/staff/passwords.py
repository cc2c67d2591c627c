"""Staff passwords: argon2id hashes (argon2-cffi) and the rules a new password must meet."""

import functools
import secrets

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

MIN_LENGTH = 12


@functools.cache
def _hasher(profile: str) -> tuple[PasswordHasher, str]:
    """The hasher for an argon2-cffi profile (ARGON2_PROFILE), and a hash to verify against when the email
    is unknown, so that a wrong email takes as long as a wrong password."""
    hasher = PasswordHasher.from_parameters(getattr(profiles, profile))
    return hasher, hasher.hash(secrets.token_urlsafe(16))


def _current() -> tuple[PasswordHasher, str]:
    return _hasher(current_app.config["ARGON2_PROFILE"])


def hash_password(password: str) -> str:
    return _current()[0].hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    hasher, unknown_user_hash = _current()
    try:
        return hasher.verify(password_hash or unknown_user_hash, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with other parameters than the configured ones (they were raised)."""
    return _current()[0].check_needs_rehash(password_hash)


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
