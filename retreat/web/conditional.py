"""Conditional GET (RFC 9110 §8.8.3, §13.1.2) for public read-only JSON made from a cached read model.

The body is serialised once per cached source object (core.read_cache `derived`: when the catalog is forgotten
and loaded anew, the body and its tag are made anew), and its entity tag is a hash of those exact bytes, so
every host that serves the same catalog gives the same tag, and any change of what the body says (a capacity, a
seat taken, a price) changes it. The tag is strong: the bytes are the representation (a proxy that compresses
them, nginx for one, weakens it itself). A request whose If-None-Match matches (weak comparison, as §13.1.2
asks; `*` matches any current representation) gets 304 with no body, and the same ETag, Cache-Control and Vary
the 200 would carry (§15.4.5), without the body being serialised.

Cache-Control `no-cache`: a cache may keep the body but must ask again each time (seats change at any moment),
which is what makes the 304 worth having. `public`: the same for everyone, no credentials involved. Vary:
nothing in the request changes the body, so only `Accept-Encoding` for whoever compresses it downstream. (Flask
adds `Vary: Cookie` to any response of a request that read the session, and Flask-Login reads it after every
request; `PublicSessionInterface` leaves it off these responses, which neither read nor set a cookie.)
"""

import hashlib
from collections.abc import Callable, Hashable

from flask import Flask, Response, current_app, request
from flask.sessions import SecureCookieSessionInterface

from retreat.core.read_cache import read_cache

CACHE_CONTROL = "public, no-cache"
VARY = "Accept-Encoding"


class Representation:
    __slots__ = ("body", "etag")

    def __init__(self, body: bytes):
        self.body = body
        self.etag = hashlib.sha256(body).hexdigest()[:32]


def _representation(make: Callable[[], object]) -> Representation:
    # The same bytes Flask's JSON provider gives a view that returns the object (sorted keys, its separators).
    return Representation(current_app.json.response(make()).get_data())


def conditional_json(key: Hashable, source: object, make: Callable[[], object]) -> Response:
    """The JSON of `make()` (kept while `source`, a cached object, is the same), or 304 when the client has it."""
    representation = read_cache().derived(("conditional-json", key), source, lambda: _representation(make))
    if request.if_none_match.contains_weak(representation.etag) or request.if_none_match.star_tag:
        response = Response(status=304)
    else:
        response = Response(representation.body, mimetype="application/json")
    response.public_representation = True  # PublicSessionInterface: no Vary: Cookie
    response.set_etag(representation.etag)
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.headers["Vary"] = VARY
    return response


class PublicSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, except that a public representation (conditional_json) whose request did
    not change the session gets no `Vary: Cookie`: its body is the same with or without a cookie."""

    def save_session(self, app: Flask, session, response: Response) -> None:
        super().save_session(app, session, response)
        if getattr(response, "public_representation", False) and not session.modified \
                and "Set-Cookie" not in response.headers:
            response.vary.discard("cookie")  # (lower case: werkzeug matches the list by it)


def register(app: Flask) -> None:
    app.session_interface = PublicSessionInterface()
