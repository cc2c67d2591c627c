"""What each role has to do next, for the staff home page.

The staff area sits below the areas whose work it lists (screening, booking, finance) and imports none of them:
each of those registers its to-do sources here (as booking registers its seat counter with the catalog), and a
source says which roles see it. The home page asks `todos_for(user)` and shows each line with its count and a
link to the page that lists those items (filtered where that page can filter).

A source must answer from the database alone, with counts, never with what the items hold: a line names how many
and where to go, so a source seen by finance never carries health data.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from retreat.staff.models import ROLES


@dataclass(frozen=True)
class ToDo:
    """One line of the staff home: how many things wait, in words, and where they are."""

    key: str
    label: str  # "Holds that lapse within 24 hours"
    count: int
    url: str
    hint: str = ""  # one sentence of what to do
    urgent: bool = False  # shown first and marked

    @property
    def done(self) -> bool:
        return self.count == 0


@dataclass(frozen=True)
class Source:
    key: str
    roles: frozenset[str]
    order: int  # lower first (urgent lines are shown before the others whatever their order)
    lines: Callable[[], Iterable[ToDo]]


_sources: dict[str, Source] = {}


def register(key: str, *, roles: Iterable[str], order: int, lines: Callable[[], Iterable[ToDo]]) -> None:
    """Add (or replace, when a module is imported again) a source of to-do lines seen by these roles."""
    roles = frozenset(roles)
    unknown = roles - set(ROLES)
    if not roles or unknown:
        raise ValueError(f"a to-do source needs known roles, got {sorted(roles)!r}")
    _sources[key] = Source(key, roles, order, lines)


def sources() -> list[Source]:
    return sorted(_sources.values(), key=lambda source: (source.order, source.key))


def sources_for(roles: Iterable[str]) -> list[Source]:
    roles = set(roles)
    return [source for source in sources() if source.roles & roles]


def todos_for(user) -> list[ToDo]:
    """The to-do lines of every source this user's roles see: urgent ones first, then in the sources' order."""
    lines = [line for source in sources_for(user.roles or ()) for line in source.lines()]
    return sorted(lines, key=lambda line: not line.urgent)
