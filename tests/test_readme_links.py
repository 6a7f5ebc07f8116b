"""The README and its docs/ pages link to each other by section: every relative link and image must point
at a file that exists, and every #anchor at a heading of that file (GitHub's heading slugs)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["README.md", "docs/guide.md", "docs/measurements.md"]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def prose(text: str) -> str:
    """The text outside fenced code blocks (a `#` comment in a bash block is no heading)."""
    return "".join(part for i, part in enumerate(re.split(r"^```.*$", text, flags=re.M)) if i % 2 == 0)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading.

    >>> slug("Compare: before | after, token by token")
    'compare-before--after-token-by-token'
    """
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {slug(m) for m in re.findall(r"^#+ (.+)$", prose(path.read_text()), flags=re.M)}


@pytest.mark.parametrize("page", PAGES)
def test_every_link_resolves(page: str) -> None:
    path = ROOT / page
    broken = []
    for target in LINK.findall(prose(path.read_text())):
        if re.match(r"[a-z]+:", target):  # http(s), mailto: not checked offline
            continue
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and anchor not in anchors(dest):
            broken.append(f"{target}: no such heading in {dest.relative_to(ROOT)}")
    assert broken == [], f"{page}: {broken}"


def test_the_slug_of_this_readme_s_headings() -> None:
    assert {"a-tour", "1-model--data", "methods", "add-a-method-in-three-steps", "layout", "measured"} <= anchors(
        ROOT / "README.md"
    )
