"""Encryption of health answers at rest (cryptography's MultiFernet, so keys can rotate).

SCREENING_ENCRYPTION_KEYS holds comma-separated Fernet keys, newest first: the newest encrypts, every one
decrypts, and `rotate` re-encrypts a token under the newest. Development generates a key under instance/;
production refuses to start without the setting. Nothing but this module and the screening service touch
the encrypted column.
"""

import hashlib
import json
from collections.abc import Callable

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app


class DecryptionError(RuntimeError):
    """A stored value could not be decrypted with any configured key."""


def _fernet() -> MultiFernet:
    keys = current_app.extensions.get("phi_fernet")
    if keys is None:
        configured = current_app.config.get("SCREENING_ENCRYPTION_KEYS") or ""
        fernets = [Fernet(key.strip().encode()) for key in configured.split(",") if key.strip()]
        if not fernets:
            raise RuntimeError("SCREENING_ENCRYPTION_KEYS is not set")
        keys = current_app.extensions["phi_fernet"] = MultiFernet(fernets)
    return keys


def encrypt_json(value: object) -> bytes:
    return _fernet().encrypt(json.dumps(value, separators=(",", ":")).encode())


def decrypt_json(token: bytes, *, ttl: int | None = None) -> object:
    """The value encrypted in `token`; with `ttl` (seconds), a token older than that is refused too."""
    try:
        return json.loads(_fernet().decrypt(token, ttl=ttl))
    except InvalidToken:
        raise DecryptionError("The stored value cannot be decrypted with the configured keys.") from None


def rotate(token: bytes) -> bytes:
    try:
        return _fernet().rotate(token)
    except InvalidToken:
        raise DecryptionError("The stored value cannot be decrypted with the configured keys.") from None


# Other stores of values encrypted with these keys (a superbill's date of birth and diagnosis), re-encrypted beside
# the screening answers by `flask screening rotate-keys`: each returns how many rows it re-encrypted.
ROTATIONS: dict[str, Callable[[], int]] = {}


def register_rotation(name: str, rotate_all: Callable[[], int]) -> None:
    ROTATIONS[name] = rotate_all


def generate_key() -> str:
    return Fernet.generate_key().decode()


def secret_digest(secret: str) -> str:
    """The stored form of a bearer secret (a pre-screen, manage or API token): its sha256, in hex. The secrets are
    long random strings, so a plain hash is enough to find them by and useless to anyone reading the table."""
    return hashlib.sha256(secret.encode()).hexdigest()
