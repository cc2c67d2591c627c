"""Staff API tokens: bearer tokens for automation (the finance payments export), one staff user's each.

A token is `rtk_` and 43 URL-safe characters (256 random bits), shown once when made; only its sha256 is stored,
with its first characters (the prefix) so that an admin can tell tokens apart. A token is limited to finance:
it is made only for a user with the finance role, and it works only while its user is active and still has
the finance or admin role. Creating and revoking are audited.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from retreat.core import audit, crypto
from retreat.core.clock import now
from retreat.core.errors import DomainError, NotFound, ValidationFailed
from retreat.core.transactions import unit_of_work
from retreat.extensions import db
from retreat.staff.models import StaffApiToken, StaffUser

TOKEN_PREFIX = "rtk_"
PREFIX_LENGTH = 12  # "rtk_" and the first 8 random characters
# Whose tokens are made (the CLI and the console refuse anyone else) and whose tokens the finance API accepts.
TOKEN_ROLE = "finance"
ACCEPTED_ROLES = ("finance", "admin")
NAME_MAX = 100
# last_used_at is written at most this often per token, so a busy script does not write on every call.
LAST_USED_RESOLUTION_SECONDS = 60


class TokenRefused(DomainError):
    """No usable token: missing, malformed, unknown, revoked, or its user disabled (401)."""

    status = 401
    code = "unauthorized"


class TokenForbidden(DomainError):
    """A valid token whose user may not use this (403)."""

    status = 403
    code = "forbidden"


def token_hash(token: str) -> str:
    return crypto.secret_digest(token)


def _clean_name(name: str | None) -> str:
    return " ".join((name or "").split())


def create_token(user: StaffUser, name: str, *, created_by: StaffUser | None = None) -> tuple[StaffApiToken, str]:
    """Make a token for `user` (who must be an active finance user) and return it with the token itself, which
    is shown once and never stored. Committed and audited."""
    name = _clean_name(name)
    errors: dict[str, list[str]] = {}
    if TOKEN_ROLE not in user.roles:
        errors["user"] = [f"{user.email} does not have the finance role; API tokens are for finance only."]
    elif not user.active:
        errors["user"] = [f"{user.email} is disabled."]
    if not name:
        errors["name"] = ["Name the token after what uses it, for example: Nightly accounting sync."]
    elif len(name) > NAME_MAX:
        errors["name"] = [f"At most {NAME_MAX} characters."]
    if errors:
        raise ValidationFailed(errors)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with unit_of_work():
        record = StaffApiToken(user_id=user.id, name=name, token_hash=token_hash(token),
                               prefix=token[:PREFIX_LENGTH], created_by_id=created_by.id if created_by else None)
        db.session.add(record)
        db.session.flush()
        audit.record("staff.api_token.create", "staff_api_token", record.id,
                     {"user": user.email, "name": name, "prefix": record.prefix}, actor=created_by)
    return record, token


def get_token(token_id: int) -> StaffApiToken:
    record = db.session.get(StaffApiToken, token_id)
    if record is None:
        raise NotFound("There is no such API token.")
    return record


def revoke_token(token_id: int, *, revoked_by: StaffUser | None = None) -> StaffApiToken:
    """Revoke a token for good; revoking a revoked token changes nothing. Committed and audited."""
    with unit_of_work():
        record = get_token(token_id)
        if record.revoked_at is None:
            record.revoked_at = now()
            audit.record("staff.api_token.revoke", "staff_api_token", record.id,
                         {"name": record.name, "prefix": record.prefix}, actor=revoked_by)
    return record


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, else None."""
    scheme, _, value = (authorization or "").strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value or " " in value:
        return None
    return value


def authenticate(token: str | None) -> StaffUser | None:
    """The active staff user whose live token this is, else None. Notes when the token was last used."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    digest = token_hash(token)
    row = db.session.execute(
        sa.select(StaffApiToken, StaffUser).join(StaffUser, StaffApiToken.user_id == StaffUser.id)
        .where(StaffApiToken.token_hash == digest)
    ).one_or_none()
    if row is None:
        return None
    record, user = row
    if record.revoked_at is not None or not user.active:
        return None
    moment = now()
    if record.last_used_at is None or (moment - record.last_used_at).total_seconds() >= LAST_USED_RESOLUTION_SECONDS:
        # One statement in a unit of its own (the write lock first), so calls side by side never fail on it.
        stale = moment - timedelta(seconds=LAST_USED_RESOLUTION_SECONDS)
        with unit_of_work():
            db.session.execute(sa.update(StaffApiToken).where(
                StaffApiToken.id == record.id,
                sa.or_(StaffApiToken.last_used_at.is_(None), StaffApiToken.last_used_at <= stale),
            ).values(last_used_at=moment))
    return user


def require_finance_user(authorization: str | None) -> StaffUser:
    """The user of the bearer token in an Authorization header, if they may read finance data.
    TokenRefused (401) without a usable token; TokenForbidden (403) when its user lacks the role."""
    user = authenticate(bearer_token(authorization))
    if user is None:
        raise TokenRefused("Send a valid staff API token: Authorization: Bearer <token>.")
    if not user.has_any_role(ACCEPTED_ROLES):
        raise TokenForbidden("This token's staff user does not have the finance or admin role.")
    return user


# --- For the admin console --------------------------------------------------------------------------------

@dataclass(frozen=True)
class TokenListing:
    id: int
    name: str
    prefix: str
    user_email: str
    user_name: str
    user_roles: list[str]
    user_active: bool
    created_at: datetime
    created_by: str | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def live(self) -> bool:
        return self.revoked_at is None


def list_tokens() -> list[TokenListing]:
    """Every token, live ones first, newest first."""
    creator = aliased(StaffUser)
    rows = db.session.execute(
        sa.select(StaffApiToken.id, StaffApiToken.name, StaffApiToken.prefix, StaffUser.email, StaffUser.name,
                  StaffUser.roles, StaffUser.active, StaffApiToken.created_at, creator.email,
                  StaffApiToken.last_used_at, StaffApiToken.revoked_at)
        .join(StaffUser, StaffApiToken.user_id == StaffUser.id)
        .outerjoin(creator, StaffApiToken.created_by_id == creator.id)
        .order_by(StaffApiToken.revoked_at.is_not(None), StaffApiToken.created_at.desc(), StaffApiToken.id.desc())
    ).all()
    return [TokenListing(*row) for row in rows]


def token_users() -> list[StaffUser]:
    """Active users who may be given a token (the finance role), by email."""
    users = db.session.scalars(sa.select(StaffUser).where(StaffUser.active.is_(True)).order_by(StaffUser.email))
    return [user for user in users if TOKEN_ROLE in user.roles]
