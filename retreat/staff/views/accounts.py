from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from retreat.core.errors import ValidationFailed
from retreat.extensions import limiter
from retreat.staff import services, todo
from retreat.staff.access import ANY_STAFF, roles_required
from retreat.staff.blueprint import staff_bp
from retreat.staff.forms import ChangePasswordForm, ConfirmForm, LoginForm
from retreat.web.forms import attach_errors
from retreat.web.safe_redirect import safe_next


@staff_bp.route("/login", methods=["GET", "POST"])
@limiter.limit("20 per minute", methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("staff.home"))
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        try:
            user = services.sign_in(form.email.data, form.password.data, request.remote_addr or "unknown")
        except (services.SignInRefused, services.SignInThrottled) as refusal:
            error = refusal.message
            status = refusal.status
        else:
            session.clear()  # nothing of the browser's session before sign-in carries over
            login_user(user)  # the cookie holds only the new server-side session's token
            return redirect(safe_next(request.args.get("next")) or url_for("staff.home"))
        return render_template("staff/login.html", form=form, error=error), status
    return render_template("staff/login.html", form=form, error=error), 422 if form.errors else 200


@staff_bp.post("/logout")
@roles_required(*ANY_STAFF)
def logout():
    if ConfirmForm().validate_on_submit():
        services.sign_out(current_user.get_id())
        logout_user()
        session.clear()
        flash("You are signed out.")
    return redirect(url_for("staff.login"))


@staff_bp.route("/password", methods=["GET", "POST"])
@roles_required(*ANY_STAFF)
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            services.change_password(current_user, form.current_password.data, form.new_password.data,
                                     keep_session=current_user.get_id())
        except ValidationFailed as refusal:
            attach_errors(form, refusal)
        else:
            flash("Your password is changed.")
            return redirect(url_for("staff.home"))
    return render_template("staff/change_password.html", form=form), 422 if form.errors else 200


@staff_bp.get("/")
@roles_required(*ANY_STAFF)
def home():
    """Where every staff user lands after sign-in: what their roles have to do next, each line a count and a link
    (the areas register the lines: retreat.staff.todo)."""
    return render_template("staff/home.html", todos=todo.todos_for(current_user))
