"""The applicant's pre-screen: an intro, six short steps, and a result page per outcome (domain/screening.md).

    GET  /screening/                       what the pre-screen is, and a Start button (?program=: the one to book)
    GET  /screening/questions              step 1
    POST /screening/questions              the answers of the step shown; the next step, or the result
    GET  /screening/result/<token>         the result, by outcome (the applicant's pre-screen token only)
    POST /screening/result/<token>/review  a review outcome's request for a seat and a clinician review
    GET  /screening/approved/<token>       where a clinician's approval email leads (the approval token only):
                                           on to booking, with nothing about health

A token opens only the pages of its purpose (services.by_token, by_approval_token); on another page it is
unknown (404).

The answers so far travel between steps in one encrypted hidden field (forms.Progress): no health answer is
kept in the cookie session or the database until the applicant reaches a result, and every carried answer is
checked again on every POST. The safety questions come second; if they give a crisis, the screen is stored at
once (early.submit_crisis_early) and the applicant goes straight to the crisis resources.

Question and result pages are never cached; result pages carry their token in the URL, so they also send no
referrer anywhere.
"""

from flask import Blueprint, g, make_response, redirect, render_template, request, url_for

from retreat.catalog import chosen
from retreat.core.errors import ValidationFailed
from retreat.core.transactions import unit_of_work
from retreat.screening import early, rules, services
from retreat.screening.forms import (
    STEPS,
    BadProgress,
    Progress,
    ReviewRequestForm,
    SafetyStep,
    read_progress,
    step_of,
)
from retreat.screening.questions import BY_PATH
from retreat.web.limits import public_write_limit

screening_bp = Blueprint("screening", __name__, url_prefix="/screening")

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


def _show(step, progress: Progress, form=None, status: int = 200):
    """The page of a step: `form` as posted (with its errors), or filled from the answers carried."""
    if form is None:
        form = step(formdata=None, data=step.values(progress.answers))
    form.progress.data = Progress(step.number, progress.answers).token()
    title = f"Step {step.number} of {len(STEPS)}: {step.title}"
    return _private(render_template(step.template, form=form, step=step, total=len(STEPS), title=title,
                                    told_us_of_thoughts=step.number > SafetyStep.number
                                    and _told_us_of_thoughts(progress.answers)), status)


def _told_us_of_thoughts(answers: dict) -> bool:
    """Whether the applicant has told us of thoughts of death, suicide or self-harm: the later steps then keep
    a line of support at the top."""
    phq9 = answers.get("phq9") or ()
    return any((answers.get("cssrs") or {}).values()) or (len(phq9) == 9 and phq9[8] >= 1)


@screening_bp.get("/questions")
def questions():
    return _show(STEPS[0], Progress())


@screening_bp.post("/questions")
@public_write_limit
def answer():
    try:
        progress = read_progress(request.form.get("progress"))
    except BadProgress:
        return _private(render_template("screening/start_again.html"), 400)
    step = STEPS[progress.step - 1]
    if request.form.get("action") == "back" and step.number > 1:
        return _show(STEPS[step.number - 2], progress)
    form = step()
    if not form.validate():
        return _show(step, progress, form, 422)
    progress = progress.with_step(step, form.answers())

    if step is SafetyStep:
        so_far = {key: progress.answers[key] for key in early.EARLY_ANSWERS}
        if early.is_crisis(so_far):
            return _to_result(early.submit_crisis_early(so_far))
    if step.number < len(STEPS):
        return _show(STEPS[step.number], progress)
    try:
        submitted = services.submit(progress.answers)
    except ValidationFailed as refusal:  # the steps check what the schema checks; kept as a safety net
        return _refused(progress, refusal)
    return _to_result(submitted)


def _to_result(submitted: services.Submitted):
    return redirect(url_for("screening.result", token=submitted.token), code=303)


def _refused(progress: Progress, refusal: ValidationFailed):
    """The first step with a refused answer, shown again with the reasons next to its fields."""
    steps = [step_of(name) for name in refusal.fields]
    step = min((s for s in steps if s is not None), key=lambda s: s.number, default=STEPS[-1])
    form = step(formdata=None, data=step.values(progress.answers))
    for name, reasons in refusal.fields.items():
        if step_of(name) is not step:
            continue
        path = name.removeprefix("answers.")
        question = BY_PATH.get(path)  # phq9.8 is asked by the field phq9_9, cssrs.intent by intent
        field_name = question.name if question else path.split(".")[-1]
        if field_name in form:
            form[field_name].errors = [*form[field_name].errors, *reasons]
        else:
            form.form_errors.extend(reasons)
    return _show(step, progress, form, 422)


def _result_page(screening, token: str, form: ReviewRequestForm | None = None, status: int = 200):
    findings = services.read_findings(screening)
    if findings is None:  # purged: nothing of the result is left to show
        return _private(render_template("screening/result_purged.html", screening=screening), 410, no_referrer=True)
    reasons = list(findings.reasons)
    requested = screening.contact_encrypted is not None
    decided = screening.review_status not in (None, "pending")
    if form is None and early.can_request_review(screening) and not requested and not decided:
        form = ReviewRequestForm(formdata=None)
    return _private(render_template(
        f"screening/result_{screening.outcome}.html",
        screening=screening, token=token, form=form, requested=requested, decided=decided,
        valid_days=services.TOKEN_VALID_DAYS,
        reasons=reasons,
        blocking=[r for r in reasons if r["outcome"] in ("ineligible", "crisis")],
        to_review=[r for r in reasons if r["outcome"] == "review"],
        findings=findings, band=rules.PHQ9_BAND_WORDS.get(findings.phq9_severity or ""), phq9_max=PHQ9_MAX,
        keep_link=url_for("screening.result", token=token, _external=True),
    ), status, no_referrer=True)


@screening_bp.get("/result/<token>")
def result(token: str):
    return _result_page(services.by_token(token), token)


@screening_bp.get("/approved/<token>")
def continue_to_booking(token: str):
    """Where a clinician's approval email leads: the next step, and nothing about the applicant's health."""
    services.by_approval_token(token)
    return _private(render_template("screening/approved.html"), no_referrer=True)


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
