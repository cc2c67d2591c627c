"""Login throttling: repeated failures for one account or from one address first slow down, then lock.

Counted from the attempts table over a window, so it holds across workers and restarts.
"""

from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

from retreat.core.clock import now
from retreat.extensions import db
from retreat.staff.models import LoginAttempt


@dataclass(frozen=True)
class ThrottlePolicy:
    window: timedelta        # failures this close together count together
    slow_after: int          # failures before each new try must wait
    slow_delay: timedelta    # the first wait; it doubles with each further failure
    slow_delay_max: timedelta
    lock_after: int          # failures before the account or address is locked
    lock_for: timedelta      # counted from the last failure
    reset_on_success: bool   # a success starts the count afresh (for an account, not for an address)


ACCOUNT_POLICY = ThrottlePolicy(window=timedelta(minutes=15), slow_after=3, slow_delay=timedelta(seconds=15),
                                slow_delay_max=timedelta(minutes=2), lock_after=6, lock_for=timedelta(minutes=15),
                                reset_on_success=True)
# An address may hold several staff (one office), so it has more room; its waits add up to well inside the
# window, so the lock is reachable by someone guessing at many accounts.
ADDRESS_POLICY = ThrottlePolicy(window=timedelta(minutes=15), slow_after=10, slow_delay=timedelta(seconds=15),
                                slow_delay_max=timedelta(minutes=2), lock_after=15, lock_for=timedelta(minutes=15),
                                reset_on_success=False)


@dataclass(frozen=True)
class Throttled:
    wait: timedelta
    locked: bool

    @property
    def message(self) -> str:
        minutes = max(1, round(self.wait.total_seconds() / 60))
        if self.locked:
            return (f"Too many failed sign-ins. For your security, sign-in is locked for {minutes} minute"
                    f"{'s' if minutes != 1 else ''}. Ask an admin if you need access sooner.")
        seconds = max(1, int(self.wait.total_seconds() + 0.999))
        return f"Too many failed sign-ins. Please wait {seconds} seconds before trying again."


def _verdict(policy: ThrottlePolicy, column, value: str) -> Throttled | None:
    """Count the failures in the window that ends at the latest failure, so a lock lasts its full time."""
    failed = [column == value, ~LoginAttempt.succeeded]
    if policy.reset_on_success:
        last_success = db.session.scalar(
            sa.select(sa.func.max(LoginAttempt.at)).where(column == value, LoginAttempt.succeeded))
        if last_success is not None:
            failed.append(LoginAttempt.at > last_success)
    last_failure = db.session.scalar(sa.select(sa.func.max(LoginAttempt.at)).where(*failed))
    if last_failure is None:
        return None
    failures = db.session.scalar(
        sa.select(sa.func.count()).where(*failed, LoginAttempt.at > last_failure - policy.window))
    moment = now()
    if failures >= policy.lock_after:
        until = last_failure + policy.lock_for
        return Throttled(until - moment, locked=True) if until > moment else None
    if failures >= policy.slow_after:
        delay = min(policy.slow_delay * 2 ** (failures - policy.slow_after), policy.slow_delay_max)
        until = last_failure + delay
        return Throttled(until - moment, locked=False) if until > moment else None
    return None


def throttled(email: str, ip_address: str) -> Throttled | None:
    """Whether a sign-in for this account from this address must wait now, and how long."""
    verdicts = [v for v in (_verdict(ACCOUNT_POLICY, LoginAttempt.email, email),
                            _verdict(ADDRESS_POLICY, LoginAttempt.ip_address, ip_address)) if v]
    return max(verdicts, key=lambda v: (v.locked, v.wait)) if verdicts else None


def record_attempt(email: str, ip_address: str, succeeded: bool) -> None:
    db.session.add(LoginAttempt(email=email, ip_address=ip_address, succeeded=succeeded))
