"""The app's own error pages, in its words (what happened, who to ask, a link home), never Werkzeug's defaults:
a staff page a role may not see (403), a form without its CSRF token (400), and 404, 405, 429."""

import pytest

from retreat import create_app
from tests.conftest import STAFF_PASSWORD, forget_signed_in_user_per_request

WERKZEUG_WORDS = ("You don't have the permission", "The CSRF token", "Method Not Allowed",
                  "requested URL was not found", "Too Many Requests", "Forbidden")


def no_werkzeug_words(html: str) -> None:
    for words in WERKZEUG_WORDS:
        assert words not in html, words


def test_a_staff_page_a_role_may_not_see_gives_the_apps_403(client, login_as):
    login_as("finance")
    response = client.get("/staff/users")
    assert response.status_code == 403
    html = response.get_data(as_text=True)
    assert "<h1 id=\"error-title\">This page is not open to you.</h1>" in html
    assert "Your account&#39;s roles do not open this page" in html
    assert "ask an administrator of the staff accounts to add the role" in html
    assert 'href="/staff/">Go to your staff home</a>' in html
    # In the staff console's layout: its navigation for the finance role, who is signed in, its footer.
    assert "Signed in as" in html and 'href="/staff/finance"' in html and "/estimate" not in html
    assert "Retreat staff console." in html
    no_werkzeug_words(html)


def test_a_form_without_its_csrf_token_gives_the_apps_page(database_url, staff_user):
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url, WTF_CSRF_ENABLED=True)
    forget_signed_in_user_per_request(app)
    with app.app_context():
        response = app.test_client().post("/staff/login", data={"email": "x@clinic.example",
                                                                "password": STAFF_PASSWORD})
        assert response.status_code == 400
        html = response.get_data(as_text=True)
        assert "This form has expired, so nothing was saved." in html
        assert "reload the page and send the form again" in html and 'href="/staff/"' in html
        no_werkzeug_words(html)


@pytest.mark.parametrize(("method", "path", "status", "title"), [
    ("GET", "/no-such-page", 404, "We could not find that page."),
    ("GET", "/staff/no-such-page", 404, "We could not find that page."),
    ("DELETE", "/staff/login", 405, "That action is not available here."),
])
def test_other_errors_are_the_apps_pages_too(client, method, path, status, title):
    response = client.open(path, method=method)
    assert response.status_code == status
    html = response.get_data(as_text=True)
    assert f'<h1 id="error-title">{title}</h1>' in html
    no_werkzeug_words(html)
