"""Clinician console: the screening review queue (routes of staff_bp).

Clinicians, and only they, see the queue with what each screening found, open one to read its answers (every
view audited) and decide. Coordinators and finance see no screening at all: they see the bookings' statuses
(held, pending_review, ...) in the bookings console.
"""

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from retreat.core.errors import DomainError, ValidationFailed
from retreat.core.transactions import unit_of_work
from retreat.screening import review, rules
from retreat.screening import services as screening_services
from retreat.screening.models import OPEN_REVIEW_STATUSES
from retreat.screening.questions import PHQ9_STEM
from retreat.screening.review_forms import CloseForm, DecisionForm
from retreat.staff import services as staff_services
from retreat.staff import todo
from retreat.staff.access import roles_required
from retreat.staff.blueprint import staff_bp
from retreat.web.forms import attach_errors


def _open_reviews_lines() -> list[todo.ToDo]:
    total, urgent = review.open_reviews()
    return [
        todo.ToDo("screening.urgent", "Urgent pre-screens awaiting a clinician", urgent,
                  url_for("staff.screenings", show="urgent"),
                  "Crisis or safety answers: the on-call clinician was alerted. Open each today.", urgent=urgent > 0),
        todo.ToDo("screening.waiting", "Pre-screens awaiting a clinician", total, url_for("staff.screenings"),
                  "Urgent ones first, then the oldest."),
    ]


# Clinicians only: the counts come from health data (who answered what), so no other role sees them.
todo.register("screening.reviews", roles=("clinician",), order=10, lines=_open_reviews_lines)


@staff_bp.get("/screenings")
@roles_required("clinician")
def screenings():
    view = request.args.get("show", "open")
    if view not in review.QUEUE_VIEWS:
        view = "open"
    return render_template("staff/screenings/queue.html", items=review.review_queue(view), view=view,
                           views=review.QUEUE_VIEWS, outcome_labels=review.OUTCOME_LABELS)


def _review_page(screening_id: int, form: DecisionForm, close_form: CloseForm, status: int = 200):
    # Reading the answers writes its audit entry: the write lock first, so that ten clinicians opening pages at
    # once never meet "database is locked" (a read transaction cannot always be upgraded to a write on SQLite).
    with unit_of_work():
        screening = review.screening_for_review(screening_id)
        answers = screening_services.read_answers(screening)  # audited: one entry per view
        reviewer = staff_services.get_user(screening.reviewed_by_id) if screening.reviewed_by_id else None
        findings = screening_services.read_findings(screening)
        page = render_template(
            "staff/screenings/review.html", screening=screening, form=form, close_form=close_form,
            findings=findings,
            rule_words={reason["code"]: rules.rule_title(reason["code"], reason.get("message", ""))
                        for reason in (findings.reasons if findings else ())},
            answers=review.readable_answers(answers) if answers is not None else None,
            contact=review.read_contact(screening), note=review.read_note(screening), reviewer=reviewer,
            outcome_labels=review.OUTCOME_LABELS, band_labels=review.PHQ9_BAND_LABELS,
            status_labels=review.REVIEW_STATUS_LABELS, phq9_stem=PHQ9_STEM,
            decision_open=screening.review_status in OPEN_REVIEW_STATUSES and not review.can_close(screening),
            closable=review.can_close(screening),
        )
    return page, status


def _decision_form(screening) -> DecisionForm:
    form = DecisionForm()
    form.decision.choices = [choice for choice in form.decision.choices
                             if choice.value in review.decisions_for(screening)]
    return form


@staff_bp.route("/screenings/<int:screening_id>", methods=["GET", "POST"])
@roles_required("clinician")
def screening_review(screening_id: int):
    screening = review.screening_for_review(screening_id)
    form = _decision_form(screening)
    status = 200
    if form.validate_on_submit():
        try:
            review.decide(screening.id, form.decision.data, form.note.data, current_user)  # its own unit of work
        except ValidationFailed as refusal:
            attach_errors(form, refusal)
        except DomainError as refusal:  # decided meanwhile (409): show the decision that stands
            if refusal.status != 409:
                raise
            form.form_errors.append(refusal.message)
            status = 409
        else:
            flash(f"Decision recorded for pre-screen {screening_id}: "
                  f"{review.REVIEW_STATUS_LABELS[form.decision.data].lower()}.")
            return redirect(url_for("staff.screenings"))
    if status == 200 and form.errors:
        status = 422
    return _review_page(screening_id, form, CloseForm(formdata=None), status)


@staff_bp.post("/screenings/<int:screening_id>/close")
@roles_required("clinician")
def screening_close(screening_id: int):
    """An anonymous crisis acknowledged with a note: it leaves the open queue (listed under "closed")."""
    screening = review.screening_for_review(screening_id)
    close_form = CloseForm()
    status = 422
    if close_form.validate_on_submit():
        try:
            review.acknowledge_and_close(screening.id, close_form.close_note.data, current_user)  # one unit of work
        except ValidationFailed as refusal:
            attach_errors(close_form, refusal)
        except DomainError as refusal:
            if refusal.status != 409:
                raise
            close_form.form_errors.append(refusal.message)
            status = 409
        else:
            flash(f"Pre-screen {screening_id} is acknowledged and closed; it is listed under Closed.")
            return redirect(url_for("staff.screenings"))
    return _review_page(screening_id, _decision_form(screening), close_form, status)
