"""Retreat: booking and cost estimation for ketamine-assisted psychotherapy retreats."""

import logging
from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from config import INSTANCE_PATH, Config, check_clinic_timezone, config_for
from retreat import models  # noqa: F401  (every table, for Alembic and relationships)
from retreat.api import api_bp
from retreat.arrival import cli as arrival_cli  # noqa: F401  (adds `flask bookings remind`)
from retreat.arrival import consent as arrival_consent
from retreat.arrival import (
    consent_views,  # noqa: F401  (routes of booking_bp and staff_bp)
    intake,
    intake_views,  # noqa: F401  (the intake's pages, on booking_bp and staff_bp)
    personal_data_views,  # noqa: F401  (the applicant's data: booking_bp and staff_bp routes)
    readiness_views,  # noqa: F401  (routes of staff_bp)
    uploads_views,  # noqa: F401  (documents: routes of booking_bp and staff_bp)
)
from retreat.arrival.consent_cli import consent_cli
from retreat.booking import policy as booking_policy
from retreat.booking import rooms as booking_rooms
from retreat.booking import rooms_views  # noqa: F401  (staffing and rooms: routes of staff_bp)
from retreat.booking import staff_views as booking_staff_views  # noqa: F401  (routes of staff_bp)
from retreat.booking.cli import bookings_cli
from retreat.booking.views import booking_bp
from retreat.catalog import discount_staff_views  # noqa: F401  (routes of staff_bp)
from retreat.catalog import staff_views as catalog_staff_views  # noqa: F401  (routes of staff_bp)
from retreat.catalog.cli import discounts_cli
from retreat.catalog.estimates import estimates_bp
from retreat.catalog.views import catalog_bp
from retreat.cli import register_cli
from retreat.core import (
    read_cache,
    shared_state,
    transactions,  # noqa: F401  (SQLite transaction control, see its docstring)
)
from retreat.extensions import csrf, db, limiter, login_manager, migrate
from retreat.finance import staff_views as finance_staff_views  # noqa: F401  (routes of staff_bp)
from retreat.finance.cli import finance_cli
from retreat.notify.cli import notify_cli
from retreat.payment_events import cli as payment_events_cli  # noqa: F401  (adds `flask payments reconcile`)
from retreat.payment_events import views as payment_events_views  # noqa: F401  (Stripe's return, on booking_bp)
from retreat.payment_events.webhooks import webhooks_bp
from retreat.payments.cli import payments_cli
from retreat.pricing import rules as pricing_rules
from retreat.pricing import staff_views as pricing_staff_views  # noqa: F401  (routes of staff_bp)
from retreat.screening import services as screening_services
from retreat.screening import staff_views as screening_staff_views  # noqa: F401  (routes of staff_bp)
from retreat.screening.cli import screening_cli
from retreat.screening.views import screening_bp
from retreat.staff.blueprint import staff_bp
from retreat.staff.cli import staff_cli
from retreat.staff.views import (  # noqa: F401  (each module adds routes to staff_bp)
    accounts,
    api_tokens,
    audit_log,
    users,
)
from retreat.web import conditional, errors, filters, health, request_log, security
from retreat.web.routing import DatabaseIdConverter

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(config: type[Config] | str | None = None, **overrides) -> Flask:
    """Build the application: configuration, extensions, blueprints, CLI and error handlers.

    `config` is a Config class or its name (default: RETREAT_CONFIG, else development); `overrides` are
    settings applied on top, for tests.
    """
    config_class = config if isinstance(config, type) else config_for(config)
    config_class.check()

    app = Flask(__name__, template_folder=str(PROJECT_ROOT / "templates"),
                static_folder=str(PROJECT_ROOT / "static"), instance_path=str(INSTANCE_PATH))
    app.config.from_object(config_class)
    app.config.update(overrides)
    check_clinic_timezone(app.config.get("CLINIC_TIMEZONE"))
    config_class.init_app(app)
    if not app.testing:
        app.logger.setLevel(logging.INFO)  # development prints queued emails at INFO, in place of sending them
    app.url_map.converters["int"] = DatabaseIdConverter
    if app.config["PROXY_FIX_HOPS"]:
        hops = app.config["PROXY_FIX_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    limiter.init_app(app)
    shared_state.init_app(app)
    read_cache.init_app(app)
    app.json.sort_keys = False
    login_manager.init_app(app)

    app.register_blueprint(catalog_bp)
    app.register_blueprint(estimates_bp)
    app.register_blueprint(screening_bp)
    app.register_blueprint(booking_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(health.health_bp)
    app.register_blueprint(staff_bp)
    app.register_blueprint(webhooks_bp)
    # The room placement page (booking) shows the roommate preference asked at intake (arrival, above it).
    booking_rooms.roommate_preferences_from(intake.roommate_preferences)
    csrf.exempt(api_bp)
    csrf.exempt(webhooks_bp)  # Stripe signs its events instead
    filters.register(app)
    app.jinja_env.globals.update(
        route_labels=pricing_rules.ROUTE_LABELS,
        modality_labels=pricing_rules.MODALITY_LABELS,
        modality_names=pricing_rules.MODALITY_NAMES,
        lodging_labels=pricing_rules.LODGING_LABELS,
        crisis_resources=screening_services.crisis_resources(),  # the contact page (catalog) shows screening's
        cancellation_policy=booking_policy.public_policy,
        cancellation_policy_points=booking_policy.policy_points,
        consent_summary=arrival_consent.staff_summary,  # the staff booking page (booking cannot import arrival)
    )
    errors.register(app)
    security.register(app)
    request_log.register(app)
    conditional.register(app)
    register_cli(app)
    app.cli.add_command(staff_cli)
    app.cli.add_command(screening_cli)
    app.cli.add_command(notify_cli)
    app.cli.add_command(payments_cli)
    app.cli.add_command(finance_cli)
    app.cli.add_command(bookings_cli)
    app.cli.add_command(discounts_cli)
    app.cli.add_command(consent_cli)
    return app
