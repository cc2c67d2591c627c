"""Sign-in throttling, counted from the attempts table (so it holds across workers, hosts and restarts).

Three counts, each over a window, each slowing down (a wait that doubles) and some then locking:

- one account from one address: slows after 3 failures, locks that address out of that account after 6;
- one account from every address it never signed in from, together: slows after 3 failures, never locks. Someone
  guessing from many new addresses gets one guess every two minutes at most, yet cannot lock the real user out:
  from an address the account signed in from before (a known address) only the first count applies;
- one address, whatever the account: slows after 10 failures, locks after 15 (someone trying many accounts).

An admin's unlock (StaffUser.throttle_cleared_at) makes the account's earlier failures no longer count.

The check and the record of an attempt are one step: `lock` serialises sign-ins for the same account and for the
same address (PostgreSQL: transaction-scoped advisory locks; SQLite: the unit of work's write lock), then
`throttled` counts and `reserve` records the attempt as failed. The password is verified after that transaction
commits (argon2 is slow on purpose, and no lock is held meanwhile); a success is marked in another. So attempts in
flight count as failures: forty guesses at once get no more password checks than forty one after another.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

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
    lock_after: int | None   # failures before the sign-in is locked (None: it only ever slows down)
    lock_for: timedelta      # counted from the last failure


# One account from one address (a success from that address starts the count afresh).
ACCOUNT_ADDRESS_POLICY = ThrottlePolicy(window=timedelta(minutes=15), slow_after=3, slow_delay=timedelta(seconds=15),
                                        slow_delay_max=timedelta(minutes=2), lock_after=6,
                                        lock_for=timedelta(minutes=15))
# One account from all the addresses it never signed in from: slowed, never locked, so nobody can lock a user out.
NEW_ADDRESS_POLICY = ThrottlePolicy(window=timedelta(minutes=15), slow_after=3, slow_delay=timedelta(seconds=15),
                                    slow_delay_max=timedelta(minutes=2), lock_after=None,
                                    lock_for=timedelta(0))
# An address may hold several staff (one office), so it has more room; its waits add up to well inside the
# window, so the lock is reachable by someone guessing at many accounts.
ADDRESS_POLICY = ThrottlePolicy(window=timedelta(minutes=15), slow_after=10, slow_delay=timedelta(seconds=15),
                                slow_delay_max=timedelta(minutes=2), lock_after=15, lock_for=timedelta(minutes=15))
# An address is known to an account for this long after a successful sign-in from it.
KNOWN_ADDRESS_FOR = timedelta(days=180)
# The namespace of this module's PostgreSQL advisory locks (the first of their two keys).
_LOCK_NAMESPACE = 5100


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


def lock(email: str, ip_address: str) -> None:
    """Serialise the sign-ins of this account and of this address until the transaction ends. Call it first in
    the unit of work (on SQLite the unit's write lock does it). Always account, then address: no deadlock."""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    for key in (f"account:{email}", f"address:{ip_address}"):
        db.session.execute(sa.text("SELECT pg_advisory_xact_lock(:namespace, hashtext(:key))"),
                           {"namespace": _LOCK_NAMESPACE, "key": key})


def _verdict(policy: ThrottlePolicy, scope: list, *, reset_scope: list | None = None,
             since: datetime | None = None) -> Throttled | None:
    """Count the failures in the window that ends at the latest failure, so a lock lasts its full time."""
    failed = [*scope, ~LoginAttempt.succeeded]
    if since is not None:
        failed.append(LoginAttempt.at > since)
    if reset_scope is not None:  # by id, not time: attempts of one account and address are made one at a time
        last_success = db.session.scalar(
            sa.select(sa.func.max(LoginAttempt.id)).where(*reset_scope, LoginAttempt.succeeded))
        if last_success is not None:
            failed.append(LoginAttempt.id > last_success)
    last_failure = db.session.scalar(sa.select(sa.func.max(LoginAttempt.at)).where(*failed))
    if last_failure is None:
        return None
    failures = db.session.scalar(
        sa.select(sa.func.count()).where(*failed, LoginAttempt.at > last_failure - policy.window))
    moment = now()
    if policy.lock_after is not None and failures >= policy.lock_after:
        until = last_failure + policy.lock_for
        return Throttled(until - moment, locked=True) if until > moment else None
    if failures >= policy.slow_after:
        delay = min(policy.slow_delay * 2 ** (failures - policy.slow_after), policy.slow_delay_max)
        until = last_failure + delay
        return Throttled(until - moment, locked=False) if until > moment else None
    return None


def _known_addresses(email: str):
    return (sa.select(LoginAttempt.ip_address)
            .where(LoginAttempt.email == email, LoginAttempt.succeeded,
                   LoginAttempt.at > now() - KNOWN_ADDRESS_FOR))


def is_known_address(email: str, ip_address: str) -> bool:
    """Whether this account signed in successfully from this address (lately)."""
    return db.session.scalar(sa.select(_known_addresses(email).where(LoginAttempt.ip_address == ip_address)
                                       .exists())) or False


def throttled(email: str, ip_address: str, *, cleared_at: datetime | None = None) -> Throttled | None:
    """Whether a sign-in for this account from this address must wait now, and how long. `cleared_at`: the
    account's last unlock by an admin."""
    this_pair = [LoginAttempt.email == email, LoginAttempt.ip_address == ip_address]
    verdicts = [_verdict(ACCOUNT_ADDRESS_POLICY, this_pair, reset_scope=this_pair, since=cleared_at),
                _verdict(ADDRESS_POLICY, [LoginAttempt.ip_address == ip_address])]
    if not is_known_address(email, ip_address):
        from_new_addresses = [LoginAttempt.email == email, LoginAttempt.ip_address.not_in(_known_addresses(email))]
        verdicts.append(_verdict(NEW_ADDRESS_POLICY, from_new_addresses, since=cleared_at))
    verdicts = [v for v in verdicts if v]
    return max(verdicts, key=lambda v: (v.locked, v.wait)) if verdicts else None


def reserve(email: str, ip_address: str) -> int:
    """Record an attempt as failed before its password is checked (it counts from now on); returns its id."""
    attempt = LoginAttempt(email=email, ip_address=ip_address, succeeded=False, at=now())
    db.session.add(attempt)
    db.session.flush()
    return attempt.id


def mark_succeeded(attempt_id: int) -> None:
    db.session.execute(sa.update(LoginAttempt).where(LoginAttempt.id == attempt_id).values(succeeded=True)
                       .execution_options(synchronize_session=False))


def recent_failures(email: str, *, since: datetime | None = None, within: timedelta = timedelta(hours=1)) -> int:
    """Failed sign-ins for this account within the last `within` (and after `since`), for the admin's page."""
    conditions = [LoginAttempt.email == email, ~LoginAttempt.succeeded, LoginAttempt.at > now() - within]
    if since is not None:
        conditions.append(LoginAttempt.at > since)
    return db.session.scalar(sa.select(sa.func.count()).select_from(LoginAttempt).where(*conditions))
