from flask import Blueprint, render_template

from retreat.catalog import services
from retreat.pricing.forms import ProgramEstimateForm

catalog_bp = Blueprint("catalog", __name__)


@catalog_bp.get("/")
def home():
    return render_template("catalog/home.html", programs=services.published_programs())


@catalog_bp.get("/programs/<slug>")
def program(slug: str):
    program = services.published_program(slug)
    form = ProgramEstimateForm(prefix="program")
    form.lodging.choices = [choice for choice in form.lodging.choices if choice.value in program.lodging_options]
    if form.lodging.data not in program.lodging_options:
        form.lodging.data = program.lodging_options[0]
    return render_template("catalog/program.html", program=program, form=form)
