"""The README stays a five-minute read, and the docs hold together (issue 20, point 4).

- README.md is at most 15 KB and has the sections a newcomer looks for;
- every relative link in README.md and docs/ names a file that exists (and, with an anchor,
  a heading of that file);
- nothing in the repository points outside it (``../shared/reference``, ``../shared/docs``):
  what the project relies on from elsewhere is committed under docs/reference/ or tests/data/
  with its source.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
README_LIMIT = 15 * 1024
SECTIONS = ("Install", "Quickstart", "Tasks", "Configuration", "Exit codes", "Troubleshooting")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _docs() -> list[Path]:
    return [README, *sorted((ROOT / "docs").rglob("*.md"))]


def _anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*$", path.read_text("utf-8"), flags=re.M)
    return {_anchor(h) for h in headings}


def test_readme_is_a_five_minute_read() -> None:
    size = len(README.read_bytes())
    assert size <= README_LIMIT, f"README.md is {size} bytes; move detail into docs/"
    headings = set(re.findall(r"^##\s+(.+?)\s*$", README.read_text("utf-8"), flags=re.M))
    missing = [s for s in SECTIONS if s not in headings]
    assert not missing, f"README.md lacks the sections {missing}"


@pytest.mark.parametrize("doc", _docs(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc: Path) -> None:
    broken = []
    for target in LINK.findall(doc.read_text("utf-8")):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        dest = (doc.parent / file_part).resolve() if file_part else doc
        known = dest.exists() and (
            not anchor or not dest.is_file() or dest.suffix != ".md" or anchor in _anchors(dest)
        )
        if not known:
            broken.append(target)
    assert not broken, f"{doc.relative_to(ROOT)}: broken links {broken}"


def test_nothing_points_outside_the_repository() -> None:
    tracked = subprocess.run(
        ["git", "grep", "-l", "-e", "shared/reference", "-e", "shared/docs", "--", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if tracked.returncode not in (0, 1):
        pytest.skip(f"git grep unavailable: {tracked.stderr.strip()}")
    offenders = [p for p in tracked.stdout.split() if p != "tests/unit/test_docs.py"]
    assert not offenders, f"these files point outside the repository: {offenders}"
