"""Staff accounts: create, sign in (throttled), change password, re-role, disable, unlock. Every change is audited.

Each change is one unit of work (core.transactions), joined to the caller's when there is one: the write lock is
taken before the rows it depends on are read. Passwords are hashed and verified outside it (argon2 is slow on
purpose and no lock is held meanwhile), then the unit checks that the password it worked from is still the
stored one.
"""

import sqlalchemy as sa

from retreat.core import audit
from retreat.core.clock import now
from retreat.core.errors import DomainError, NotFound, ValidationFailed
from retreat.core.transactions import TransactionOrderError, in_unit_of_work, unit_of_work
from retreat.extensions import db
from retreat.staff import passwords, sessions, throttle
from retreat.staff.models import ROLES, StaffUser


class SignInRefused(DomainError):
    status = 401
    code = "sign_in_refused"


class SignInThrottled(DomainError):
    status = 429
    code = "sign_in_throttled"


def normalise_email(email: str) -> str:
    return email.strip().lower()


def _check_roles(roles) -> list[str]:
    roles = sorted(set(roles))
    if not roles:
        raise ValidationFailed({"roles": ["Choose at least one role."]})
    unknown = [role for role in roles if role not in ROLES]
    if unknown:
        raise ValidationFailed({"roles": [f"Unknown role: {', '.join(unknown)}."]})
    return roles


def find_by_email(email: str) -> StaffUser | None:
    return db.session.scalar(sa.select(StaffUser).where(StaffUser.email == normalise_email(email)))


def get_user(user_id: int) -> StaffUser:
    user = db.session.get(StaffUser, user_id)
    if user is None:
        raise NotFound("There is no such staff user.")
    return user


def list_users() -> list[StaffUser]:
    return list(db.session.scalars(sa.select(StaffUser).order_by(StaffUser.active.desc(), StaffUser.email)))


def _lock_user(user_id: int) -> StaffUser:
    """The user's row, read afresh and locked until the unit of work ends (SQLite: the unit's write lock)."""
    user = db.session.scalar(sa.select(StaffUser).where(StaffUser.id == user_id).with_for_update()
                             .execution_options(populate_existing=True))
    if user is None:
        raise NotFound("There is no such staff user.")
    return user


def _lock_user_and_admins(user_id: int) -> StaffUser:
    """Lock the user and every active user, in id order (so two admins changing each other cannot deadlock, nor
    both remove the last other admin), and return the user."""
    rows = db.session.scalars(sa.select(StaffUser).where(sa.or_(StaffUser.active, StaffUser.id == user_id))
                              .order_by(StaffUser.id).with_for_update()
                              .execution_options(populate_existing=True)).all()
    for user in rows:
        if user.id == user_id:
            return user
    raise NotFound("There is no such staff user.")


def create_user(email: str, name: str, roles, password: str | None = None) -> tuple[StaffUser, str | None]:
    """Create a staff user. Without a password a one-time password is made, returned once, and must be
    changed at first sign-in."""
    email = normalise_email(email)
    name = name.strip()
    errors: dict[str, list[str]] = {}
    if "@" not in email or len(email) > 254:
        errors["email"] = ["Give a valid email address."]
    if not name:
        errors["name"] = ["Give the person's name."]
    try:
        roles = _check_roles(roles)
    except ValidationFailed as refusal:
        errors.update(refusal.fields)
    one_time = None
    if password is None:
        password = one_time = passwords.one_time_password()
    elif problems := passwords.password_problems(password, email=email, name=name):
        errors["password"] = problems
    password_hash = None if errors else passwords.hash_password(password)
    with unit_of_work():
        if "email" not in errors and find_by_email(email):
            errors["email"] = ["A staff user with this email exists already."]
        if errors:
            raise ValidationFailed(errors)
        user = StaffUser(email=email, name=name, roles=roles, password_hash=password_hash,
                         must_change_password=one_time is not None)
        db.session.add(user)
        try:
            db.session.flush()
        except sa.exc.IntegrityError:  # made at the same moment by someone else (PostgreSQL)
            raise ValidationFailed({"email": ["A staff user with this email exists already."]}) from None
        audit.record("staff.create", "staff_user", user.id, {"email": email, "roles": roles})
    return user, one_time


REFUSED = "That email and password do not match an active staff account."


def sign_in(email: str, password: str, ip_address: str) -> StaffUser:
    """Check a password, throttled per account and per address; every checked attempt is recorded. Returns the
    user with a new session started (`user.session_token`, for the cookie).

    Three steps, never inside another unit of work: (1) under the account's and the address's lock, count and
    record the attempt as failed, or refuse it unchecked when it must wait; (2) verify the password, holding no
    lock; (3) on a match, mark the attempt succeeded and start the session, with the user's row locked.
    """
    if in_unit_of_work():
        raise TransactionOrderError("sign_in commits its attempt before checking the password: call it at the top")
    email = normalise_email(email)
    with unit_of_work():
        throttle.lock(email, ip_address)
        user = find_by_email(email)
        wait = throttle.throttled(email, ip_address, cleared_at=user.throttle_cleared_at if user else None)
        if wait:
            raise SignInThrottled(wait.message)
        attempt_id = throttle.reserve(email, ip_address)
        user_id, password_hash = (user.id, user.password_hash) if user else (None, None)

    if not passwords.verify_password(password_hash, password) or user_id is None:
        raise SignInRefused(REFUSED)
    new_hash = passwords.hash_password(password) if passwords.needs_rehash(password_hash) else None

    with unit_of_work():
        user = _lock_user(user_id)
        if not user.active or user.password_hash != password_hash:  # disabled or changed meanwhile
            raise SignInRefused(REFUSED)
        throttle.mark_succeeded(attempt_id)
        if new_hash:
            user.password_hash = new_hash
        user.last_login_at = now()
        sessions.start(user, ip_address)
        audit.record("staff.sign_in", "staff_user", user.id, actor=user)
    return user


def sign_out(session_token: str | None) -> None:
    sessions.end(session_token, "signed_out")


def change_password(user: StaffUser, current: str, new: str, *, keep_session: str | None = None) -> None:
    """Replace the user's password; every session of theirs ends but `keep_session` (the one they changed it in)."""
    user_id, email, name, old_hash = user.id, user.email, user.name, user.password_hash
    errors: dict[str, list[str]] = {}
    if not passwords.verify_password(old_hash, current):
        errors["current_password"] = ["This is not your current password."]
    if problems := passwords.password_problems(new, email=email, name=name):
        errors["new_password"] = problems
    elif current == new:
        errors["new_password"] = ["Choose a password different from the current one."]
    if errors:
        raise ValidationFailed(errors)
    new_hash = passwords.hash_password(new)
    with unit_of_work():
        user = _lock_user(user_id)
        if user.password_hash != old_hash:
            raise ValidationFailed({"current_password": ["Your password was changed meanwhile. Try again."]})
        user.password_hash = new_hash
        user.must_change_password = False
        sessions.end_all(user.id, "password_changed", keep_token=keep_session)
        audit.record("staff.change_password", "staff_user", user.id, actor=user)


def _other_active_admins(user: StaffUser, users) -> int:
    return sum(1 for other in users if other.id != user.id and other.active and "admin" in other.roles)


def set_roles(user: StaffUser, roles) -> None:
    roles = _check_roles(roles)
    with unit_of_work():
        user = _lock_user_and_admins(user.id)
        if "admin" in user.roles and "admin" not in roles and not _other_active_admins(user, list_users()):
            raise ValidationFailed({"roles": ["Keep at least one active admin."]})
        previous = list(user.roles)
        user.roles = roles
        sessions.end_all(user.id, "roles_changed")
        audit.record("staff.set_roles", "staff_user", user.id, {"from": previous, "to": roles})


def set_active(user: StaffUser, active: bool) -> None:
    with unit_of_work():
        user = _lock_user_and_admins(user.id)
        if not active and "admin" in user.roles and not _other_active_admins(user, list_users()):
            raise DomainError("Keep at least one active admin.", code="last_admin")
        user.active = active
        if not active:
            sessions.end_all(user.id, "disabled")
        audit.record("staff.enable" if active else "staff.disable", "staff_user", user.id)


def reset_password(user: StaffUser) -> str:
    """Give a user a new one-time password (returned once); they must change it at sign-in. Ends their sessions."""
    one_time = passwords.one_time_password()
    new_hash = passwords.hash_password(one_time)
    with unit_of_work():
        user = _lock_user(user.id)
        user.password_hash = new_hash
        user.must_change_password = True
        sessions.end_all(user.id, "password_reset")
        audit.record("staff.reset_password", "staff_user", user.id)
    return one_time


def sign_in_failures(user: StaffUser) -> int:
    """Failed sign-ins for the account in the last hour that still count (since the last unlock)."""
    return throttle.recent_failures(user.email, since=user.throttle_cleared_at)


def unlock_sign_in(user: StaffUser) -> int:
    """An admin clears the account's sign-in throttle: its failed sign-ins so far no longer count, from any
    address. Returns how many recent failures were cleared. Audited."""
    with unit_of_work():
        user = _lock_user(user.id)
        cleared = throttle.recent_failures(user.email, since=user.throttle_cleared_at)
        user.throttle_cleared_at = now()
        audit.record("staff.unlock_sign_in", "staff_user", user.id, {"recent_failures_cleared": cleared})
    return cleared


def load_session_user(session_token: str) -> StaffUser | None:
    """Flask-Login's user loader: the active user of a live staff session (staff.sessions)."""
    return sessions.load(session_token)
