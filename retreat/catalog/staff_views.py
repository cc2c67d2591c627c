"""Coordinator console: programs (routes of staff_bp). List, create, edit, publish and unpublish."""

from flask import flash, redirect, render_template, url_for

from retreat.catalog import programs as catalog_programs
from retreat.catalog.forms import ProgramForm
from retreat.core.errors import ValidationFailed
from retreat.staff.access import COORDINATION, roles_required
from retreat.staff.blueprint import staff_bp
from retreat.staff.forms import ConfirmForm
from retreat.web.forms import add_other_problems, attach_errors


@staff_bp.get("/programs")
@roles_required(*COORDINATION)
def programs():
    return render_template("staff/programs/list.html", programs=catalog_programs.list_programs_for_staff())


@staff_bp.route("/programs/new", methods=["GET", "POST"])
@roles_required(*COORDINATION)
def program_new():
    form = ProgramForm()
    if form.validate_on_submit():
        try:
            program = catalog_programs.create_program(form.values())
        except ValidationFailed as refusal:
            attach_errors(form, refusal)
        else:
            flash(f"“{program.name}” is saved as a draft. Add its dates, then publish it.")
            return redirect(url_for("staff.program_edit", program_id=program.id), code=303)
    elif form.is_submitted():
        add_other_problems(form, catalog_programs.program_problems(form.values()))
    return render_template("staff/programs/new.html", form=form), 422 if form.errors else 200


def _edit_page(summary: catalog_programs.ProgramSummary, form: ProgramForm, status: int = 200):
    return render_template("staff/programs/edit.html", summary=summary, program=summary.program, form=form,
                           confirm=ConfirmForm()), status


@staff_bp.route("/programs/<int:program_id>", methods=["GET", "POST"])
@roles_required(*COORDINATION)
def program_edit(program_id: int):
    program = catalog_programs.get_program(program_id)
    form = ProgramForm(obj=program)
    if program.published:
        form.slug.description = ("Fixed while the program is published, since links and estimates already shared "
                                 "use it. Unpublish the program to change it.")
    if catalog_programs.length_fixed_by(program):
        form.duration_days.description = ("Fixed while the program has dates ahead: each lasts the program's "
                                          "length. Cancel them, or create a new program, to change it.")
    if form.validate_on_submit():
        try:
            changes = catalog_programs.update_program(program.id, form.values())
        except ValidationFailed as refusal:
            attach_errors(form, refusal)
        else:
            flash(f"“{program.name}” is saved." if changes else "Nothing had changed; nothing was saved.")
            return redirect(url_for("staff.program_edit", program_id=program.id), code=303)
    elif form.is_submitted():
        add_other_problems(form, catalog_programs.program_problems(form.values(), program.id))
    return _edit_page(catalog_programs.program_for_staff(program_id), form, 422 if form.errors else 200)


def _set_published(program_id: int, published: bool):
    program = catalog_programs.get_program(program_id)
    if ConfirmForm().validate_on_submit():
        if catalog_programs.set_published(program.id, published):
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
