"""Admin: staff API tokens (routes of staff_bp). Make one for a finance user (shown once), revoke one."""

from flask import flash, redirect, render_template, url_for
from flask_login import current_user

from retreat.core.errors import ValidationFailed
from retreat.staff import api_tokens, services
from retreat.staff.access import roles_required
from retreat.staff.blueprint import staff_bp
from retreat.staff.forms import ApiTokenForm, ConfirmForm
from retreat.web.forms import attach_errors


@staff_bp.route("/api-tokens", methods=["GET", "POST"])
@roles_required("admin")
def api_tokens_page():
    form = ApiTokenForm(users=api_tokens.token_users())
    made = token = user = None
    if form.validate_on_submit():
        try:
            user = services.get_user(int(form.user.data))
            made, token = api_tokens.create_token(user, form.name.data, created_by=current_user)
        except ValidationFailed as refusal:
            attach_errors(form, refusal)
        else:
            form = ApiTokenForm(formdata=None, users=api_tokens.token_users())
    return render_template("staff/api_tokens.html", tokens=api_tokens.list_tokens(), form=form, made=made,
                           token=token, made_user=user, confirm=ConfirmForm()), 422 if form.errors else 200


@staff_bp.post("/api-tokens/<int:token_id>/revoke")
@roles_required("admin")
def api_token_revoke(token_id: int):
    record = api_tokens.get_token(token_id)
    if ConfirmForm().validate_on_submit():
        api_tokens.revoke_token(record.id, revoked_by=current_user)
        flash(f"Token {record.prefix}… ({record.name}) is revoked; it no longer works.")
    return redirect(url_for("staff.api_tokens_page"))
