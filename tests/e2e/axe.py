"""axe-core in the browser tests: inject the pinned copy ``scripts/bootstrap`` fetched from the npm registry and run
the WCAG 2.1 A and AA rules on the page as it is drawn.

Nothing is downloaded here: without ``.venv/share/axe-core/axe.min.js`` the caller skips, naming the bootstrap.
A violation is reported as rule, impact, the element's CSS selector (axe's own ``target``), a short HTML excerpt
and axe's summary of what fails. :data:`ALLOWED` lists the few violations inside Streamlit's own frontend that the
app cannot change, each by exact rule and selector, with the reason.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: axe-core as fetched by scripts/bootstrap (the venv this interpreter runs in, or the checkout's .venv).
AXE_SCRIPT = Path(os.environ.get("COUNTERSIGN_AXE", Path(sys.prefix) / "share" / "axe-core" / "axe.min.js"))
#: the WCAG 2.1 levels A and AA (axe's tags; "wcag21aa" adds e.g. 1.4.11 non-text contrast's neighbours, 1.3.5…)
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
#: rules axe runs under those tags whether or not they are tagged so: asserted to have run, so that a future axe
#: that renames one does not pass silently.
REQUIRED_RULES = ["color-contrast", "image-alt", "svg-img-alt", "aria-allowed-attr", "aria-required-attr",
                  "aria-valid-attr", "aria-valid-attr-value", "aria-roles", "label", "link-name", "button-name",
                  "role-img-alt", "aria-prohibited-attr", "aria-hidden-focus", "duplicate-id-aria",
                  "aria-input-field-name", "aria-toggle-field-name", "select-name", "frame-title", "html-has-lang",
                  "document-title", "list", "listitem"]

#: (rule id, exact selector): violations in Streamlit's own frontend that no app code can reach. Each names the
#: element and why; nothing else is ever excused.
ALLOWED: dict[tuple[str, str], str] = {}

RUN = """async tags => {
    const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
    const ran = [...result.passes, ...result.violations, ...result.incomplete, ...result.inapplicable]
        .map(r => r.id);
    return {ran, violations: result.violations.map(v => ({
        id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.map(n => ({target: n.target.join(' '), html: n.html.slice(0, 200),
                                  summary: (n.failureSummary || '').replace(/\\s+/g, ' ').slice(0, 300)}))}))};
}"""


@dataclass(frozen=True)
class Violation:
    """One element failing one rule on one page."""

    page: str
    rule: str
    impact: str
    target: str
    html: str
    summary: str

    def __str__(self) -> str:
        return f"[{self.page}] {self.rule} ({self.impact}) at {self.target}: {self.summary}\n    {self.html}"


def missing() -> str | None:
    """Why axe cannot run here, or ``None``."""
    if AXE_SCRIPT.exists():
        return None
    return (f"axe-core not found at {AXE_SCRIPT}: run scripts/bootstrap (it fetches the pinned axe-core tarball "
            "from the npm registry and checks its integrity)")


def check(page: Any, where: str) -> tuple[list[Violation], list[str]]:  # noqa: ANN401
    """Run axe's WCAG 2.1 A/AA rules on ``page`` (injecting axe once per document): the violations not in
    :data:`ALLOWED`, and the required rules that did not run."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE_SCRIPT))
    result = page.evaluate(RUN, TAGS)
    found = [Violation(where, v["id"], v["impact"] or "", n["target"], n["html"], n["summary"])
             for v in result["violations"] for n in v["nodes"]]
    not_run = [r for r in REQUIRED_RULES if r not in set(result["ran"])]
    return [v for v in found if (v.rule, v.target) not in ALLOWED], not_run
