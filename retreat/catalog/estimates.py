"""The public estimate pages: an estimate of a catalog program with a lodging option, or of a custom configuration
(pricing's estimator prices both; the catalog knows the programs)."""

from flask import Blueprint, redirect, render_template, request, url_for

from retreat.catalog import discounts
from retreat.catalog import services as catalog
from retreat.catalog.discount_forms import PromoCodeForm
from retreat.core.errors import ValidationFailed
from retreat.pricing import estimator, services
from retreat.pricing.forms import CustomEstimateForm, ProgramEstimateForm
from retreat.web.forms import attach_errors, options
from retreat.web.limits import public_write_limit

estimates_bp = Blueprint("estimates", __name__)


def _forms():
    programs = catalog.published_programs()
    program_form = ProgramEstimateForm(prefix="program")
    program_form.program.choices = options([("", "Choose a program…")] + [(p.slug, p.name) for p in programs])
    if request.method == "GET" and request.args.get("program"):
        program_form.program.data = request.args["program"]
    return program_form, CustomEstimateForm(prefix="custom")


@estimates_bp.get("/estimate")
def estimate_form():
    program_form, custom_form = _forms()
    return render_template("catalog/estimate_form.html", program_form=program_form, custom_form=custom_form)


@estimates_bp.post("/estimate")
@public_write_limit
def create_estimate():
    program_form, custom_form = _forms()
    submitted = custom_form if custom_form.submit.data else program_form
    if submitted.validate():
        try:
            if submitted is program_form:
                issued = catalog.estimate_for_program(program_form.program.data, program_form.lodging.data)
            else:
                issued = services.estimate_custom(custom_form.configuration_values())
            return redirect(url_for("estimates.show_estimate", estimate_id=issued.id), code=303)
        except ValidationFailed as refusal:
            attach_errors(submitted, refusal)
    return render_template("catalog/estimate_form.html", program_form=program_form, custom_form=custom_form,
                           custom_submitted=submitted is custom_form), 422


def _render_estimate(estimate_id: str, code_form: PromoCodeForm | None = None, discount=None):
    issued = services.load_estimate(estimate_id)
    program = None
    if issued.program_slug:
        program = catalog.find_published_program(issued.program_slug)
    like = () if program else catalog.programs_like(issued.estimate.configuration)
    estimate = issued.estimate
    if program is not None and code_form is None:
        code_form = PromoCodeForm(formdata=None)
    payable = estimate  # the totals: after the code's discount, the deposit rule on the discounted total
    if discount is not None:
        payable = estimator.discounted(estimate, discount.cents_off(estimate.total_cents),
                                       services.price_sheet(estimate.price_list_version))
    return render_template("catalog/estimate.html", issued=issued, estimate=estimate, payable=payable,
                           program=program, programs_like=like,
                           code_form=code_form if program is not None else None, discount=discount)


@estimates_bp.get("/estimates/<estimate_id>")
def show_estimate(estimate_id: str):
    return _render_estimate(estimate_id)


@estimates_bp.post("/estimates/<estimate_id>")
@public_write_limit
def estimate_with_code(estimate_id: str):
    """A program's estimate with a discount code: the code is checked as a booking would check it today (rate
    limited like every public write, so codes cannot be guessed by brute force); nothing is written."""
    issued = services.load_estimate(estimate_id)
    form = PromoCodeForm()
    if not issued.program_slug or catalog.find_published_program(issued.program_slug) is None:
        return redirect(url_for("estimates.show_estimate", estimate_id=estimate_id), code=303)
    if form.validate_on_submit():
        try:
            discount = discounts.check_code(form.promo_code.data, issued.program_slug)
        except ValidationFailed as refusal:
            attach_errors(form, refusal)
        else:
            return _render_estimate(estimate_id, form, discount)
    if "csrf_token" in form and form.csrf_token.errors:
        form.promo_code.errors = ["This form has expired. Please enter the code again."]
    return _render_estimate(estimate_id, form), 422
