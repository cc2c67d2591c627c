"""Finance console (routes of staff_bp, finance and admin only): the ledger with filters, totals and a chart;
each booking's money history; the month close; exports. Pages only read; an export writes one audit entry.
No health data is read or shown anywhere here."""

from math import ceil

from flask import Response, flash, redirect, render_template, request, stream_with_context, url_for
from flask_login import current_user

from retreat.core.clock import today
from retreat.core.errors import DomainError, NotFound, ValidationFailed
from retreat.finance import exports, price_offs
from retreat.finance import services as finance
from retreat.finance.forms import BookingLookupForm, LedgerFilterForm, ResolveFlagForm
from retreat.payments import flags
from retreat.staff.access import roles_required
from retreat.staff.blueprint import staff_bp

FINANCE = finance.ACCESS_ROLES
MAX_PAGE = 100_000


def _filter_form() -> LedgerFilterForm:
    return LedgerFilterForm(request.args, choices=finance.filter_choices())


def _filter_args(filters: finance.LedgerFilters) -> dict[str, str]:
    """The query string of these filters, for export links and paging."""
    args = {"date_from": filters.date_from.isoformat() if filters.date_from else "",
            "date_to": filters.date_to.isoformat() if filters.date_to else ""}
    for name, value in (("program", filters.program_id), ("cohort", filters.cohort_id),
                        ("provider", filters.provider), ("kind", filters.kind), ("status", filters.status)):
        if value is not None:
            args[name] = str(value)
    return args


@staff_bp.get("/finance")
@roles_required(*FINANCE)
def finance_ledger():
    form = _filter_form()
    valid = form.validate()
    filters = form.filters() if valid else finance.LedgerFilters(date_from=today(), date_to=today())
    totals = finance.totals(filters) if valid else finance.Totals()
    # A fixed page size; the totals above the rows count every matching payment, not the page's.
    pages = max(1, ceil(totals.count / finance.PAGE_SIZE))
    page = min(max(1, request.args.get("page", 1, type=int)), MAX_PAGE, pages)
    rows, more = finance.ledger_page(filters, page) if valid else ([], False)
    period, buckets = finance.chart(filters, form.by.data or "week") if valid else ("week", [])
    scale = max([b.in_cents for b in buckets] + [-b.refunds_cents for b in buckets] + [1])
    args = _filter_args(filters)
    return render_template(
        "staff/finance/ledger.html", form=form, filters=filters, rows=rows, more=more, page=page, pages=pages,
        first_row=(page - 1) * finance.PAGE_SIZE + 1, page_args={**args, "by": form.by.data or "week"},
        totals=totals, period=period, buckets=buckets,
        scale=scale, args=args, by=form.by.data or "week", lookup=BookingLookupForm(formdata=None),
        formats=exports.FORMAT_LABELS, labels=_labels(), open_flags=flags.flags(open_only=True),
        refunds_to_send=finance.refunds_to_send(), resolve_form=ResolveFlagForm(formdata=None),
    ), 200 if valid else 422


@staff_bp.get("/finance/export/<export_format>")
@roles_required(*FINANCE)
def finance_export(export_format: str):
    if export_format not in exports.FORMATS:
        raise NotFound("There is no such export format.")
    form = _filter_form()
    if not form.validate():
        raise ValidationFailed({name: list(errors) for name, errors in form.errors.items()})
    filters = form.filters()
    finance.record_export(filters, export_format, finance.count_payments(filters))
    built = exports.build_export(filters, export_format, bom=export_format == "csv")
    return Response(stream_with_context(built.chunks), mimetype=built.mimetype, headers={
        "Content-Disposition": f'attachment; filename="{built.filename}"',
    })


@staff_bp.get("/finance/bookings")
@roles_required(*FINANCE)
def finance_booking_lookup():
    form = BookingLookupForm(request.args)
    if form.validate():
        return redirect(url_for("staff.finance_booking", reference=form.reference.data.strip().upper()))
    return redirect(url_for("staff.finance_ledger"))


@staff_bp.get("/finance/bookings/<reference>")
@roles_required(*FINANCE)
def finance_booking(reference: str):
    money = finance.booking_money(reference)
    return render_template("staff/finance/booking.html", account=money, booking=money.booking, labels=_labels(),
                           resolve_form=ResolveFlagForm(formdata=None))


@staff_bp.post("/finance/flags/<int:flag_id>/resolve")
@roles_required(*FINANCE)
def finance_resolve_flag(flag_id: int):
    reference = flags.booking_reference_of(flag_id)  # NotFound (404) for no such flag
    back = (url_for("staff.finance_booking", reference=reference) if request.form.get("back") == "booking"
            else url_for("staff.finance_ledger"))
    form = ResolveFlagForm()
    if not form.validate_on_submit():
        flash(" ".join(error for errors in form.errors.values() for error in errors), "error")
        return redirect(back, code=303)
    try:
        flag = flags.resolve(flag_id, resolution=form.resolution.data, staff=current_user)
    except ValidationFailed as refusal:
        flash(" ".join(error for errors in refusal.fields.values() for error in errors), "error")
    except DomainError as refusal:
        flash(refusal.message, "error")
    else:
        flash(f"Payment {flag.payment.provider_reference} of booking {reference} marked reviewed.")
    return redirect(back, code=303)


@staff_bp.get("/finance/close")
@roles_required(*FINANCE)
def finance_close():
    try:
        month = finance.parse_month(request.args.get("month"))
    except ValidationFailed as refusal:
        return render_template("staff/finance/close.html", close=None, error=refusal.fields["month"][0],
                               month_text=request.args.get("month", ""), labels=_labels()), 422
    close = finance.month_close(month)
    return render_template("staff/finance/close.html", close=close, error=None, month_text=f"{month:%Y-%m}",
                           args=_filter_args(close.filters), formats=exports.FORMAT_LABELS, labels=_labels(),
                           price_offs=price_offs.month_price_offs(month))


def _labels() -> dict[str, dict[str, str]]:
    return {"kind": finance.KIND_LABELS, "provider": finance.PROVIDER_LABELS, "status": finance.STATUS_LABELS}
