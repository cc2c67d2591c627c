"""New staff passwords: at least 12 characters and not easy to guess (zxcvbn score 3 or more, the person's email and
name counted as guessable), with a message that says why; the same rule for the change-password form, the admin's
new users and `flask staff create`."""

import pytest
import sqlalchemy as sa

from retreat.core.errors import ValidationFailed
from retreat.extensions import db
from retreat.staff import passwords, services
from retreat.staff.models import StaffUser
from tests.conftest import STAFF_PASSWORD
from tests.staff.test_accounts import change_form, fresh

EMAIL, NAME = "robin.quillfeather@clinic.example", "Robin Quillfeather"


@pytest.mark.parametrize("password, reasons", [
    ("short", ["Use at least 12 characters."]),
    ("", ["Use at least 12 characters."]),
    ("x" * 129, ["Use at most 128 characters."]),
    ("password1234", ["This password is too easy to guess. This is a very common password."]),
    ("Password123!", ["This password is too easy to guess. This is similar to a commonly used password."]),
    ("qwertyuiop12", ["This password is too easy to guess. This is similar to a commonly used password."]),
    ("aaaaaaaaaaaa", ['This password is too easy to guess. Repeats like "aaa" are easy to guess.']),
    ("abcdefghijkl", ['This password is too easy to guess. Sequences like "abc" or "6543" are easy to guess.']),
    ("jan2024jan2024", ['This password is too easy to guess. Repeats like "abcabcabc" are only slightly harder']),
    ("Quillfeather2030", ["This password is too easy to guess. It is built from your name or email address."]),
    ("robin.quillfeather!", ["Do not use your email address in your password."]),
])
def test_a_weak_password_is_refused_with_the_reason(password, reasons):
    problems = passwords.password_problems(password, email=EMAIL, name=NAME)
    assert len(problems) == len(reasons), problems
    for problem, reason in zip(problems, reasons, strict=True):
        assert problem.startswith(reason), problems
    if "too easy to guess" in reasons[0]:
        assert "Add another word or two" in problems[0], "zxcvbn's suggestion comes with the warning"


@pytest.mark.parametrize("password", [
    STAFF_PASSWORD, "a brand new passphrase 42", "first admin passphrase 2030", "Tr0ub4dor&3xyz-kestrel",
    "x" * 60 + " lantern quiver 9",
])
def test_a_strong_password_passes(password):
    assert passwords.password_problems(password, email=EMAIL, name=NAME) == []


def test_one_time_passwords_pass_the_rule_they_are_exempt_from():
    """Generated one-time passwords are never checked against the rule, but they would pass it."""
    for _ in range(50):
        assert passwords.password_problems(passwords.one_time_password(), email=EMAIL, name=NAME) == []


def test_the_change_password_form_says_why_and_keeps_the_password(app, client, login_as):
    user = login_as("clinician")
    before = fresh(user).password_hash
    response = client.post("/staff/password", data=change_form(new="password1234"))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "This password is too easy to guess. This is a very common password." in page
    assert fresh(user).password_hash == before


def test_the_admin_cannot_create_a_user_with_a_weak_password_by_any_path(app, runner):
    result = runner.invoke(args=["staff", "create", "--email", EMAIL, "--role", "admin", "--name", NAME],
                           input="Quillfeather2030\n")
    assert result.exit_code == 1
    assert "password: This password is too easy to guess. It is built from your name or email address." in (
        result.output)
    with pytest.raises(ValidationFailed) as refusal:
        services.create_user("pat@clinic.example", "Pat", ["finance"], password="iloveyou1234")
    assert refusal.value.fields["password"][0].startswith("This password is too easy to guess.")
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StaffUser)) == 0


@pytest.fixture
def runner(app):
    return app.test_cli_runner()
