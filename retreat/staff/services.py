"""Staff accounts: create, sign in (throttled), change password, re-role, disable. Every change is audited."""

import sqlalchemy as sa

from retreat.core import audit
from retreat.core.clock import now
from retreat.core.errors import DomainError, NotFound, ValidationFailed
from retreat.extensions import db
from retreat.staff import passwords, throttle
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


def create_user(email: str, name: str, roles, password: str | None = None) -> tuple[StaffUser, str | None]:
    """Create a staff user. Without a password a one-time password is made, returned once, and must be
    changed at first sign-in."""
    email = normalise_email(email)
    errors: dict[str, list[str]] = {}
    if "@" not in email or len(email) > 254:
        errors["email"] = ["Give a valid email address."]
    elif find_by_email(email):
        errors["email"] = ["A staff user with this email exists already."]
    if not name.strip():
        errors["name"] = ["Give the person's name."]
    try:
        roles = _check_roles(roles)
    except ValidationFailed as refusal:
        errors.update(refusal.fields)
    one_time = None
    if password is None:
        password = one_time = passwords.one_time_password()
    elif problems := passwords.password_problems(password, email=email):
        errors["password"] = problems
    if errors:
        raise ValidationFailed(errors)
    user = StaffUser(email=email, name=name.strip(), roles=roles, password_hash=passwords.hash_password(password),
                     must_change_password=one_time is not None)
    db.session.add(user)
    db.session.flush()
    audit.record("staff.create", "staff_user", user.id, {"email": email, "roles": roles})
    db.session.commit()
    return user, one_time


def sign_in(email: str, password: str, ip_address: str) -> StaffUser:
    """Check a password, throttled per account and per address; every attempt is recorded."""
    email = normalise_email(email)
    wait = throttle.throttled(email, ip_address)
    if wait:
        raise SignInThrottled(wait.message)
    user = find_by_email(email)
    valid = passwords.verify_password(user.password_hash if user else None, password)
    succeeded = bool(valid and user and user.active)
    throttle.record_attempt(email, ip_address, succeeded)
    if not succeeded:
        db.session.commit()
        raise SignInRefused("That email and password do not match an active staff account.")
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    user.last_login_at = now()
    audit.record("staff.sign_in", "staff_user", user.id, actor=user)
    db.session.commit()
    return user


def change_password(user: StaffUser, current: str, new: str) -> None:
    errors: dict[str, list[str]] = {}
    if not passwords.verify_password(user.password_hash, current):
        errors["current_password"] = ["This is not your current password."]
    if problems := passwords.password_problems(new, email=user.email):
        errors["new_password"] = problems
    elif current == new:
        errors["new_password"] = ["Choose a password different from the current one."]
    if errors:
        raise ValidationFailed(errors)
    user.password_hash = passwords.hash_password(new)
    user.must_change_password = False
    user.session_version += 1
    audit.record("staff.change_password", "staff_user", user.id, actor=user)
    db.session.commit()


def _other_active_admins(user: StaffUser) -> int:
    return sum(1 for other in list_users() if other.id != user.id and other.active and "admin" in other.roles)


def set_roles(user: StaffUser, roles) -> None:
    roles = _check_roles(roles)
    if "admin" in user.roles and "admin" not in roles and not _other_active_admins(user):
        raise ValidationFailed({"roles": ["Keep at least one active admin."]})
    previous = list(user.roles)
    user.roles = roles
    user.session_version += 1
    audit.record("staff.set_roles", "staff_user", user.id, {"from": previous, "to": roles})
    db.session.commit()


def set_active(user: StaffUser, active: bool) -> None:
    if not active and "admin" in user.roles and not _other_active_admins(user):
        raise DomainError("Keep at least one active admin.", code="last_admin")
    user.active = active
    user.session_version += 1
    audit.record("staff.enable" if active else "staff.disable", "staff_user", user.id)
    db.session.commit()


def reset_password(user: StaffUser) -> str:
    """Give a user a new one-time password (returned once); they must change it at sign-in."""
    one_time = passwords.one_time_password()
    user.password_hash = passwords.hash_password(one_time)
    user.must_change_password = True
    user.session_version += 1
    audit.record("staff.reset_password", "staff_user", user.id)
    db.session.commit()
    return one_time


def load_session_user(session_id: str) -> StaffUser | None:
    """Flask-Login's user loader: the id and session version must both match, and the user be active."""
    try:
        user_id, version = (int(part) for part in session_id.split(":"))
    except ValueError:
        return None
    user = db.session.get(StaffUser, user_id)
    if user is None or user.session_version != version or not user.active:
        return None
    return user
