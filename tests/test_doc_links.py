"""Every relative link in the README and docs/*.md names a file that exists.

Links are resolved from the folder of the page that holds them, as GitHub renders them; a link written
from the repository root inside docs/ (``](docs/x.md)``) does not resolve there and fails this test.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def broken_links(page: Path) -> list[str]:
    """The relative link targets of ``page`` (a Markdown file) that name no existing path."""
    out = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):
            continue
        if not (page.parent / target).exists():
            out.append(target)
    return out


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_resolve(page: Path) -> None:
    assert broken_links(page) == []


def test_a_root_relative_link_inside_docs_is_caught(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "estimators.md").write_text("x")
    page = tmp_path / "docs" / "status.md"
    page.write_text("see [formulas](docs/estimators.md) and [here](estimators.md#top)")
    assert broken_links(page) == ["docs/estimators.md"]
