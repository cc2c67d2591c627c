"""Staff passwords: argon2id hashes (argon2-cffi) and the rules a new password must meet: at least 12 characters
and not easy to guess, as zxcvbn (with its offline lists of common passwords, words and names) estimates it."""

import functools
import re
import secrets
import threading

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, has_app_context
from zxcvbn import zxcvbn

MIN_LENGTH = 12
MAX_LENGTH = 128
# zxcvbn's score runs from 0 (too guessable) to 4; 3 is "safely unguessable: moderate protection from an offline
# slow-hash scenario" (about 10^10 guesses).
MIN_SCORE = 3
# zxcvbn refuses longer input (its matching grows quickly with length); a password is judged by its first part.
_ZXCVBN_MAX = 72
# zxcvbn keeps the user inputs of a call in a module-level dictionary: calls must not overlap.
_zxcvbn_lock = threading.Lock()


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


def _personal_words(email: str, name: str) -> list[str]:
    """What zxcvbn should treat as guessable for this person: their email and its parts, their name and its
    parts, the clinic's name and the service's."""
    words = [email, *re.split(r"[@._+-]+", email), name, *name.split(), "retreat", "staff"]
    if has_app_context():
        words += [current_app.config.get("CLINIC_NAME") or "", *(current_app.config.get("CLINIC_NAME") or "").split()]
    return [word.lower() for word in words if len(word) >= 3]


def password_problems(password: str, *, email: str = "", name: str = "") -> list[str]:
    """Why a new password is refused, in words a person can act on; empty when it is acceptable."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"Use at least {MIN_LENGTH} characters.")
    elif len(password) > MAX_LENGTH:
        problems.append(f"Use at most {MAX_LENGTH} characters.")
    local_part = email.split("@")[0].lower()
    if len(local_part) >= 3 and local_part in password.lower():
        problems.append("Do not use your email address in your password.")
    if problems:  # too short or too long: that is reason enough
        return problems
    with _zxcvbn_lock:
        verdict = zxcvbn(password[:_ZXCVBN_MAX], user_inputs=_personal_words(email, name))
    if verdict["score"] < MIN_SCORE:
        personal = any(match.get("dictionary_name") == "user_inputs" for match in verdict["sequence"])
        reasons = [verdict["feedback"]["warning"] or
                   ("It is built from your name or email address." if personal
                    else "It is built from common words or patterns."),
                   *verdict["feedback"]["suggestions"]]
        problems.append("This password is too easy to guess. " + " ".join(r for r in reasons if r))
    return problems


def one_time_password() -> str:
    """A random password to hand over once; the user must replace it at first login."""
    return secrets.token_urlsafe(12)
