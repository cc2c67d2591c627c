"""Coordinator console: discount codes (routes of staff_bp, coordinators and admins). List, create, edit,
deactivate or activate again, and the bookings that used each code. Every change is audited
(catalog.discounts)."""

from flask import flash, redirect, render_template, url_for

from retreat.catalog import discounts
from retreat.catalog.discount_forms import DiscountCodeForm
from retreat.core.errors import ValidationFailed
from retreat.staff.access import COORDINATION, roles_required
from retreat.staff.blueprint import staff_bp
from retreat.staff.forms import ConfirmForm
from retreat.web.forms import attach_errors, options


def _with_programs(form: DiscountCodeForm) -> DiscountCodeForm:
    form.programs.choices = options(discounts.program_choices())
    return form


@staff_bp.get("/discounts")
@roles_required(*COORDINATION)
def discount_codes():
    return render_template("staff/discounts/list.html", codes=discounts.list_codes(), state_of=discounts.state_of)


@staff_bp.route("/discounts/new", methods=["GET", "POST"])
@roles_required(*COORDINATION)
def discount_code_new():
    form = _with_programs(DiscountCodeForm())
    if form.validate_on_submit():
        try:
            row = discounts.create_code(form.values())
        except ValidationFailed as refusal:
            attach_errors(form, refusal)
        else:
            flash(f"The code {row.code} is saved and active.")
            return redirect(url_for("staff.discount_code_edit", code_id=row.id), code=303)
    return render_template("staff/discounts/new.html", form=form), 422 if form.errors else 200


@staff_bp.route("/discounts/<int:code_id>", methods=["GET", "POST"])
@roles_required(*COORDINATION)
def discount_code_edit(code_id: int):
    row = discounts.get_code(code_id)
    form = DiscountCodeForm(obj=row, kind="amount" if row.amount_off_cents is not None else "percent",
                            programs=[program.id for program in row.programs])
    del form.code
    _with_programs(form)
    if form.validate_on_submit():
        try:
            changes = discounts.update_code(row.id, form.values())
        except ValidationFailed as refusal:
            attach_errors(form, refusal)
        else:
            flash(f"The code {row.code} is saved." if changes else "Nothing had changed; nothing was saved.")
            return redirect(url_for("staff.discount_code_edit", code_id=row.id), code=303)
    return render_template("staff/discounts/edit.html", code=row, form=form, confirm=ConfirmForm(),
                           uses=discounts.uses_of(row.id), state=discounts.state_of(row)), \
        422 if form.errors else 200


def _set_active(code_id: int, active: bool):
    row = discounts.get_code(code_id)
    if ConfirmForm().validate_on_submit():
        if discounts.set_active(row.id, active):
            flash(f"The code {row.code} is active again." if active else
                  f"The code {row.code} is deactivated: applicants who type it are told it is not valid. Bookings "
                  "already made with it keep their price.")
        else:
            flash(f"The code {row.code} was {'active' if active else 'inactive'} already.")
    return redirect(url_for("staff.discount_code_edit", code_id=row.id), code=303)


@staff_bp.post("/discounts/<int:code_id>/deactivate")
@roles_required(*COORDINATION)
def discount_code_deactivate(code_id: int):
    return _set_active(code_id, False)


@staff_bp.post("/discounts/<int:code_id>/activate")
@roles_required(*COORDINATION)
def discount_code_activate(code_id: int):
    return _set_active(code_id, True)
