import pytest

import config
from retreat import create_app


def test_production_refuses_to_start_without_its_secrets(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("SCREENING_ENCRYPTION_KEYS", raising=False)
    monkeypatch.delenv("ONCALL_CLINICIAN_EMAIL", raising=False)
    monkeypatch.delenv("MAIL_SERVER", raising=False)
    for name in ("CLINIC_EMAIL", "CLINIC_PHONE", "CLINIC_TIMEZONE", "CLINIC_NPI", "CLINIC_TAX_ID"):
        monkeypatch.delenv(name, raising=False)
    everything = ("SECRET_KEY, DATABASE_URL, SCREENING_ENCRYPTION_KEYS, ONCALL_CLINICIAN_EMAIL, MAIL_SERVER, "
                  "CLINIC_EMAIL, CLINIC_PHONE, CLINIC_TIMEZONE, CLINIC_NPI, CLINIC_TAX_ID")
    with pytest.raises(config.ConfigurationError, match=everything):
        create_app("production")
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    with pytest.raises(config.ConfigurationError, match="DATABASE_URL"):
        create_app("production")


def _production_environment(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db.internal:5432/retreat")
    monkeypatch.setenv("ONCALL_CLINICIAN_EMAIL", "oncall@clinic.example")
    monkeypatch.setenv("MAIL_SERVER", "smtp.clinic.example")
    monkeypatch.setenv("SCREENING_ENCRYPTION_KEYS", "Vv0nW9D2cVmz2y0cqJ8b8t1fQ3YV4x6yF9Qm0m1bXk8=")
    monkeypatch.setenv("CLINIC_EMAIL", "care@clinic.example")
    monkeypatch.setenv("CLINIC_PHONE", "(212) 555-0199")
    monkeypatch.setenv("CLINIC_TIMEZONE", "America/New_York")
    monkeypatch.setenv("CLINIC_NPI", "1234567893")
    monkeypatch.setenv("CLINIC_TAX_ID", "12-3456789")
    for name in ("PAYMENT_PROVIDER", "STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET",
                 "BANK_TRANSFER_INSTRUCTIONS", "STRIPE_API_BASE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(config.ProductionConfig, "SQLALCHEMY_DATABASE_URI",
                        config._normalise_database_url("postgres://u:p@db.internal:5432/retreat"))


@pytest.mark.parametrize(("environment", "refusal"), [
    ({}, "STRIPE_SECRET_KEY, STRIPE_PUBLISHABLE_KEY, STRIPE_WEBHOOK_SECRET"),
    ({"STRIPE_SECRET_KEY": "sk_live_x", "STRIPE_PUBLISHABLE_KEY": "pk_live_x"}, "without STRIPE_WEBHOOK_SECRET"),
    ({"PAYMENT_PROVIDER": "demo"}, "refuses demo payments"),
    ({"PAYMENT_PROVIDER": "offline"}, "BANK_TRANSFER_INSTRUCTIONS"),
    ({"STRIPE_API_BASE": "http://localhost:8420"}, "refuses STRIPE_API_BASE"),
])
def test_production_needs_a_real_payment_provider(monkeypatch, environment, refusal):
    _production_environment(monkeypatch)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(config.ConfigurationError, match=refusal):
        create_app("production")


def test_production_never_allows_demo_payments(monkeypatch):
    _production_environment(monkeypatch)
    monkeypatch.setenv("PAYMENT_PROVIDER", "offline")
    monkeypatch.setenv("BANK_TRANSFER_INSTRUCTIONS", "Bank: First Clinic Bank, account 123")
    app = create_app("production")
    assert app.config["DEMO_PAYMENTS_ALLOWED"] is False


def test_production_accepts_a_postgresql_url(monkeypatch):
    _production_environment(monkeypatch)
    for name in ("STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET"):
        monkeypatch.setenv(name, "x_live_configured")
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db.internal:5432/retreat")
    monkeypatch.setenv("ONCALL_CLINICIAN_EMAIL", "oncall@clinic.example")
    monkeypatch.setenv("MAIL_SERVER", "smtp.clinic.example")
    monkeypatch.setenv("SCREENING_ENCRYPTION_KEYS", "Vv0nW9D2cVmz2y0cqJ8b8t1fQ3YV4x6yF9Qm0m1bXk8=")
    monkeypatch.setattr(config.ProductionConfig, "SQLALCHEMY_DATABASE_URI",
                        config._normalise_database_url("postgres://u:p@db.internal:5432/retreat"))
    app = create_app("production")
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u:p@db.internal:5432/retreat"
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_development_needs_no_secrets(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setattr(config, "INSTANCE_PATH", tmp_path)
    app = create_app("development")
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")
    assert len(app.config["SECRET_KEY"]) >= 40
    assert app.config["SECRET_KEY"] == (tmp_path / "secret_key").read_text()
    assert create_app("development").config["SECRET_KEY"] == app.config["SECRET_KEY"]


def test_unknown_configuration_name_is_refused():
    with pytest.raises(config.ConfigurationError, match="Unknown configuration"):
        create_app("staging")


def test_rate_limit_flag_reads_false(monkeypatch):
    monkeypatch.setenv("RATELIMIT_ENABLED", "false")
    assert config._env_flag("RATELIMIT_ENABLED", True) is False
    monkeypatch.setenv("RATELIMIT_ENABLED", "")
    assert config._env_flag("RATELIMIT_ENABLED", True) is True


def test_development_prints_emails_it_does_not_send(monkeypatch, tmp_path, caplog):
    import logging

    from retreat.notify import services as notify
    monkeypatch.setattr(config, "INSTANCE_PATH", tmp_path)
    app = create_app("development", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'dev.sqlite3'}")
    assert app.logger.getEffectiveLevel() == logging.INFO
    with app.app_context(), caplog.at_level(logging.INFO, logger=app.logger.name):
        from retreat.extensions import db
        db.create_all()
        email = notify.enqueue("booking_held", "applicant@example.org", "Your seat is held", "Reference RT-TEST22")
        db.session.commit()
        notify.send_now(email)
        assert "Reference RT-TEST22" in caplog.text
        db.session.remove()
