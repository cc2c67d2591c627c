from flask_wtf import FlaskForm
from wtforms import DateField, EmailField, PasswordField, SelectField, SelectMultipleField, StringField, SubmitField
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from retreat.staff.models import ROLE_LABELS
from retreat.web.forms import options


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(message="Give your email address."), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(message="Give your password.")])
    submit = SubmitField("Sign in")


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired("Give your current password.")])
    new_password = PasswordField(
        "New password", description="At least 12 characters, and not easy to guess: a few uncommon words work well.",
        validators=[DataRequired("Choose a new password.")])
    confirm_password = PasswordField("New password again", validators=[
        DataRequired("Type the new password again."), EqualTo("new_password", message="The two passwords differ.")])
    submit = SubmitField("Change password")


class RolesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class StaffUserForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Give an email address."), Email(), Length(max=254)])
    name = StringField("Name", validators=[DataRequired("Give the person's name."), Length(max=120)])
    roles = RolesField("Roles", choices=options(ROLE_LABELS.items()))
    submit = SubmitField("Add staff user")


class RolesForm(FlaskForm):
    roles = RolesField("Roles", choices=options(ROLE_LABELS.items()))
    submit = SubmitField("Save roles")


class ConfirmForm(FlaskForm):
    """A bare form for POST-only actions (disable, enable, reset password, logout): it carries the CSRF token."""

    submit = SubmitField("Confirm")


class AuditFilterForm(FlaskForm):
    actor = StringField("Staff email contains", validators=[Optional(), Length(max=254)])
    action = StringField("Action starts with", validators=[Optional(), Length(max=60)],
                         description="For example staff. or cohort.capacity")
    target = StringField("Target", validators=[Optional(), Length(max=100)], description="For example cohort:12")
    since = DateField("From", validators=[Optional()])
    until = DateField("To", validators=[Optional()])
    submit = SubmitField("Filter")


class ApiTokenForm(FlaskForm):
    user = SelectField("Finance user", validators=[DataRequired("Choose the finance user the token acts as.")],
                       description="The token reads what this user may read, and stops working if they lose "
                                   "the finance role or are disabled.")
    name = StringField("What it is for", validators=[DataRequired("Name what will use the token."),
                                                     Length(max=100)],
                       description="For example: Nightly accounting sync.")
    submit = SubmitField("Make token")

    def __init__(self, *args, users, **kwargs):
        super().__init__(*args, **kwargs)
        self.user.choices = options([("", "Choose…"), *((str(user.id), f"{user.name} ({user.email})")
                                                       for user in users)])
