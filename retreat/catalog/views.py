from flask import Blueprint, render_template
from markupsafe import Markup

from retreat.catalog import services
from retreat.core.read_cache import read_cache
from retreat.pricing.forms import ProgramEstimateForm

catalog_bp = Blueprint("catalog", __name__)


@catalog_bp.get("/")
def home():
    programs = services.published_programs()
    program_list = read_cache().derived(
        "catalog:program_list_html", programs,
        lambda: Markup(render_template("catalog/_program_list.html", programs=programs)),
    )
    return render_template("catalog/home.html", programs=programs, program_list=program_list)


@catalog_bp.get("/programs/<slug>")
def program(slug: str):
    program = services.published_program(slug)
    form = ProgramEstimateForm(prefix="program")
    form.lodging.choices = [choice for choice in form.lodging.choices if choice.value in program.lodging_options]
    if form.lodging.data not in program.lodging_options:
        form.lodging.data = program.lodging_options[0]
    return render_template("catalog/program.html", program=program, form=form)


@catalog_bp.get("/contact")
def contact():
    """How to reach the clinic (CLINIC_* settings), its time zone, and the crisis resources (screening's, shared
    with every page through the `crisis_resources` global that create_app registers)."""
    return render_template("catalog/contact.html")
