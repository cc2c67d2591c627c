"""Payments against localstripe with the real stripe library: the app is pointed at it through STRIPE_API_BASE,
and tests that need Stripe's webhooks serve the app over HTTP (live_server) for localstripe to post to."""

import secrets

import pytest

from tests.support.localstripe import (  # noqa: F401  (localstripe: the session fixture)
    API_KEY,
    PUBLISHABLE_KEY,
    RECORDER_WEBHOOK,
    WebhookRecorder,
    localstripe,
)


@pytest.fixture
def stripe_app(app, localstripe):  # noqa: F811
    """The test's app with Stripe configured against an emptied localstripe (no webhooks delivered)."""
    localstripe.clear()
    localstripe.stop_webhooks()
    app.config.update(STRIPE_SECRET_KEY=API_KEY, STRIPE_PUBLISHABLE_KEY=PUBLISHABLE_KEY,
                      STRIPE_WEBHOOK_SECRET=f"whsec_{secrets.token_hex(16)}", STRIPE_API_BASE=localstripe.url)
    return app


@pytest.fixture
def webhooks(stripe_app, live_server, localstripe):  # noqa: F811
    """localstripe delivers its (signed) webhooks to the app served over HTTP."""
    localstripe.deliver_webhooks(live_server.url + "/webhooks/stripe", stripe_app.config["STRIPE_WEBHOOK_SECRET"])
    yield live_server
    localstripe.stop_webhooks()


@pytest.fixture
def recorder(stripe_app, localstripe):  # noqa: F811
    """A second webhook endpoint, with the app's secret, that keeps each delivery exactly as localstripe sent it."""
    recording = WebhookRecorder()
    localstripe.deliver_webhooks(recording.url, stripe_app.config["STRIPE_WEBHOOK_SECRET"], RECORDER_WEBHOOK)
    yield recording
    localstripe.stop_webhooks(RECORDER_WEBHOOK)
    recording.close()
