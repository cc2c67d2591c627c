"""localstripe, a stateful stand-in for Stripe's API, started by the tests themselves.

The session fixture `localstripe` starts `localstripe --port <free port> --from-scratch` once and stops it at
the end. It lives in its own virtualenv (it pins an old aiohttp): `make localstripe` installs it, and
`make test` does so first, so CI runs these tests; a machine without it skips them with that command.

The real `stripe` library talks to it through STRIPE_API_BASE. It sends real, signed webhooks (about a second
after the event) to every endpoint registered with `deliver_webhooks`. Events are not stored per test, so a
test may receive a late event of the one before; the app answers those as events of unknown bookings.
"""

import hashlib
import hmac
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import stripe
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.support.system import require

PROJECT_ROOT = Path(__file__).resolve().parents[2]
INSTALL_HINT = "run `make localstripe` (a virtualenv .localstripe-venv with PyPI localstripe)"
API_KEY = "sk_test_12345"
PUBLISHABLE_KEY = "pk_test_12345"
APP_WEBHOOK = "retreat"
RECORDER_WEBHOOK = "recorder"
# Where a webhook goes when a test wants none delivered: a port nothing listens on (connection refused).
NOWHERE = "http://127.0.0.1:9/"
START_TIMEOUT_SECONDS = 20


def find_binary() -> Path | None:
    """LOCALSTRIPE (a path) if set, else the project's .localstripe-venv, else `localstripe` on PATH."""
    if os.environ.get("LOCALSTRIPE"):
        return Path(os.environ["LOCALSTRIPE"])
    candidate = PROJECT_ROOT / ".localstripe-venv" / "bin" / "localstripe"
    if candidate.exists():
        return candidate
    found = shutil.which("localstripe")
    return Path(found) if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalStripe:
    """A running localstripe: its URL, a stripe client for it, and its /_config endpoints."""

    def __init__(self, url: str):
        self.url = url
        self.client = stripe.StripeClient(API_KEY, base_addresses={"api": url}, max_network_retries=0)

    def _config(self, method: str, path: str, form: dict | None = None) -> None:
        data = urllib.parse.urlencode(form).encode() if form else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200, f"localstripe {method} {path}: {response.status}"

    def clear(self) -> None:
        """Forget every object (customers, payments, refunds); registered webhooks stay."""
        self._config("DELETE", "/_config/data")

    def deliver_webhooks(self, url: str, secret: str, webhook_id: str = APP_WEBHOOK) -> None:
        self._config("POST", f"/_config/webhooks/{webhook_id}", {"url": url, "secret": secret})

    def stop_webhooks(self, webhook_id: str = APP_WEBHOOK) -> None:
        """localstripe cannot delete a webhook: point it where nothing listens."""
        self.deliver_webhooks(NOWHERE, "whsec_nowhere", webhook_id)

    def pay(self, payment_intent_id: str, card: str = "pm_card_visa"):
        """What the applicant's browser does with the Payment Element: attach a card and confirm. Returns the
        payment intent, or the stripe.CardError of a declined card."""
        self.client.v1.payment_intents.update(payment_intent_id, params={"payment_method": card})
        try:
            return self.client.v1.payment_intents.confirm(payment_intent_id)
        except stripe.CardError as declined:
            return declined

    def refunds_of(self, payment_intent_id: str) -> list:
        return list(self.client.v1.refunds.list(params={"payment_intent": payment_intent_id}).data)


def _wait_until_listening(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"localstripe exited with {process.returncode}:\n{log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"localstripe did not listen on port {port} within {START_TIMEOUT_SECONDS} s")


@pytest.fixture(scope="session")
def localstripe(tmp_path_factory):
    """A localstripe server for the whole session (started from scratch on a free port)."""
    binary = find_binary()
    require(binary is not None and binary.exists(), "localstripe", install_hint=INSTALL_HINT)
    port = _free_port()
    log = tmp_path_factory.mktemp("localstripe") / "localstripe.log"
    with log.open("wb") as output:
        process = subprocess.Popen([str(binary), "--port", str(port), "--from-scratch"], stdout=output,
                                   stderr=subprocess.STDOUT)
    try:
        _wait_until_listening(port, process, log)
        server = LocalStripe(f"http://127.0.0.1:{port}")
        server.stop_webhooks(APP_WEBHOOK)
        server.stop_webhooks(RECORDER_WEBHOOK)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- Events: what localstripe delivered, and events made and signed like Stripe's --------------------------

@dataclass
class Delivery:
    body: bytes
    signature: str

    @property
    def event(self) -> dict:
        return json.loads(self.body)


@dataclass
class WebhookRecorder:
    """An HTTP endpoint that keeps every webhook delivered to it (body and Stripe-Signature, untouched), so a
    test can deliver the very same signed event to the app again."""

    deliveries: list[Delivery] = field(default_factory=list)

    def __post_init__(self):
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        self.deliveries.append(Delivery(request.get_data(), request.headers.get("Stripe-Signature", "")))
        return Response("ok")(environ, start_response)

    def wait_for(self, event_type: str, object_id: str, timeout: float = 10.0) -> Delivery:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for delivery in list(self.deliveries):
                event = delivery.event
                if event.get("type") == event_type and event["data"]["object"].get("id") == object_id:
                    return delivery
            time.sleep(0.05)
        raise AssertionError(f"localstripe delivered no {event_type} for {object_id} within {timeout} s")

    def close(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)


def sign(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """A Stripe-Signature header for `body`, made as Stripe (and localstripe) make it."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


_events = 0


def event_body(event_type: str, stripe_object, event_id: str | None = None) -> bytes:
    """The JSON body of a Stripe event about `stripe_object` (as retrieved from localstripe), for the events
    localstripe does not send itself (charge.refunded) and for tests of the endpoint without a server."""
    global _events
    _events += 1
    data = stripe_object.to_dict() if hasattr(stripe_object, "to_dict") else dict(stripe_object)
    return json.dumps({
        "id": event_id or f"evt_test_{os.getpid()}_{_events}_{int(time.time() * 1000)}", "object": "event",
        "type": event_type, "api_version": "2024-06-20", "created": int(time.time()), "livemode": False,
        "data": {"object": data},
    }).encode()


def post_event(client, body: bytes, secret: str | None, path: str = "/webhooks/stripe"):
    """POST an event to the app (Flask test client); `secret=None` sends it without a signature."""
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["Stripe-Signature"] = sign(body, secret)
    return client.post(path, data=body, headers=headers)


def wait_until(check, timeout: float = 10.0, interval: float = 0.05, what: str = "the condition"):
    """Poll `check()` until it returns something truthy (returned), or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(interval)

