"""Informed consent's pages: the applicant's (routes of booking_bp, under the booking's manage link) and the admins'
(routes of staff_bp, behind its role guard).

    GET  /bookings/manage/<token>/consent       the consent to read and sign, or the signature recorded
    POST /bookings/manage/<token>/consent       sign it: full name and one tick per section
    GET  /bookings/manage/<token>/consent.pdf   the signed copy (PDF)
    GET  /staff/consent                         every version, the newest in full (admins)
    GET  /staff/consent/<number>                one version, its hash and how many signed it (admins)
    GET  /staff/consent/new                     edit the newest text as a new version (admins)
    POST /staff/consent/new                     save it (audited)
"""

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from retreat.arrival import consent
from retreat.arrival.consent_forms import ConsentEditForm, SignForm
from retreat.booking import services as booking_services
from retreat.booking.views import booking_bp, pdf_response
from retreat.core.errors import ValidationFailed
from retreat.staff.access import roles_required
from retreat.staff.blueprint import staff_bp
from retreat.web.forms import attach_errors
from retreat.web.limits import document_limit, public_write_limit

EDIT_CONSENT = ("admin",)


# --- The applicant ---------------------------------------------------------------------------------------------

def _not_open(token: str):
    flash("Consent is signed for a booking that is held or confirmed; this booking is not.", "error")
    return redirect(url_for("booking.manage", token=token), code=303)


def _page(token: str, booking, state: consent.ConsentState, form: SignForm | None, status: int = 200):
    version = state.current if form is not None else (state.signature.version if state.signature else None)
    changed = (consent.changed_titles(state.signature.version, state.current)
               if form is not None and state.resign else {})
    return render_template(
        "arrival/consent.html", token=token, booking=booking, cohort=booking.cohort, program=booking.cohort.program,
        state=state, form=form, version=version, changed=changed,
        sections=[(section, consent.blocks(section.text)) for section in version.sections] if version else [],
    ), status


@booking_bp.get("/manage/<token>/consent")
def consent_page(token: str):
    booking = booking_services.booking_by_manage_token(token)
    if not consent.is_open(booking):
        return _not_open(token)
    state = consent.state_of(booking)
    form = None
    if state.current is not None and not state.done:
        form = SignForm.for_version(state.current, formdata=None, version=str(state.current.number))
    return _page(token, booking, state, form)


@booking_bp.post("/manage/<token>/consent")
@public_write_limit
def sign_consent(token: str):
    booking = booking_services.booking_by_manage_token(token)
    if not consent.is_open(booking):
        return _not_open(token)
    state = consent.state_of(booking)
    if state.current is None:
        return redirect(url_for("booking.consent_page", token=token), code=303)
    form = SignForm.for_version(state.current)
    try:
        _, new = consent.sign(booking, version_number=form.version_number(), full_name=form.full_name.data,
                              ticked=form.ticked(), client_address=request.remote_addr)
    except ValidationFailed as refused:
        attach_errors(form, refused)
        return _page(token, booking, state, form, 422)
    except consent.ConsentVersionChanged as refusal:
        flash(refusal.message, "error")
        return redirect(url_for("booking.consent_page", token=token), code=303)
    except consent.ConsentNotOpen as refusal:
        flash(refusal.message, "error")
        return redirect(url_for("booking.manage", token=token), code=303)
    flash("Thank you: your consent is signed. A copy is on its way to your email, and you can download it here."
          if new else "You had signed this version already: nothing changed.")
    return redirect(url_for("booking.consent_page", token=token), code=303)


@booking_bp.get("/manage/<token>/consent.pdf")
@document_limit
def consent_copy(token: str):
    booking = booking_services.booking_by_manage_token(token)
    signatures = consent.signatures_of(booking)
    if not signatures or signatures[0].signed_name is None:
        flash("There is no signed consent for this booking yet.", "error")
        return redirect(url_for("booking.manage", token=token), code=303)
    signature = signatures[0]
    return pdf_response(consent.consent_pdf(booking, signature), consent.filename(signature, booking))


# --- Admins ----------------------------------------------------------------------------------------------------

@staff_bp.get("/consent")
@roles_required(*EDIT_CONSENT)
def consent_versions():
    current = consent.current_version()
    return render_template("staff/consent/list.html", versions=consent.list_versions(), current=current,
                           counts=consent.signature_counts(),
                           sections=[(s, consent.blocks(s.text)) for s in current.sections] if current else [])


@staff_bp.get("/consent/<int:number>")
@roles_required(*EDIT_CONSENT)
def consent_version(number: int):
    version = consent.version_by_number(number)
    return render_template("staff/consent/detail.html", version=version,
                           signed=consent.signature_counts().get(version.id, 0),
                           newest=consent.current_version().number,
                           sections=[(s, consent.blocks(s.text)) for s in version.sections])


@staff_bp.route("/consent/new", methods=["GET", "POST"])
@roles_required(*EDIT_CONSENT)
def new_consent_version():
    newest = consent.current_version()
    form = ConsentEditForm(data={"base_version": str(newest.number) if newest else "",
                                 "text": consent.canonical_text(consent.sections_of(newest)) if newest else ""})
    conflict = False
    if form.validate_on_submit():
        try:
            version = consent.publish(form.text.data, form.note.data, based_on=form.based_on(), staff=current_user)
        except ValidationFailed as refusal:
            attach_errors(form, refusal)
        except consent.ConsentVersionChanged as refusal:
            form.form_errors.append(refusal.message)
            conflict = True
        else:
            flash(f"Saved consent version {version.number}. Applicants whose program starts later are asked to "
                  "sign it; signatures of earlier versions stay as they were.")
            return redirect(url_for("staff.consent_version", number=version.number), code=303)
    status = 409 if conflict else 422 if form.errors or form.form_errors else 200
    return render_template("staff/consent/new.html", form=form, newest=newest, conflict=conflict), status
