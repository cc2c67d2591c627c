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
    # Changing it logs out every other session of this user (it is part of the session's user id).
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

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
