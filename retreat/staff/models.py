from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column

from retreat.core.clock import now
from retreat.core.types import UTCDateTime
from retreat.extensions import db

ROLES = ("admin", "coordinator", "clinician", "finance")
ROLE_LABELS = {
    "admin": "Admin: staff accounts, prices, audit log",
    "coordinator": "Coordinator: programs, cohorts, capacity, rosters",
    "clinician": "Clinician: screening reviews",
    "finance": "Finance: payments and exports",
}


class StaffUser(UserMixin, db.Model):
    __tablename__ = "staff_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    roles: Mapped[list[str]] = mapped_column(sa.JSON)
    active: Mapped[bool] = mapped_column(default=True)
    # Set for one-time passwords given by an admin or the demo seed; the user picks their own at first login.
    must_change_password: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # An admin's unlock: failed sign-ins for this account up to this moment no longer count (staff/throttle.py).
    throttle_cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # The token of the staff session this request runs in (set by staff.sessions), never stored as such.
    session_token = None

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    def get_id(self) -> str:
        """Flask-Login keeps this in the signed session cookie: the session's token, not the user's id, so that
        the cookie is worth nothing once its session has ended server-side (Flask-Login's "alternative token")."""
        if not self.session_token:
            raise RuntimeError("A staff user is signed in only through staff.sessions.start")
        return self.session_token

    def has_any_role(self, roles) -> bool:
        return bool(set(self.roles) & set(roles))

    def __repr__(self) -> str:
        return f"<StaffUser {self.email}>"


class LoginAttempt(db.Model):
    """One try at the staff login, kept to throttle guessing per account and per address."""

    __tablename__ = "login_attempt"
    __table_args__ = (
        sa.Index("ix_login_attempt_email_at", "email", "at"),
        sa.Index("ix_login_attempt_ip_at", "ip_address", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254))
    ip_address: Mapped[str] = mapped_column(sa.String(64))
    succeeded: Mapped[bool]
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class StaffSession(db.Model):
    """One signed-in browser of a staff user. The cookie carries a random token; only its sha256 is stored. A
    session works while it has not ended, its user is active, and it is within the idle and absolute limits."""

    __tablename__ = "staff_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("staff_user.id"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    ip_address: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    # Written at most once a minute (staff.sessions.TOUCH_EVERY), for the idle limit.
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # signed_out, password_changed, password_reset, roles_changed, disabled, idle, expired
    end_reason: Mapped[str | None] = mapped_column(sa.String(30))


class StaffApiToken(db.Model):
    """A bearer token for automation (the finance payments export), belonging to one staff user and limited to
    what that user's roles allow. Only its sha256 is stored; the token is shown once when made."""

    __tablename__ = "staff_api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("staff_user.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    # The first characters of the token, so an admin can tell tokens apart without seeing them.
    prefix: Mapped[str] = mapped_column(sa.String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
