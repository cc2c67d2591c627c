"""The program an applicant chose to book ("Book" on its page), remembered in their session through the
pre-screen so that the dates page opens on it. Only a published program's slug is kept: nothing about health."""

from flask import session

from retreat.catalog.services import ProgramView, find_published_program

SESSION_KEY = "chosen_program"


def remember(slug: object) -> ProgramView | None:
    """Remember a published program as the one chosen and return it; anything else (none, unknown, unpublished)
    forgets any earlier choice."""
    program = find_published_program(slug) if isinstance(slug, str) else None
    if program is None:
        session.pop(SESSION_KEY, None)
    else:
        session[SESSION_KEY] = program.slug
    return program


def chosen_slug() -> str | None:
    """The slug remembered, if any (it may have been unpublished since: the caller looks it up)."""
    slug = session.get(SESSION_KEY)
    return slug if isinstance(slug, str) else None
