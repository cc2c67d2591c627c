"""Clinician console: the screening review queue (routes of staff_bp).

Clinicians, and only they, see the queue with what each screening found, open one to read its answers (every
view audited) and decide. Coordinators and finance see no screening at all: they see the bookings' statuses
(held, pending_review, ...) in the bookings console.
"""

from flask import flash, redirect, render_template, url_for
from flask_login import current_user

from retreat.core.errors import DomainError, ValidationFailed
from retreat.core.transactions import unit_of_work
from retreat.screening import review
from retreat.screening import services as screening_services
from retreat.screening.models import OPEN_REVIEW_STATUSES
from retreat.screening.questions import PHQ9_STEM
from retreat.screening.review_forms import DecisionForm
from retreat.staff import services as staff_services
from retreat.staff.access import roles_required
from retreat.staff.blueprint import staff_bp
from retreat.web.forms import attach_errors


@staff_bp.get("/screenings")
@roles_required("clinician")
def screenings():
    return render_template("staff/screenings/queue.html", items=review.review_queue(),
                           outcome_labels=review.OUTCOME_LABELS)


@staff_bp.route("/screenings/<int:screening_id>", methods=["GET", "POST"])
@roles_required("clinician")
def screening_review(screening_id: int):
    screening = review.screening_for_review(screening_id)
    form = DecisionForm()
    form.decision.choices = [choice for choice in form.decision.choices
                             if choice.value in review.decisions_for(screening)]
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
    # Reading the answers writes its audit entry: the write lock first, so that ten clinicians opening pages at
    # once never meet "database is locked" (a read transaction cannot always be upgraded to a write on SQLite).
    with unit_of_work():
        screening = review.screening_for_review(screening_id)
        answers = screening_services.read_answers(screening)  # audited: one entry per view
        reviewer = staff_services.get_user(screening.reviewed_by_id) if screening.reviewed_by_id else None
        page = render_template(
            "staff/screenings/review.html", screening=screening, form=form,
            findings=screening_services.read_findings(screening),
            answers=review.readable_answers(answers) if answers is not None else None,
            contact=review.read_contact(screening), note=review.read_note(screening), reviewer=reviewer,
            outcome_labels=review.OUTCOME_LABELS, band_labels=review.PHQ9_BAND_LABELS,
            status_labels=review.REVIEW_STATUS_LABELS, phq9_stem=PHQ9_STEM,
            decision_open=screening.review_status in OPEN_REVIEW_STATUSES,
        )
    return page, status
