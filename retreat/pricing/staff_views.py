"""Price list: every version (coordinators and admins read), and a new version (admins only)."""

from flask import flash, redirect, render_template, url_for

from retreat.core.errors import ValidationFailed
from retreat.pricing import editing
from retreat.pricing.forms import PriceListForm
from retreat.staff.access import roles_required
from retreat.staff.blueprint import staff_bp
from retreat.web.forms import attach_errors


@staff_bp.get("/prices")
@roles_required("admin", "coordinator")
def price_lists():
    versions = editing.list_price_lists()
    current = editing.price_list_detail(versions[0].version) if versions else None
    return render_template("staff/prices/list.html", versions=versions, current=current)


@staff_bp.get("/prices/<int:version>")
@roles_required("admin", "coordinator")
def price_list(version: int):
    return render_template("staff/prices/detail.html", detail=editing.price_list_detail(version))


@staff_bp.route("/prices/new", methods=["GET", "POST"])
@roles_required("admin")
def new_price_list():
    newest = editing.newest_price_list()
    form_class = PriceListForm.for_items(newest.items)
    form = form_class(data={**editing.form_values(newest), "base_version": newest.version})
    preview = None
    conflict = None
    if form.validate_on_submit():
        try:
            if form.submit.data:
                created = editing.create_price_list_version(form.price_values(), form.note.data,
                                                          based_on=form.based_on())
            else:  # the Preview button, or Enter in a field: show the effect, save nothing
                preview = editing.preview_price_list_version(form.price_values())
        except ValidationFailed as refusal:
            attach_errors(form, refusal)
        except editing.PriceListChanged as refusal:
            form.form_errors.append(refusal.message)
            conflict = refusal.status
        else:
            if preview is None:
                flash(f"Saved price list version {created.version}. New estimates use it from now on; "
                      "earlier estimates and bookings keep the prices they were made with.")
                return redirect(url_for("staff.price_list", version=created.version))
    status = conflict or (422 if form.errors else 200)
    return render_template("staff/prices/new.html", form=form, newest=newest, preview=preview,
                           conflict=conflict is not None, error_summary=_error_summary(form)), status


def _error_summary(form: PriceListForm) -> list[tuple[str | None, str]]:
    """(field id or None, message) for the list at the top of the form, in page order, each linking to its
    field."""
    summary: list[tuple[str | None, str]] = [(None, message) for message in form.form_errors]
    if form.meta.csrf:
        summary += [(None, message) for message in form.csrf_token.errors]
    fields = [form[name] for name in form.POLICY_NAMES]
    fields += [field for _, *row in form.item_rows() for field in row]
    fields.append(form.note)
    summary += [(field.id, message) for field in fields for message in field.errors]
    return summary
