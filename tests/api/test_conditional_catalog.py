"""Conditional requests of the public catalog JSON (retreat/web/conditional.py): GET /api/v1/programs and
GET /api/v1/programs/{slug} answer with a strong ETag of their body, 304 to an If-None-Match that matches it
(weak comparison, lists, `*`), and a new tag once what they say changed (a capacity, a seat taken)."""

import json

import pytest

from retreat.booking import cohorts
from retreat.core.read_cache import ReadCache
from retreat.extensions import db
from tests.booking.support import make_cohort, make_program

PATHS = ["/api/v1/programs", "/api/v1/programs/{slug}"]


@pytest.fixture
def catalog(app):
    """One published program with a cohort, the per-process catalog cache on as in production."""
    app.extensions["read_cache"] = ReadCache(10)
    program = make_program()
    cohort = make_cohort(5, program=program)
    return program.slug, cohort.id


def get(client, path: str, slug: str, **headers):
    return client.get(path.format(slug=slug), headers=headers)


@pytest.mark.parametrize("path", PATHS)
def test_a_match_answers_304_with_the_same_validators_and_no_body(client, catalog, path):
    slug, _ = catalog
    first = get(client, path, slug)
    assert first.status_code == 200
    etag = first.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/"), "a strong tag"
    assert first.headers["Cache-Control"] == "public, no-cache"
    assert first.headers["Vary"] == "Accept-Encoding", "nothing in the request (no cookie) changes the body"

    again = get(client, path, slug, **{"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    for header in ("ETag", "Cache-Control", "Vary"):
        assert again.headers[header] == first.headers[header]


IF_NONE_MATCH = [
    ("{etag}", 304),
    ("W/{etag}", 304),  # weak comparison (RFC 9110 13.1.2)
    ('"other", {etag}', 304),  # a list
    ('W/"other",W/{etag} , "third"', 304),
    ("*", 304),  # any current representation
    ('"other"', 200),
    ('"{bare}-x"', 200),
    ('W/"other", "{bare}0"', 200),
    ("", 200),
]


def test_if_none_match_lists_and_weak_comparison(client, catalog):
    slug, _ = catalog
    etag = get(client, PATHS[0], slug).headers["ETag"]
    for if_none_match, status in IF_NONE_MATCH:
        header = if_none_match.format(etag=etag, bare=etag.strip('"'))
        answer = get(client, PATHS[0], slug, **{"If-None-Match": header})
        assert answer.status_code == status, header
        if status == 200:
            assert json.loads(answer.data)["programs"] and answer.headers["ETag"] == etag


@pytest.mark.parametrize("path", PATHS)
def test_a_capacity_change_changes_the_tag_and_the_old_one_no_longer_matches(client, catalog, path):
    slug, cohort_id = catalog
    before = get(client, path, slug)
    assert get(client, path, slug, **{"If-None-Match": before.headers["ETag"]}).status_code == 304
    cohorts.set_capacity(cohort_id, 7)
    db.session.rollback()
    after = get(client, path, slug, **{"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200, "the client's copy is stale"
    assert after.headers["ETag"] != before.headers["ETag"]
    assert b'"capacity":7' in after.data
    assert get(client, path, slug, **{"If-None-Match": after.headers["ETag"]}).status_code == 304


def test_the_body_is_what_it_was_and_the_same_tag_twice(client, catalog):
    """The tag hashes the exact bytes, so equal bodies (another host, a reload) give equal tags; the body is the
    same JSON the view gave before conditional requests (Flask's serialiser, keys sorted)."""
    slug, _ = catalog
    first, second = get(client, PATHS[0], slug), get(client, PATHS[0], slug)
    assert first.data == second.data and first.headers["ETag"] == second.headers["ETag"]
    assert first.data == client.application.json.response(json.loads(first.data)).get_data()


def test_an_unknown_program_is_still_404_without_a_tag(client, catalog):
    answer = client.get("/api/v1/programs/nothing-here", headers={"If-None-Match": "*"})
    assert answer.status_code == 404 and "ETag" not in answer.headers
