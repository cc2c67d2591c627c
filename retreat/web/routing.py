from werkzeug.routing import IntegerConverter

DATABASE_ID_MAX = 2**31 - 1  # PostgreSQL INTEGER


class DatabaseIdConverter(IntegerConverter):
    """`<int:...>` limited to what an id column holds: a larger number is a 404, not a database overflow."""

    def __init__(self, map, fixed_digits=0, min=None, max=DATABASE_ID_MAX, signed=False):  # noqa: A002
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)
