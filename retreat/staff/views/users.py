"""Admin: staff accounts."""

from flask import flash, redirect, render_template, url_for

from retreat.core.errors import DomainError, ValidationFailed
from retreat.staff import services, sessions
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
    return _detail_page(user, form), 422 if form.errors else 200


def _detail_page(user, form, **extra):
    return render_template("staff/user_detail.html", user=user, form=form, confirm=ConfirmForm(),
                           failures=services.sign_in_failures(user), live_sessions=sessions.live_count(user.id),
                           **extra)


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
    return _detail_page(user, RolesForm(data={"roles": user.roles}), one_time=one_time)


@staff_bp.post("/users/<int:user_id>/unlock")
@roles_required("admin")
def unlock_user_sign_in(user_id: int):
    """Clear the account's sign-in throttle (after a lock-out, say): its failed sign-ins so far stop counting."""
    user = services.get_user(user_id)
    if ConfirmForm().validate_on_submit():
        cleared = services.unlock_sign_in(user)
        flash(f"Sign-in for {user.email} is unlocked ({cleared} recent failed sign-in"
              f"{'' if cleared == 1 else 's'} cleared).")
    return redirect(url_for("staff.user_detail", user_id=user.id))
