"""The public estimate pages: an estimate of a catalog program with a lodging option, or of a custom configuration
(pricing's estimator prices both; the catalog knows the programs)."""

from flask import Blueprint, redirect, render_template, request, url_for

from retreat.catalog import services as catalog
from retreat.core.errors import ValidationFailed
from retreat.pricing import services
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


@estimates_bp.get("/estimates/<estimate_id>")
def show_estimate(estimate_id: str):
    issued = services.load_estimate(estimate_id)
    program = None
    if issued.program_slug:
        program = catalog.find_published_program(issued.program_slug)
    like = () if program else catalog.programs_like(issued.estimate.configuration)
    return render_template("catalog/estimate.html", issued=issued, estimate=issued.estimate, program=program,
                           programs_like=like)
