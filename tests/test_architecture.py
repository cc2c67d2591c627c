"""The shape of the house, held by tests (README, "How the code is laid out"):

- areas import one way: each layer below may be imported by the ones above it, never the other way, counting every
  import in a module, those inside functions included;
- one unit of work per entry point: nothing in the app calls commit() but core/transactions.py.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "retreat"

# Lowest first. A module belongs to the layer of the longest prefix that names it.
LAYERS = (
    ("core", ("retreat.core", "retreat.extensions", "config")),
    ("notify", ("retreat.notify",)),
    ("web", ("retreat.web",)),
    ("staff", ("retreat.staff",)),
    ("pricing", ("retreat.pricing",)),
    ("catalog", ("retreat.catalog",)),
    ("screening", ("retreat.screening",)),
    ("payments", ("retreat.payments",)),
    ("booking", ("retreat.booking",)),
    ("arrival", ("retreat.arrival",)),
    ("payment_events", ("retreat.payment_events",)),
    ("finance", ("retreat.finance",)),
    ("api", ("retreat.api",)),
    ("app", ("retreat", "retreat.cli", "retreat.demo", "retreat.models")),
)


def layer_of(module: str) -> int | None:
    best, best_length = None, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_length:
                best, best_length = index, len(prefix)
    return best


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources() -> list[tuple[str, Path, ast.Module]]:
    return [(module_name(path), path, ast.parse(path.read_text(), str(path))) for path in sorted(PACKAGE.rglob("*.py"))]


def imported_modules(module: str, tree: ast.Module) -> list[tuple[int, str]]:
    """Every module an import statement names, anywhere in the file (inside functions too), with its line. The
    house imports absolutely; a relative import is named as such, and refused below."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def test_every_module_of_the_app_has_a_layer():
    unplaced = [module for module, _, _ in sources() if layer_of(module) is None]
    assert unplaced == []
    assert len(sources()) > 60, "the walk reads the app's source"


def test_areas_import_one_way_only():
    upward = []
    for module, path, tree in sources():
        own = layer_of(module)
        for line, target in imported_modules(module, tree):
            if target.startswith("."):
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports relatively: name the module")
                continue
            if not (target == "retreat" or target.startswith("retreat.") or target == "config"):
                continue
            theirs = layer_of(target)
            if theirs is not None and theirs > own:
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({LAYERS[own][0]}) imports {target} "
                              f"({LAYERS[theirs][0]})")
    assert upward == [], "\n".join(sorted(set(upward)))


@pytest.mark.parametrize(("source", "expected"), [
    ("from retreat.booking import services\n", "retreat.booking.services"),
    ("def f():\n    from retreat.finance import exports\n", "retreat.finance.exports"),
    ("import retreat.api.views\n", "retreat.api.views"),
])
def test_the_walk_sees_every_kind_of_import(source, expected):
    assert expected in [name for _, name in imported_modules("retreat.catalog.services", ast.parse(source))]


def test_an_import_against_the_order_is_caught():
    tree = ast.parse("def later():\n    from retreat.booking import services\n")
    names = [name for _, name in imported_modules("retreat.catalog.services", tree)]
    assert any(layer_of(name) > layer_of("retreat.catalog.services") for name in names)


def test_nothing_but_the_unit_of_work_commits():
    commits = []
    for _, path, tree in sources():
        if path.relative_to(PACKAGE) == Path("core/transactions.py"):
            continue
        commits += [f"{path.relative_to(PACKAGE.parent)}:{node.lineno}" for node in ast.walk(tree)
                    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "commit"]
    assert commits == [], "open a unit_of_work() at the entry point instead:\n" + "\n".join(commits)
