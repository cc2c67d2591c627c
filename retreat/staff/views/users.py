"""Admin: staff accounts."""

from flask import flash, redirect, render_template, url_for

from retreat.core.errors import DomainError, ValidationFailed
from retreat.staff import services
from retreat.staff.access import roles_required
from retreat.staff.blueprint import staff_bp
from retreat.staff.forms import ConfirmForm, RolesForm, StaffUserForm
from retreat.web.forms import attach_errors


@staff_bp.route("/users", methods=["GET", "POST"])
@roles_required("admin")
def users():
    form = StaffUserForm()
    one_time = None
    created = None
    if form.validate_on_submit():
        try:
            created, one_time = services.create_user(form.email.data, form.name.data, form.roles.data)
        except ValidationFailed as refusal:
            attach_errors(form, refusal)
        else:
            form = StaffUserForm(formdata=None)
    status = 422 if form.errors else 200
    return render_template("staff/users.html", users=services.list_users(), form=form, created=created,
                           one_time=one_time, confirm=ConfirmForm()), status


@staff_bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@roles_required("admin")
def user_detail(user_id: int):
    user = services.get_user(user_id)
    form = RolesForm(data={"roles": user.roles})
    if form.validate_on_submit():
        try:
            services.set_roles(user, form.roles.data)
        except ValidationFailed as refusal:
            attach_errors(form, refusal)
        else:
            flash(f"Roles of {user.email} saved.")
            return redirect(url_for("staff.user_detail", user_id=user.id))
    return render_template("staff/user_detail.html", user=user, form=form, confirm=ConfirmForm()), \
        422 if form.errors else 200


@staff_bp.post("/users/<int:user_id>/active")
@roles_required("admin")
def set_user_active(user_id: int):
    user = services.get_user(user_id)
    if ConfirmForm().validate_on_submit():
        try:
            services.set_active(user, not user.active)
        except DomainError as refusal:
            flash(refusal.message, "error")
        else:
            flash(f"{user.email} is {'enabled' if user.active else 'disabled'}.")
    return redirect(url_for("staff.user_detail", user_id=user.id))


@staff_bp.post("/users/<int:user_id>/reset-password")
@roles_required("admin")
def reset_user_password(user_id: int):
    user = services.get_user(user_id)
    one_time = services.reset_password(user) if ConfirmForm().validate_on_submit() else None
    return render_template("staff/user_detail.html", user=user, form=RolesForm(data={"roles": user.roles}),
                           confirm=ConfirmForm(), one_time=one_time)
