"""Server-side staff sessions: a signed-in browser is a row of `staff_session`, and its cookie only a random token.

Sign-in starts a new row with a new token (the browser's earlier session data is dropped, so a planted cookie is
worth nothing). A request is signed in only while its row has not ended, its user is active, it was seen within
STAFF_SESSION_IDLE_MINUTES and started within STAFF_SESSION_MAX_HOURS. Sign-out ends the row; a password change
ends the user's other rows; disabling a user, changing their roles and an admin's password reset end them all.
Everything lives in the database, so several app hosts can share it; `last_seen_at` is written at most once a
minute, not on every request.
"""

import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from retreat.core import crypto
from retreat.core.clock import now
from retreat.core.transactions import in_unit_of_work, unit_of_work
from retreat.extensions import db
from retreat.staff.models import StaffSession, StaffUser

# last_seen_at is written at most this often per session.
TOUCH_EVERY = timedelta(minutes=1)


def _limits() -> tuple[timedelta, timedelta]:
    config = current_app.config
    return (timedelta(minutes=config["STAFF_SESSION_IDLE_MINUTES"]),
            timedelta(hours=config["STAFF_SESSION_MAX_HOURS"]))


def start(user: StaffUser, ip_address: str | None) -> str:
    """Open a session for `user` (inside the caller's unit of work) and return its token, for the cookie only."""
    token = secrets.token_urlsafe(32)
    moment = now()
    db.session.add(StaffSession(user_id=user.id, token_hash=crypto.secret_digest(token), ip_address=ip_address,
                                created_at=moment, last_seen_at=moment))
    user.session_token = token
    return token


def _end(query, reason: str) -> int:
    result = db.session.execute(query.where(StaffSession.ended_at.is_(None))
                                .values(ended_at=now(), end_reason=reason)
                                .execution_options(synchronize_session=False))
    return result.rowcount


def end(token: str | None, reason: str = "signed_out") -> bool:
    """End the session of this token; whether there was a live one."""
    if not token:
        return False
    with unit_of_work():
        return bool(_end(sa.update(StaffSession).where(StaffSession.token_hash == crypto.secret_digest(token)),
                         reason))


def end_all(user_id: int, reason: str, *, keep_token: str | None = None) -> int:
    """End every live session of a user but the one of `keep_token`; how many ended. Joins the caller's unit."""
    query = sa.update(StaffSession).where(StaffSession.user_id == user_id)
    if keep_token:
        query = query.where(StaffSession.token_hash != crypto.secret_digest(keep_token))
    with unit_of_work():
        return _end(query, reason)


def live_count(user_id: int) -> int:
    """Sessions of the user that would still let a request in now."""
    idle, longest = _limits()
    moment = now()
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(StaffSession)
        .where(StaffSession.user_id == user_id, StaffSession.ended_at.is_(None),
               StaffSession.last_seen_at > moment - idle, StaffSession.created_at > moment - longest))


def load(token: str) -> StaffUser | None:
    """Flask-Login's user loader: the active user of a live session with this token, else None. Ends a session
    found past its limits (recording why) and notes activity at most once a minute."""
    if not token or len(token) > 100:
        return None
    row = db.session.execute(
        sa.select(StaffSession, StaffUser).join(StaffUser, StaffSession.user_id == StaffUser.id)
        .where(StaffSession.token_hash == crypto.secret_digest(token), StaffSession.ended_at.is_(None))
    ).one_or_none()
    if row is None:
        return None
    record, user = row
    idle, longest = _limits()
    moment = now()
    if not user.active:
        return None  # set_active ended it already; a row left live by a crash still lets nobody in
    expired = ("expired" if moment >= record.created_at + longest
               else "idle" if moment >= record.last_seen_at + idle else None)
    if expired or moment - record.last_seen_at >= TOUCH_EVERY:
        _write_when_free(record.id, expired, moment)
    if expired:
        return None
    user.session_token = token
    return user


def _write_when_free(session_id: int, expired: str | None, moment) -> None:
    """End or touch a session in a unit of its own. Inside a unit of work (or with writes pending) it is left for
    the next request: a user loader must not commit someone else's transaction."""
    session = db.session()
    if in_unit_of_work() or session.info.get("wrote") or session.new or session.dirty or session.deleted:
        return
    values = {"ended_at": moment, "end_reason": expired} if expired else {"last_seen_at": moment}
    with unit_of_work():
        db.session.execute(sa.update(StaffSession)
                           .where(StaffSession.id == session_id, StaffSession.ended_at.is_(None))
                           .values(**values).execution_options(synchronize_session=False))
