"""Admin: the audit log, filtered; read-only."""

from datetime import datetime, time

from flask import render_template, request

from retreat.core.audit import search
from retreat.core.clinic import clinic_zone
from retreat.core.money import format_usd
from retreat.staff.access import roles_required
from retreat.staff.blueprint import staff_bp
from retreat.staff.forms import AuditFilterForm

MONEY_SUFFIX = "_cents"


def readable_details(details: dict | None) -> list[tuple[str, str]]:
    """An entry's details as (name, value) in words: an amount in cents (a name ending in _cents) in dollars,
    `refund_cents: 123450` -> `refund: $1,234.50`; other values as they are."""
    readable = []
    for key, value in (details or {}).items():
        if key.endswith(MONEY_SUFFIX) and isinstance(value, int) and not isinstance(value, bool):
            readable.append((key.removesuffix(MONEY_SUFFIX), format_usd(value, show_cents=True)))
        else:
            readable.append((key, "—" if value is None else str(value)))
    return readable


@staff_bp.get("/audit")
@roles_required("admin")
def audit_log():
    form = AuditFilterForm(request.args, meta={"csrf": False})
    valid = form.validate()
    filters = {}
    if valid:
        filters = {
            "actor": form.actor.data or None,
            "action": form.action.data or None,
            "target": form.target.data or None,
            # Days of the clinic's calendar, as the times on the page are.
            "since": datetime.combine(form.since.data, time.min, clinic_zone()) if form.since.data else None,
            "until": datetime.combine(form.until.data, time.max, clinic_zone()) if form.until.data else None,
        }
    page = min(max(1, request.args.get("page", 1, type=int)), 100_000)
    entries, more = search(**filters, page=page)
    return render_template("staff/audit.html", form=form, entries=entries, page=page, more=more,
                           readable_details=readable_details), \
        200 if valid else 422
