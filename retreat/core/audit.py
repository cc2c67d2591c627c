"""The audit log: an append-only record of every staff change and every read of health data.

`record` adds an entry to the current transaction, so the entry commits or rolls back with the change it
describes. Nothing in the app updates or deletes an entry: the ORM refuses, and on PostgreSQL a trigger too.
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from flask import has_request_context, request
from sqlalchemy import event
from sqlalchemy.orm import Mapped, mapped_column

from retreat.core.clock import now
from retreat.core.types import UTCDateTime
from retreat.extensions import db


class AuditEntry(db.Model):
    __tablename__ = "audit_entry"
    __table_args__ = (sa.Index("ix_audit_entry_at", "at"), sa.Index("ix_audit_entry_action", "action"))

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    actor_id: Mapped[int | None]
    actor_email: Mapped[str] = mapped_column(sa.String(254))
    actor_roles: Mapped[str] = mapped_column(sa.String(100))
    action: Mapped[str] = mapped_column(sa.String(60))
    target_type: Mapped[str] = mapped_column(sa.String(40))
    target_id: Mapped[str] = mapped_column(sa.String(60))
    details: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    ip_address: Mapped[str | None] = mapped_column(sa.String(64))


class AppendOnlyError(RuntimeError):
    pass


@event.listens_for(AuditEntry, "before_update")
@event.listens_for(AuditEntry, "before_delete")
def _refuse_change(mapper, connection, entry):
    raise AppendOnlyError("The audit log is append-only.")


class _Named:
    """Someone who is not a staff user, named in words."""

    id = None
    roles = ()

    def __init__(self, name: str):
        self.email = name


def record(action: str, target_type: str, target_id: object, details: dict | None = None, *,
           actor=None) -> AuditEntry:
    """Add an audit entry for `actor`: a staff user, or words naming who acted when no staff user did
    ("applicant", "stripe webhook"). Default: the logged-in staff user, else the command line."""
    if isinstance(actor, str):
        actor = _Named(actor)
    if actor is None:
        from flask_login import current_user
        actor = current_user if has_request_context() and current_user.is_authenticated else None
    entry = AuditEntry(
        actor_id=getattr(actor, "id", None),
        actor_email=getattr(actor, "email", None) or "system (command line)",
        actor_roles=",".join(getattr(actor, "roles", None) or []),
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        details=details or {},
        ip_address=request.remote_addr if has_request_context() else None,
    )
    db.session.add(entry)
    return entry


PAGE_SIZE = 50


def search(*, actor: str | None = None, action: str | None = None, target: str | None = None,
           since: datetime | None = None, until: datetime | None = None,
           page: int = 1) -> tuple[list[AuditEntry], bool]:
    """Entries newest first, filtered; returns one page and whether more follow. `since` and `until` are moments
    (a naive one is UTC)."""
    query = sa.select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    if actor:
        query = query.where(AuditEntry.actor_email.contains(actor.strip().lower(), autoescape=True))
    if action:
        query = query.where(AuditEntry.action.startswith(action.strip(), autoescape=True))
    if target:
        kind, _, ident = target.strip().partition(":")
        query = query.where(AuditEntry.target_type == kind)
        if ident:
            query = query.where(AuditEntry.target_id == ident)
    if since:
        query = query.where(AuditEntry.at >= (since if since.tzinfo else since.replace(tzinfo=UTC)))
    if until:
        query = query.where(AuditEntry.at <= (until if until.tzinfo else until.replace(tzinfo=UTC)))
    rows = list(db.session.scalars(query.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)))
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE
