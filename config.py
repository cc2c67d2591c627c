"""Configuration classes, read from the environment.

Development is the default and needs no secrets: it keeps a SQLite file and a generated secret key under
instance/. Production refuses to start without its secrets, its database, the on-call address and the clinic's
email, phone, time zone, NPI and tax id.
"""

import os
import re
import secrets
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

INSTANCE_PATH = Path(os.environ.get("RETREAT_INSTANCE_PATH", Path(__file__).parent / "instance"))


def _env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() not in {"0", "false", "no", "off"}


def _normalise_database_url(url: str) -> str:
    """Accept the postgres:// and postgresql:// URLs hosting platforms hand out; use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _instance_secret(filename: str, make=lambda: secrets.token_urlsafe(48)) -> str:
    """A secret generated once for this checkout and kept under instance/ (development only)."""
    INSTANCE_PATH.mkdir(parents=True, exist_ok=True)
    path = INSTANCE_PATH / filename
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def _fernet_key() -> str:
    from cryptography.fernet import Fernet
    return Fernet.generate_key().decode()


class ConfigurationError(RuntimeError):
    """The environment lacks a setting this configuration cannot run without."""


DEFAULT_CLINIC_TIMEZONE = "America/New_York"


def check_clinic_timezone(name: str | None) -> None:
    """Refuse a CLINIC_TIMEZONE that is not an IANA zone name (every time shown to a person is in it)."""
    try:
        ZoneInfo(name or DEFAULT_CLINIC_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(f"CLINIC_TIMEZONE {name!r} is not a known IANA time zone name, such as "
                                 f"{DEFAULT_CLINIC_TIMEZONE}.") from None


def npi_is_valid(npi: str) -> bool:
    """A National Provider Identifier: 10 digits whose last is the Luhn check digit of 80840 and the first nine."""
    if not (len(npi) == 10 and npi.isascii() and npi.isdigit()):
        return False
    total = 0
    for position, digit in enumerate(reversed("80840" + npi)):
        value = int(digit) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def check_clinic_identifiers(npi: str | None, tax_id: str | None) -> None:
    """Refuse a CLINIC_NPI or CLINIC_TAX_ID (an EIN, 12-3456789) that an insurer would refuse on a superbill."""
    if npi and not npi_is_valid(npi.strip()):
        raise ConfigurationError(f"CLINIC_NPI {npi!r} is not a National Provider Identifier (10 digits with its "
                                 "check digit, as NPPES gives it).")
    if tax_id and not re.fullmatch(r"\d{2}-?\d{7}", tax_id.strip()):
        raise ConfigurationError(f"CLINIC_TAX_ID {tax_id!r} is not an employer identification number, such as "
                                 "12-3456789.")


class Config:
    ENV_NAME = "base"
    SECRET_KEY = os.environ.get("SECRET_KEY")
    SQLALCHEMY_DATABASE_URI = _normalise_database_url(os.environ.get("DATABASE_URL", ""))
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}

    STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY")
    STRIPE_PUBLISHABLE_KEY = os.environ.get("STRIPE_PUBLISHABLE_KEY")
    STRIPE_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET")
    STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE")
    # stripe (default when STRIPE_SECRET_KEY is set), offline (bank transfer only) or demo (development only).
    PAYMENT_PROVIDER = os.environ.get("PAYMENT_PROVIDER")
    DEMO_PAYMENTS_ALLOWED = False
    # Bank details shown to applicants who pay by transfer; when set, bank transfer is offered beside the card.
    BANK_TRANSFER_INSTRUCTIONS = os.environ.get("BANK_TRANSFER_INSTRUCTIONS")
    # How long a seat is held: while the deposit is paid, and while a clinician reviews (domain defaults).
    BOOKING_HOLD_MINUTES = int(os.environ.get("BOOKING_HOLD_MINUTES") or 30)
    REVIEW_HOLD_HOURS = int(os.environ.get("REVIEW_HOLD_HOURS") or 72)
    # A reduced fee granted by staff is never below this percent of the list price (booking.fee_requests).
    REDUCED_FEE_FLOOR_PERCENT = int(os.environ.get("REDUCED_FEE_FLOOR_PERCENT") or 50)
    # Seats one therapist assigned to a cohort can care for: a staffed cohort's seats are at most this many per
    # therapist (booking.staffing).
    SEATS_PER_THERAPIST = int(os.environ.get("SEATS_PER_THERAPIST") or 4)
    # Against one script holding every seat: a hold longer than BOOKING_HOLD_MINUTES (bank transfer, review) is
    # extended only once the applicant confirms their email address; and at most this many live unpaid holds
    # per email address and per phone number (clinic-wide), and per client address in one cohort.
    HOLD_LIMITS_ENABLED = _env_flag("HOLD_LIMITS_ENABLED", True)
    HOLD_LIMIT_PER_EMAIL = int(os.environ.get("HOLD_LIMIT_PER_EMAIL") or 1)
    HOLD_LIMIT_PER_PHONE = int(os.environ.get("HOLD_LIMIT_PER_PHONE") or 1)
    HOLD_LIMIT_PER_ADDRESS_PER_COHORT = int(os.environ.get("HOLD_LIMIT_PER_ADDRESS_PER_COHORT") or 2)
    SCREENING_ENCRYPTION_KEYS = os.environ.get("SCREENING_ENCRYPTION_KEYS")
    ONCALL_CLINICIAN_EMAIL = os.environ.get("ONCALL_CLINICIAN_EMAIL")
    # Where money that needs a person is reported: a payment the site did not ask for, or of the wrong amount.
    FINANCE_EMAIL = os.environ.get("FINANCE_EMAIL")
    MAIL_SERVER = os.environ.get("MAIL_SERVER")
    MAIL_PORT = int(os.environ.get("MAIL_PORT") or 25)
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD")
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "Retreat <no-reply@localhost>")
    # The address of this site, for links in emails sent from outside a request (the command line, jobs).
    PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000")
    # How applicants reach the clinic: in the footer of every page, on the contact page and in every email.
    CLINIC_NAME = os.environ.get("CLINIC_NAME") or "Retreat"
    CLINIC_EMAIL = os.environ.get("CLINIC_EMAIL")
    CLINIC_PHONE = os.environ.get("CLINIC_PHONE")
    CLINIC_ADDRESS = os.environ.get("CLINIC_ADDRESS")
    # The clinic's IANA time zone: every time shown to a person is in it (times are stored in UTC).
    CLINIC_TIMEZONE = os.environ.get("CLINIC_TIMEZONE") or DEFAULT_CLINIC_TIMEZONE
    # Printed on receipts (the tax id) and superbills (the NPI and the tax id) for insurers and HSA/FSA plans.
    CLINIC_NPI = os.environ.get("CLINIC_NPI")
    CLINIC_TAX_ID = os.environ.get("CLINIC_TAX_ID")
    # How many days the operator keeps database backups: erased data leaves them only as they expire, which the
    # applicant's data pages say (retreat/arrival/personal_data.py). Unset: the pages say so without a number.
    BACKUP_RETENTION_DAYS = int(os.environ.get("BACKUP_RETENTION_DAYS") or 0) or None

    # Behind a reverse proxy: how many proxies set X-Forwarded-For/-Proto/-Host (0: none, use the peer address).
    # Sign-in throttling, rate limits and the audit log's addresses depend on it.
    PROXY_FIX_HOPS = int(os.environ.get("PROXY_FIX_HOPS") or 0)
    RATELIMIT_ENABLED = _env_flag("RATELIMIT_ENABLED", True)
    # Several app hosts share one Redis (deploy/README.md): the rate limits' counts and the version of the cached
    # catalog. Without it each process counts and caches on its own (one host only).
    REDIS_URL = os.environ.get("REDIS_URL") or None
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI") or REDIS_URL or "memory://"
    # Redis down: each process counts in memory meanwhile (a limit per host) rather than failing the request.
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    RATELIMIT_SWALLOW_ERRORS = True
    RATELIMIT_HEADERS_ENABLED = True
    # Public writes that create records (estimates now; screenings and bookings later).
    RATELIMIT_PUBLIC_WRITE = os.environ.get("RATELIMIT_PUBLIC_WRITE", "60 per minute")
    # Receipts and superbills that applicants download: each is a PDF rendered afresh, costly to make.
    RATELIMIT_DOCUMENTS = os.environ.get("RATELIMIT_DOCUMENTS", "20 per minute")
    # Files applicants upload (medical records, clearance), per client address: each is up to 10 MB to encrypt.
    RATELIMIT_UPLOADS = os.environ.get("RATELIMIT_UPLOADS", "30 per hour")
    # Where uploaded documents are kept, encrypted, outside the web root (default: instance/uploads). With several
    # app hosts it must be storage they all share.
    UPLOAD_FOLDER = os.environ.get("UPLOAD_FOLDER") or str(INSTANCE_PATH / "uploads")

    # A per-process cache of the public catalog and the current price list (retreat/core/read_cache.py).
    # Writes in this process clear it; other workers see a change after at most this many seconds.
    CATALOG_CACHE_SECONDS = float(os.environ.get("CATALOG_CACHE_SECONDS") or 10)
    # With REDIS_URL, how often a process asks Redis whether another host changed the catalog (at most).
    CATALOG_VERSION_CHECK_SECONDS = float(os.environ.get("CATALOG_VERSION_CHECK_SECONDS") or 0.5)
    # Logs: "json" (one object a line, with the request id; production's default) or "text".
    LOG_FORMAT = os.environ.get("LOG_FORMAT") or None

    ESTIMATE_VALID_DAYS = 30
    # argon2-cffi parameter profile for staff password hashes (argon2id, RFC 9106's low-memory choice).
    ARGON2_PROFILE = "RFC_9106_LOW_MEMORY"
    MAX_CONTENT_LENGTH = 1024 * 1024  # no form or JSON body of this service comes near 1 MB
    WTF_CSRF_TIME_LIMIT = None
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    # Staff sessions end server-side (retreat/staff/sessions.py): after this long without a request, and this long
    # after sign-in whatever happens. The cookie itself has no expiry date (it goes when the browser closes).
    STAFF_SESSION_IDLE_MINUTES = int(os.environ.get("STAFF_SESSION_IDLE_MINUTES") or 30)
    STAFF_SESSION_MAX_HOURS = int(os.environ.get("STAFF_SESSION_MAX_HOURS") or 12)

    @classmethod
    def check(cls) -> None:
        """Raise ConfigurationError when a required setting is missing or wrong."""
        check_clinic_timezone(os.environ.get("CLINIC_TIMEZONE"))
        check_clinic_identifiers(os.environ.get("CLINIC_NPI"), os.environ.get("CLINIC_TAX_ID"))

    @classmethod
    def init_app(cls, app) -> None:
        """Fill in settings that need the file system; called by create_app after check()."""


class DevelopmentConfig(Config):
    ENV_NAME = "development"
    DEMO_PAYMENTS_ALLOWED = True  # used when no Stripe keys are set
    # Development prints emails to the log instead of sending them, alerts included.
    ONCALL_CLINICIAN_EMAIL = Config.ONCALL_CLINICIAN_EMAIL or "oncall@clinic.example"
    FINANCE_EMAIL = Config.FINANCE_EMAIL or "finance@clinic.example"
    SQLALCHEMY_DATABASE_URI = Config.SQLALCHEMY_DATABASE_URI or f"sqlite:///{INSTANCE_PATH / 'retreat.sqlite3'}"
    # A made-up clinic for the demo (555-01xx numbers and .example addresses reach nobody).
    CLINIC_NAME = os.environ.get("CLINIC_NAME") or "Cedar House Retreats"
    CLINIC_EMAIL = Config.CLINIC_EMAIL or "hello@cedarhouse.example"
    CLINIC_PHONE = Config.CLINIC_PHONE or "(828) 555-0142"
    CLINIC_ADDRESS = Config.CLINIC_ADDRESS or "Cedar House, 14 Orchard Lane, Asheville, NC 28801"
    CLINIC_NPI = Config.CLINIC_NPI or "1234567893"  # a made-up NPI that passes the check digit
    CLINIC_TAX_ID = Config.CLINIC_TAX_ID or "12-3456789"

    @classmethod
    def init_app(cls, app) -> None:
        if not app.config.get("SECRET_KEY"):
            app.config["SECRET_KEY"] = _instance_secret("secret_key")
        if not app.config.get("SCREENING_ENCRYPTION_KEYS"):
            app.config["SCREENING_ENCRYPTION_KEYS"] = _instance_secret("screening_encryption_key", _fernet_key)


class TestingConfig(Config):
    ENV_NAME = "testing"
    TESTING = True
    DEMO_PAYMENTS_ALLOWED = True
    PAYMENT_PROVIDER = None  # demo, unless a test sets Stripe keys
    STRIPE_SECRET_KEY = None
    STRIPE_PUBLISHABLE_KEY = None
    STRIPE_WEBHOOK_SECRET = None
    STRIPE_API_BASE = None
    BANK_TRANSFER_INSTRUCTIONS = None
    SECRET_KEY = "testing-secret-key-not-for-production"
    SCREENING_ENCRYPTION_KEYS = "Vv0nW9D2cVmz2y0cqJ8b8t1fQ3YV4x6yF9Qm0m1bXk8="  # a fixed test key, never in use
    # Tests never send real email, whatever the developer's environment says.
    MAIL_SERVER = None
    MAIL_USERNAME = None
    MAIL_PASSWORD = None
    ONCALL_CLINICIAN_EMAIL = None
    FINANCE_EMAIL = "finance@clinic.example"  # queued in the outbox, never sent (no MAIL_SERVER)
    # A fixed clinic, whatever the developer's environment says (tests set another zone through create_app).
    CLINIC_NAME = "Cedar House Retreats"
    CLINIC_EMAIL = "hello@cedarhouse.example"
    CLINIC_PHONE = "(828) 555-0142"
    CLINIC_ADDRESS = "Cedar House, 14 Orchard Lane, Asheville, NC 28801"
    CLINIC_TIMEZONE = DEFAULT_CLINIC_TIMEZONE
    CLINIC_NPI = "1234567893"
    CLINIC_TAX_ID = "12-3456789"
    SQLALCHEMY_DATABASE_URI = "sqlite://"
    RATELIMIT_ENABLED = False
    REDIS_URL = None  # tests of shared state start their own Redis (tests/cluster)
    RATELIMIT_STORAGE_URI = "memory://"
    LOG_FORMAT = "text"
    HOLD_LIMITS_ENABLED = False  # tests of the limits switch them on; others book many seats with one applicant
    CATALOG_CACHE_SECONDS = 0  # tests of the cache itself switch it on
    UPLOAD_FOLDER = str(Path(tempfile.gettempdir()) / "retreat-test-uploads")  # tests of uploads use their own
    ARGON2_PROFILE = "CHEAPEST"  # still argon2id; keeps hundreds of sign-ins in the tests fast
    WTF_CSRF_ENABLED = False


class ProductionConfig(Config):
    ENV_NAME = "production"
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    REMEMBER_COOKIE_HTTPONLY = True
    PREFERRED_URL_SCHEME = "https"

    @classmethod
    def check(cls) -> None:
        super().check()
        # Without ONCALL_CLINICIAN_EMAIL a crisis pre-screen would alert nobody; without the clinic's email and
        # phone an applicant could not reach it, and without its zone every time shown would be a guess. Receipts
        # and superbills print the clinic's NPI and tax id: without them an insurer or HSA plan refuses them.
        required = ("SECRET_KEY", "DATABASE_URL", "SCREENING_ENCRYPTION_KEYS", "ONCALL_CLINICIAN_EMAIL",
                    "MAIL_SERVER", "CLINIC_EMAIL", "CLINIC_PHONE", "CLINIC_TIMEZONE", "CLINIC_NPI", "CLINIC_TAX_ID")
        missing = [name for name in required if not os.environ.get(name)]
        provider = os.environ.get("PAYMENT_PROVIDER") or "stripe"
        if provider == "demo":
            raise ConfigurationError("Production configuration refuses demo payments (PAYMENT_PROVIDER=demo).")
        if os.environ.get("STRIPE_API_BASE"):
            raise ConfigurationError("Production configuration refuses STRIPE_API_BASE: it points the Stripe library "
                                     "away from Stripe (it is for localstripe in tests).")
        if provider == "offline":
            missing += [] if os.environ.get("BANK_TRANSFER_INSTRUCTIONS") else ["BANK_TRANSFER_INSTRUCTIONS"]
        else:
            missing += [name for name in ("STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET")
                        if not os.environ.get(name)]
        if missing:
            raise ConfigurationError(
                "Production configuration refuses to start without " + ", ".join(missing) + "."
            )


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def config_for(name: str | None = None) -> type[Config]:
    """The configuration class named by the argument or RETREAT_CONFIG, development by default."""
    name = name or os.environ.get("RETREAT_CONFIG", "development")
    try:
        return CONFIGS[name]
    except KeyError:
        raise ConfigurationError(f"Unknown configuration {name!r}; use one of {', '.join(CONFIGS)}.") from None
