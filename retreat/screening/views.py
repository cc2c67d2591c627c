"""The applicant's pre-screen: an intro, six short steps, and a result page per outcome (domain/screening.md).

    GET  /screening/                       what the pre-screen is, and a Start button (?program=: the one to book)
    GET  /screening/questions              start (again): a new draft, on to page 1
    GET  /screening/questions/<n>          page n (each step's page; a step's follow-ups, only after a yes)
    POST /screening/questions/<n>          its answers: saved, then a redirect to the next page, or the result
    GET  /screening/result/<token>         the result, by outcome (the applicant's pre-screen token only)
    POST /screening/result/<token>/review  a review outcome's request for a seat and a clinician review
    GET  /screening/approved/<token>       where a clinician's approval email leads (the approval token only):
                                           on to booking, with nothing about health

A token opens only the pages of its purpose (services.by_token, by_approval_token); on another page it is
unknown (404).

The answers so far are kept between pages in a draft (forms.Draft): one cookie, for the questionnaire's pages only,
holding them encrypted with the screening Fernet keys and HttpOnly, refused an hour after the last page was sent
(DRAFT_TTL_SECONDS) and deleted when a result is reached or the pre-screen is started again. No health answer is
kept in plain text, in the cookie session, a log or the database until a result, and every kept answer is
checked again on every request. Each page is POSTed and redirected to the next one (POST-redirect-GET), so the
browser's Back shows the previous page from the draft without asking to send a form again. The safety questions
come second (their follow-ups on a page of their own, only after a yes); if they give a crisis, the screen is
stored at once (early.submit_crisis_early) and the applicant goes straight to the crisis resources.

Question and result pages are never cached; result pages carry their token in the URL, so they also send no
referrer anywhere.
"""

from flask import Blueprint, current_app, g, make_response, redirect, render_template, request, url_for

from retreat.catalog import chosen
from retreat.core.errors import ValidationFailed
from retreat.core.transactions import unit_of_work
from retreat.notify import services as notify
from retreat.screening import early, rules, services
from retreat.screening.forms import (
    DRAFT_COOKIE,
    DRAFT_TTL_SECONDS,
    PAGES,
    SAFETY_STEP,
    STEPS,
    BadProgress,
    Draft,
    EmailLinkForm,
    ReviewRequestForm,
    SafetyStep,
    read_draft,
    step_of,
)
from retreat.screening.questions import AS_ENTERED, BY_PATH
from retreat.web.limits import public_write_limit

screening_bp = Blueprint("screening", __name__, url_prefix="/screening")
DRAFT_PATH = "/screening/questions"

PHQ9_MAX = 27


def _private(body: str, status: int = 200, *, no_referrer: bool = False):
    response = make_response(body, status)
    response.headers["Cache-Control"] = "no-store"
    if no_referrer:
        g.screening_referrer_policy = "no-referrer"
    return response


@screening_bp.after_app_request
def _no_referrer_on_result_pages(response):
    """Result pages hold their token in the URL: no referrer leaves them. The app's security headers set
    Referrer-Policy on every response; this runs after them (Flask calls app-wide after-request functions
    in reverse order of registration, and blueprints are registered before the security headers), and the
    pages say the same in a <meta name="referrer">."""
    policy = g.get("screening_referrer_policy")
    if policy:
        response.headers["Referrer-Policy"] = policy
    return response


@screening_bp.get("/")
def intro():
    """With ?program=<slug> (the program page's "Book"), that published program is remembered in the session (its
    slug only) so that the dates page opens on it; without, any earlier choice is forgotten."""
    program = chosen.remember(request.args.get("program"))
    return render_template("screening/intro.html", steps=STEPS, program=program)


def _carried() -> dict:
    """The query string the questionnaire's pages pass on (what a link into the pre-screen carries)."""
    return request.args.to_dict()


def _draft() -> Draft:
    return read_draft(request.cookies.get(DRAFT_COOKIE))


def _keep(response, draft: Draft | None):
    """Keep the draft in its cookie (or drop the cookie): encrypted, HttpOnly, for the questionnaire's pages only,
    and as short-lived as the draft itself."""
    if draft is None or not draft.answers and not draft.typed:
        response.delete_cookie(DRAFT_COOKIE, path=DRAFT_PATH)
    else:
        response.set_cookie(DRAFT_COOKIE, draft.token(), max_age=DRAFT_TTL_SECONDS, path=DRAFT_PATH, httponly=True,
                            secure=current_app.config.get("SESSION_COOKIE_SECURE", False), samesite="Lax")
    return response


def _start_again(status: int = 400):
    return _keep(_private(render_template("screening/start_again.html"), status), None)


def _to_page(page, draft: Draft | None):
    return _keep(redirect(url_for("screening.page", index=page.index, **_carried()), code=303), draft)


def _show(page, draft: Draft, form=None, status: int = 200):
    """A page: `form` as posted (with its errors), or filled from what was typed on it before going back, or
    from the answers so far."""
    form_class = page.form(draft.answers)
    if form is None:
        typed = draft.typed_on(page)
        form = form_class(formdata=typed) if typed else form_class(formdata=None,
                                                                    data=form_class.values(draft.answers))
    total = len(STEPS)
    title = f"Step {page.step.number} of {total}: {page.step.title}"
    back = draft.before(page)
    return _private(render_template(
        form_class.template, form=form, step=form_class, total=total, title=title, page=page,
        action=url_for("screening.page", index=page.index, **_carried()), has_back=back is not None,
        told_us_of_thoughts=page.step.number > SafetyStep.number and _told_us_of_thoughts(draft.answers)), status)


def _told_us_of_thoughts(answers: dict) -> bool:
    """Whether the applicant has told us of thoughts of death, suicide or self-harm: the later steps then keep
    a line of support at the top."""
    phq9 = answers.get("phq9") or ()
    return any((answers.get("cssrs") or {}).values()) or (len(phq9) == 9 and phq9[8] >= 1)


@screening_bp.get("/questions")
def questions():
    """Start (again): a new draft, and the first page."""
    return _to_page(PAGES[0], None)


@screening_bp.get("/questions/<int:index>")
def page(index: int):
    if not 1 <= index <= len(PAGES):
        return redirect(url_for("screening.questions", **_carried()), code=303)
    try:
        draft = _draft()
    except BadProgress:
        return _start_again()
    wanted, reachable = PAGES[index - 1], draft.reachable()
    if not wanted.shown(draft.answers) or wanted.index > reachable.index:
        return _to_page(reachable, draft)
    return _show(wanted, draft)


@screening_bp.post("/questions")
@public_write_limit
def answer_first():
    return _answer(PAGES[0])


@screening_bp.post("/questions/<int:index>")
@public_write_limit
def answer(index: int):
    if not 1 <= index <= len(PAGES):
        return redirect(url_for("screening.questions", **_carried()), code=303)
    return _answer(PAGES[index - 1])


def _answer(page):
    """A page's answers: saved to the draft, and on to the next page (POST, then redirect, then GET: the
    browser's Back shows the page before without asking to send a form again). The app's own Back keeps what
    was typed on this page, complete or not."""
    try:
        draft = _draft()
    except BadProgress:
        return _start_again()
    reachable = draft.reachable()
    if not page.shown(draft.answers) or page.index > reachable.index:
        return _to_page(reachable, draft)
    form_class = page.form(draft.answers)
    if request.form.get("action") == "back":
        back = draft.before(page)
        if back is None:
            return _to_page(page, draft)
        draft.keep_typed(page, request.form, form_class)
        return _to_page(back, draft)
    form = form_class()
    if not form.validate():
        return _keep(_show(page, draft, form, 422), draft)
    draft.save(page, form)

    following = draft.next_after(page)
    if page.step.number <= SAFETY_STEP and (following is None or following.step.number > SAFETY_STEP):
        so_far = {key: draft.answers[key] for key in early.EARLY_ANSWERS}
        if early.is_crisis(so_far):
            return _keep(_to_result(early.submit_crisis_early(so_far)), None)
    if following is not None:
        return _to_page(following, draft)
    answers = dict(draft.answers)
    entered = answers.pop(AS_ENTERED, None)
    try:
        submitted = services.submit(answers, entered=entered)
    except ValidationFailed as refusal:  # the pages check what the schema checks; kept as a safety net
        return _keep(_refused(draft, refusal), draft)
    return _keep(_to_result(submitted), None)


def _to_result(submitted: services.Submitted):
    return redirect(url_for("screening.result", token=submitted.token), code=303)


def _refused(draft: Draft, refusal: ValidationFailed):
    """The first page with a refused answer, shown again with the reasons next to its fields."""
    pages = [step_of(name) for name in refusal.fields]
    page = min((p for p in pages if p is not None), key=lambda p: p.index, default=PAGES[-1])
    form_class = page.form(draft.answers)
    form = form_class(formdata=None, data=form_class.values(draft.answers))
    for name, reasons in refusal.fields.items():
        if step_of(name) is not page:
            continue
        path = name.removeprefix("answers.")
        question = BY_PATH.get(path)  # phq9.8 is asked by the field phq9_9, cssrs.intent by intent
        field_name = question.name if question else path.split(".")[-1]
        if field_name in form:
            form[field_name].errors = [*form[field_name].errors, *reasons]
        else:
            form.form_errors.extend(reasons)
    return _show(page, draft, form, 422)


def _result_page(screening, token: str, form: ReviewRequestForm | None = None, status: int = 200,
                 email_form: EmailLinkForm | None = None):
    findings = services.read_findings(screening)
    if findings is None:  # purged: nothing of the result is left to show
        return _private(render_template("screening/result_purged.html", screening=screening), 410, no_referrer=True)
    reasons = list(findings.reasons)
    requested = screening.contact_encrypted is not None
    decided = screening.review_status not in (None, "pending")
    if form is None and early.can_request_review(screening) and not requested and not decided:
        form = ReviewRequestForm(formdata=None)
    booking_state = services.booking_state(screening)
    if email_form is None and screening.outcome == "eligible" and booking_state in ("open", "freed"):
        email_form = EmailLinkForm(formdata=None)
    return _private(render_template(
        f"screening/result_{screening.outcome}.html",
        screening=screening, token=token, form=form, requested=requested, decided=decided,
        valid_days=services.TOKEN_VALID_DAYS,
        reasons=reasons,
        blocking=[r for r in reasons if r["outcome"] in ("ineligible", "crisis")],
        to_review=[r for r in reasons if r["outcome"] == "review"],
        findings=findings, band=rules.PHQ9_BAND_WORDS.get(findings.phq9_severity or ""), phq9_max=PHQ9_MAX,
        keep_link=url_for("screening.result", token=token, _external=True),
        booking_state=booking_state, email_form=email_form,
        review_hold_hours=current_app.config["REVIEW_HOLD_HOURS"],
    ), status, no_referrer=True)


@screening_bp.get("/result/<token>")
def result(token: str):
    return _result_page(services.by_token(token), token)


@screening_bp.get("/approved/<token>")
def continue_to_booking(token: str):
    """Where a clinician's approval email leads: the next step, and nothing about the applicant's health."""
    screening = services.by_approval_token(token)
    return _private(render_template("screening/approved.html", token=token,
                                    booking_state=services.booking_state(screening),
                                    valid_days=services.TOKEN_VALID_DAYS), no_referrer=True)


@screening_bp.post("/result/<token>/review")
@public_write_limit
def request_review(token: str):
    with unit_of_work():  # reads the screening, then writes it: the write lock first
        screening = services.by_token(token)
        early.ensure_review_can_be_requested(screening)
        form = ReviewRequestForm()
        if form.validate():
            early.request_review(screening, form.contact())
            return redirect(url_for("screening.result", token=token, _anchor="review-request"), code=303)
        return _result_page(screening, token, form, 422)


def result_link_email(token: str) -> tuple[str, str, str]:
    """The kind, subject and body of the email that sends an applicant their result page's link. It says nothing
    about their health or their outcome: email is not a private channel."""
    clinic = notify.clinic_name()
    body = (
        "Hello,\n\n"
        "Here is the link to your pre-screen result, as you asked:\n\n"
        f"{url_for('screening.result', token=token, _external=True)}\n\n"
        f"It works for booking for {services.TOKEN_VALID_DAYS} days from when you took the pre-screen. Keep it to "
        "yourself: anyone with the link can open your result. If you did not ask for this email, you can ignore "
        "it.\n\n"
        f"With warm regards,\nThe team at {clinic}\n\n{notify.clinic_contact()}\n\n"
        "If you are struggling right now: call or text 988 (Suicide & Crisis Lifeline, US). In immediate danger, "
        "call 911 or go to the nearest emergency room.\n"
    )
    return "screening_result_link", f"{clinic}: the link to your pre-screen result", body


@screening_bp.post("/result/<token>/email")
@public_write_limit
def email_link(token: str):
    """Email the result page's link to the address given (an eligible pre-screen that can book). The address goes
    into the outbox only, whose sent bodies are purged; it is never stored with the pre-screen or logged."""
    with unit_of_work():
        screening = services.by_token(token)
        if screening.outcome != "eligible" or services.booking_state(screening) not in ("open", "freed"):
            return redirect(url_for("screening.result", token=token), code=303)
        form = EmailLinkForm()
        if not form.validate():
            return _result_page(screening, token, status=422, email_form=form)
        kind, subject, body = result_link_email(token)
        notify.enqueue(kind, form.email.data.strip(), subject, body)
    return redirect(url_for("screening.result", token=token, emailed=1, _anchor="email-link"), code=303)
