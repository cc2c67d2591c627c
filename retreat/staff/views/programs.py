"""Coordinator console: programs (routes of staff_bp). List, create, edit, publish and unpublish."""

from flask import flash, redirect, render_template, url_for

from retreat.catalog import admin
from retreat.catalog.forms import ProgramForm
from retreat.core.errors import ValidationFailed
from retreat.staff.access import roles_required
from retreat.staff.blueprint import staff_bp
from retreat.staff.forms import ConfirmForm
from retreat.web.forms import attach_errors

COORDINATION = ("coordinator", "admin")


@staff_bp.get("/programs")
@roles_required(*COORDINATION)
def programs():
    return render_template("staff/programs/list.html", programs=admin.list_programs_for_staff())


@staff_bp.route("/programs/new", methods=["GET", "POST"])
@roles_required(*COORDINATION)
def program_new():
    form = ProgramForm()
    if form.validate_on_submit():
        try:
            program = admin.create_program(form.values())
        except ValidationFailed as refusal:
            attach_errors(form, refusal)
        else:
            flash(f"“{program.name}” is saved as a draft. Add its dates, then publish it.")
            return redirect(url_for("staff.program_edit", program_id=program.id), code=303)
    elif form.is_submitted():
        add_other_problems(form, admin.program_problems(form.values()))
    return render_template("staff/programs/new.html", form=form), 422 if form.errors else 200


def add_other_problems(form, problems: dict[str, list[str]]) -> None:
    """After a form failed to parse some fields, show what the service finds wrong with the others too, so
    every problem shows at once (a field that failed to parse keeps its own message)."""
    for name, reasons in problems.items():
        if name in form._fields and not form[name].errors:
            form[name].errors = list(reasons)


def _edit_page(summary: admin.ProgramSummary, form: ProgramForm, status: int = 200):
    return render_template("staff/programs/edit.html", summary=summary, program=summary.program, form=form,
                           confirm=ConfirmForm()), status


@staff_bp.route("/programs/<int:program_id>", methods=["GET", "POST"])
@roles_required(*COORDINATION)
def program_edit(program_id: int):
    program = admin.get_program(program_id)
    form = ProgramForm(obj=program)
    if program.published:
        form.slug.description = ("Fixed while the program is published, since links and estimates already shared "
                                 "use it. Unpublish the program to change it.")
    if form.validate_on_submit():
        try:
            changes = admin.update_program(program.id, form.values())
        except ValidationFailed as refusal:
            attach_errors(form, refusal)
        else:
            flash(f"“{program.name}” is saved." if changes else "Nothing had changed; nothing was saved.")
            return redirect(url_for("staff.program_edit", program_id=program.id), code=303)
    elif form.is_submitted():
        add_other_problems(form, admin.program_problems(form.values(), program.id))
    return _edit_page(admin.program_for_staff(program_id), form, 422 if form.errors else 200)


def _set_published(program_id: int, published: bool):
    program = admin.get_program(program_id)
    if ConfirmForm().validate_on_submit():
        if admin.set_published(program.id, published):
            flash(f"“{program.name}” is published: it shows in the public catalog." if published else
                  f"“{program.name}” is unpublished: it no longer shows in the public catalog. Bookings "
                  "already made are unchanged.")
        else:
            flash(f"“{program.name}” was {'published' if published else 'unpublished'} already.")
    return redirect(url_for("staff.program_edit", program_id=program.id), code=303)


@staff_bp.post("/programs/<int:program_id>/publish")
@roles_required(*COORDINATION)
def program_publish(program_id: int):
    return _set_published(program_id, True)


@staff_bp.post("/programs/<int:program_id>/unpublish")
@roles_required(*COORDINATION)
def program_unpublish(program_id: int):
    return _set_published(program_id, False)
