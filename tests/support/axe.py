"""axe-core, the accessibility checker, run inside a Playwright page.

axe-core is pinned (tests/e2e/axe/package.json and its package-lock.json, 4.14.1) and installed from the npm
registry by `make axe`, which `make test` runs first. A machine without it skips the tests that need it with that
command (CI fails instead, like every missing part: tests/support/system.py).

The app's Content-Security-Policy allows only its own scripts, so the page that gets axe comes from a browser
context made with `bypass_csp=True` (`new_context(bypass_csp=True, ...)`); the app's pages themselves are
unchanged.
"""

from pathlib import Path

from playwright.sync_api import Page

from tests.support.system import require

PROJECT_ROOT = Path(__file__).resolve().parents[2]
AXE_SCRIPT = PROJECT_ROOT / "tests" / "e2e" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
INSTALL_HINT = "run `make axe` (npm ci: axe-core 4.14.1 into tests/e2e/axe/node_modules)"

# Every rule axe runs by default (WCAG 2.0-2.2 A and AA, and its best practices); any impact counts.
RUN = """async () => {
  const results = await axe.run(document, {resultTypes: ["violations"]});
  return results.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map(n => ({target: n.target, summary: n.failureSummary, html: n.html.slice(0, 200)})),
  }));
}"""


def require_axe() -> Path:
    """The path of axe.min.js; skips (fails under CI) when `make axe` has not installed it."""
    require(AXE_SCRIPT.exists(), "axe-core", install_hint=INSTALL_HINT)
    return AXE_SCRIPT


def violations(page: Page) -> list[dict]:
    """What axe finds wrong with the page as it is now (injected once per loaded document)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(path=str(require_axe()))
    return page.evaluate(RUN)


def describe(found: list[dict], where: str = "") -> str:
    """Each violation's rule, impact and help, and the selectors of the elements that break it."""
    lines = []
    for violation in found:
        lines.append(f"{where}{violation['id']} ({violation['impact']}): {violation['help']} "
                     f"<{violation['helpUrl']}>")
        for node in violation["nodes"]:
            lines.append(f"    {' > '.join(map(str, node['target']))}: {node['html']}")
    return "\n".join(lines)


def assert_accessible(page: Page, where: str | None = None) -> None:
    """No axe violation of any impact on the page."""
    found = violations(page)
    assert not found, f"axe found {len(found)} violation(s) on {where or page.url}:\n" + describe(found)
